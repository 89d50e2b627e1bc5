"""The two distributed passes of an evaluation; only aggregates reach the driver.

**Exact ranking** (ROC AUC, average precision): per scope × bundle, rows are grouped by
their exact score (ties stay one group), the groups ordered from the highest score down in
a window per scope × bundle give the cumulative true and false positives, and four sums per
scope × bundle come back: P, N, Σ pos·FP_cum, Σ pos·neg and Σ pos·TP_cum/(TP_cum+FP_cum),
from which :func:`exact_ranking` computes scikit-learn's AUC and AP.

**Bootstrap** (everything else, and the intervals): one ``mapInArrow`` pass; per scope and
bundle each partition adds up the rows' sums (:func:`classifier_metrics.row_stats`) — once
with weight 1 (the exact point estimates) and once per replicate with the row's Poisson(1)
weights — and, per replicate, the weighted positives and negatives per fine logit bin of the
score (AUC and AP of a replicate, within the bins' resolution). Partitions' arrays are added
up by key (``reduceByKey``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BootstrapSums", "bootstrap_sums", "exact_ranking"]

_CHUNK = 8192  # rows per weight matrix: 8192 × 200 replicates × 8 bytes ≈ 13 MB


def exact_ranking(scoped_df: DataFrame, bundles: int) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """(scope key, bundle index) → exact (ROC AUC, average precision)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    long_df = scoped_df.select(
        "_key",
        "label",
        F.explode(
            F.array(*[F.struct(F.lit(i).alias("b"), F.col(score_column(i)).alias("s")) for i in range(bundles)])
        ).alias("x"),
    ).select("_key", "label", F.col("x.b").alias("_bundle"), F.col("x.s").alias("_score"))
    groups_df = long_df.groupBy("_key", "_bundle", "_score").agg(
        F.sum("label").alias("pos"), F.sum(1.0 - F.col("label")).alias("neg")
    )
    down = Window.partitionBy("_key", "_bundle").orderBy(F.desc("_score")).rowsBetween(Window.unboundedPreceding, 0)
    cum_df = groups_df.select(
        "_key", "_bundle", "pos", "neg", F.sum("pos").over(down).alias("tp"), F.sum("neg").over(down).alias("fp")
    )
    sums = cum_df.groupBy("_key", "_bundle").agg(
        F.sum("pos").alias("p"),
        F.sum("neg").alias("n"),
        F.sum(F.col("pos") * F.col("fp")).alias("pos_fp"),
        F.sum(F.col("pos") * F.col("neg")).alias("pos_neg"),
        F.sum(F.when(F.col("pos") > 0, F.col("pos") * F.col("tp") / (F.col("tp") + F.col("fp")))).alias("ap"),
    )
    out: dict[tuple[str, int], tuple[float | None, float | None]] = {}
    for r in sums.collect():
        p, n = float(r["p"]), float(r["n"])
        ap = float(r["ap"]) / p if p > 0 else None
        # Σ pos·(negatives strictly below) = P·N − Σ pos·FP_cum (FP_cum counts the group's own)
        auc = (p * n - float(r["pos_fp"]) + 0.5 * float(r["pos_neg"])) / (p * n) if p > 0 and n > 0 else None
        out[(r["_key"], int(r["_bundle"]))] = (auc, ap)
    return out


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


def _accumulate(
    acc: dict[tuple[str, int], list[np.ndarray]],
    key: str,
    hashes: np.ndarray,
    labels: np.ndarray,
    scores: list[np.ndarray],
    thresholds: list[float],
    replicates: int,
    seed: int,
    calibration_bins: int,
    score_bins: int,
) -> None:
    from scipy import sparse

    for start in range(0, hashes.size, _CHUNK):
        h, y = hashes[start : start + _CHUNK], labels[start : start + _CHUNK]
        w = cm.poisson_weights(h, replicates, seed)
        for b, (s_all, threshold) in enumerate(zip(scores, thresholds, strict=True)):
            s = s_all[start : start + _CHUNK]
            stats = cm.row_stats(s, y, threshold, calibration_bins)
            cols = cm.score_bin(s, score_bins) + score_bins * (y == 0)
            onehot = sparse.csr_matrix((np.ones(s.size), (cols, np.arange(s.size))), shape=(2 * score_bins, s.size))
            parts = [stats.sum(axis=0), w.T @ stats, np.asarray((onehot @ w).T), np.asarray(onehot.sum(axis=1)).ravel()]
            got = acc.get((key, b))
            if got is None:
                acc[(key, b)] = parts
            else:
                for i, part in enumerate(parts):
                    got[i] += part


def bootstrap_sums(
    scoped_df: DataFrame,
    thresholds: list[float],
    replicates: int,
    seed: int,
    calibration_bins: int,
    score_bins: int,
) -> dict[tuple[str, int], BootstrapSums]:
    """(scope key, bundle index) → its :class:`BootstrapSums` over the rows of ``scoped_df``
    (:func:`scored_rows.scoped_rows`)."""
    from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

    bundles = len(thresholds)
    width = cm.stat_count(calibration_bins)
    sizes = [width, replicates * width, replicates * 2 * score_bins, 2 * score_bins]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc: dict[tuple[str, int], list[np.ndarray]] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            encoded = pc.dictionary_encode(batch.column("_key"))
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            hashes = batch.column("_hash").to_numpy(zero_copy_only=False)
            labels = batch.column("label").to_numpy(zero_copy_only=False)
            scores = [batch.column(score_column(b)).to_numpy(zero_copy_only=False) for b in range(bundles)]
            for code, key in enumerate(encoded.dictionary.to_pylist()):
                rows = codes == code
                _accumulate(
                    acc, key, hashes[rows], labels[rows], [s[rows] for s in scores], thresholds, replicates, seed,
                    calibration_bins, score_bins,
                )  # fmt: skip
        if acc:
            keys = list(acc)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([k[0] for k in keys], pa.string()),
                    pa.array([k[1] for k in keys], pa.int32()),
                    pa.array([np.concatenate([p.ravel() for p in acc[k]]).tobytes() for k in keys], pa.binary()),
                ],
                names=["key", "bundle", "sums"],
            )

    schema = StructType(
        [StructField("key", StringType()), StructField("bundle", IntegerType()), StructField("sums", BinaryType())]
    )
    pairs = (
        scoped_df.mapInArrow(run, schema)
        .rdd.map(lambda r: ((r[0], r[1]), np.frombuffer(r[2], dtype=np.float64)))
        .reduceByKey(np.add)
        .collect()
    )
    out: dict[tuple[str, int], BootstrapSums] = {}
    for (key, bundle), flat in pairs:
        cuts = np.cumsum(sizes)[:-1]
        point, rep, hist, point_hist = np.split(flat, cuts)
        out[(key, int(bundle))] = BootstrapSums(
            point,
            rep.reshape(replicates, width),
            hist.reshape(replicates, 2, score_bins),
            point_hist.reshape(2, score_bins),
        )
    return out
