"""Delayed labels × ``silver.predictions`` → ``silver.labeled_examples`` for a window of UTC days.

A label is a *candidate* for a prediction when it carries the prediction's ``request_id``
and ``event_ts ≤ label_ts ≤ event_ts + window``; the newest candidate wins (equal times:
the larger label). Predictions without a candidate are not written but counted by cause
(``UNLABELED_CAUSES``). Everything is distributed: one join of the window's prediction
keys with the labels, one aggregation per prediction key (``max_by``), joined back.

Labels come from a Delta table (a directory with ``_delta_log``) or JSONL (a file or a
directory of files) of ``{request_id, label, label_ts}``; ``label_ts`` is ISO-8601 or epoch
seconds. Rows without a request id, a finite label or a readable time are skipped and
counted. Re-joining a window replaces exactly that window, so a re-run after more labels
arrived picks them up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.lib.delta_io import ensure_table, replace_where, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import release, require_columns, table_rows
from jobs.lib.window import DayWindow
from schemas.records import MILLIS_THRESHOLD
from schemas.tables import SILVER_LABELED_EXAMPLES, SILVER_PREDICTIONS
from skewguard.config import Settings

__all__ = ["LabelJoinError", "choose_labels", "join_window", "label_ts_column", "read_labels", "with_unlabeled_cause"]

log = logging.getLogger(__name__)

_LABEL_JSON = T.StructType([T.StructField(name, T.StringType()) for name in ("request_id", "label", "label_ts")])
_NUMERIC = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_KEYS = ("event_id", "request_id", "event_ts")
_MICROS_PER_DAY = 86_400 * 1_000_000


class LabelJoinError(RuntimeError):
    """The run cannot complete; nothing of it was committed to ``silver.labeled_examples``."""


def _seconds_to_ts(number: Column) -> Column:
    seconds = F.when(F.abs(number) >= F.lit(MILLIS_THRESHOLD), number / 1000).otherwise(number)
    return F.timestamp_seconds(seconds)


def label_ts_column(raw: Column, data_type: T.DataType) -> Column:
    """``label_ts`` as a UTC timestamp: timestamps as they are, numbers as epoch seconds (≥ 1e11:
    milliseconds), text as either of those or ISO-8601; anything else null."""
    if isinstance(data_type, T.TimestampType | T.TimestampNTZType):
        return raw.cast(T.TimestampType())
    if isinstance(data_type, T.NumericType):
        return _seconds_to_ts(raw.cast("double"))
    text = F.trim(raw.cast("string"))
    return F.when(text.rlike(_NUMERIC), _seconds_to_ts(text.cast("double"))).otherwise(text.cast("timestamp"))


def read_labels(spark: SparkSession, path: str) -> DataFrame:
    """Labels at ``path`` as ``request_id``, ``label`` (double), ``label_ts`` (timestamp) and
    ``is_valid``; a Delta table when ``path`` holds one, else JSONL."""
    if DeltaTable.isDeltaTable(spark, path):
        raw_df = spark.read.format("delta").load(path)
    else:
        raw_df = spark.read.schema(_LABEL_JSON).json(path)
    require_columns(raw_df, ("request_id", "label", "label_ts"), "read_labels")
    label = F.col("label").cast("double")
    labels_df = raw_df.select(
        F.col("request_id").cast("string").alias("request_id"),
        F.when(~F.isnan(label) & (F.abs(label) != F.lit(float("inf"))), label).alias("label"),
        label_ts_column(F.col("label_ts"), raw_df.schema["label_ts"].dataType).alias("label_ts"),
    )
    is_valid = (
        F.col("request_id").isNotNull()
        & (F.trim("request_id") != "")
        & F.col("label").isNotNull()
        & F.col("label_ts").isNotNull()
    )
    return labels_df.withColumn("is_valid", is_valid)


def choose_labels(keys_df: DataFrame, labels_df: DataFrame, window_days: float) -> DataFrame:
    """One row per prediction key (``event_id``, ``request_id``, ``event_ts``) that has any label:
    the winning candidate ``label``/``label_ts`` (null when none is in the window) and how many
    of its labels are dated ``n_before`` the event or ``n_late`` (after the window)."""
    require_columns(keys_df, _KEYS, "choose_labels")
    require_columns(labels_df, ("request_id", "label", "label_ts"), "choose_labels")
    window_us = round(window_days * _MICROS_PER_DAY)
    delay_us = F.unix_micros("label_ts") - F.unix_micros("event_ts")
    is_candidate = (delay_us >= 0) & (delay_us <= F.lit(window_us))
    winner = F.max_by(F.struct("label", "label_ts"), F.when(is_candidate, F.struct("label_ts", "label")))
    return (
        keys_df.select(*_KEYS)
        .where(F.col("request_id").isNotNull())
        .join(labels_df.select("request_id", "label", "label_ts"), "request_id")
        .groupBy(*_KEYS)
        .agg(
            winner.alias("winner"),
            F.count(F.when(delay_us < 0, 1)).alias("n_before"),
            F.count(F.when(delay_us > F.lit(window_us), 1)).alias("n_late"),
        )
        .select(*_KEYS, "winner.label", "winner.label_ts", "n_before", "n_late")
    )


def with_unlabeled_cause(keys_df: DataFrame, chosen_df: DataFrame) -> DataFrame:
    """``keys_df`` (one row per prediction) with ``cause``: null when labeled, else an ``UNLABELED_CAUSES`` code."""
    late, before = F.col("n_late") > 0, F.col("n_before") > 0
    cause = (
        F.when(F.col("label").isNotNull(), F.lit(None).cast("string"))
        .when(F.col("request_id").isNull(), F.lit("no_request_id"))
        .when(F.col("n_late").isNull(), F.lit("no_label"))
        .when(late & before, F.lit("outside_window"))
        .when(late, F.lit("only_late"))
        .otherwise(F.lit("only_before_event"))
    )
    return keys_df.join(chosen_df, list(_KEYS), "left").withColumn("cause", cause)


def _read_predictions(spark: SparkSession, settings: Settings, window: DayWindow) -> tuple[DataFrame, int]:
    path = settings.lakehouse.table_path(SILVER_PREDICTIONS.name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise LabelJoinError(f"{SILVER_PREDICTIONS.name} does not exist at {path}: parse the window first")
    version = table_version(spark, path)
    predictions_df = spark.read.format("delta").option("versionAsOf", version).load(path).where(window.contains())
    return predictions_df, version


def _summarise(prediction_counts: list[Any], cause_counts: list[Any]) -> dict[str, Any]:
    """Per day × workload counts; :class:`LabelJoinError` unless predictions = labeled + unlabeled."""
    cells: dict[str, dict[str, int]] = {}
    for row in prediction_counts:
        cells.setdefault(f"{row['event_date']}|{row['workload_id']}", {"labeled": 0})["predictions"] = row["n"]
    causes: dict[str, int] = {}
    for row in cause_counts:
        cell = cells.setdefault(f"{row['event_date']}|{row['workload_id']}", {"labeled": 0})
        name = row["cause"] or "labeled"
        cell[name] = cell.get(name, 0) + row["n"]
        if row["cause"]:
            causes[row["cause"]] = causes.get(row["cause"], 0) + row["n"]
    for key, cell in sorted(cells.items()):
        if cell.get("predictions", 0) != sum(n for name, n in cell.items() if name != "predictions"):
            raise LabelJoinError(f"{key}: {cell.get('predictions', 0)} predictions but {cell}; nothing committed")
    return {
        "predictions": sum(c.get("predictions", 0) for c in cells.values()),
        "labeled": sum(c["labeled"] for c in cells.values()),
        "unlabeled": dict(sorted(causes.items())),
        "by_day_workload": {k: dict(sorted(v.items())) for k, v in sorted(cells.items())},
    }


def join_window(
    spark: SparkSession, settings: Settings, window: DayWindow, run: RunRecord, labels_path: str, window_days: float
) -> RunRecord:
    """Join ``window`` of ``silver.predictions`` with the labels at ``labels_path``; fills ``run``."""
    if window_days <= 0:
        raise LabelJoinError(f"the label window must be positive, got {window_days} days")
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    predictions_df, version = _read_predictions(spark, settings, window)
    run.source = f"{SILVER_PREDICTIONS.name}@v{version} + labels {labels_path}"
    run.details.update(predictions_version=version, labels=labels_path, label_window_days=window_days)

    labels_df = read_labels(spark, labels_path)
    counts = labels_df.agg(F.count("*").alias("read"), F.count(F.when(F.col("is_valid"), 1)).alias("valid")).first()
    if counts is None:  # an aggregate without grouping always has a row
        raise LabelJoinError(f"could not count the labels at {labels_path}")
    run.details.update(labels_read=counts["read"], labels_skipped=counts["read"] - counts["valid"])

    keys_df = predictions_df.select(*_KEYS, "event_date", "workload_id")
    # The join and aggregation are evaluated once: the counts and the write both use them.
    chosen_df = choose_labels(keys_df, labels_df.where("is_valid"), window_days).localCheckpoint(eager=True)
    try:
        by_cause = with_unlabeled_cause(keys_df, chosen_df)
        cause_counts = by_cause.groupBy("event_date", "workload_id", "cause").agg(F.count("*").alias("n")).collect()
        prediction_counts = predictions_df.groupBy("event_date", "workload_id").agg(F.count("*").alias("n")).collect()
        summary = _summarise(prediction_counts, cause_counts)
        phases["join_s"] = round(time.monotonic() - t0, 3)
        run.details.update(summary)
        run.source_count = run.read_count = summary["predictions"]
        run.landed_count = summary["labeled"]
        log.info(
            "window %s: %d predictions, %d labeled (%s); %d label rows read, %d skipped",
            window, run.source_count, run.landed_count,
            ", ".join(f"{k} {v}" for k, v in summary["unlabeled"].items()) or "none unlabeled",
            run.details["labels_read"], run.details["labels_skipped"],
        )  # fmt: skip

        t1 = time.monotonic()
        labeled_df = (
            predictions_df.join(chosen_df.where(F.col("label").isNotNull()), list(_KEYS))
            .withColumn("label_delay_s", (F.unix_micros("label_ts") - F.unix_micros("event_ts")) / 1e6)
            .withColumn("predictions_version", F.lit(version).cast("long"))
        )
        path = ensure_table(spark, settings, SILVER_LABELED_EXAMPLES)
        rows_df = table_rows(labeled_df, SILVER_LABELED_EXAMPLES, join_run_id=run.run_id, joined_at=run.started_at)
        run.output_version = replace_where(spark, rows_df, path, window.predicate(), run.landed_count)
        phases["write_s"] = round(time.monotonic() - t1, 3)
    finally:
        release(chosen_df)

    run.details["phases"] = phases
    run.status = "succeeded"
    return run
