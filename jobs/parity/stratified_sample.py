"""A deterministic, optionally stratified sample of a DataFrame without a global sort: rows
are ranked by a seeded hash of their id, a per-stratum hash threshold keeps a little more
than each stratum's share, and only those few rows are ranked within their stratum."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
    df: DataFrame,
    n: int,
    strata: Sequence[str] = (),
    seed: int = 0,
    id_column: str = "event_id",
    sizes: Mapping[tuple[object, ...], int] | None = None,
    exhaustive: bool = False,
) -> tuple[DataFrame, dict[tuple[object, ...], int]]:
    """Up to ``n`` rows: equal shares per combination of ``strata`` values (all rows of a
    smaller stratum), the same rows for the same seed. Returns the (lazy) sample and how many
    rows each stratum should give. ``sizes`` (rows per stratum) saves counting when known.

    Only rows whose hash rank falls under a per-stratum margin above the quota are ranked; in
    the rare case that leaves a stratum short, the caller sees fewer rows than the quota and
    draws again with ``exhaustive=True`` (every row ranked), which returns the same rows a
    margin wide enough would have."""
    require_columns(df, [id_column, *strata], "sampling")
    if sizes is None:
        sizes = {
            tuple(r[c] for c in strata): int(r["_size"])
            for r in df.groupBy(*strata).agg(F.count(F.lit(1)).alias("_size")).collect()
        }
    quota = allocate(dict(sizes), n)
    rank = F.pmod(F.xxhash64(F.lit(f"skewguard-sample-{seed}"), F.col(id_column)), F.lit(_HASH_RANGE))
    margin = {
        s: 1.0 if exhaustive or not sizes[s] else min(1.0, (q + 4 * math.sqrt(q) + 20) / sizes[s])
        for s, q in quota.items()
    }
    limits = {s: int(f * _HASH_RANGE) + 1 for s, f in margin.items()}
    kept_df = df.withColumn("_rank", rank).where(F.col("_rank") < _by_stratum(strata, limits))
    if strata:
        order = Window.partitionBy(*strata).orderBy("_rank", id_column)
        kept_df = kept_df.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= _by_stratum(strata, quota))
    else:  # one stratum: the first rows by rank, without a window over a single partition
        kept_df = kept_df.orderBy("_rank", id_column).limit(quota.get((), 0))
    return kept_df.drop("_rank", "_n"), quota
