"""The exact ranking pass of an evaluation; only aggregates reach the driver.

**Exact ranking** (ROC AUC, average precision): each bundle's scores are cut into ranges of
about equal size (quantiles of a sample), rows with the same exact score always in the same
range. One aggregation counts the positives and negatives per scope × bundle × range, so each
range knows how many of each lie above it; then the rows are shuffled by bundle × range and
each range is sorted on its own (numpy, in ``mapInArrow``): per tie group (rows of one exact
score) the cumulative true and false positives from the top, and five sums per scope ×
bundle × range come back — P, N, Σ pos·FP_cum, Σ pos·neg and Σ pos·TP_cum/(TP_cum+FP_cum) —
from which :func:`exact_ranking` computes scikit-learn's AUC and AP.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jobs.evaluate.scored_rows import Scope, score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["exact_ranking", "rank_sums", "ranking_of"]

_RANGE_ROWS = 250_000  # about this many rows of a bundle per sorted range
_MAX_RANGES = 64
_SAMPLE_ROWS = 20_000  # scores sampled to cut the ranges


def rank_sums(scores: np.ndarray, labels: np.ndarray, above: tuple[float, float]) -> tuple[float, ...]:
    """(P, N, Σ pos·FP_cum, Σ pos·neg, Σ pos·TP_cum/(TP_cum+FP_cum)) over the tie groups of
    ``scores`` (exact values; NaN is one group, above every score), where TP_cum and FP_cum
    count the positives and negatives at or above the group's score, ``above`` those above all
    of these rows (in higher ranges)."""
    if scores.size == 0:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    order = np.argsort(scores, kind="stable")[::-1]  # highest first, NaN (sorted last) on top
    s, y = scores[order], labels[order]
    nan = np.isnan(s)
    starts = np.concatenate([[0], np.flatnonzero((s[1:] != s[:-1]) & ~(nan[1:] & nan[:-1])) + 1])
    pos = np.add.reduceat(y, starts)
    neg = np.diff(np.append(starts, s.size)) - pos
    tp, fp = above[0] + np.cumsum(pos), above[1] + np.cumsum(neg)
    stepped = pos > 0
    ap = float(np.sum(pos[stepped] * tp[stepped] / (tp[stepped] + fp[stepped])))
    return (float(pos.sum()), float(neg.sum()), float(np.sum(pos * fp)), float(np.sum(pos * neg)), ap)


def ranking_of(sums: Sequence[float]) -> tuple[float | None, float | None]:
    """(ROC AUC, average precision) from :func:`rank_sums` added up over all of a scope's rows."""
    p, n, pos_fp, pos_neg, ap_sum = sums
    ap = ap_sum / p if p > 0 else None
    # Σ pos·(negatives strictly below) = P·N − Σ pos·FP_cum (FP_cum counts the group's own)
    auc = (p * n - pos_fp + 0.5 * pos_neg) / (p * n) if p > 0 and n > 0 else None
    return auc, ap


def _range_bounds(sample: np.ndarray, ranges: int) -> list[float]:
    """Ascending cut points: range r holds the scores with exactly r cut points at or above them."""
    finite = sample[~np.isnan(sample)]
    if ranges <= 1 or finite.size == 0:
        return []
    cuts = np.quantile(finite, np.arange(1, ranges) / ranges, method="lower")
    return [float(c) for c in np.unique(cuts)]


def _range_column(score: Any, bounds: Sequence[float]) -> Any:
    """Spark: the number of cut points at or above the score (0: above every cut; NaN, which
    Spark orders above every number, too): a range never splits a tie group."""
    from pyspark.sql import functions as F

    if not bounds:
        return F.lit(0)
    terms = [F.when(score <= F.lit(b), 1).otherwise(0) for b in bounds]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _scope_parts(scopes: Sequence[Scope]) -> Any:
    """Spark: one struct per row and kind of scope — its index ``k``, the day (or empty) and the
    slice value (or empty): with ``workload_id``, what tells the row's scope."""
    from pyspark.sql import functions as F

    return F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(k).alias("k"),
                    (F.col("_day") if scope.by_day else F.lit("")).alias("day"),
                    (F.col(f"_s{scope.slice_index}") if scope.slice_column else F.lit("")).alias("value"),
                )
                for k, scope in enumerate(scopes)
            ]
        )
    ).alias("_scope")


def _scope_key(scope: Scope, workload: str, day: str, value: str) -> str:
    return scope.key({"workload_id": workload, "_day": day, f"_s{scope.slice_index}": value})


