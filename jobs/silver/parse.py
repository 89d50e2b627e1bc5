"""``bronze.serving_logs`` → typed silver tables for a window of UTC days.

Each record kind that has a silver table is a :class:`SilverKind`: the bronze
``record_kind`` it reads, the table it writes and its parse step. Predictions are
parsed into ``silver.predictions`` (:data:`PREDICTIONS`), LLM interactions into
``silver.llm_interactions`` (:data:`LLM`, see :mod:`jobs.silver.llm_parse`).

For one kind and one window:

* one read of bronze at a pinned Delta version, partition-pruned to the window; of a record
  bronze holds twice, only the newest ingest's copy is parsed (:mod:`jobs.silver.newest_copy`);
* one parse with explicit schemas (``from_json``, no Python UDF), which gives every record
  either its typed columns or exactly one reason code (``SILVER_QUARANTINE_REASONS``),
  materialised once so that both outputs come from the same single evaluation;
* the counts reconcile per day × workload (bronze rows = parsed + quarantined + superseded)
  before anything is committed, else the run fails and commits nothing;
* parsed rows replace exactly the window in the kind's silver table, quarantined rows
  exactly the window's rows of that kind in ``silver.quarantine`` (``replaceWhere``); rows of
  the records parsed here that an earlier parse wrote on their old day or workload are deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.lib.delta_io import ensure_table, replace_where, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import release, require_columns, table_rows
from jobs.lib.window import DayWindow
from jobs.silver.id_map_expand import has_known_id_map, with_expanded_features
from jobs.silver.llm_parse import parse_llm_interactions, with_workload_type
from jobs.silver.newest_copy import delete_copies_outside, moved_into, with_is_newest
from schemas.core import TableSchema
from schemas.records import LLM_INTERACTION, PREDICTION
from schemas.tables import BRONZE_SERVING_LOGS, SILVER_LLM_INTERACTIONS, SILVER_PREDICTIONS, SILVER_QUARANTINE
from serving.id_map import IdMap, load_id_maps
from skewguard.config import Settings

__all__ = [
    "KINDS",
    "LLM",
    "PREDICTIONS",
    "ParseError",
    "SilverKind",
    "is_flat_json_object",
    "parse_predictions",
    "parse_window",
    "read_bronze",
]

log = logging.getLogger(__name__)

# The top level of a prediction record. `model` and `features` are read as their JSON text
# (Spark re-renders an object compactly) so that their shape can be checked exactly; the
# others are typed, and a value of the wrong type reads as null. Spark 3.5 keeps the other
# fields of a record when one fails to convert ("partial results"); parse_window checks
# that this is on, since the reason codes depend on it.
_PREDICTION_FIELDS = T.StructType(
    [
        T.StructField("request_id", T.StringType()),
        T.StructField("model", T.StringType()),
        T.StructField("features", T.StringType()),
        T.StructField("outputs", T.MapType(T.StringType(), T.DoubleType())),
        T.StructField("sampling_rate", T.DoubleType()),
        T.StructField("id_map", T.StringType()),
    ]
)
_MODEL = T.StructType([T.StructField(name, T.StringType()) for name in ("name", "version", "transform_hash")])
_FEATURES = T.MapType(T.StringType(), T.StringType())
_PARTIAL_RESULTS = "spark.sql.json.enablePartialResults"

# A JSON string literal (escapes included); possessive quantifiers keep Java's regex engine
# from recursing once per character on long strings.
_JSON_STRING = r'"(?:[^"\\]++|\\.)*+"'
_FLAT_OBJECT = r"^\{[^{}\[\]]*\}$"
_BRONZE_NEEDED = ("event_id", "event_ts", "event_date", "workload_id", "client_id", "record_kind", "source_json")


class ParseError(RuntimeError):
    """The run cannot complete; nothing of it was committed to silver."""


@dataclass(frozen=True)
class SilverKind:
    """A bronze record kind with a silver table: its parse step and where the rows go.

    ``parse`` maps bronze rows (and the settings) to the table's data columns (lineage
    excluded) plus ``reason`` (null when the row parses), ``record_kind`` and ``source_json``
    (at least for quarantined rows). ``enrich``, when set, adds the columns that depend on
    other rows of the window; it runs on the materialised parsed rows.
    """

    name: str
    record_kind: str
    table: TableSchema
    parse: Callable[[DataFrame, Settings], DataFrame]
    enrich: Callable[[DataFrame], DataFrame] | None = None


def is_flat_json_object(text: Column) -> Column:
    """True when ``text`` is the JSON text of an object whose values are all scalars.

    ``text`` must be Spark's own rendering of a parsed value (compact): with the string
    literals removed, such an object has no bracket but its outer braces. (A field read as
    text cannot tell an object from a JSON string holding that object's text; bronze has
    already checked that ``features`` is an object.)
    """
    return F.regexp_replace(text, _JSON_STRING, '""').rlike(_FLAT_OBJECT)


def _has_unique_keys(mapping: Column) -> Column:
    return F.size(F.map_keys(mapping)) == F.size(F.array_distinct(F.map_keys(mapping)))


def _is_finite(value: Column) -> Column:
    return value.isNotNull() & ~F.isnan(value) & (F.abs(value) != F.lit(float("inf")))


def _is_blank(text: Column) -> Column:
    return text.isNull() | (F.trim(text) == "")


def _prediction_reason(p: Column, model: Column, features: Column, maps: dict[str, IdMap]) -> Column:
    """The first rule of ``SILVER_QUARANTINE_REASONS`` the parsed record breaks (null: none)."""
    outputs, rate = p["outputs"], p["sampling_rate"]
    return (
        F.when(
            ~F.coalesce(is_flat_json_object(p["model"]), F.lit(False))
            | _is_blank(model["name"])
            | _is_blank(model["version"]),
            F.lit("invalid_model"),
        )
        .when(~has_known_id_map(p["id_map"], maps), F.lit("invalid_id_map"))
        .when(
            ~F.coalesce(is_flat_json_object(p["features"]) & _has_unique_keys(features), F.lit(False)),
            F.lit("invalid_features"),
        )
        .when(
            ~F.coalesce((F.size(outputs) > 0) & F.forall(F.map_values(outputs), _is_finite), F.lit(False)),
            F.lit("invalid_outputs"),
        )
        .when(~F.coalesce((rate > 0) & (rate <= 1), F.lit(False)), F.lit("invalid_sampling_rate"))
    )


def parse_predictions(bronze_df: DataFrame, settings: Settings | None = None) -> DataFrame:
    """Bronze prediction rows → ``silver.predictions``' data columns, ``reason``,
    ``record_kind`` and ``source_json`` (kept only where ``reason`` is set). Minimised records
    are expanded with the id maps of ``serving.id_maps_dir`` (none without ``settings``)."""
    require_columns(bronze_df, _BRONZE_NEEDED, "parse_predictions")
    maps = load_id_maps(settings.serving.id_maps_dir) if settings is not None else {}
    p, model = F.col("p"), F.col("model")
    reason = F.col("reason")
    return (
        bronze_df.withColumn("p", F.from_json("source_json", _PREDICTION_FIELDS))
        .withColumn("model", F.from_json(p["model"], _MODEL))
        .withColumn("features", with_expanded_features(F.from_json(p["features"], _FEATURES), p["id_map"], maps))
        .withColumn("reason", _prediction_reason(p, model, F.col("features"), maps))
        .select(
            "event_id",
            "event_ts",
            "event_date",
            "workload_id",
            "client_id",
            p["request_id"].alias("request_id"),
            model["name"].alias("model_name"),
            model["version"].alias("model_version"),
            model["transform_hash"].alias("transform_hash"),
            "features",
            p["outputs"].alias("outputs"),
            p["sampling_rate"].alias("sampling_rate"),
            "record_kind",
            "reason",
            F.when(reason.isNotNull(), F.col("source_json")).alias("source_json"),
        )
    )


PREDICTIONS = SilverKind("predictions", PREDICTION.kind, SILVER_PREDICTIONS, parse_predictions)
LLM = SilverKind("llm", LLM_INTERACTION.kind, SILVER_LLM_INTERACTIONS, parse_llm_interactions, with_workload_type)
#: The kinds parse_logs can build, by their command-line name.
KINDS: dict[str, SilverKind] = {kind.name: kind for kind in (PREDICTIONS, LLM)}


def read_bronze(spark: SparkSession, settings: Settings, window: DayWindow, record_kind: str) -> tuple[DataFrame, int]:
    """Bronze rows of ``record_kind`` in ``window`` at the table's current version, and that version."""
    path = settings.lakehouse.table_path(BRONZE_SERVING_LOGS.name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise ParseError(f"{BRONZE_SERVING_LOGS.name} does not exist at {path}: ingest the window first")
    version = table_version(spark, path)
    bronze_df = (
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(path)
        .where(window.contains() & (F.col("record_kind") == F.lit(record_kind)))
    )
    return bronze_df, version


def _count_by_day_workload(df: DataFrame, *extra: str) -> list[Any]:
    return df.groupBy("event_date", "workload_id", *extra).agg(F.count("*").alias("n")).collect()


def _reconcile(bronze_counts: list[Any], parsed_counts: list[Any]) -> dict[str, Any]:
    """Per day × workload counts; :class:`ParseError` unless bronze = parsed + quarantined +
    superseded (older copies, ``is_newest`` false in ``bronze_counts``) everywhere."""
    cells: dict[str, dict[str, int]] = {}

    def cell(row: Any) -> dict[str, int]:
        key = f"{row['event_date']}|{row['workload_id']}"
        return cells.setdefault(key, {"bronze": 0, "parsed": 0, "quarantined": 0, "superseded": 0})

    reasons: dict[str, int] = {}
    for row in bronze_counts:
        cell(row)["bronze"] += row["n"]
        if not row["is_newest"]:
            cell(row)["superseded"] += row["n"]
    for row in parsed_counts:
        cell(row)["parsed" if row["reason"] is None else "quarantined"] += row["n"]
        if row["reason"] is not None:
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + row["n"]
    for key, c in sorted(cells.items()):
        if c["bronze"] != c["parsed"] + c["quarantined"] + c["superseded"]:
            raise ParseError(
                f"{key}: bronze holds {c['bronze']} rows but the parse yielded {c['parsed']} parsed + "
                f"{c['quarantined']} quarantined + {c['superseded']} older copies; nothing committed"
            )
    return {
        "bronze": sum(c["bronze"] for c in cells.values()),
        "parsed": sum(c["parsed"] for c in cells.values()),
        "quarantined": sum(reasons.values()),
        "superseded": sum(c["superseded"] for c in cells.values()),
        "reasons": dict(sorted(reasons.items())),
        "by_day_workload": dict(sorted(cells.items())),
    }


def parse_window(
    spark: SparkSession, settings: Settings, window: DayWindow, run: RunRecord, kind: SilverKind = PREDICTIONS
) -> RunRecord:
    """Parse ``window`` of bronze into ``kind``'s silver table and ``silver.quarantine``; fills ``run``.

    Raises :class:`ParseError` before any commit when bronze is missing or the counts do
    not reconcile.
    """
    if spark.conf.get(_PARTIAL_RESULTS, "true").lower() != "true":
        raise ParseError(f"{_PARTIAL_RESULTS} is off: the parse needs Spark's partial JSON results; unset it")
    run.details["kind"] = kind.name
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    bronze_df, bronze_version = read_bronze(spark, settings, window, kind.record_kind)
    run.source = f"{BRONZE_SERVING_LOGS.name}@v{bronze_version}"
    run.details["bronze_version"] = bronze_version
    all_bronze_df = (
        spark.read.format("delta")
        .option("versionAsOf", bronze_version)
        .load(settings.lakehouse.table_path(BRONZE_SERVING_LOGS.name))
    )
    flagged_df = with_is_newest(bronze_df, all_bronze_df, window)
    bronze_counts = _count_by_day_workload(flagged_df, "is_newest", "is_moved_here")

    # One evaluation of the parse feeds the counts and both tables: filters on an
    # un-materialised parse would be pushed below it and repeat from_json per output.
    parsed_df = kind.parse(flagged_df.where("is_newest"), settings).localCheckpoint(eager=True)
    try:
        summary = _reconcile(bronze_counts, _count_by_day_workload(parsed_df, "reason"))
        phases["read_parse_s"] = round(time.monotonic() - t0, 3)
        run.details.update(summary)
        run.source_count = run.read_count = summary["bronze"]
        run.landed_count, run.quarantined_count = summary["parsed"], summary["quarantined"]
        log.info(
            "window %s: %d %s rows in %s → %d parsed, %d quarantined",
            window, run.source_count, kind.record_kind, run.source, run.landed_count, run.quarantined_count,
        )  # fmt: skip

        t1 = time.monotonic()
        lineage = {"parse_run_id": run.run_id, "parsed_at": run.started_at}
        silver_path = ensure_table(spark, settings, kind.table)
        parsed_rows_df = parsed_df.where(F.col("reason").isNull())
        if kind.enrich is not None:
            parsed_rows_df = kind.enrich(parsed_rows_df)
        parsed_rows_df = table_rows(parsed_rows_df, kind.table, **lineage)
        run.output_version = replace_where(spark, parsed_rows_df, silver_path, window.predicate(), run.landed_count)
        phases["write_silver_s"] = round(time.monotonic() - t1, 3)

        t2 = time.monotonic()
        quarantine_path = ensure_table(spark, settings, SILVER_QUARANTINE)
        (
            table_rows(parsed_df.where(F.col("reason").isNotNull()), SILVER_QUARANTINE, **lineage)
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", window.predicate(record_kind=kind.record_kind))
            .save(quarantine_path)
        )
        run.details["quarantine_version"] = table_version(spark, quarantine_path)
        phases["write_quarantine_s"] = round(time.monotonic() - t2, 3)

        moved = moved_into(flagged_df) if any(row["is_moved_here"] for row in bronze_counts) else []
        for path in (silver_path, quarantine_path):
            delete_copies_outside(spark, path, moved, window)
        run.details["older_copies_removed"] = len(moved)
    finally:
        release(parsed_df)

    run.details["phases"] = phases
    run.status = "succeeded"
    return run
