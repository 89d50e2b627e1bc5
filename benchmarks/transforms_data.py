"""Generated data for bench-transforms: prediction-shaped rows, written once to Parquet.

20 numeric features with nulls and heavy tails (:data:`NUMERIC`), two skewed categoricals and
a timestamp over two weeks, made in Spark from ``spark.range`` with seeded ``rand``/``randn``
(fixed partitioning, so the same rows every time). :func:`cached_data` keeps the Parquet under
``.cache/bench/``, keyed by :data:`DATA_VERSION` and the row count.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from skewguard.config import repo_root

__all__ = ["CONTRACT", "NUMERIC", "cached_data", "generated_predictions"]

log = logging.getLogger("benchmarks.transforms")

SEED = 20_241_118
DATA_VERSION = 1  # bump when the generator changes: the cached Parquet is keyed by it
START_US = 1_731_888_000_000_000  # 2024-11-18T00:00:00Z, a Monday
DEVICES = ("mobile", "desktop", "tablet", "tv", "watch")
COUNTRIES = tuple("US GB DE FR IN BR JP CA AU ES IT MX NL SE PL TR KR ID AR ZA NG EG PH VN TH CH BE AT IE PT".split())
# name, distribution, share of nulls
NUMERIC: tuple[tuple[str, str, float], ...] = (
    ("amount", "lognormal", 0.0), ("amount_7d", "lognormal", 0.05), ("amount_30d", "lognormal", 0.05),
    ("items", "count", 0.0), ("items_7d", "count", 0.05), ("sessions_30d", "pareto", 0.05),
    ("failed_logins_7d", "count", 0.05), ("account_age_days", "uniform", 0.0), ("days_since_last", "pareto", 0.05),
    ("latency_ms", "pareto", 0.0), ("distance_km", "lognormal", 0.05), ("score_a", "normal", 0.0),
    ("score_b", "normal", 0.05), ("score_c", "cauchy", 0.05), ("score_d", "normal", 0.0),
    ("balance", "signed", 0.05), ("ratio_paid", "ratio", 0.05), ("ratio_refund", "ratio", 0.0),
    ("click_rate", "uniform", 0.05), ("temperature", "normal", 0.0),
)  # fmt: skip
CONTRACT: dict[str, str] = {
    **{name: "double" for name, _, _ in NUMERIC},
    "device": "string",
    "country": "string",
    "event_ts": "timestamp",
}


def _draw(kind: str, seed: int) -> Column:
    u, g = F.rand(seed), F.randn(seed + 1)
    if kind == "lognormal":
        return F.round(F.exp(g * 1.5 + 3.0), 2)
    if kind == "count":
        return F.floor(F.exp(g * 1.2 + 0.8)).cast("double")
    if kind == "pareto":  # alpha 1.2: a few values orders of magnitude above the rest
        return F.round(F.lit(5.0) / F.pow(u, 1 / 1.2), 1)
    if kind == "cauchy":
        return F.round(F.tan(F.lit(math.pi) * (u - 0.5)), 4)
    if kind == "signed":
        return F.round(g * F.exp(F.randn(seed + 2) * 2.0), 2)
    if kind == "ratio":  # 0/0 → NaN in ~1% of rows, zero-inflated otherwise
        return F.when(u < 0.01, F.lit(float("nan"))).when(u < 0.3, 0.0).otherwise(F.round(F.rand(seed + 2), 4))
    if kind == "uniform":
        return F.round(u * 1000, 3)
    return F.round(g * 10 + 50, 4)


def _with_nulls(value: Column, share: float, seed: int) -> Column:
    return value if share == 0 else F.when(F.rand(seed) >= share, value)


def _skewed_choice(values: Sequence[str], power: float, seed: int) -> Column:
    """One of ``values``, the first ones far more often (index ⌊u^power · n⌋)."""
    idx = F.floor(F.pow(F.rand(seed), power) * len(values)).cast("int") + 1
    return F.element_at(F.array(*[F.lit(v) for v in values]), idx)


def generated_predictions(spark: SparkSession, rows: int) -> DataFrame:
    """Deterministic prediction-shaped rows (fixed partitioning, seeded generators)."""
    columns = {
        name: _with_nulls(_draw(kind, SEED + 10 * i), share, SEED + 10 * i + 7)
        for i, (name, kind, share) in enumerate(NUMERIC)
    }
    columns["device"] = _with_nulls(_skewed_choice(DEVICES, 2.0, SEED + 501), 0.02, SEED + 502)
    columns["country"] = _with_nulls(_skewed_choice(COUNTRIES, 3.0, SEED + 503), 0.03, SEED + 504)
    offset = F.floor(F.rand(SEED + 505) * (14 * 86_400_000_000)).cast("long")
    columns["event_ts"] = _with_nulls(F.timestamp_micros(F.lit(START_US) + offset), 0.01, SEED + 506)
    return spark.range(0, rows, 1, numPartitions=8).select("id", *[col.alias(n) for n, col in columns.items()])


def cached_data(spark: SparkSession, rows: int) -> tuple[Path, float | None]:
    """The Parquet copy of the data, written on first use; (path, seconds spent writing)."""
    path = repo_root() / ".cache" / "bench" / f"transforms-v{DATA_VERSION}-{rows}.parquet"
    if (path / "_SUCCESS").is_file():
        return path, None
    tmp = path.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("generating %d rows into %s", rows, path)
    t0 = time.perf_counter()
    generated_predictions(spark, rows).write.mode("overwrite").parquet(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return path, time.perf_counter() - t0