def exact_ranking(
    rows_df: DataFrame, scopes: Sequence[Scope], bundles: int, rows: int
) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """(scope key, bundle index) → exact (ROC AUC, average precision) over the rows of
    ``rows_df`` (:func:`scored_rows.scope_rows`, about ``rows`` of them) in every scope."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

    scores = [score_column(b) for b in range(bundles)]
    ranges = max(1, min(_MAX_RANGES, math.ceil(rows / _RANGE_ROWS)))
    fraction = min(1.0, _SAMPLE_ROWS / max(rows, 1))
    sampled = rows_df.sample(fraction=fraction, seed=0).select(*scores).collect() if ranges > 1 else []
    bounds = [_range_bounds(np.array([r[c] for r in sampled], dtype=np.float64), ranges) for c in scores]
    width = max(len(b) for b in bounds) + 1  # ranges of a bundle (at most)
    parts = F.explode(
        F.array(
            *[
                F.struct((F.lit(b * width) + _range_column(F.col(c), bounds[b])).alias("part"), F.col(c).alias("s"))
                for b, c in enumerate(scores)
            ]
        )
    ).alias("x")
    scoped_df = rows_df.select("workload_id", _scope_parts(scopes), "label", *scores).select(
        F.xxhash64("_scope.k", "workload_id", "_scope.day", "_scope.value").alias("_id"),
        "workload_id",
        "_scope",
        "label",
        *scores,
    )
    long_df = scoped_df.select("_id", "workload_id", "_scope", "label", parts)
    counted = long_df.groupBy(
        "_id", "workload_id", F.col("_scope.k").alias("k"), F.col("_scope.day").alias("day"),
        F.col("_scope.value").alias("value"), F.col("x.part").alias("part"),
    ).agg(F.sum("label").alias("pos"), F.count(F.lit(1)).alias("rows"))  # fmt: skip
    counts: dict[tuple[int, int], tuple[float, float]] = {}
    keys: dict[int, str] = {}
    for r in counted.collect():
        key = _scope_key(scopes[r["k"]], r["workload_id"], r["day"], r["value"])
        if keys.setdefault(r["_id"], key) != key:
            raise RuntimeError(f"two scopes share a 64-bit id ({keys[r['_id']]!r}, {key!r}): rename a slice value")
        counts[(r["_id"], int(r["part"]))] = (float(r["pos"]), float(r["rows"] - r["pos"]))
    above: dict[tuple[int, int], tuple[float, float]] = {}  # (scope id, part) → positives, negatives above it
    for scope_id in keys:
        for b in range(bundles):
            tp = fp = 0.0
            for part in range(b * width, (b + 1) * width):
                above[(scope_id, part)] = (tp, fp)
                pos, neg = counts.get((scope_id, part), (0.0, 0.0))
                tp, fp = tp + pos, fp + neg
    shuffled_df = long_df.select(F.col("x.part").alias("part"), "_id", "label", F.col("x.s").alias("s")).repartition(
        max(1, len({p for _, p in counts})), "part"
    )

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        got = [b for b in batches if b.num_rows]
        if not got:
            return
        table = pa.Table.from_batches(got)
        part, ids, y, s = (table.column(c).to_numpy() for c in ("part", "_id", "label", "s"))
        order = np.lexsort((ids, part))
        part, ids, y, s = part[order], ids[order], y[order], s[order]
        cuts = np.concatenate([[0], np.flatnonzero((part[1:] != part[:-1]) | (ids[1:] != ids[:-1])) + 1, [s.size]])
        out = []
        for lo, hi in itertools.pairwise(cuts):
            i, p = int(ids[lo]), int(part[lo])
            out.append((i, p // width, *rank_sums(s[lo:hi], y[lo:hi], above[(i, p)])))
        columns = list(zip(*out, strict=True))
        yield pa.RecordBatch.from_arrays(
            [pa.array(columns[0], pa.int64()), pa.array(columns[1], pa.int32())]
            + [pa.array(col, pa.float64()) for col in columns[2:]],
            names=["id", "bundle", "p", "n", "pos_fp", "pos_neg", "ap"],
        )

    schema = StructType(
        [StructField("id", LongType()), StructField("bundle", IntegerType())]
        + [StructField(c, DoubleType()) for c in ("p", "n", "pos_fp", "pos_neg", "ap")]
    )
    totals: dict[tuple[str, int], np.ndarray] = {}
    for r in shuffled_df.mapInArrow(run, schema).collect():
        k = (keys[r["id"]], int(r["bundle"]))
        totals[k] = totals.get(k, np.zeros(5)) + np.array([r["p"], r["n"], r["pos_fp"], r["pos_neg"], r["ap"]])
    return {k: ranking_of(tuple(float(x) for x in sums)) for k, sums in totals.items()}
