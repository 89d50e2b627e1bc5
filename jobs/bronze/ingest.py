"""Elasticsearch → ``bronze.serving_logs`` + ``bronze.quarantine`` for a window of UTC days.

One read of the index (ES-Hadoop, the window pushed down), one parse of each hit's key
fields in Spark SQL, then:

* records that can be landed and fall in the window → bronze, replacing exactly the
  window (indices × days × optional workload) with Delta's ``replaceWhere``, except the day ×
  workload cells whose documents are all gone from the index (kept), and only when no cell
  lost some (:mod:`jobs.bronze.source_drop`);
* records that cannot → quarantine with one reason code, upserted on (index, ``_id``);
  among them those whose timestamp Elasticsearch placed in the window but Spark reads as
  another day (``timestamp_disagrees``);
* the counts reconcile (Elasticsearch's own count = read = landed + quarantined +
  out-of-window) before anything is committed, else the run fails and commits nothing.

An alias or pattern is read one concrete index at a time and every row keeps the index that
holds its document (``es_index``), so a record read through an alias or through its backing
index is the same row.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.bronze.es_reader import read_index_hits
from jobs.bronze.source_drop import DropDecision, bronze_cells, decide
from jobs.lib.delta_io import ensure_table, replace_where, retry_on_conflict, sql_date, sql_string
from jobs.lib.job import one_line
from jobs.lib.runs import RunRecord
from jobs.lib.steps import MissingColumnsError, release, require_columns, table_rows
from jobs.lib.window import DayWindow
from schemas.records import LLM_INTERACTION, MILLIS_THRESHOLD, PREDICTION
from schemas.tables import BRONZE_QUARANTINE, BRONZE_SERVING_LOGS
from skewguard.config import Settings
from skewguard.es import concrete_indices, connect, window_query
from skewguard.settings_models import ElasticsearchSettings

__all__ = ["IngestError", "IngestWindow", "MissingColumnsError", "ingest_window", "parse_hits"]

log = logging.getLogger(__name__)

# Only the keys that decide landing. The payload objects are read as empty structs: the
# parser skips their content (no copy of request/response into strings) and a value that
# is not a JSON object reads as null, i.e. absent.
_PRESENT = T.StructType([])
_KEY_FIELDS = T.StructType(
    [T.StructField(name, T.StringType()) for name in ("timestamp", "workload_id", "client_id")]
    + [T.StructField(name, _PRESENT) for name in ("request", "response", "features")]
)
_NUMERIC = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"  # Spark renders JSON floats as 1.7E9
LANDED, OUT_OF_WINDOW = "landed", "out_of_window"
_MAX_MS = 253_402_300_800_000  # year 10000: Spark's timestamps go no further than a few more


class IngestError(RuntimeError):
    """The run cannot complete; nothing of it was committed to bronze."""


IngestWindow = DayWindow  # the ingest window is the shared day window


def _event_ts(raw: Column, millis_threshold: float) -> Column:
    number = raw.cast("double")
    seconds = F.when(F.abs(number) >= F.lit(millis_threshold), number / 1000).otherwise(number)
    return F.when(raw.rlike(_NUMERIC), F.timestamp_seconds(seconds)).otherwise(raw.cast("timestamp"))


def _es_day(raw: Column, window: IngestWindow) -> Column:
    """The day of ``window`` in which Elasticsearch can have found a ``timestamp`` (null: none).

    The window's query matches a number under each reading of its unit (see
    :func:`skewguard.es.window_ranges_ms`): as seconds, millis or micros; Elasticsearch reads
    a string as a date, where ``"2024"`` is a year. Whichever of those days lies in the window."""
    number = raw.cast("double")

    def day_of_ms(ms: Column) -> Column:
        return F.when(F.abs(ms) < F.lit(_MAX_MS), F.to_date(F.timestamp_seconds(ms / 1000)))

    numeric = raw.rlike(_NUMERIC)
    days = [F.when(numeric, day_of_ms(number * factor)) for factor in (1000.0, 1.0, 0.001)]
    days.append(F.to_date(raw.cast("timestamp")))
    return F.coalesce(*(F.when(d.between(F.lit(window.start), F.lit(window.end)), d) for d in days))


def _reason(k: Column, event_ts: Column, disagrees: Column) -> Column:
    has_request, has_response = k["request"].isNotNull(), k["response"].isNotNull()
    return (
        F.when(k.isNull(), F.lit("invalid_json"))
        .when(k["timestamp"].isNull(), F.lit("missing_timestamp"))
        .when(event_ts.isNull(), F.lit("bad_timestamp"))
        .when(disagrees, F.lit("timestamp_disagrees"))
        .when(k["workload_id"].isNull() | (F.trim(k["workload_id"]) == ""), F.lit("missing_workload_id"))
        .when(has_request & has_response, F.lit(None))
        .when(has_request | has_response, F.lit("incomplete_llm_record"))
        .when(k["features"].isNotNull(), F.lit(None))
        .otherwise(F.lit("unknown_record_kind"))
    )


def parse_hits(hits_df: DataFrame, window: IngestWindow, millis_threshold: float = MILLIS_THRESHOLD) -> DataFrame:
    """Typed key columns, ``reason`` (null when landable) and ``status`` for each hit; other
    columns of ``hits_df`` (e.g. ``es_index``) are kept.

    ``status`` is ``landed``, ``out_of_window`` (its own time is outside the window, so
    another window owns it) or ``quarantined:<reason>``. A record whose time cannot be
    read belongs to every window that finds it; the quarantine upsert keeps it once. A record
    Spark dates outside the window but whose ``timestamp`` Elasticsearch can have placed in
    it is ``timestamp_disagrees``, its ``event_date`` the window's day Elasticsearch saw:
    otherwise every window would count it out.
    """
    require_columns(hits_df, ("event_id", "source_json"), "parse_hits")
    k = F.col("k")
    event_ts = _event_ts(k["timestamp"], millis_threshold)
    in_window = F.col("spark_date").between(F.lit(window.start), F.lit(window.end))
    disagrees = F.col("spark_date").isNotNull() & ~in_window & F.col("es_day").isNotNull()
    kept = [c for c in hits_df.columns if c not in ("event_id", "source_json")]
    return (
        hits_df.withColumn("k", F.from_json("source_json", _KEY_FIELDS))
        .withColumn("event_ts", event_ts)
        .withColumn("spark_date", F.to_date("event_ts"))
        .withColumn("es_day", _es_day(k["timestamp"], window))
        .withColumn("reason", _reason(k, F.col("event_ts"), disagrees))
        .withColumn("event_date", F.when(disagrees, F.col("es_day")).otherwise(F.col("spark_date")))
        .withColumn(
            "record_kind",
            F.when(k["request"].isNotNull(), F.lit(LLM_INTERACTION.kind)).otherwise(F.lit(PREDICTION.kind)),
        )
        .withColumn(
            "status",
            F.when(F.col("spark_date").isNotNull() & ~in_window & ~disagrees, F.lit(OUT_OF_WINDOW))
            .when(F.col("reason").isNull(), F.lit(LANDED))
            .otherwise(F.concat(F.lit("quarantined:"), F.col("reason"))),
        )
        .select(
            *kept,
            "event_id",
            "source_json",
            "event_ts",
            "event_date",
            "record_kind",
            "reason",
            "status",
            k["workload_id"].alias("workload_id"),
            k["client_id"].alias("client_id"),
            k["timestamp"].alias("raw_timestamp"),
        )
    )


def _bronze_rows(parsed_df: DataFrame, run: RunRecord) -> DataFrame:
    landed_df = parsed_df.filter(F.col("status") == LANDED)
    return table_rows(landed_df, BRONZE_SERVING_LOGS, ingest_run_id=run.run_id, ingested_at=run.started_at)


def _quarantine_rows(parsed_df: DataFrame, window: IngestWindow, run: RunRecord) -> DataFrame:
    quarantined_df = parsed_df.filter(F.col("status").startswith("quarantined:"))
    return table_rows(
        quarantined_df, BRONZE_QUARANTINE, window_start=window.start, window_end=window.end,
        ingest_run_id=run.run_id, ingested_at=run.started_at,
    )  # fmt: skip


def _window_predicate(indices: list[str], window: IngestWindow, prefix: str = "", kept: list[str] | None = None) -> str:
    """The rows of ``window`` read from ``indices``, except the ``kept`` cells (``day|workload``)."""
    pred = (
        f"{prefix}es_index IN ({', '.join(sql_string(i) for i in indices)})"
        f" AND {prefix}event_date >= {sql_date(window.start)} AND {prefix}event_date <= {sql_date(window.end)}"
    )
    if window.workload_id is not None:
        pred += f" AND {prefix}workload_id = {sql_string(window.workload_id)}"
    if kept:  # one term per workload: a backfill can keep many days (one OR per cell is too big to compile)
        days_by_workload: dict[str, list[str]] = {}
        for cell in kept:
            day, workload = cell.split("|", 1)
            days_by_workload.setdefault(workload, []).append(sql_date(dt.date.fromisoformat(day)))
        terms = [
            f"({prefix}workload_id = {sql_string(w)} AND {prefix}event_date IN ({', '.join(days)}))"
            for w, days in sorted(days_by_workload.items())
        ]
        pred += f" AND NOT ({' OR '.join(terms)})"
    return pred


def _summarise(counts: list[Any]) -> dict[str, Any]:
    by_status: Counter[str] = Counter()
    per_day_workload: dict[str, int] = {}
    for row in counts:
        by_status[row["status"]] += row["n"]
        if row["status"] == LANDED:
            key = f"{row['event_date']}|{row['workload_id']}"
            per_day_workload[key] = per_day_workload.get(key, 0) + row["n"]
    reasons = {s.split(":", 1)[1]: n for s, n in by_status.items() if s.startswith("quarantined:")}
    return {
        "landed": by_status[LANDED],
        "out_of_window": by_status[OUT_OF_WINDOW],
        "quarantined": sum(reasons.values()),
        "reasons": dict(sorted(reasons.items())),
        "landed_by_day_workload": dict(sorted(per_day_workload.items())),
    }


def _source_count(es: ElasticsearchSettings, index: str, query: dict[str, Any]) -> dict[str, int]:
    """The concrete indices ``index`` stands for, each with Elasticsearch's own count of the
    window's documents; fails when it names none."""
    client = connect(es)
    try:
        indices = concrete_indices(client, index)
        if not indices:
            raise IngestError(f"index {index!r} does not exist at {es.url}")
        return {name: int(client.count(index=name, query=query)["count"]) for name in indices}
    finally:
        client.close()


