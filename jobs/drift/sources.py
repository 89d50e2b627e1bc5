"""What drift compares: rows of a Delta table at a pinned version (a window of days, or a
training set's examples) and the features to read from them, with their declared types.

Features come from a declaration, never from the data: a training set's contract (its
manifest's ``inputs``), ``schemas.llm.LLM_DRIFT_FEATURES`` for LLM interactions, or
``drift.features`` in the configuration (or ``--features``) for any other table.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from schemas.llm import LLM_DRIFT_FEATURES, SILVER_LLM_INTERACTIONS
from schemas.tables import SILVER_LABELED_EXAMPLES, SILVER_PREDICTIONS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from skewguard.config import Settings

__all__ = [
    "KNOWN_TABLES",
    "FeatureSpec",
    "RowSource",
    "declared_features",
    "parse_feature_list",
    "table_source",
    "training_set_source",
]

_NUMERIC_TYPES = {"double", "float", "long", "int", "integer", "bigint", "short", "smallint", "tinyint"}
_CATEGORICAL_TYPES = {"string", "boolean"}


@dataclass(frozen=True)
class FeatureSpec:
    """A monitored feature: its name, type and the Spark SQL expression that reads it."""

    name: str
    kind: str
    """``numeric`` or ``categorical``."""
    expression: str
    is_array: bool = False
    """Categorical only: the expression gives a list whose every element is an observation."""

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {self.name}: type must be numeric or categorical, not {self.kind!r}")


@dataclass(frozen=True)
class RowSource:
    """Rows of a Delta table at one version, optionally limited to a window of days, a
    workload and a training set's examples (``split = 'train'`` of ``gold.training_set``)."""

    table: str
    path: str
    version: int
    start: dt.date | None = None
    end: dt.date | None = None
    workload: str | None = None
    training_set: str | None = None
    training_set_path: str | None = None
    training_set_version: int | None = None
    workload_column: str = "workload_id"
    date_column: str = "event_date"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RowSource:
        data: dict[str, Any] = json.loads(text)
        for key in ("start", "end"):
            if data.get(key):
                data[key] = dt.date.fromisoformat(data[key])
        return cls(**data)

    def describe(self) -> str:
        what = f"{self.table}@v{self.version}"
        if self.training_set:
            return f"{what} (training set {self.training_set})"
        if self.start is not None:
            days = str(self.start) if self.start == self.end else f"{self.start}..{self.end}"
            what += f" {days}"
        return what + (f" workload={self.workload}" if self.workload else "")

    def read(self, spark: SparkSession) -> DataFrame:
        """The rows, with a ``workload_id`` column (the table's workload column)."""
        from pyspark.sql import functions as F

        rows_df = spark.read.format("delta").option("versionAsOf", self.version).load(self.path)
        missing = [c for c in (self.workload_column, self.date_column if self.start else None) if c]
        missing = [c for c in missing if c not in rows_df.columns]
        if missing:
            raise ValueError(f"{self.table} has no column(s) {missing}")
        if self.start is not None and self.end is not None:
            rows_df = rows_df.where(F.col(self.date_column).between(F.lit(self.start), F.lit(self.end)))
        if self.workload is not None:
            rows_df = rows_df.where(F.col(self.workload_column) == F.lit(self.workload))
        if self.training_set is not None:
            examples_df = (
                spark.read.format("delta")
                .option("versionAsOf", self.training_set_version)
                .load(self.training_set_path)
                .where((F.col("training_set") == F.lit(self.training_set)) & (F.col("split") == F.lit("train")))
                .select("event_id")
            )
            rows_df = rows_df.join(examples_df, "event_id", "left_semi")
        if self.workload_column != "workload_id":
            rows_df = rows_df.withColumn("workload_id", F.col(self.workload_column).cast("string"))
        return rows_df


#: tables named by their lakehouse name (anything else is a Delta path)
KNOWN_TABLES = (SILVER_PREDICTIONS.name, SILVER_LABELED_EXAMPLES.name, SILVER_LLM_INTERACTIONS.name)


def table_source(
    spark: SparkSession,
    settings: Settings,
    table: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    workload: str | None = None,
    workload_column: str = "workload_id",
    date_column: str = "event_date",
) -> RowSource:
    """Rows of ``table`` (a lakehouse table name or a Delta path) at its current version."""
    from jobs.lib.delta_io import table_version

    path = settings.lakehouse.table_path(table) if table in KNOWN_TABLES else table
    return RowSource(
        table, path, table_version(spark, path), start, end, workload,
        workload_column=workload_column, date_column=date_column,
    )  # fmt: skip


