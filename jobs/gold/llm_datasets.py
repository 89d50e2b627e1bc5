"""``silver.llm_interactions`` of a window → per-workload fine-tuning and evaluation datasets
(``gold.llm_datasets``) and their JSONL export.

Per workload, all distributed (only per-workload × stratum counts reach the driver):

1. **workload type** over the window, as the Data Flywheel decides it from all raw records:
   ``tool_calling`` when any record's first choice calls a tool — a record the parse
   quarantined (e.g. a malformed tool call) counts too;
2. **quality filters** per type (:data:`schemas.llm.LLM_FILTER_REASONS`); a tool call in
   any choice counts, as the Flywheel's filter scans every choice;
3. **deduplication** by ``dedup_key`` (the user messages) among the records that passed the
   filters, keeping the newest (latest ``event_ts``, then the largest ``event_id``); a record
   with no user message is never a duplicate (the Flywheel keeps them all);
4. the **limit** (``llm.limit``, the Flywheel's ``data_split_config.limit``): at most that many
   of a workload's records, chosen by a seeded hash of ``event_id``; the others are counted;
5. a **minimum-record check** that fails the run, with the counts, before anything is written;
6. a deterministic **split**: strata are the first tool called (rare ones grouped); the
   ``eval`` size is shared among strata by largest remainder, ``val`` is ``val_ratio`` of
   each stratum's rest; within a stratum records are taken in the order of a seeded hash
   of ``event_id``, so a re-run over the same records gives the same split;
7. the rows replace the workloads' rows in ``gold.llm_datasets``; the JSONL files are then
   written from the committed version, each workload in a folder of its own (a workload named
   like ``..`` cannot leave the export folder).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.gold.llm_export import export_workload
from jobs.gold.llm_lines import chat_line_of, eval_line_of
from jobs.gold.llm_splits import assign_splits, strata_of
from jobs.lib.delta_io import ensure_table, replace_where, sql_string, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import release, require_columns, table_rows
from jobs.lib.window import DayWindow
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

_NEEDED = ("event_id", "event_ts", "workload_id", "workload_type", "dedup_key", "calls_tool", "answer_chars")
# what the decisions (filters, dedup, limit, split) need: a narrow projection of silver
_DECISION_COLUMNS = ("event_id", "event_ts", "workload_id", "dedup_key", "first_tool", "turn_count")
# the Data Flywheel's test for a tool-calling workload, on a record the parse quarantined
_FIRST_CHOICE_CALL = "$.response.choices[0].message.tool_calls[0]"


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
    over_limit: int = 0
    """Valid, filtered and unique, but beyond ``llm.limit``."""
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
            f"{f'over limit {self.over_limit}, ' if self.over_limit else ''}kept {self.kept}{splits}"
        )


def filter_reason(df: DataFrame, llm: LlmSettings) -> DataFrame:
    """Add ``filter_reason``: why a valid record is not used (null: it is); ``calls_tool``
    says whether any choice calls a tool, ``answer_chars`` is the number of non-blank
    characters of the response's content."""
    require_columns(df, _NEEDED, "filter_reason")
    tool_calling, generic = WORKLOAD_TYPES
    return df.withColumn(
        "filter_reason",
        F.when((F.col("workload_type") == tool_calling) & ~F.col("calls_tool"), F.lit("no_tool_call")).when(
            (F.col("workload_type") == generic) & (F.col("answer_chars") < llm.min_response_chars),
            F.lit("short_content"),
        ),
    )


def _with_workload_type(df: DataFrame, tool_workloads: set[str]) -> DataFrame:
    """Add ``workload_type``: ``tool_calling`` when a record of the workload calls a tool in its
    first choice (``first_tool``), or the workload is one of ``tool_workloads`` (a quarantined
    record of it did); one small row per workload, broadcast back."""
    tool_calling, generic = WORKLOAD_TYPES
    raw = F.col("workload_id").isin(sorted(tool_workloads)) if tool_workloads else F.lit(False)
    types_df = df.groupBy("workload_id").agg(
        F.when(F.max(F.col("first_tool").isNotNull()) | F.max(raw), F.lit(tool_calling))
        .otherwise(F.lit(generic))
        .alias("workload_type")
    )
    return df.join(F.broadcast(types_df), "workload_id")


