"""A binary classifier's metrics from sums and tie groups (numpy only; no Spark).

Everything a partition contributes adds up, so only aggregates reach the driver:

* **Sums per row** (:func:`row_stats`): the row count, positives, log loss, Brier score, the
  confusion counts at the bundle's threshold and, per calibration bin, the count and the sums
  of scores and labels. :func:`from_sums` turns them into log loss, Brier score, accuracy,
  precision, recall and the expected calibration error.
* **Tie groups** (:func:`ranking`): positives and negatives per distinct score (exact, the
  groups Spark counted) or per fine score bin (the bootstrap), in descending score order, give
  ROC AUC and average precision as scikit-learn defines them: AUC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)
  (``roc_auc_score``), AP = Σ_t (R_t − R_{t−1}) · P_t over the distinct thresholds t
  (``average_precision_score``).
* **Bootstrap weights** (:func:`poisson_weights`): replicate r weighs each row by a Poisson(1)
  count drawn from a counter-based generator keyed by the row's hash and r, so a row weighs
  the same in every partition, on every re-run and for every bundle (the differences between
  bundles are paired).
"""

from __future__ import annotations

import math

import numpy as np

from skewguard.evaluation_settings import EVALUATION_METRIC_NAMES

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "STAT_NAMES",
    "calibration_bin",
    "from_sums",
    "poisson_weights",
    "ranking",
    "row_stats",
    "score_bin",
    "score_edges",
    "stat_count",
]

METRICS = EVALUATION_METRIC_NAMES
"""Every metric of a bundle, in the order of its rows."""
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "accuracy": True, "precision": True, "recall": True,
                    "log_loss": False, "brier_score": False, "ece": False}  # fmt: skip
STAT_NAMES = ("n", "positives", "log_loss", "brier", "tp", "fp", "fn", "tn")
_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's log_loss clips scores to [eps, 1 − eps]


def stat_count(calibration_bins: int) -> int:
    """Length of a bundle's sums vector: :data:`STAT_NAMES`, then (count, Σ score, Σ label) per calibration bin."""
    return len(STAT_NAMES) + 3 * calibration_bins


def calibration_bin(scores: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1], a score on an inner edge in the lower bin (scikit-learn's
    ``calibration_curve(strategy="uniform")``)."""
    inner = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.searchsorted(inner, scores, side="left")


def row_stats(scores: np.ndarray, labels: np.ndarray, threshold: float, calibration_bins: int) -> np.ndarray:
    """Per row (n × :func:`stat_count`): what :func:`from_sums` adds up."""
    p = np.clip(scores, _EPS, 1.0 - _EPS)
    y = labels
    predicted = scores >= threshold
    out = np.zeros((scores.size, stat_count(calibration_bins)))
    out[:, 0] = 1.0
    out[:, 1] = y
    out[:, 2] = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    out[:, 3] = (scores - y) ** 2
    out[:, 4] = predicted & (y == 1)
    out[:, 5] = predicted & (y == 0)
    out[:, 6] = ~predicted & (y == 1)
    out[:, 7] = ~predicted & (y == 0)
    rows = np.arange(scores.size)
    col = len(STAT_NAMES) + 3 * calibration_bin(scores, calibration_bins)
    out[rows, col] = 1.0
    out[rows, col + 1] = scores
    out[rows, col + 2] = y
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def from_sums(sums: np.ndarray, calibration_bins: int) -> dict[str, float | None]:
    """The sum-based metrics of one set of (possibly weighted) sums; None where undefined."""
    n, _, ll, brier, tp, fp, fn, tn = (float(x) for x in sums[: len(STAT_NAMES)])
    cal = sums[len(STAT_NAMES) :].reshape(calibration_bins, 3)
    ece = None
    if n > 0:
        filled = cal[:, 0] > 0
        c = cal[filled]
        ece = float(np.sum(np.abs(c[:, 1] - c[:, 2])) / n)  # Σ_b (n_b/n)·|mean score − mean label|
    return {
        "log_loss": _ratio(ll, n),
        "brier_score": _ratio(brier, n),
        "ece": ece,
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def ranking(pos: np.ndarray, neg: np.ndarray) -> tuple[float | None, float | None]:
    """(ROC AUC, average precision) from positives and negatives per tie group, ordered from
    the highest score down; None when a class is missing (AUC) or there is no positive (AP)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    p_total, n_total = float(pos.sum()), float(neg.sum())
    if p_total <= 0:
        return None, None
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    stepped = pos > 0
    ap = float(np.sum(pos[stepped] / p_total * tp[stepped] / (tp[stepped] + fp[stepped])))
    if n_total <= 0:
        return None, ap
    below = n_total - fp  # negatives scored strictly lower than the group
    auc = float(np.sum(pos * (below + 0.5 * neg)) / (p_total * n_total))
    return auc, ap


