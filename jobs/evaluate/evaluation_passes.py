"""The bootstrap pass of an evaluation; only aggregates reach the driver.

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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import Scope, score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BootstrapSums", "add_chunk", "batch_scopes", "bootstrap_sums", "bootstrap_sums_of", "chunk_terms"]

_CHUNK = 2048  # rows per weight matrix: 2048 × 200 replicates × 8 bytes ≈ 3 MB (stays in cache)


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
