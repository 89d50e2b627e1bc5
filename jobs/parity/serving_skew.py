"""Serving skew on what serving actually logged, for one day and workload:

* ``outputs`` — per model version in the logs, the bundle that version names (and whose
  transform hash matches the logged one) recomputes the outputs from the logged features
  through Arrow in Spark; each logged output is compared with the recomputed one.
* ``features`` — given an offline feature table (entity, as-of time, one column per
  feature), each logged feature is compared with the table's value for the entity as of the
  event time (a point-in-time join, no global sort): equal, missing in serving, stale (a
  value the table held earlier) or different.

Writes ``metrics.serving_skew`` (re-running a day and workload replaces its rows)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StructField

from jobs.gold.training_set import TIME_COLUMN
from jobs.lib.delta_io import ensure_table, replace_where, sql_date, sql_string, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import require_columns
from jobs.lib.window import DayWindow
from jobs.parity.replay_client import request_from_logged
from schemas.metrics import METRICS_SERVING_SKEW
from schemas.tables import SILVER_PREDICTIONS
from serving.built_bundle import load_built_bundle
from serving.bundle import Bundle, BundleError
from skewguard.config import Settings

__all__ = ["FeatureTable", "check_serving_skew", "summarize"]

log = logging.getLogger("skewguard.serving_skew")

_RECOMPUTED = "event_id string, score double, label double, error string"


@dataclass(frozen=True)
class FeatureTable:
    """An offline feature table and how its rows meet the logs."""

    path: str
    entity_key: str
    """A logged feature id (or ``client_id``/``request_id``) holding the entity id."""
    entity_column: str = "entity_id"
    as_of_column: str = "as_of"


def _recompute(bundle_path: str, content_hash: str, contract: Mapping[str, str]) -> Any:
    """The per-partition function: rebuild each request from the log and run the bundle (the
    one the driver checked: same resolved folder, same content hash)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        bundle = Bundle.load(bundle_path, content_hash=content_hash)
        for batch in batches:
            ids = batch.column("event_id").to_pylist()
            requests = [
                request_from_logged(dict(f or []), contract, ts, TIME_COLUMN)
                for f, ts in zip(
                    batch.column("features").to_pylist(), batch.column("event_ts").to_pylist(), strict=True
                )
            ]
            scores, errors = bundle.scores_or_refusals(requests)
            errors = [None if e is None else e[:300] for e in errors]
            labels = [None if s is None else float(s >= bundle.threshold) for s in scores]
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(ids, pa.string()),
                    pa.array(scores, pa.float64()),
                    pa.array(labels, pa.float64()),
                    pa.array(errors, pa.string()),
                ],
                names=["event_id", "score", "label", "error"],
            )

    return run