def score_edges(bins: int, span: float = 12.0) -> np.ndarray:
    """The ``bins − 1`` inner edges of the fine score bins, ascending: ``bins`` equal steps of
    logit(score) over [−span, span], as scores (exact floats, so that Spark and numpy put a
    score on the same side of an edge)."""
    z = -span + 2.0 * span * np.arange(1, bins) / bins
    return 1.0 / (1.0 + np.exp(-z))


def score_bin(scores: np.ndarray, bins: int, span: float = 12.0) -> np.ndarray:
    """Fine bin of each score for the bootstrap's ranking metrics and the exact pass's ranges,
    numbered from the highest score down: bin j holds the scores with exactly j of
    :func:`score_edges` above them (a score on an edge is in the bin above it; NaN, above every
    score, in bin 0), so rare high and low scores keep their resolution."""
    return bins - 1 - np.searchsorted(score_edges(bins, span), scores, side="right")


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_POISSON_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
# u = (x >> 11)·2⁻⁵³ ≥ c  ⇔  x >> 11 ≥ ⌈c·2⁵³⌉  ⇔  x ≥ ⌈c·2⁵³⌉·2¹¹: the inverse CDF on the raw
# 64-bit word, exactly (c·2⁵³ is exact in float64); past the fifth step (u ≥ 0.9963) it searches
_STEPS = 5
_THRESHOLDS = np.array([math.ceil(float(c) * 2.0**53) << 11 for c in _POISSON_CDF[:_STEPS]], dtype=np.uint64)


def _splitmix(row_hash: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        base = row_hash.astype(np.int64).view(np.uint64) ^ (np.uint64(seed) * _GOLDEN)
        r = np.arange(1, replicates + 1, dtype=np.uint64) * _GOLDEN
        x = np.add(base[:, None], r[None, :])
        t = np.empty_like(x)
        for shift, mult in ((30, _M1), (27, _M2)):
            np.right_shift(x, np.uint64(shift), out=t)
            np.bitwise_xor(x, t, out=x)
            np.multiply(x, mult, out=x)
        np.right_shift(x, np.uint64(31), out=t)
        np.bitwise_xor(x, t, out=x)
    return x


def poisson_weights(row_hash: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """n × ``replicates`` Poisson(1) weights (float64): splitmix64 of (row hash, seed,
    replicate) as a uniform u = (x >> 11)·2⁻⁵³, through Poisson(1)'s inverse CDF (the number
    of CDF steps at or below u)."""
    x = _splitmix(np.asarray(row_hash), replicates, seed)
    counts = np.zeros(x.shape, dtype=np.uint8)
    above = np.empty(x.shape, dtype=bool)
    for threshold in _THRESHOLDS:
        np.greater_equal(x, threshold, out=above)
        counts += above.view(np.uint8)
    tail = np.nonzero(above)  # rows × replicates past the last threshold: rare (0.37 %)
    if tail[0].size:
        u = (x[tail] >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
        counts[tail] = np.searchsorted(_POISSON_CDF, u, side="right")
    return counts.astype(np.float64)
