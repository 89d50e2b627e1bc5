"""The distributed passes of an evaluation; only aggregates reach the driver.

**Exact ranking** (ROC AUC, average precision): each bundle's scores are cut into ranges of
about equal size (quantiles of a sample), rows with the same exact score always in the same
range. One aggregation counts the positives and negatives per scope × bundle × range, so each
range knows how many of each lie above it; then the rows are shuffled by bundle × range and
each range is sorted on its own (numpy, in ``mapInArrow``): per tie group (rows of one exact
score) the cumulative true and false positives from the top, and five sums per scope ×
bundle × range come back — P, N, Σ pos·FP_cum, Σ pos·neg and Σ pos·TP_cum/(TP_cum+FP_cum) —
from which :func:`exact_ranking` computes scikit-learn's AUC and AP.

**Bootstrap** (everything else, and the intervals): one ``mapInArrow`` pass over the scored
rows; per chunk of rows the Poisson(1) weights are drawn once (whatever the number of scopes
a row counts in) and, per scope, :func:`add_chunk` adds up every bundle's sums
(:func:`classifier_metrics.row_stats`) — once with weight 1 (the exact point estimates) and
once per replicate with the row's weights (one matrix product for all bundles) — and, per
replicate, the weighted positives and negatives per fine logit bin of the score (AUC and AP
of a replicate, within the bins' resolution; one sparse product). Partitions' arrays are
added up by scope (``reduceByKey``). :func:`bootstrap_sums_of` is the same on rows in this
process (the coverage simulation of ``bench-evaluate`` runs it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import Scope, score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "BootstrapSums",
    "add_chunk",
    "batch_scopes",
    "bootstrap_sums",
    "bootstrap_sums_of",
    "chunk_terms",
    "exact_ranking",
    "rank_sums",
    "ranking_of",
]

_CHUNK = 2048  # rows per weight matrix: 2048 × 200 replicates × 8 bytes ≈ 3 MB (stays in cache)
_RANGE_ROWS = 250_000  # about this many rows of a bundle per sorted range
_MAX_RANGES = 64
_SAMPLE_ROWS = 20_000  # scores sampled to cut the ranges


# -- exact ranking ------------------------------------------------------------------------------
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


# -- bootstrap ----------------------------------------------------------------------------------
@dataclass
class BootstrapSums:
    """Per scope and bundle: the point sums, the replicates' sums and their fine histograms."""

    point: np.ndarray
    """:func:`classifier_metrics.stat_count` sums with weight 1."""
    replicate: np.ndarray
    """replicates × stat_count weighted sums."""
    hist: np.ndarray
    """replicates × 2 × score_bins: weighted positives, then negatives, per fine bin (highest score first)."""
    point_hist: np.ndarray
    """2 × score_bins with weight 1."""


class _Sums:
    """Every bundle's sums of one scope side by side: what :func:`add_chunk` adds to."""

    def __init__(self, bundles: int, width: int, replicates: int, score_bins: int) -> None:
        self.point = np.zeros(bundles * width)
        self.replicate = np.zeros((replicates, bundles * width))
        self.hist = np.zeros((bundles * 2 * score_bins, replicates))
        self.point_hist = np.zeros(bundles * 2 * score_bins)

    def parts(self) -> list[np.ndarray]:
        return [self.point, self.replicate, self.hist, self.point_hist]

    def split(self, bundles: int, score_bins: int) -> list[BootstrapSums]:
        width, cells, reps = self.point.size // bundles, 2 * score_bins, self.replicate.shape[0]
        return [
            BootstrapSums(
                self.point[b * width : (b + 1) * width].copy(),
                self.replicate[:, b * width : (b + 1) * width].copy(),
                self.hist[b * cells : (b + 1) * cells].T.reshape(reps, 2, score_bins).copy(),
                self.point_hist[b * cells : (b + 1) * cells].reshape(2, score_bins).copy(),
            )
            for b in range(bundles)
        ]


def chunk_terms(
    labels: np.ndarray, scores: Sequence[np.ndarray], thresholds: Sequence[float], calibration_bins: int,
    score_bins: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per row: every bundle's :func:`classifier_metrics.row_stats` side by side, and the
    row's fine-bin cell of each bundle (bundle b's cells are b·2·bins + bin, + bins for a negative)."""
    stats = np.hstack([cm.row_stats(s, labels, t, calibration_bins) for s, t in zip(scores, thresholds, strict=True)])
    cells = np.stack(
        [cm.score_bin(s, score_bins) + score_bins * (labels == 0) + b * 2 * score_bins for b, s in enumerate(scores)],
        axis=1,
    )
    return stats, cells


def add_chunk(acc: _Sums, weights: np.ndarray, stats: np.ndarray, cells: np.ndarray) -> None:
    """Add rows (their Poisson weights, :func:`chunk_terms`) to a scope's sums."""
    from scipy import sparse

    n = weights.shape[0]
    acc.point += stats.sum(axis=0)
    acc.replicate += weights.T @ stats
    # one column per row with a 1 in each bundle's cell: cells × rows, built without sorting
    onehot = sparse.csc_matrix(
        (np.ones(cells.size), cells.ravel(), np.arange(0, cells.size + 1, cells.shape[1])),
        shape=(acc.hist.shape[0], n),
    )
    acc.hist += onehot @ weights
    acc.point_hist += np.bincount(cells.ravel(), minlength=acc.hist.shape[0])