def training_set_source(settings: Settings, name: str) -> tuple[RowSource, dict[str, str]]:
    """The reference rows of a training set — its ``train`` examples as they were logged (in
    the source table at the version it was built from) — and its feature contract."""
    from skewguard.artifacts import load_manifest

    manifest = load_manifest(settings, name)
    window = manifest["window"]
    source = RowSource(
        table=manifest["source"]["table"],
        path=manifest["source"]["path"],
        version=int(manifest["source"]["version"]),
        start=dt.date.fromisoformat(window["start"]),
        end=dt.date.fromisoformat(window["end"]),
        workload=window.get("workload_id"),
        training_set=name,
        training_set_path=manifest["path"],
        training_set_version=int(manifest["version"]),
    )
    return source, dict(manifest["inputs"])


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _logged_feature(fid: str, kind: str) -> FeatureSpec:
    key = fid.replace("\\", "\\\\").replace("'", "\\'")
    read = f"features['{key}']"
    return FeatureSpec(fid, kind, f"CAST({read} AS DOUBLE)" if kind == "numeric" else read)


def _column_feature(column: str, kind: str, spark_type: str) -> FeatureSpec:
    is_array = spark_type.startswith("array")
    if kind == "numeric":
        return FeatureSpec(column, kind, f"CAST({_quoted(column)} AS DOUBLE)")
    return FeatureSpec(column, kind, _quoted(column) if is_array else f"CAST({_quoted(column)} AS STRING)", is_array)


def contract_kind(logical: str) -> str | None:
    """``numeric``/``categorical`` for a contract type; None for types not monitored (time)."""
    if logical in _NUMERIC_TYPES:
        return "numeric"
    if logical in _CATEGORICAL_TYPES:
        return "categorical"
    return None


def declared_features(
    settings: Settings,
    columns: dict[str, str],
    workload: str,
    table: str,
    contract: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
) -> list[FeatureSpec]:
    """The features to monitor for one workload of a table whose columns (name → Spark
    simple type string) are ``columns``.

    In order of precedence: ``given`` (``--features``), a training-set ``contract``,
    ``drift.features`` of the workload (or ``*``), the LLM table's declared features. On a
    predictions-shaped table (a ``features`` map) names are logged feature ids, and the
    configured ``drift.outputs`` are added as ``output.<name>``.
    """
    logged = columns.get("features", "").startswith("map")
    declared: dict[str, str]
    if given:
        declared = dict(given)
    elif contract is not None:
        declared = {k: kind for k, t in contract.items() if (kind := contract_kind(t)) is not None}
    elif workload in settings.drift.features or "*" in settings.drift.features:
        declared = dict(settings.drift.features.get(workload, settings.drift.features.get("*", {})))
    elif table == SILVER_LLM_INTERACTIONS.name:
        declared = dict(LLM_DRIFT_FEATURES)
    else:
        raise ValueError(
            f"no features declared for workload {workload!r} of {table}: give --features, a training set, "
            "or drift.features in the configuration"
        )
    specs: list[FeatureSpec] = []
    for name, kind in sorted(declared.items()):
        if logged and name not in columns:
            specs.append(_logged_feature(name, kind))
        elif name in columns:
            specs.append(_column_feature(name, kind, columns[name]))
        else:
            raise ValueError(f"{table} has no column {name!r} (declared as a {kind} feature of {workload!r})")
    if logged and columns.get("outputs", "").startswith("map"):
        for output in settings.drift.outputs:
            key = output.replace("'", "\\'")
            specs.append(FeatureSpec(f"output.{output}", "numeric", f"CAST(outputs['{key}'] AS DOUBLE)"))
    return specs


def parse_feature_list(text: str) -> dict[str, str]:
    """``name:numeric,other:categorical`` → {name: type}; ``ValueError`` naming a bad item."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, kind = item.rpartition(":")
        if not sep or not name or kind not in ("numeric", "categorical"):
            raise ValueError(f"--features item {item!r}: expected <name>:numeric or <name>:categorical")
        out[name] = kind
    if not out:
        raise ValueError("--features names no feature")
    return out
