"""Generated data for bench-drift: a reference day and a current day in one Delta table.

Rows are made in Spark from ``spark.range`` with seeded ``rand``/``randn`` (no UDF, nothing
on the driver), so 10M rows a side write in well under two minutes on two cores. Reference
rows fall on 2024-01-01, current rows on 2024-01-02. Numeric features cycle through four
shapes (normal, skewed lognormal, uniform, integer-valued with heavy ties) and ``f05`` has
~5% nulls; categoricals have 8-30 categories with Zipf-like frequencies. On the current day
only the features named in ``drifted`` change, and only a little: numeric ones move by 0.05
standard deviation, categorical ones send 3% of their rows to their rarest category. Every
other feature has the same distribution on both days, so a drift check should flag the
drifted ones (given enough rows) and nothing else.

The Evidently peer runs outside Spark on Parquet: ``export_parquet_sample`` writes a sample
of each day as one Parquet file.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

__all__ = [
    "CURRENT_DATE",
    "DEFAULT_DRIFTED",
    "REFERENCE_DATE",
    "export_parquet_sample",
    "numeric_kind",
    "write_drift_data",
]

log = logging.getLogger(__name__)

REFERENCE_DATE = dt.date(2024, 1, 1)
CURRENT_DATE = dt.date(2024, 1, 2)
DEFAULT_DRIFTED = ("f01", "f02", "c2")
NUMERIC_SHIFT_SD = 0.05  # location shift of a drifted numeric feature, in its own sd
CATEGORY_MOVED = 0.03  # share of a drifted categorical's current rows sent to its rarest category
NULL_SHARE = 0.05
NULL_FEATURE = "f05"
KINDS = ("normal", "lognormal", "uniform", "integer")
CATEGORY_COUNTS = (8, 15, 30)
ROWS_PER_PARTITION = 1_000_000
# Spark seeds each partition's generator with seed + partition index: column seeds this far
# apart never share a stream, whatever the number of partitions.
SEED_STRIDE = 100_003


class DriftDataError(ValueError):
    """Arguments that describe no valid data set (unknown drifted feature, no rows, ...)."""


def numeric_kind(name: str) -> str:
    """The distribution shape of numeric feature ``name`` (``f01`` → normal, ``f02`` → lognormal, ...)."""
    return KINDS[(int(name[1:]) - 1) % len(KINDS)]


# -- Column -> Column ---------------------------------------------------------------------
def _numeric_value(kind: str, i: int, u: Column, z: Column, shift_sd: Column) -> Column:
    """Feature ``i`` of shape ``kind`` from a uniform ``u`` and a standard normal ``z``, moved
    by ``shift_sd`` of its own standard deviation (0 where it does not drift)."""
    if kind == "normal":
        mean, sd = 10.0 * i, 1.0 + i % 3
        return F.lit(mean) + (z + shift_sd) * sd
    if kind == "lognormal":
        mu, sigma = 1.0 + 0.1 * i, 0.75
        sd = math.sqrt((math.exp(sigma**2) - 1) * math.exp(2 * mu + sigma**2))
        return F.exp(z * sigma + mu) + shift_sd * sd
    if kind == "uniform":
        low, width = -float(i), 2.0 * i + 10
        return F.lit(low) + (u + shift_sd / math.sqrt(12)) * width
    # integer-valued: 20 tied values; the latent uniform moves before flooring
    return F.floor(u * 20 + shift_sd * 20 / math.sqrt(12)).cast("double")


def _category(name: str, n: int, u: Column, moved: Column) -> Column:
    """One of ``n`` labels ``<name>_00``.. with Zipf-like frequencies (index ⌊n·u²⌋), or the
    rarest one where ``moved`` is true."""
    idx = F.when(moved, F.lit(n - 1)).otherwise(F.floor(u * u * n).cast("int"))
    # a lookup in a literal array: format_string costs more than all numeric features together
    return F.element_at(F.array(*[F.lit(f"{name}_{j:02d}") for j in range(n)]), idx + 1)


# -- DataFrame ----------------------------------------------------------------------------
def _generated(
    spark: SparkSession, rows_per_side: int, numeric: list[str], categorical: list[str], seed: int, drifted: set[str]
) -> DataFrame:
    total = 2 * rows_per_side
    # an even count: spark.range splits evenly, so every partition holds one day only
    partitions = 2 * math.ceil(rows_per_side / ROWS_PER_PARTITION)
    is_current = F.col("id") >= rows_per_side
    streams = iter(range(seed * 1_000 * SEED_STRIDE, (seed * 1_000 + 1_000) * SEED_STRIDE, SEED_STRIDE))

    columns: dict[str, Column] = {
        "event_date": F.when(is_current, F.lit(CURRENT_DATE)).otherwise(F.lit(REFERENCE_DATE)),
        "workload_id": F.lit("bench"),
    }
    for i, name in enumerate(numeric, start=1):
        # every feature takes its streams whether it drifts or not: the reference day is the
        # same data whatever ``drifted`` says
        u, z, nulls = F.rand(next(streams)), F.randn(next(streams)), F.rand(next(streams))
        shift_sd = F.when(is_current, NUMERIC_SHIFT_SD).otherwise(0.0) if name in drifted else F.lit(0.0)
        value = _numeric_value(numeric_kind(name), i, u, z, shift_sd)
        columns[name] = F.when(nulls >= NULL_SHARE, value) if name == NULL_FEATURE else value
    for name, n in zip(categorical, _category_counts(len(categorical)), strict=True):
        u, move = F.rand(next(streams)), F.rand(next(streams))
        moved = is_current & (move < CATEGORY_MOVED) if name in drifted else F.lit(False)
        columns[name] = _category(name, n, u, moved)
    return spark.range(0, total, 1, numPartitions=partitions).select(
        *[col.alias(name) for name, col in columns.items()]
    )


def _category_counts(k: int) -> list[int]:
    return [CATEGORY_COUNTS[j % len(CATEGORY_COUNTS)] for j in range(k)]


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """``key`` set to ``value`` on the session for the block, then put back as it was."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def write_drift_data(
    spark: SparkSession,
    path: str,
    rows_per_side: int,
    numeric: int = 20,
    categorical: int = 3,
    seed: int = 7,
    drifted: tuple[str, ...] = DEFAULT_DRIFTED,
) -> dict[str, Any]:
    """Write (overwrite) the Delta table at ``path``: ``rows_per_side`` reference rows on
    2024-01-01 and as many current rows on 2024-01-02, partitioned by ``event_date``, with
    features ``f01..`` (double) and ``c1..`` (string). Returns what was written."""
    if rows_per_side < 1:
        raise DriftDataError(f"rows_per_side must be at least 1, got {rows_per_side}")
    if not 1 <= numeric <= 99 or not 0 <= categorical <= 9:
        raise DriftDataError(f"numeric must be 1..99 and categorical 0..9, got {numeric} and {categorical}")
    if not 0 <= seed < 1_000_000:
        raise DriftDataError(f"seed must be in 0..999999, got {seed}")
    numeric_names = [f"f{i:02d}" for i in range(1, numeric + 1)]
    categorical_names = [f"c{i}" for i in range(1, categorical + 1)]
    unknown = sorted(set(drifted) - set(numeric_names) - set(categorical_names))
    if unknown:
        raise DriftDataError(f"drifted features {unknown} are not among {numeric_names + categorical_names}")

    t0 = time.perf_counter()
    generated_df = _generated(spark, rows_per_side, numeric_names, categorical_names, seed, set(drifted))
    # Each task holds one day, so it needs one open file: with concurrent writers allowed the
    # partitioned write skips sorting every task's rows by event_date first.
    with _session_conf(spark, "spark.sql.maxConcurrentOutputFileWriters", "2"):
        (
            generated_df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy("event_date")
            .save(path)
        )
    write_s = time.perf_counter() - t0
    log.info("wrote 2 × %d drift rows to %s in %.1f s", rows_per_side, path, write_s)
    features: dict[str, Any] = {
        name: {
            "type": "numeric",
            "kind": numeric_kind(name),
            "null_share": NULL_SHARE if name == NULL_FEATURE else 0.0,
            "drift": f"+{NUMERIC_SHIFT_SD} sd" if name in drifted else None,
        }
        for name in numeric_names
    }
    for name, n in zip(categorical_names, _category_counts(categorical), strict=True):
        features[name] = {
            "type": "categorical",
            "categories": n,
            "drift": f"{CATEGORY_MOVED:.0%} of rows to the rarest category" if name in drifted else None,
        }
    return {
        "path": path,
        "rows_per_side": rows_per_side,
        "rows": 2 * rows_per_side,
        "reference_date": str(REFERENCE_DATE),
        "current_date": str(CURRENT_DATE),
        "numeric": numeric_names,
        "categorical": categorical_names,
        "drifted": sorted(drifted),
        "seed": seed,
        "features": features,
        "write_s": round(write_s, 2),
    }