def _checkpointed(parsed_df: DataFrame, index: str, url: str) -> DataFrame:
    """The parsed read, materialised (this is where the index is read); a failed read is an
    :class:`IngestError`."""
    # Materialise the parsed read once: the counts, bronze and quarantine all come from it, so
    # Elasticsearch is read once. A local checkpoint (unlike a cache) never silently re-reads
    # the index when a block is lost; the run fails instead and can be re-run.
    try:
        return parsed_df.localCheckpoint(eager=True)
    except Exception as exc:  # the connector's error arrives wrapped in Spark's "job aborted"
        raise IngestError(
            f"reading {index} from {url} failed: {one_line(exc)}; nothing committed, re-run once "
            f"Elasticsearch answers"
        ) from exc


def _record_counts(run: RunRecord, counts: list[Any], read_parse_s: float) -> None:
    """The read's counts (per status, landed per day × workload) into ``run``."""
    summary = _summarise(counts)
    run.read_count = sum(r["n"] for r in counts)
    run.landed_count, run.quarantined_count = summary["landed"], summary["quarantined"]
    run.out_of_window_count = summary["out_of_window"]
    run.details.update(summary)
    log.info(
        "read %d documents in %.1fs: %d to land, %d to quarantine, %d outside the window",
        run.read_count,
        read_parse_s,
        run.landed_count,
        run.quarantined_count,
        run.out_of_window_count,
    )