def bootstrap_sums_of(
    hashes: np.ndarray, labels: np.ndarray, scores: Sequence[np.ndarray], thresholds: Sequence[float],
    replicates: int, seed: int, calibration_bins: int, score_bins: int,
) -> list[BootstrapSums]:  # fmt: skip
    """Each bundle's :class:`BootstrapSums` of rows in this process: what :func:`bootstrap_sums`
    computes for one scope, chunk by chunk the same way."""
    acc = _Sums(len(scores), cm.stat_count(calibration_bins), replicates, score_bins)
    for start in range(0, hashes.size, _CHUNK):
        rows = slice(start, start + _CHUNK)
        stats, cells = chunk_terms(labels[rows], [s[rows] for s in scores], thresholds, calibration_bins, score_bins)
        add_chunk(acc, cm.poisson_weights(hashes[rows], replicates, seed), stats, cells)
    return acc.split(len(scores), score_bins)


def batch_scopes(batch: pa.RecordBatch, scopes: Sequence[Scope]) -> list[tuple[list[str], np.ndarray]]:
    """Per kind of scope: the scope keys present in ``batch`` (:func:`scored_rows.scope_rows`
    columns) and each row's index among them — from the few distinct values of the columns
    that tell a scope, with no string per row."""
    encoded: dict[str, tuple[np.ndarray, list[str]]] = {}
    out = []
    for scope in scopes:
        combined = np.zeros(batch.num_rows, dtype=np.int64)
        sizes = []
        for name in scope.columns:
            if name not in encoded:
                column = pc.dictionary_encode(batch.column(name))
                encoded[name] = (
                    np.asarray(column.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
                    column.dictionary.to_pylist(),
                )
            codes, values = encoded[name]
            combined = combined * len(values) + codes
            sizes.append(len(values))
        present, index = np.unique(combined, return_inverse=True)
        keys = []
        for code in present.tolist():
            digits = []
            for size in reversed(sizes):
                code, digit = divmod(code, size)
                digits.append(digit)
            values = {name: encoded[name][1][d] for name, d in zip(scope.columns, reversed(digits), strict=True)}
            keys.append(scope.key(values))
        out.append((keys, index))
    return out


def bootstrap_sums(
    rows_df: DataFrame,
    scopes: Sequence[Scope],
    thresholds: list[float],
    replicates: int,
    seed: int,
    calibration_bins: int,
    score_bins: int,
) -> dict[tuple[str, int], BootstrapSums]:
    """(scope key, bundle index) → its :class:`BootstrapSums` over the rows of ``rows_df``
    (:func:`scored_rows.scope_rows`) in every scope."""
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    bundles = len(thresholds)
    width = cm.stat_count(calibration_bins)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc: dict[str, _Sums] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            per_scope = batch_scopes(batch, scopes)
            hashes = batch.column("_hash").to_numpy(zero_copy_only=False)
            labels = batch.column("label").to_numpy(zero_copy_only=False)
            scores = [batch.column(score_column(b)).to_numpy(zero_copy_only=False) for b in range(bundles)]
            for start in range(0, batch.num_rows, _CHUNK):
                rows = slice(start, start + _CHUNK)
                stats, cells = chunk_terms(
                    labels[rows], [s[rows] for s in scores], thresholds, calibration_bins, score_bins
                )
                weights = cm.poisson_weights(hashes[rows], replicates, seed)
                for names, index in per_scope:
                    scope = index[rows]
                    for code in np.unique(scope) if len(names) > 1 else [0]:
                        into = acc.get(names[code])
                        if into is None:
                            into = acc[names[code]] = _Sums(bundles, width, replicates, score_bins)
                        if len(names) == 1 or (scope == code).all():
                            add_chunk(into, weights, stats, cells)
                        else:
                            mask = scope == code
                            add_chunk(into, weights[mask], stats[mask], cells[mask])
        if acc:
            keys = list(acc)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(keys, pa.string()),
                    pa.array([np.concatenate([p.ravel() for p in acc[k].parts()]).tobytes() for k in keys]),
                ],
                names=["key", "sums"],
            )

    schema = StructType([StructField("key", StringType()), StructField("sums", BinaryType())])
    pairs = (
        rows_df.mapInArrow(run, schema)
        .rdd.map(lambda r: (r[0], np.frombuffer(r[1], dtype=np.float64)))
        .reduceByKey(np.add)
        .collect()
    )
    out: dict[tuple[str, int], BootstrapSums] = {}
    for key, flat in pairs:
        acc = _Sums(bundles, width, replicates, score_bins)
        offset = 0
        for part in acc.parts():
            part.ravel()[:] = flat[offset : offset + part.size]
            offset += part.size
        for b, sums in enumerate(acc.split(bundles, score_bins)):
            out[(key, b)] = sums
    return out