def export_parquet_sample(spark: SparkSession, path: str, out_dir: str, rows: int) -> tuple[str, str]:
    """``rows`` rows of each day of the table at ``path``, feature columns only, as
    ``<out_dir>/reference.parquet`` and ``<out_dir>/current.parquet`` (one file each,
    replaced if present). Returns (reference file, current file)."""
    if rows < 1:
        raise DriftDataError(f"rows must be at least 1, got {rows}")
    table_df = spark.read.format("delta").load(path)
    features = [c for c in table_df.columns if c not in ("event_date", "workload_id")]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for side, day in (("reference", REFERENCE_DATE), ("current", CURRENT_DATE)):
        staging = out / f".{side}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        # one task reads files until it has ``rows`` rows: limit before coalesce would read
        # the whole day and shuffle it to one partition first
        (
            table_df.where(F.col("event_date") == F.lit(day))
            .select(*features)
            .coalesce(1)
            .limit(rows)
            .write.mode("overwrite")
            .parquet(str(staging))
        )
        parts = sorted(staging.glob("part-*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"expected one Parquet file in {staging}, found {len(parts)}")
        target = out / f"{side}.parquet"
        parts[0].replace(target)
        shutil.rmtree(staging)
        files.append(str(target))
    log.info("exported %d rows a day of %s to %s", rows, path, out)
    return files[0], files[1]
