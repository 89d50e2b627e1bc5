"""The exact ranking pass of an evaluation; only aggregates reach the driver.

**Exact ranking** (ROC AUC, average precision): each bundle's scores are cut into ranges of
about equal size, each a run of the bootstrap's fine score bins (their edges are exact
scores, so a range never splits a tie group and Spark puts a score on the same side of an
edge as numpy did); the bootstrap pass's exact counts per fine bin tell how many rows each
range holds and how many positives and negatives of each scope lie above it, so no pass
counts them again. The rows are shuffled by bundle × range and each range is sorted on its
own (numpy, in ``mapInArrow``): per tie group (rows of one exact score) the cumulative true
and false positives from the top, and five sums per scope × bundle × range come back — P, N,
Σ pos·FP_cum, Σ pos·neg and Σ pos·TP_cum/(TP_cum+FP_cum) — from which :func:`exact_ranking`
computes scikit-learn's AUC and AP. A range is at least one fine bin: scores piled into one
bin (a model with few distinct outputs) are sorted in one task.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import KEY_SEPARATOR, Scope, score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["exact_ranking", "range_cuts", "rank_sums", "ranking_of"]

_RANGE_ROWS = 250_000  # about this many rows of a bundle per sorted range
_MAX_RANGES = 64


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


def range_cuts(rows_per_bin: np.ndarray, edges: np.ndarray, target_rows: int, max_ranges: int) -> list[float]:
    """Ascending cut scores (a subset of ``edges``, the fine bins' inner edges) that group the
    fine bins (``rows_per_bin``, highest score first) into runs of about ``target_rows`` rows,
    at most ``max_ranges`` of them: range r holds the scores with exactly r cuts above them."""
    bins = rows_per_bin.size
    ranges = max(1, min(max_ranges, math.ceil(float(rows_per_bin.sum()) / max(target_rows, 1))))
    if ranges == 1:
        return []
    share = np.cumsum(rows_per_bin) / max(float(rows_per_bin.sum()), 1.0)
    # after bin j (the boundary between bins j and j + 1: edge bins − 2 − j) when a share is crossed
    ends = np.unique(np.searchsorted(share, np.arange(1, ranges) / ranges, side="left"))
    ends = ends[ends < bins - 1]
    return sorted(float(edges[bins - 2 - j]) for j in ends)


def _range_column(score: Any, cuts: Sequence[float]) -> Any:
    """Spark: the number of cuts strictly above the score (0: at or above every cut; NaN,
    which Spark orders above every number, too), as :func:`classifier_metrics.score_bin`
    counts the edges above a score."""
    from pyspark.sql import functions as F

    if not cuts:
        return F.lit(0)
    terms = [F.when(score < F.lit(c), 1).otherwise(0) for c in cuts]
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


def _scope_ids(spark: Any, scopes: Sequence[Scope], keys: Sequence[str]) -> dict[int, str]:
    """The 64-bit id Spark computes for each scope key (``xxhash64`` of its parts, as the rows'
    ``_id``), from a DataFrame of the keys alone."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    rows = []
    for key in keys:
        day, workload, column, value = key.split(KEY_SEPARATOR)
        kinds = [k for k, s in enumerate(scopes) if s.by_day == bool(day) and s.slice_column == column]
        rows += [(k, workload, day, value, key) for k in kinds]
    schema = StructType(
        [StructField("k", IntegerType())] + [StructField(c, StringType()) for c in ("w", "day", "value", "key")]
    )
    ids = spark.createDataFrame(rows, schema).select(F.xxhash64("k", "w", "day", "value").alias("id"), "key")
    out: dict[int, str] = {}
    for r in ids.collect():
        if out.setdefault(r["id"], r["key"]) != r["key"]:
            raise RuntimeError(f"two scopes share a 64-bit id ({out[r['id']]!r}, {r['key']!r}): rename a slice value")
    return out


def exact_ranking(
    rows_df: DataFrame, scopes: Sequence[Scope], point_hists: Mapping[tuple[str, int], np.ndarray], bundles: int
) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """(scope key, bundle index) → exact (ROC AUC, average precision) over the rows of
    ``rows_df`` (:func:`scored_rows.scope_rows`) in every scope; ``point_hists``: each scope ×
    bundle's exact positives and negatives per fine bin (2 × bins, the bootstrap's)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

    scores = [score_column(b) for b in range(bundles)]
    bins = next(iter(point_hists.values())).shape[1]
    edges = cm.score_edges(bins)
    cuts = [
        range_cuts(sum(h.sum(axis=0) for (_, b2), h in point_hists.items() if b2 == b), edges, _RANGE_ROWS, _MAX_RANGES)
        for b in range(bundles)
    ]
    width = max(len(c) for c in cuts) + 1  # ranges of a bundle (at most)
    keys = _scope_ids(rows_df.sparkSession, scopes, sorted({k for k, _ in point_hists}))
    above: dict[tuple[int, int], tuple[float, float]] = {}  # (scope id, part) → positives, negatives above it
    parts: set[int] = set()
    for scope_id, key in keys.items():
        for b in range(bundles):
            pos, neg = point_hists[(key, b)]
            bounds = [bins - 1 - int(np.searchsorted(edges, c, side="right")) for c in reversed(cuts[b])]
            tp = fp = 0.0
            for r, (lo, hi) in enumerate(itertools.pairwise([0, *[x + 1 for x in bounds], bins])):
                above[(scope_id, b * width + r)] = (tp, fp)
                tp, fp = tp + float(pos[lo:hi].sum()), fp + float(neg[lo:hi].sum())
                if pos[lo:hi].any() or neg[lo:hi].any():
                    parts.add(b * width + r)
    ranges = F.explode(
        F.array(
            *[
                F.struct((F.lit(b * width) + _range_column(F.col(c), cuts[b])).alias("part"), F.col(c).alias("s"))
                for b, c in enumerate(scores)
            ]
        )
    ).alias("x")
    long_df = (
        rows_df.select("workload_id", _scope_parts(scopes), "label", *scores)
        .select(F.xxhash64("_scope.k", "workload_id", "_scope.day", "_scope.value").alias("_id"), "label", *scores)
        .select(F.col("_id"), "label", ranges)
    )
    shuffled_df = long_df.select(F.col("x.part").alias("part"), "_id", "label", F.col("x.s").alias("s")).repartition(
        max(1, len(parts)), "part"
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