def _row(base: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    row = {c: None for c in METRICS_SERVING_SKEW.column_names}
    row.update(base)
    row.update(values)
    rows = row["rows"] or 0
    row["mismatch_rate"] = row["mismatched"] / rows if rows else None
    return row


def _output_rows(
    settings: Settings, logs_df: DataFrame, base: Mapping[str, Any], tolerance: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    versions = (
        logs_df.groupBy("model_name", "model_version", "transform_hash").agg(F.count(F.lit(1)).alias("n")).collect()
    )
    for v in sorted(versions, key=lambda r: (r["model_name"], r["model_version"], r["transform_hash"] or "")):
        ident = {**base, "model_name": v["model_name"], "model_version": v["model_version"]}
        ident["transform_hash"] = v["transform_hash"]
        n = int(v["n"])
        try:  # the names come from the logs: checked before they become a path, code imported only if built here
            bundle = load_built_bundle(settings, v["model_name"], v["model_version"])
        except BundleError as exc:
            log.warning("%s %s: no usable bundle (%s)", v["model_name"], v["model_version"], exc)
            detail = json.dumps({"error": str(exc)})
            rows.append(_row(ident, subject="bundle", rows=n, mismatched=n, status="no_bundle", details_json=detail))
            continue
        if v["transform_hash"] is not None and v["transform_hash"] != bundle.transform_hash:
            detail = json.dumps({"bundle_path": str(bundle.path), "bundle_transform_hash": bundle.transform_hash})
            rows.append(
                _row(
                    ident, subject="bundle", rows=n, mismatched=n, status="transform_hash_differs", details_json=detail
                )
            )
            continue
        rows.extend(_compare_outputs(logs_df, v, bundle, ident, n, tolerance))
    return rows


def _match(column: str, value: Any) -> Column:
    return F.col(column).eqNullSafe(F.lit(value))


def _compare_outputs(
    logs_df: DataFrame, v: Any, bundle: Bundle, ident: Mapping[str, Any], n: int, tolerance: float
) -> list[dict[str, Any]]:
    folder = bundle.path
    version_df = logs_df.where(
        _match("model_name", v["model_name"])
        & _match("model_version", v["model_version"])
        & _match("transform_hash", v["transform_hash"])
    )
    recomputed_df = version_df.select("event_id", "features", "event_ts").mapInArrow(
        _recompute(str(folder), bundle.content_hash, bundle.inputs), _RECOMPUTED
    )
    joined_df = version_df.select("event_id", "outputs").join(recomputed_df, "event_id")
    out: list[dict[str, Any]] = []
    aggs, checks = [], {}
    for name in ("score", "label"):
        diff = F.abs(F.col("outputs")[name] - F.col(name))
        bad = diff.isNull() | (diff >= F.lit(tolerance))
        checks[name] = bad
        aggs += [F.sum(bad.cast("long")).alias(f"{name}_bad"), F.max(diff).alias(f"{name}_max")]
    aggs.append(F.sum(F.col("error").isNotNull().cast("long")).alias("errors"))
    # two actions read it: the bundle runs once per row, not once per action
    joined_df = joined_df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = joined_df.agg(*aggs).first()
        bad_df = joined_df.where(checks["score"] | checks["label"])
        examples = [r["event_id"] for r in bad_df.select("event_id").limit(5).collect()]
    finally:
        joined_df.unpersist()
    for name in ("score", "label"):
        bad = int(stats[f"{name}_bad"] or 0)
        detail = {
            "bundle_path": str(folder),
            "serving_errors": int(stats["errors"] or 0),
            "example_event_ids": examples,
        }
        out.append(
            _row(
                ident,
                subject=name,
                rows=n,
                mismatched=bad,
                max_abs_diff=stats[f"{name}_max"],
                status="mismatch" if bad else "ok",
                details_json=json.dumps(detail),
            )
        )
    log.info(
        "%s %s: %d logged predictions, score mismatches %d",
        v["model_name"],
        v["model_version"],
        n,
        out[0]["mismatched"],
    )
    return out


def _feature_columns(offline_df: DataFrame, table: FeatureTable) -> list[StructField]:
    """The feature table's feature columns: everything but the entity and as-of columns."""
    require_columns(offline_df, [table.entity_column, table.as_of_column], f"feature table {table.path}")
    features = [f for f in offline_df.schema.fields if f.name not in (table.entity_column, table.as_of_column)]
    if not features:
        raise ValueError(f"feature table {table.path} has no feature columns")
    return features


def _logged_features(logs_df: DataFrame, table: FeatureTable, features: Sequence[StructField]) -> DataFrame:
    """One row per logged prediction × feature, absent features included (value null)."""
    entity = (
        F.col(table.entity_key)
        if table.entity_key in ("client_id", "request_id")
        else F.col("features")[table.entity_key]
    )
    return (
        logs_df.select(
            "event_id",
            "event_ts",
            "model_name",
            "model_version",
            "transform_hash",
            entity.alias("_entity"),
            F.explode(
                F.array(
                    *[
                        F.struct(F.lit(f.name).alias("feature"), F.col("features")[f.name].alias("served"))
                        for f in features
                    ]
                )
            ).alias("_f"),
        )
        .select("*", "_f.feature", "_f.served")
        .drop("_f")
    )


def _feature_history(offline_df: DataFrame, table: FeatureTable, features: Sequence[StructField]) -> DataFrame:
    """One row per entity × as-of time × feature, the value as a number (numeric features) and as text."""
    numeric = {f.name for f in features if isinstance(f.dataType, NumericType)}
    return offline_df.select(
        F.col(table.entity_column).cast("string").alias("_entity"),
        F.col(table.as_of_column).alias("_as_of"),
        F.explode(
            F.array(
                *[
                    F.struct(
                        F.lit(f.name).alias("feature"),
                        F.col(f.name).cast("double").alias("num")
                        if f.name in numeric
                        else F.lit(None).cast("double").alias("num"),
                        F.col(f.name).cast("string").alias("text"),
                    )
                    for f in features
                ]
            )
        ).alias("_h"),
    ).select("_entity", "_as_of", "_h.feature", "_h.num", "_h.text")


def _match_as_of_event(logged_df: DataFrame, history_df: DataFrame, tolerance: float) -> DataFrame:
    """Per logged feature: the table's value current at the event time, and the latest as-of
    time (up to the event) at which the table held the served value."""
    served_num = F.col("served").cast("double")
    same = F.when(F.col("num").isNotNull(), F.abs(served_num - F.col("num")) < F.lit(tolerance)).otherwise(
        F.col("served") == F.col("text")
    )
    keys = ["event_id", "feature", "model_name", "model_version", "transform_hash", "served"]
    return (
        logged_df.join(history_df, ["_entity", "feature"])
        .where(F.col("_as_of") <= F.col("event_ts"))
        .groupBy(*keys)
        .agg(
            F.max("_as_of").alias("current_as_of"),
            F.max_by("text", "_as_of").alias("current"),
            F.max(F.when(F.coalesce(same, F.lit(False)), F.col("_as_of"))).alias("matched_as_of"),
        )
    )


def _skew_cause() -> Column:
    """equal, missing_in_serving, stale or different; null where the table had no value yet."""
    return (
        F.when(F.col("current").isNull(), F.lit(None))
        .when(F.col("served").isNull(), F.lit("missing_in_serving"))
        .when(F.col("matched_as_of") == F.col("current_as_of"), F.lit("equal"))
        .when(F.col("matched_as_of").isNotNull(), F.lit("stale"))
        .otherwise(F.lit("different"))
    )


def _count_causes(per_event_df: DataFrame) -> list[Row]:
    """Rows and counts per cause for each model version and feature (one small collect)."""
    return (
        per_event_df.withColumn("cause", _skew_cause())
        .where(F.col("cause").isNotNull())
        .groupBy("model_name", "model_version", "transform_hash", "feature")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            *[F.sum((F.col("cause") == c).cast("long")).alias(c) for c in ("missing_in_serving", "stale", "different")],
        )
        .collect()
    )


def _feature_row(base: Mapping[str, Any], table: FeatureTable, r: Row) -> dict[str, Any]:
    mismatched = int(r["missing_in_serving"]) + int(r["stale"]) + int(r["different"])
    return _row(
        base,
        check="features",
        model_name=r["model_name"],
        model_version=r["model_version"],
        transform_hash=r["transform_hash"],
        subject=r["feature"],
        rows=int(r["rows"]),
        mismatched=mismatched,
        missing_in_serving=int(r["missing_in_serving"]),
        stale=int(r["stale"]),
        different=int(r["different"]),
        status="mismatch" if mismatched else "ok",
        details_json=json.dumps({"feature_table": table.path, "entity_key": table.entity_key}),
    )


def _feature_rows(
    spark: SparkSession, logs_df: DataFrame, table: FeatureTable, base: Mapping[str, Any], tolerance: float
) -> list[dict[str, Any]]:
    offline_df = spark.read.format("delta").load(table.path)
    features = _feature_columns(offline_df, table)
    logged_df = _logged_features(logs_df, table, features)
    history_df = _feature_history(offline_df, table, features)
    counted = _count_causes(_match_as_of_event(logged_df, history_df, tolerance))
    return [
        _feature_row(base, table, r)
        for r in sorted(counted, key=lambda r: (r["model_name"], r["model_version"], r["feature"]))
    ]


def check_serving_skew(
    spark: SparkSession,
    settings: Settings,
    day: dt.date,
    workload: str,
    run: RunRecord,
    feature_table: FeatureTable | None = None,
) -> list[dict[str, Any]]:
    """Check one day and workload; returns the ``metrics.serving_skew`` rows written (none, and
    nothing replaced, when the day has no logged predictions for the workload)."""
    tolerance = settings.parity.skew_tolerance
    window = DayWindow(day, day, workload)
    source = ensure_table(spark, settings, SILVER_PREDICTIONS)
    version = table_version(spark, source)
    run.source = f"{SILVER_PREDICTIONS.name}@v{version}"
    logs_df = spark.read.format("delta").option("versionAsOf", version).load(source).where(window.contains())
    base = {"run_id": run.run_id, "checked_at": run.started_at, "event_date": day, "workload_id": workload}
    base.update(check="outputs", tolerance=tolerance)
    rows = _output_rows(settings, logs_df, base, tolerance)
    if rows and feature_table is not None:  # no output rows: nothing was logged
        rows += _feature_rows(spark, logs_df, feature_table, base, tolerance)
    run.read_count = sum(r["rows"] for r in rows if r["check"] == "outputs" and r["subject"] in ("score", "bundle"))
    if not rows:  # nothing was logged: an empty check does not replace what an earlier one found
        run.details = {"rows": 0, "no_data": True}
        run.status = "succeeded"
        return rows
    path = ensure_table(spark, settings, METRICS_SERVING_SKEW)
    rows_df = spark.createDataFrame(
        [tuple(r[c] for c in METRICS_SERVING_SKEW.column_names) for r in rows], METRICS_SERVING_SKEW.spark_schema()
    )
    predicate = f"event_date = {sql_date(day)} AND workload_id = {sql_string(workload)}"
    run.output_version = replace_where(spark, rows_df, path, predicate, len(rows))
    run.landed_count = len(rows)
    mismatches = [r for r in rows if r["status"] != "ok"]
    run.details = {"rows": len(rows), "mismatching_rows": len(mismatches)}
    run.status = "succeeded"
    return rows


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per check row that is not ok."""
    out = []
    for r in rows:
        if r["status"] == "ok":
            continue
        what = f"{r['check']} {r['model_name']} {r['model_version']} {r['subject']}"
        if r["check"] == "features":
            out.append(
                f"{what}: {r['mismatched']}/{r['rows']} differ (missing in serving {r['missing_in_serving']}, "
                f"stale {r['stale']}, different {r['different']})"
            )
        else:
            out.append(f"{what}: {r['status']}, {r['mismatched']}/{r['rows']} rows")
    return out
