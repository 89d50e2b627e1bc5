"""A deterministic, optionally stratified sample of a DataFrame without a global sort: rows
are ranked by a seeded hash of their id, a per-stratum hash threshold keeps a little more
than each stratum's share, and only those few rows are ranked within their stratum."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.lib.steps import require_columns

__all__ = ["allocate", "stratified_sample"]

_HASH_RANGE = 1 << 31


def allocate(sizes: dict[tuple[object, ...], int], n: int) -> dict[tuple[object, ...], int]:
    """Equal shares of ``n`` across strata; what a small stratum cannot fill goes to the others."""
    quota: dict[tuple[object, ...], int] = {}
    left, open_strata = n, sorted(sizes, key=lambda s: (sizes[s], str(s)))
    while open_strata and left > 0:
        share = left // len(open_strata)
        smallest = open_strata[0]
        if sizes[smallest] <= share:
            quota[smallest] = sizes[smallest]
            left -= sizes[smallest]
            open_strata.pop(0)
            continue
        extra = left - share * len(open_strata)  # the remainder, one each to the first strata
        for k, stratum in enumerate(sorted(open_strata, key=str)):
            quota[stratum] = share + (1 if k < extra else 0)
        left = 0
    return quota


def _match(strata: Sequence[str], values: tuple[object, ...]) -> Column:
    match = F.lit(True)
    for column, value in zip(strata, values, strict=True):
        match = match & F.col(column).eqNullSafe(F.lit(value))
    return match


def _by_stratum(strata: Sequence[str], values: dict[tuple[object, ...], float | int]) -> Column:
    expr: Column | None = None
    for stratum, value in values.items():
        expr = (
            F.when(_match(strata, stratum), F.lit(value))
            if expr is None
            else expr.when(_match(strata, stratum), F.lit(value))
        )
    return F.lit(0) if expr is None else expr.otherwise(F.lit(0))


def stratified_sample(
    df: DataFrame, n: int, strata: Sequence[str] = (), seed: int = 0, id_column: str = "event_id"
) -> tuple[DataFrame, dict[tuple[object, ...], int]]:
    """Up to ``n`` rows: equal shares per combination of ``strata`` values (all rows of a
    smaller stratum), the same rows for the same seed. Returns the sample — persisted, to be
    unpersisted by the caller — and its size per stratum."""
    require_columns(df, [id_column, *strata], "sampling")
    sizes = {
        tuple(r[c] for c in strata): int(r["_size"])
        for r in df.groupBy(*strata).agg(F.count(F.lit(1)).alias("_size")).collect()
    }
    quota = allocate(sizes, n)
    rank = F.pmod(F.xxhash64(F.lit(f"skewguard-sample-{seed}"), F.col(id_column)), F.lit(_HASH_RANGE))
    order = Window.partitionBy(*strata).orderBy("_rank", id_column)
    # keep a margin above each quota (binomial spread); only the kept rows are ranked
    margin = {s: min(1.0, (q + 4 * math.sqrt(q) + 20) / sizes[s]) if sizes[s] else 1.0 for s, q in quota.items()}
    for fractions in (margin, dict.fromkeys(quota, 1.0)):
        limits = {s: int(f * _HASH_RANGE) + 1 for s, f in fractions.items()}
        kept_df = df.withColumn("_rank", rank).where(F.col("_rank") < _by_stratum(strata, limits))
        if strata:
            kept_df = kept_df.withColumn("_n", F.row_number().over(order)).where(
                F.col("_n") <= _by_stratum(strata, quota)
            )
        else:  # one stratum: the first rows by rank, without a window over a single partition
            kept_df = kept_df.orderBy("_rank", id_column).limit(quota.get((), 0))
        sample_df = kept_df.drop("_rank", "_n").persist(StorageLevel.MEMORY_AND_DISK)
        got = {
            tuple(r[c] for c in strata): int(r["_size"])
            for r in sample_df.groupBy(*strata).agg(F.count(F.lit(1)).alias("_size")).collect()
        }
        if all(got.get(s, 0) == q for s, q in quota.items()):
            return sample_df, got
        sample_df.unpersist()
    raise RuntimeError(f"sampling drew {got} rows per stratum, expected {quota}")
