"""Generated labelled examples for bench-evaluate, written as ``silver.labeled_examples`` rows.

Rows are made in Spark from ``spark.range`` with seeded ``rand``/``randn`` (no UDF, nothing on
the driver). The features are those of ``tests/spark/parity_data.py`` (the pipeline there
exercises every stage kind): ``f001`` a lognormal amount (every 13th row missing), ``f002`` an
integer count of visits, ``f003`` a device (every 19th row missing), ``f004`` a country,
``f005`` an exponential balance — logged as text in the ``features`` map, as the parse job
writes them (Spark's rendering of the rounded doubles, e.g. ``403.4288`` or ``1.2345678E7``).
The label is drawn from the same logistic model of them as there, so a model trained on a
small sample of one day scores the rows of another day meaningfully.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.tables import SILVER_LABELED_EXAMPLES
from tests.spark.parity_data import COUNTRIES, DEVICES, PIPELINE, WORKLOAD

__all__ = ["PIPELINE", "WORKLOAD", "labeled_examples", "write_labeled_examples"]

log = logging.getLogger(__name__)

ROWS_PER_PARTITION = 1_000_000
SEED_STRIDE = 100_003  # Spark seeds a partition's generator with seed + partition index


def _pick(values: list[str], u: Column) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), F.floor(u * len(values)).cast("int") + 1)


def labeled_examples(spark: SparkSession, rows: int, day: dt.date, seed: int, first_id: int = 0) -> DataFrame:
    """``rows`` labelled examples on ``day`` with ids ``evt-<first_id + k>``, in the table's columns."""
    streams = iter(range(seed * 100 * SEED_STRIDE, (seed * 100 + 100) * SEED_STRIDE, SEED_STRIDE))
    rand = lambda: F.rand(next(streams))  # noqa: E731
    k = F.col("id")
    start_us = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000
    event_ts = F.timestamp_micros(F.lit(start_us) + F.floor(rand() * 86_400_000_000).cast("long"))
    amount = F.when(k % 13 != 0, F.round(F.exp(F.lit(6.0) + F.randn(next(streams))), 4))
    visits = F.floor(rand() * 40).cast("long")
    device = F.when(k % 19 != 0, _pick(DEVICES, rand()))
    country = _pick(COUNTRIES, rand())
    balance = F.round(-700.0 * F.log1p(-rand()), 2)
    base_df = spark.range(first_id, first_id + rows, 1, numPartitions=max(1, math.ceil(rows / ROWS_PER_PARTITION)))
    drawn_df = base_df.select(
        k.alias("k"),
        event_ts.alias("event_ts"),
        amount.alias("amount"),
        visits.alias("visits"),
        device.alias("device"),
        country.alias("country"),
        balance.alias("balance"),
        rand().alias("u_label"),
    )
    z = (
        0.0015 * F.coalesce(F.col("amount"), F.lit(600.0))
        - 1.2
        + F.when(F.col("device") == "ios", 1.0).otherwise(0.0)
        - 0.03 * F.col("visits")
        + 0.0005 * F.col("balance")
    )
    event_id = F.concat(F.lit("evt-"), F.lpad(F.col("k").cast("string"), 10, "0"))
    values: dict[str, Column] = {
        "event_id": event_id,
        "event_ts": F.col("event_ts"),
        "event_date": F.lit(day),
        "workload_id": F.lit(WORKLOAD),
        "client_id": F.lit("web"),
        "request_id": F.concat(F.lit("req-"), F.col("k").cast("string")),
        "model_name": F.lit(f"{WORKLOAD}-model"),
        "model_version": F.lit("v1"),
        "transform_hash": F.lit("abc123"),
        "features": F.create_map(
            F.lit("f001"),
            F.col("amount").cast("string"),
            F.lit("f002"),
            F.col("visits").cast("string"),
            F.lit("f003"),
            F.col("device"),
            F.lit("f004"),
            F.col("country"),
            F.lit("f005"),
            F.col("balance").cast("string"),
        ),  # fmt: skip
        "outputs": F.create_map(F.lit("score"), F.lit(0.5), F.lit("label"), F.lit(1.0)),
        "sampling_rate": F.lit(1.0),
        "label": F.when(F.col("u_label") < 1.0 / (1.0 + F.exp(-z)), 1.0).otherwise(0.0),
        "label_ts": F.col("event_ts") + F.expr("INTERVAL 1 HOUR"),
        "label_delay_s": F.lit(3600.0),
        "parse_run_id": F.lit("parse-bench"),
        "join_run_id": F.lit("join-bench"),
        "joined_at": F.col("event_ts"),
        "predictions_version": F.lit(0),
    }
    schema = SILVER_LABELED_EXAMPLES.spark_schema()
    return drawn_df.select(*[values[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])


def write_labeled_examples(
    spark: SparkSession, path: str, rows: int, day: dt.date, seed: int, first_id: int = 0
) -> dict[str, Any]:
    """Append ``rows`` generated examples on ``day`` to the ``silver.labeled_examples`` table at ``path``."""
    t0 = time.perf_counter()
    labeled_examples(spark, rows, day, seed, first_id).write.format("delta").mode("append").save(path)
    seconds = time.perf_counter() - t0
    log.info("wrote %d labelled examples on %s in %.1f s", rows, day, seconds)
    return {"rows": rows, "day": str(day), "seed": seed, "first_id": first_id, "write_s": round(seconds, 2)}