def _check_reconciled(run: RunRecord) -> None:
    if run.read_count != run.source_count:
        raise IngestError(
            f"read {run.read_count} documents but Elasticsearch counts {run.source_count} for the "
            f"window: the index changed during the read or documents were lost; nothing committed, re-run"
        )


def _source_drop(
    spark: SparkSession, settings: Settings, bronze_path: str, parsed_df: DataFrame, keys: list[str],
    window: IngestWindow, run: RunRecord, allow_drop: bool,
) -> DropDecision:  # fmt: skip
    """What the window's replacement may delete from bronze; :class:`IngestError` when it must not."""
    held_df = parsed_df.filter((F.col("status") == LANDED) | F.col("status").startswith("quarantined:"))
    landed = run.details["landed_by_day_workload"]
    cells = bronze_cells(spark, bronze_path, _window_predicate(keys, window), held_df, landed)
    decision = decide(cells, settings.ingest.max_source_drop_share, allow_drop)
    run.details.update(decision.details())
    name = (run.source or "").removeprefix("elasticsearch:")
    refusal = decision.refusal(name)
    if refusal is not None:
        raise IngestError(refusal)
    for cell, rows in decision.kept.items():
        log.warning("kept: source empty — %s: %s holds none of its %d bronze rows; bronze keeps them", cell, name, rows)
    for cell, rows in decision.dropped.items():
        log.warning("%s: deleting %d bronze rows whose documents %s no longer holds", cell, rows, name)
    return decision