def _with_newest_first(df: DataFrame) -> DataFrame:
    """Add ``is_newest``: the record passed the filters and is the newest of those of its
    workload with its ``dedup_key``; a record without a user message is its own query."""
    query = F.when(F.col("turn_count") > 0, F.col("dedup_key")).otherwise(F.concat(F.lit("event:"), "event_id"))
    newest = Window.partitionBy("workload_id", "_query", F.col("filter_reason").isNull()).orderBy(
        F.desc("event_ts"), F.desc("event_id")
    )
    return (
        df.withColumn("_query", query)
        .withColumn("is_newest", F.col("filter_reason").isNull() & (F.row_number().over(newest) == 1))
        .drop("_query")
    )


def _with_limit(df: DataFrame, llm: LlmSettings) -> DataFrame:
    """Add ``over_limit``: a kept record (filtered, newest) beyond the workload's first
    ``llm.limit`` in the order of a seeded hash of ``event_id`` (not the split's order)."""
    kept = F.col("filter_reason").isNull() & F.col("is_newest")
    if llm.limit is None:
        return df.withColumn("over_limit", F.lit(False))
    order = Window.partitionBy("workload_id", kept).orderBy(
        F.xxhash64(F.lit(llm.split_seed), F.lit("limit"), "event_id"), "event_id"
    )
    return df.withColumn("over_limit", kept & (F.row_number().over(order) > llm.limit))


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
    """The window's quarantined LLM records per workload and reason, and whether any of them
    calls a tool in its first choice (``calls_tool``)."""
    path = settings.lakehouse.table_path(SILVER_QUARANTINE.name)
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    calls = F.get_json_object("source_json", _FIRST_CHOICE_CALL).isNotNull()
    return (
        spark.read.format("delta")
        .load(path)
        .where(window.contains() & (F.col("record_kind") == LLM_INTERACTION.kind))
        .groupBy("workload_id", "reason")
        .agg(F.count(F.lit(1)).alias("count"), F.max(calls).alias("calls_tool"))
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
        elif row["over_limit"]:
            ds.over_limit += row["n"]
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


def _decisions(silver_df: DataFrame, llm: LlmSettings, tool_workloads: set[str]) -> DataFrame:
    """The narrow projection the decisions need, with ``workload_type``, ``filter_reason``,
    ``is_newest`` and ``over_limit``, checkpointed (eagerly) so that the counts and the split
    read it once."""
    answer = F.trim(F.coalesce(F.col("response_message")["content"], F.lit("")))
    return (
        silver_df.select(
            *_DECISION_COLUMNS,
            F.length(answer).alias("answer_chars"),
            (F.size("tool_names_called") > 0).alias("calls_tool"),
        )
        .transform(_with_workload_type, tool_workloads)
        .transform(filter_reason, llm)
        .transform(_with_newest_first)
        .transform(_with_limit, llm)
        .localCheckpoint(eager=True)
    )


def _decide(
    decisions_df: DataFrame, invalid: list[Any], window: DayWindow, llm: LlmSettings
) -> dict[str, WorkloadDataset]:
    """Per workload, what the filters, dedup, limit and strata decided (one small collect),
    checked against the minimum sizes."""
    counts = (
        decisions_df.groupBy("workload_id", "workload_type", "filter_reason", "is_newest", "over_limit", "first_tool")
        .agg(F.count("*").alias("n"))
        .collect()
    )
    datasets = _summaries(counts, invalid, llm)
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
            "over_limit": ds.over_limit,
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
    invalid = _invalid_counts(spark, settings, window)
    decisions_df = _decisions(silver_df, llm, {r["workload_id"] for r in invalid if r["calls_tool"]})
    try:
        datasets = _decide(decisions_df, invalid, window, llm)
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
