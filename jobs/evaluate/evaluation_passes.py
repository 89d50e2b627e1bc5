"""The bootstrap pass of an evaluation; only aggregates reach the driver.

**Bootstrap** (everything else, and the intervals): one ``mapInArrow`` pass over the scored
rows; per batch each bundle's terms of :func:`classifier_metrics.row_stats` and fine score
bins are computed in numpy (:func:`bootstrap_kernel.row_columns`), and per scope the compiled
kernel (:func:`bootstrap_kernel.add_rows`) draws every row's Poisson(1) weight in each
replicate and adds up every bundle's sums — once with weight 1 (the exact point estimates)
and once per replicate — and, per replicate, the weighted positives and negatives per fine
score bin (AUC and AP of a replicate, within the bins' resolution). Partitions' arrays are
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

from jobs.evaluate import bootstrap_kernel as kernel
from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import Scope, score_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BootstrapSums", "batch_scopes", "bootstrap_sums", "bootstrap_sums_of"]


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
    """Every bundle's sums of one scope side by side, replicates last: what the kernel adds to."""

    def __init__(self, bundles: int, width: int, replicates: int, score_bins: int) -> None:
        self.point = np.zeros(bundles * width)
        self.replicate = np.zeros((bundles * width, replicates))
        self.point_hist = np.zeros(bundles * 2 * score_bins)
        self.hist = np.zeros((bundles * 2 * score_bins, replicates))

    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.point, self.replicate, self.point_hist, self.hist

    def split(self, bundles: int, score_bins: int) -> list[BootstrapSums]:
        width, cells, reps = self.point.size // bundles, 2 * score_bins, self.replicate.shape[1]
        kernel.complete(self.point, self.replicate, bundles, width)
        return [
            BootstrapSums(
                self.point[b * width : (b + 1) * width].copy(),
                self.replicate[b * width : (b + 1) * width].T.copy(),
                self.hist[b * cells : (b + 1) * cells].T.reshape(reps, 2, score_bins).copy(),
                self.point_hist[b * cells : (b + 1) * cells].reshape(2, score_bins).copy(),
            )
            for b in range(bundles)
        ]


def bootstrap_sums_of(
    hashes: np.ndarray, labels: np.ndarray, scores: Sequence[np.ndarray], thresholds: Sequence[float],
    replicates: int, seed: int, calibration_bins: int, score_bins: int,
) -> list[BootstrapSums]:  # fmt: skip
    """Each bundle's :class:`BootstrapSums` of rows in this process: what :func:`bootstrap_sums`
    computes for one scope."""
    acc = _Sums(len(scores), cm.stat_count(calibration_bins), replicates, score_bins)
    cutoffs = np.array(thresholds, dtype=np.float64)
    kernel.add_rows(hashes, seed, labels, np.stack(scores), cutoffs, calibration_bins, score_bins, acc.parts())
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
    cutoffs = np.array(thresholds, dtype=np.float64)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc: dict[str, _Sums] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            per_scope = batch_scopes(batch, scopes)
            hashes = batch.column("_hash").to_numpy(zero_copy_only=False)
            labels = batch.column("label").to_numpy(zero_copy_only=False)
            scores = np.stack([batch.column(score_column(b)).to_numpy(zero_copy_only=False) for b in range(bundles)])
            for names, index in per_scope:
                for code in range(len(names)):
                    into = acc.get(names[code])
                    if into is None:
                        into = acc[names[code]] = _Sums(bundles, width, replicates, score_bins)
                    rows = slice(None) if len(names) == 1 else np.flatnonzero(index == code)
                    kernel.add_rows(
                        hashes[rows], seed, labels[rows], scores[:, rows], cutoffs, calibration_bins, score_bins,
                        into.parts(),
                    )  # fmt: skip
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
