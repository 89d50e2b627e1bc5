"""The bootstrap's inner loop, compiled: every row's Poisson(1) weights in every replicate,
added into the sums of a scope, in one pass over the rows and with no rows × replicates matrix.

The weights are :func:`classifier_metrics.poisson_weights`' (the same splitmix64 words and the
same inverse CDF, so a row weighs the same here, in the reference implementation the tests
check against, and in every partition); the sums are :func:`classifier_metrics.row_stats`'
and the fine score bins', laid out replicate-last so that each row adds a few contiguous
vectors of ``replicates`` values. In numpy the same work (a weight matrix per chunk, a dense
matrix product, a sparse one for the bins) costs about 4.5× as much CPU (``make bench-evaluate``
records the phase times).

Compiled by numba on first use (a few seconds, once: the machine code is cached on disk).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.evaluate import classifier_metrics as cm

__all__ = ["add_rows", "complete"]


_kernel: Any = None


def _compiled() -> Any:
    """The kernel, compiled on first use in a process; numba keeps the machine code on disk
    (next to this file, or in the user's cache folder when that is not writable or the module
    comes from a ``--py-files`` zip), so later processes load it."""
    global _kernel
    if _kernel is None:
        import numba

        _kernel = numba.njit(cache=True, nogil=True)(_add_rows)
    return _kernel


def _add_rows(  # pragma: no cover - compiled; checked against the numpy reference by the tests
    hashes: np.ndarray,
    seed: int,
    thresholds: np.ndarray,
    cdf: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    cutoffs: np.ndarray,
    score_edges: np.ndarray,
    calibration_edges: np.ndarray,
    eps: float,
    width: int,
    point: np.ndarray,
    replicate: np.ndarray,
    point_hist: np.ndarray,
    hist: np.ndarray,
) -> None:
    """Per row i: its weight w_r in each replicate r (splitmix64 of (hash, seed, r) through the
    Poisson(1) inverse CDF); per bundle b its terms of ``row_stats`` (log loss, Brier, its
    confusion cell at ``cutoffs[b]``, its calibration bin's count, Σ score and Σ label) added
    as ``replicate[column] += w · term``, and its fine bin's cell as ``hist[cell] += w``;
    ``point`` and ``point_hist`` the same with weight 1."""
    n = hashes.shape[0]
    bundles = scores.shape[0]
    reps = replicate.shape[1]
    bins = score_edges.shape[0] + 1
    golden = np.uint64(0x9E3779B97F4A7C15)
    m1, m2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    salt = np.uint64(seed) * golden
    t0, t1, t2, t3, t4 = thresholds[0], thresholds[1], thresholds[2], thresholds[3], thresholds[4]
    w = np.empty(reps)
    values = np.empty(6)
    columns = np.empty(6, dtype=np.int64)
    for i in range(n):
        base = np.uint64(hashes[i]) ^ salt
        tail = False
        for r in range(reps):
            x = base + np.uint64(r + 1) * golden
            x = (x ^ (x >> np.uint64(30))) * m1
            x = (x ^ (x >> np.uint64(27))) * m2
            x = x ^ (x >> np.uint64(31))
            k = np.int64(x >= t0) + np.int64(x >= t1) + np.int64(x >= t2) + np.int64(x >= t3) + np.int64(x >= t4)
            tail |= k == 5
            w[r] = k
        if tail:  # a count past the fifth CDF step (0.37 % of draws): search the rest of the CDF
            for r in range(reps):
                if w[r] == 5.0:
                    x = base + np.uint64(r + 1) * golden
                    x = (x ^ (x >> np.uint64(30))) * m1
                    x = (x ^ (x >> np.uint64(27))) * m2
                    x = x ^ (x >> np.uint64(31))
                    u = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                    w[r] = np.searchsorted(cdf, u, side="right")
        y = labels[i]
        for b in range(bundles):
            s = scores[b, i]
            p = min(max(s, eps), 1.0 - eps)
            o = b * width
            cal = o + 8 + 3 * np.searchsorted(calibration_edges, s, side="left")
            values[0] = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
            values[1] = (s - y) ** 2
            values[2] = 1.0
            values[3] = 1.0
            values[4] = s
            values[5] = y
            columns[0] = o + 2
            columns[1] = o + 3
            if s >= cutoffs[b]:
                columns[2] = o + 4 if y == 1.0 else o + 5
            else:
                columns[2] = o + 6 if y == 1.0 else o + 7
            columns[3] = cal
            columns[4] = cal + 1
            columns[5] = cal + 2
            for k in range(6):
                v = values[k]
                if v != 0.0:
                    c = columns[k]
                    point[c] += v
                    row = replicate[c]
                    for r in range(reps):
                        row[r] += v * w[r]
            cell = b * 2 * bins + (bins - 1 - np.searchsorted(score_edges, s, side="right"))
            if y == 0.0:
                cell += bins
            point_hist[cell] += 1.0
            row = hist[cell]
            for r in range(reps):
                row[r] += w[r]


def add_rows(
    hashes: np.ndarray,
    seed: int,
    labels: np.ndarray,
    scores: np.ndarray,
    cutoffs: np.ndarray,
    calibration_bins: int,
    score_bins: int,
    sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Add rows (``scores``: bundles × n; ``cutoffs``: each bundle's threshold) into ``sums`` =
    (point, replicate (columns × replicates), point_hist, hist (cells × replicates)), every
    bundle's side by side: :func:`classifier_metrics.row_stats` but ``n`` and ``positives``
    (filled in by :func:`complete`) at b · stat_count + column, and the fine bins
    (:func:`classifier_metrics.score_bin`) at b·2·bins + bin, + bins for a negative."""
    point, replicate, point_hist, hist = sums
    _compiled()(
        np.ascontiguousarray(hashes, dtype=np.int64),
        int(seed),
        cm._THRESHOLDS,
        cm._POISSON_CDF,
        np.ascontiguousarray(labels, dtype=np.float64),
        np.ascontiguousarray(scores, dtype=np.float64),
        np.ascontiguousarray(cutoffs, dtype=np.float64),
        _edges(score_bins),
        np.linspace(0.0, 1.0, calibration_bins + 1)[1:-1],
        cm._EPS,
        cm.stat_count(calibration_bins),
        point,
        replicate,
        point_hist,
        hist,
    )


_EDGES: dict[int, np.ndarray] = {}


def _edges(score_bins: int) -> np.ndarray:
    if score_bins not in _EDGES:
        _EDGES[score_bins] = cm.score_edges(score_bins)
    return _EDGES[score_bins]


def complete(point: np.ndarray, replicate: np.ndarray, bundles: int, width: int) -> None:
    """Fill in each bundle's ``n`` (Σ of the four confusion cells) and ``positives`` (tp + fn),
    which :func:`row_columns` leaves out: exact, as the cells' sums are whole numbers."""
    for b in range(bundles):
        o = b * width
        point[o] = point[o + 4 : o + 8].sum()
        point[o + 1] = point[o + 4] + point[o + 6]
        replicate[o] = replicate[o + 4 : o + 8].sum(axis=0)
        replicate[o + 1] = replicate[o + 4] + replicate[o + 6]
