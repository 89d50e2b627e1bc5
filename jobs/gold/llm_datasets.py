"""``silver.llm_interactions`` of a window → per-workload fine-tuning and evaluation datasets
(``gold.llm_datasets``) and their JSONL export.

Per workload, all distributed (only per-workload × stratum counts reach the driver):

1. **workload type** over the window: ``tool_calling`` when any record calls a tool;
2. **quality filters** per type (:data:`schemas.llm.LLM_FILTER_REASONS`);
3. **deduplication** by ``dedup_key`` (the user messages), keeping the newest record
   (latest ``event_ts``, then the largest ``event_id``);
4. a **minimum-record check** that fails the run, with the counts, before anything is written;
5. a deterministic **split**: strata are the first tool called (rare ones grouped); the
   ``eval`` size is shared among strata by largest remainder, ``val`` is ``val_ratio`` of
   each stratum's rest; within a stratum records are taken in the order of a seeded hash
   of ``event_id``, so a re-run over the same records gives the same split;
6. the rows replace the workloads' rows in ``gold.llm_datasets``; the JSONL files are then
   written from the committed version.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.gold.llm_lines import chat_line_of, eval_line_of
from jobs.gold.llm_splits import assign_splits, strata_of
from jobs.lib.delta_io import ensure_table, replace_where, sql_string, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import release, require_columns, table_rows
from jobs.lib.window import DayWindow
from jobs.silver.llm_parse import with_workload_type
from schemas.llm import GOLD_LLM_DATASETS, LLM_SPLITS, SILVER_LLM_INTERACTIONS, WORKLOAD_TYPES
from schemas.records import LLM_INTERACTION
from schemas.tables import SILVER_QUARANTINE
from skewguard.config import Settings
from skewguard.settings_models import LlmSettings

__all__ = [
    "DatasetError",
    "WorkloadDataset",
    "build_llm_datasets",
    "filter_reason",
]

log = logging.getLogger(__name__)

_NEEDED = ("event_id", "event_ts", "workload_id", "workload_type", "dedup_key", "first_tool", "answer_chars")
# what the decisions (filters, dedup, split) need: a narrow projection of silver
_DECISION_COLUMNS = ("event_id", "event_ts", "workload_id", "dedup_key", "first_tool")


class DatasetError(RuntimeError):
    """The datasets cannot be built as asked; nothing was written."""


@dataclass
class WorkloadDataset:
    """What happened to one workload's records, from bronze to the splits."""

    workload_id: str
    workload_type: str = ""
    raw: int = 0
    """LLM records of the workload in bronze for the window (parsed + quarantined)."""
    invalid: dict[str, int] = field(default_factory=dict)
    """Quarantined by ``parse_logs``, per reason."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Valid but dropped by a quality filter, per reason."""
    duplicates: int = 0
    strata: dict[str, int] = field(default_factory=dict)
    """Records kept per stratum (first tool called, ``__rare__``, ``__none__``)."""
    tool_strata: dict[str | None, str] = field(default_factory=dict)
    """First tool called (None: none) → its stratum."""
    splits: dict[str, int] = field(default_factory=dict)
    export_dir: str = ""

    @property
    def kept(self) -> int:
        return sum(self.strata.values())

    def line(self) -> str:
        invalid = ", ".join(f"{k} {v}" for k, v in sorted(self.invalid.items())) or "none"
        filtered = ", ".join(f"{k} {v}" for k, v in sorted(self.filtered.items())) or "none"
        splits = " → " + " / ".join(f"{s} {self.splits.get(s, 0)}" for s in LLM_SPLITS) if self.splits else ""
        return (
            f"{self.workload_id} ({self.workload_type}): raw {self.raw}, invalid {sum(self.invalid.values())} "
            f"({invalid}), filtered {sum(self.filtered.values())} ({filtered}), duplicates {self.duplicates}, "
            f"kept {self.kept}{splits}"
        )


def filter_reason(df: DataFrame, llm: LlmSettings) -> DataFrame:
    """Add ``filter_reason``: why a valid record is not used (null: it is); ``answer_chars``
    is the number of non-blank characters of the response's content."""
    require_columns(df, _NEEDED, "filter_reason")
    tool_calling, generic = WORKLOAD_TYPES
    return df.withColumn(
        "filter_reason",
        F.when((F.col("workload_type") == tool_calling) & F.col("first_tool").isNull(), F.lit("no_tool_call")).when(
            (F.col("workload_type") == generic) & (F.col("answer_chars") < llm.min_response_chars),
            F.lit("short_content"),
        ),
    )


def _with_newest_first(df: DataFrame) -> DataFrame:
    """Add ``is_newest``: the record is the newest of its workload with its ``dedup_key``."""
    newest = Window.partitionBy("workload_id", "dedup_key").orderBy(F.desc("event_ts"), F.desc("event_id"))
    return df.withColumn("is_newest", F.row_number().over(newest) == 1)


