"""The evaluation's metrics against scikit-learn on the same rows (to 1e-9), with ties, and
the bootstrap's weights: Poisson(1), deterministic per row, and paired across bundles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from jobs.evaluate import classifier_metrics as cm

BINS = 10


def _groups(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positives and negatives per distinct score, highest first (what the Spark pass counts)."""
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=labels, minlength=values.size)[::-1]
    neg = np.bincount(inverse, weights=1 - labels, minlength=values.size)[::-1]
    return pos, neg


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_scikit_learns(ties: bool) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    labels = (rng.random(n) < 0.2).astype(float)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * labels - 1.5)))
    if ties:  # scores on a coarse grid: many ties across classes, some exactly on bin edges
        scores = np.round(scores * 20) / 20
    threshold = 0.3
    sums = cm.row_stats(scores, labels, threshold, BINS).sum(axis=0)
    got = cm.from_sums(sums, BINS)
    predicted = (scores >= threshold).astype(int)
    assert got["log_loss"] == pytest.approx(log_loss(labels, scores), abs=1e-9)
    assert got["brier_score"] == pytest.approx(brier_score_loss(labels, scores), abs=1e-9)
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert got["precision"] == pytest.approx(precision_score(labels, predicted), abs=1e-12)
    assert got["recall"] == pytest.approx(recall_score(labels, predicted), abs=1e-12)
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=BINS, strategy="uniform")
    counts = np.histogram(cm.calibration_bin(scores, BINS), bins=np.arange(BINS + 1))[0]
    ece = float(np.sum(counts[counts > 0] / n * np.abs(prob_true - prob_pred)))
    assert got["ece"] == pytest.approx(ece, abs=1e-9)
    auc, ap = cm.ranking(*_groups(scores, labels))
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
    assert ap == pytest.approx(average_precision_score(labels, scores), abs=1e-9)


def test_undefined_metrics_are_none() -> None:
    assert cm.ranking(np.array([0.0, 0.0]), np.array([3.0, 1.0])) == (None, None)
    auc, ap = cm.ranking(np.array([2.0]), np.array([0.0]))
    assert auc is None and ap == 1.0
    got = cm.from_sums(cm.row_stats(np.array([0.1]), np.array([0.0]), 0.5, BINS).sum(axis=0), BINS)
    assert got["precision"] is None and got["recall"] is None and got["accuracy"] == 1.0


def test_fine_bins_rank_like_the_exact_scores_within_their_resolution() -> None:
    rng = np.random.default_rng(5)
    labels = (rng.random(20000) < 0.1).astype(float)
    scores = 1 / (1 + np.exp(-(rng.normal(-2, 1.5, labels.size) + 1.5 * labels)))
    bins = cm.score_bin(scores, 512)
    pos = np.bincount(bins, weights=labels, minlength=512)
    neg = np.bincount(bins, weights=1 - labels, minlength=512)
    auc, ap = cm.ranking(pos, neg)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=2e-3)
    assert ap == pytest.approx(average_precision_score(labels, scores), abs=5e-3)
    # bin 0 holds the highest scores
    assert scores[bins == bins.min()].min() >= scores[bins == bins.max()].max()


def _reference_weights(row_hash: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        base = row_hash.astype(np.int64).view(np.uint64) ^ (np.uint64(seed) * golden)
        x = base[:, None] + np.arange(1, replicates + 1, dtype=np.uint64)[None, :] * golden
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    u = (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    cdf = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
    return np.searchsorted(cdf, u, side="right").astype(np.float64)


def test_poisson_weights_are_poisson_one_and_the_same_for_a_row_anywhere() -> None:
    hashes = np.random.default_rng(1).integers(-(2**63), 2**63 - 1, 20000, dtype=np.int64)
    w = cm.poisson_weights(hashes, 200, seed=7)
    assert w.shape == (20000, 200)
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(w == 0) == pytest.approx(np.exp(-1), abs=0.005)
    # a row's weights do not depend on which other rows share its batch, but on the seed
    np.testing.assert_array_equal(cm.poisson_weights(hashes[5:6], 200, seed=7)[0], w[5])
    assert not np.array_equal(cm.poisson_weights(hashes[:100], 200, seed=8), w[:100])
    # the same weights as the plain formula: splitmix64 as a uniform through the inverse CDF
    np.testing.assert_array_equal(w, _reference_weights(hashes, 200, 7))
    edge = np.array([0, -1, 2**63 - 1, -(2**63)], dtype=np.int64)
    np.testing.assert_array_equal(cm.poisson_weights(edge, 2000, 3), _reference_weights(edge, 2000, 3))
    # replicates are not correlated with each other
    corr = np.corrcoef(w[:, :20].T)
    assert np.abs(corr[np.triu_indices(20, 1)]).max() < 0.05