def ingest_window(
    spark: SparkSession, settings: Settings, window: IngestWindow, run: RunRecord, index: str | None = None,
    allow_source_drop: bool = False,
) -> RunRecord:  # fmt: skip
    """Ingest ``window`` of ``index`` (default: the configured one); fills and returns ``run``.

    Raises :class:`IngestError` (or the connector's error) before any commit when the
    source cannot be read whole, the counts do not reconcile, or the replacement would delete
    bronze rows whose documents are gone (unless ``allow_source_drop``).
    """
    es = settings.es_for("reader")
    index = index or es.index
    run.source = f"elasticsearch:{index}"
    query = window_query(window.start, window.end, window.workload_id)
    per_index = _source_count(es, index, query)
    run.source_count = sum(per_index.values())
    run.details["source_by_index"] = per_index
    log.info("window %s: Elasticsearch counts %d documents in %s (%s)", window, run.source_count, index,
             ", ".join(per_index))  # fmt: skip
    # the window's rows are those of the concrete indices read, and those keyed by the name itself
    # (written before bronze kept the concrete index)
    keys = sorted({*per_index, index})

    phases: dict[str, float] = {}
    t0 = time.monotonic()
    hits_df = read_index_hits(spark, es, sorted(per_index), query)
    parsed_df = _checkpointed(parse_hits(hits_df, window), index, es.url)
    try:
        counts = parsed_df.groupBy("event_date", "workload_id", "status").agg(F.count("*").alias("n")).collect()
        phases["read_parse_s"] = round(time.monotonic() - t0, 3)
        _record_counts(run, counts, phases["read_parse_s"])
        _check_reconciled(run)

        t1 = time.monotonic()
        bronze_path = ensure_table(spark, settings, BRONZE_SERVING_LOGS)
        decision = _source_drop(spark, settings, bronze_path, parsed_df, keys, window, run, allow_source_drop)
        kept = sorted(decision.kept)
        phases["source_drop_check_s"] = round(time.monotonic() - t1, 3)
        predicate = _window_predicate(keys, window, kept=kept)
        run.output_version = replace_where(
            spark, _bronze_rows(parsed_df, run), bronze_path, predicate, run.landed_count
        )
        phases["write_bronze_s"] = round(time.monotonic() - t1, 3)

        t2 = time.monotonic()
        _merge_quarantine(spark, settings, parsed_df, keys, window, run, allow_source_drop)
        phases["quarantine_s"] = round(time.monotonic() - t2, 3)
    finally:
        release(parsed_df)

    run.details["phases"] = phases
    run.status = "succeeded"
    return run


def _merge_quarantine(
    spark: SparkSession, settings: Settings, parsed_df: DataFrame, keys: list[str], window: IngestWindow,
    run: RunRecord, allow_drop: bool,
) -> None:  # fmt: skip
    """Upsert the window's quarantined records on (index, ``_id``) and remove the rows of
    records that now land (fixed). Rows whose documents are gone stay (only
    ``maintain_tables`` ages them out), unless ``allow_drop``: then the window's dated rows
    that the source no longer yields as malformed are removed too. Undated rows are only upserted."""
    path = ensure_table(spark, settings, BRONZE_QUARANTINE)
    rows_df = _quarantine_rows(parsed_df, window, run).withColumn("is_landed", F.lit(False))
    landed_keys_df = (
        parsed_df.filter(F.col("status") == LANDED).select("es_index", "event_id").withColumn("is_landed", F.lit(True))
    )
    columns = BRONZE_QUARANTINE.column_names

    def merge() -> None:  # built afresh on each attempt, on the table's newest snapshot
        target = DeltaTable.forPath(spark, path)
        fixed_df = landed_keys_df.join(target.toDF().select("es_index", "event_id"), ["es_index", "event_id"], "semi")
        builder = (
            target.alias("t")
            .merge(
                rows_df.unionByName(fixed_df, allowMissingColumns=True).alias("s"),
                "t.es_index = s.es_index AND t.event_id = s.event_id",
            )
            .whenMatchedDelete(condition="s.is_landed")
            .whenMatchedUpdate(set={c: f"s.{c}" for c in columns})
            .whenNotMatchedInsert(condition="NOT s.is_landed", values={c: f"s.{c}" for c in columns})
        )
        if allow_drop:
            builder = builder.whenNotMatchedBySourceDelete(condition=_window_predicate(keys, window, prefix="t."))
        builder.execute()

    # The table is small and unpartitioned: two ingests at once both read all of it, so the
    # second to commit conflicts and merges again on the first one's result.
    retry_on_conflict(merge, "merge into bronze.quarantine")