def _read_silver(spark: SparkSession, settings: Settings, window: DayWindow) -> tuple[DataFrame, int]:
    path = settings.lakehouse.table_path(SILVER_LLM_INTERACTIONS.name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise DatasetError(
            f"{SILVER_LLM_INTERACTIONS.name} does not exist at {path}: run skewguard-parse --kind llm for the window"
        )
    version = table_version(spark, path)
    df = spark.read.format("delta").option("versionAsOf", version).load(path).where(window.contains())
    return df, version


def _invalid_counts(spark: SparkSession, settings: Settings, window: DayWindow) -> list[Any]:
    path = settings.lakehouse.table_path(SILVER_QUARANTINE.name)
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    return (
        spark.read.format("delta")
        .load(path)
        .where(window.contains() & (F.col("record_kind") == LLM_INTERACTION.kind))
        .groupBy("workload_id", "reason")
        .count()
        .collect()
    )


def _summaries(counts: list[Any], invalid: list[Any], llm: LlmSettings) -> dict[str, WorkloadDataset]:
    found: dict[str, WorkloadDataset] = {}
    tools: dict[str, dict[str | None, int]] = {}
    for row in counts:
        ds = found.setdefault(row["workload_id"], WorkloadDataset(row["workload_id"]))
        ds.workload_type = row["workload_type"]
        ds.raw += row["n"]
        if row["filter_reason"] is not None:
            ds.filtered[row["filter_reason"]] = ds.filtered.get(row["filter_reason"], 0) + row["n"]
        elif not row["is_newest"]:
            ds.duplicates += row["n"]
        else:
            per_tool = tools.setdefault(ds.workload_id, {})
            per_tool[row["first_tool"]] = per_tool.get(row["first_tool"], 0) + row["n"]
    for row in invalid:
        ds = found.setdefault(row["workload_id"], WorkloadDataset(row["workload_id"]))
        ds.invalid[row["reason"]] = row["count"]
        ds.raw += row["count"]
    for workload, per_tool in tools.items():
        ds = found[workload]
        ds.tool_strata = strata_of(per_tool, llm.rare_tool_records)
        for tool, stratum in ds.tool_strata.items():
            ds.strata[stratum] = ds.strata.get(stratum, 0) + per_tool[tool]
    return found


def _check_sizes(datasets: dict[str, WorkloadDataset], llm: LlmSettings) -> None:
    short = [ds for ds in datasets.values() if ds.kept < llm.min_records or ds.kept <= llm.eval_size]
    if short:
        need = f"need at least {llm.min_records} (llm.min_records) and more than {llm.eval_size} (llm.eval_size)"
        raise DatasetError("; ".join(f"{ds.line()}" for ds in short) + f": {need}; nothing written")


def _decisions(silver_df: DataFrame, llm: LlmSettings) -> DataFrame:
    """The narrow projection the decisions need, with ``workload_type``, ``filter_reason`` and
    ``is_newest``, checkpointed (eagerly) so that the counts and the split read it once."""
    answer = F.trim(F.coalesce(F.col("response_message")["content"], F.lit("")))
    return (
        silver_df.select(*_DECISION_COLUMNS, F.length(answer).alias("answer_chars"))
        .transform(with_workload_type)
        .transform(filter_reason, llm)
        .transform(_with_newest_first)
        .localCheckpoint(eager=True)
    )


def _decide(
    spark: SparkSession, settings: Settings, window: DayWindow, decisions_df: DataFrame, llm: LlmSettings
) -> dict[str, WorkloadDataset]:
    """Per workload, what the filters, dedup and strata decided (one small collect), checked
    against the minimum sizes."""
    counts = (
        decisions_df.groupBy("workload_id", "workload_type", "filter_reason", "is_newest", "first_tool")
        .agg(F.count("*").alias("n"))
        .collect()
    )
    datasets = _summaries(counts, _invalid_counts(spark, settings, window), llm)
    if not datasets:
        raise DatasetError(f"no LLM records in {SILVER_LLM_INTERACTIONS.name} for {window}; nothing written")
    _check_sizes(datasets, llm)
    return datasets


def _gold_rows(
    silver_df: DataFrame, splits_df: DataFrame, window: DayWindow, version: int, run: RunRecord
) -> DataFrame:
    """The kept records' wide columns with their split and JSONL line, as ``gold.llm_datasets`` rows."""
    rows_df = (
        silver_df.drop("workload_type")
        .join(splits_df, ["workload_id", "event_id"])
        .withColumn("line_json", F.when(F.col("split") == "eval", eval_line_of()).otherwise(chat_line_of()))
    )
    return table_rows(
        rows_df.withColumn("line_shape", F.when(F.col("split") == "eval", F.lit("eval")).otherwise(F.lit("chat"))),
        GOLD_LLM_DATASETS,
        window_start=window.start,
        window_end=window.end,
        source_version=version,
        build_run_id=run.run_id,
        built_at=run.started_at,
    )


def _write_gold(
    spark: SparkSession, settings: Settings, gold_df: DataFrame, datasets: dict[str, WorkloadDataset], run: RunRecord
) -> str:
    """Replace the workloads' rows in ``gold.llm_datasets``; returns the table's path."""
    path = ensure_table(spark, settings, GOLD_LLM_DATASETS)
    workloads = sorted(datasets)
    predicate = f"workload_id IN ({', '.join(sql_string(w) for w in workloads)})"
    expected = sum(ds.kept for ds in datasets.values())
    run.output_version = replace_where(spark, gold_df, path, predicate, expected)
    run.landed_count = expected
    return path


def _workload_details(datasets: dict[str, WorkloadDataset]) -> dict[str, dict[str, Any]]:
    return {
        w: {
            "workload_type": ds.workload_type,
            "raw": ds.raw,
            "invalid": ds.invalid,
            "filtered": ds.filtered,
            "duplicates": ds.duplicates,
            "strata": ds.strata,
            "splits": ds.splits,
            "export_dir": ds.export_dir,
        }
        for w, ds in sorted(datasets.items())
    }


def build_llm_datasets(
    spark: SparkSession, settings: Settings, window: DayWindow, run: RunRecord, export_root: str | None = None
) -> dict[str, WorkloadDataset]:
    """Build the datasets of every workload with LLM records in ``window`` (or its one
    workload), write ``gold.llm_datasets`` and the JSONL files; fills ``run``."""
    llm = settings.llm
    silver_df, version = _read_silver(spark, settings, window)
    run.source = f"{SILVER_LLM_INTERACTIONS.name}@v{version}"
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    # Decide on a narrow projection (filters, dedup, split), then read the wide columns once
    # for the kept records only: the messages are never shuffled more than once.
    decisions_df = _decisions(silver_df, llm)
    try:
        datasets = _decide(spark, settings, window, decisions_df, llm)
        phases["decide_s"] = round(time.monotonic() - t0, 3)
        run.read_count = sum(ds.raw - sum(ds.invalid.values()) for ds in datasets.values())
        run.source_count = sum(ds.raw for ds in datasets.values())

        t1 = time.monotonic()
        splits_df = assign_splits(spark, decisions_df, datasets, llm)
        gold_df = _gold_rows(silver_df, splits_df, window, version, run)
        path = _write_gold(spark, settings, gold_df, datasets, run)
        phases["write_gold_s"] = round(time.monotonic() - t1, 3)
    finally:
        release(decisions_df)

    t2 = time.monotonic()
    root = export_root or settings.llm_export_root()
    for ds in datasets.values():
        ds.export_dir = export_workload(spark, path, run.output_version, ds.workload_id, root, run.run_id)
    phases["export_s"] = round(time.monotonic() - t2, 3)
    run.details["phases"] = phases
    run.details["workloads"] = _workload_details(datasets)
    run.status = "succeeded"
    return datasets


class _Files:
    """The few file operations the export needs, through Hadoop's file system (local or object store)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        if jvm is None:
            raise RuntimeError("the Spark session has no JVM gateway (was it stopped?)")
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def part_file(self, folder: str) -> Any | None:
        path = self._path(folder)
        if not self._fs.exists(path):
            return None
        parts = [s.getPath() for s in self._fs.listStatus(path) if s.getPath().getName().startswith("part-")]
        if len(parts) > 1:
            raise DatasetError(f"{folder}: expected one part file, found {len(parts)}")
        return parts[0] if parts else None

    def move(self, source: Any, dest: str) -> None:
        target = self._path(dest)
        self._fs.delete(target, False)
        if not self._fs.rename(source, target):
            raise DatasetError(f"could not move {source} to {dest}")

    def touch(self, dest: str) -> None:
        self._fs.create(self._path(dest), True).close()

    def delete(self, folder: str) -> None:
        self._fs.delete(self._path(folder), True)


def export_workload(spark: SparkSession, gold_path: str, version: int, workload: str, root: str, run_id: str) -> str:
    """Write ``<root>/<workload>/{train,val,eval}.jsonl`` from ``gold.llm_datasets`` at
    ``version``: train and val in the chat fine-tuning shape, eval in the evaluation shape,
    each ordered by ``event_id``. Returns the workload's folder."""
    folder = f"{root.rstrip('/')}/{urllib.parse.quote(workload, safe='-_.')}"
    staging = f"{folder}/_staging-{run_id}"
    (
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(gold_path)
        .where(F.col("workload_id") == workload)
        .select("split", "event_id", F.col("line_json").alias("value"))
        .repartition(1)
        .sortWithinPartitions("split", "event_id")
        .drop("event_id")
        .write.partitionBy("split")
        .mode("overwrite")
        .text(staging)
    )
    files = _Files(spark, root)
    try:
        for split in LLM_SPLITS:
            part = files.part_file(f"{staging}/split={split}")
            if part is None:
                files.touch(f"{folder}/{split}.jsonl")
            else:
                files.move(part, f"{folder}/{split}.jsonl")
    finally:
        files.delete(staging)
    log.info("exported %s to %s", workload, folder)
    return folder
