"""bench-evaluate's coverage check: do the evaluation's paired bootstrap intervals cover the
true difference between two models at their nominal rate?

A binormal population: a label y ~ Bernoulli(π); two models see latent features
x_A = μ_A·y + z₁ and x_B = μ_B·y + ρ·z₁ + √(1 − ρ²)·z₂ (z independent standard normals, so
x_A and x_B are correlated given y, as two models of the same traffic are) and score
s = σ(α + β·x). Model A is the Bayes-calibrated logistic model of its feature; model B sees a
more informative feature but is over-confident (β too large). The true values are exact:
ROC AUC Φ(μ/√2); log loss, Brier score and the threshold metrics by Gauss–Hermite quadrature
of a normal expectation or the normal CDF; average precision as ∫ precision d(recall) by
adaptive quadrature (its sample estimate is biased by O(1/n), so its coverage is shown, not
judged).

Each repetition draws ``n`` rows with random 64-bit row keys (the job's ``xxhash64(event_id)``)
and runs what the Spark job runs on them: ``evaluation_passes.bootstrap_sums_of`` (the chunks
the bootstrap pass adds up: Poisson(1) weights of the row keys, ``row_stats``, fine logit bins),
``evaluation_passes.rank_sums``/``ranking_of`` for the exact AUC and AP, and
``tabular_evaluation.estimates`` for the point estimates and the paired percentile intervals
(with AUC's and AP's binning shift). A repetition covers a metric when the interval of
candidate − production holds the true difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate
from scipy.special import expit, logit
from scipy.stats import norm

from jobs.evaluate.evaluation_passes import bootstrap_sums_of
from jobs.evaluate.ranking_pass import rank_sums, ranking_of
from jobs.evaluate.tabular_evaluation import estimates
from skewguard.evaluation_settings import EvaluationSettings

__all__ = ["JUDGED", "Model", "coverage", "true_metrics"]

PI = 0.3
RHO = 0.7
THRESHOLD = 0.5
JUDGED = ("roc_auc", "log_loss", "brier_score")
"""The metrics the 95 % ± 3 % target is judged on; the others are shown."""


class Model:
    """s = σ(α + β·x), x | y ~ N(μ·y, 1)."""

    def __init__(self, mu: float, miscalibration: float = 1.0) -> None:
        self.mu = mu
        # the Bayes posterior: logit P(y=1 | x) = logit π + μ·x − μ²/2; ``miscalibration`` scales it
        self.alpha = miscalibration * (math.log(PI / (1 - PI)) - mu * mu / 2)
        self.beta = miscalibration * mu

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(expit(self.alpha + self.beta * x))

    def cut(self, threshold: float) -> float:
        """The feature value at which the score reaches ``threshold``."""
        return (float(logit(threshold)) - self.alpha) / self.beta


MODELS = {"production": Model(1.0), "candidate": Model(1.15, miscalibration=1.25)}


def _expect(f: Any, mean: float) -> float:
    """E f(x) for x ~ N(mean, 1), Gauss–Hermite with 120 nodes (exact to rounding here)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    return float(np.sum(weights * f(nodes + mean)) / math.sqrt(2 * math.pi))


def true_metrics(model: Model) -> dict[str, float]:
    """The population value of every metric the coverage is shown for."""
    eps = float(np.finfo(np.float64).eps)

    def clipped(x: np.ndarray) -> np.ndarray:
        return np.clip(model.score(x), eps, 1 - eps)

    log_loss = PI * _expect(lambda x: -np.log(clipped(x)), model.mu) + (1 - PI) * _expect(
        lambda x: -np.log1p(-clipped(x)), 0.0
    )
    brier = PI * _expect(lambda x: (1 - model.score(x)) ** 2, model.mu) + (1 - PI) * _expect(
        lambda x: model.score(x) ** 2, 0.0
    )
    c = model.cut(THRESHOLD)
    recall, fpr = float(norm.sf(c - model.mu)), float(norm.sf(c))
    precision = PI * recall / (PI * recall + (1 - PI) * fpr)

    def precision_at(t: float) -> float:  # the cut at t's precision, weighted by the positives' density there
        odds = math.exp(math.log((1 - PI) / PI) + norm.logsf(t) - norm.logsf(t - model.mu))
        return float(norm.pdf(t - model.mu) / (1.0 + odds))

    ap = integrate.quad(precision_at, model.mu - 40, model.mu + 40, limit=400, epsabs=1e-13, epsrel=1e-12)[0]
    return {
        "roc_auc": float(norm.cdf(model.mu / math.sqrt(2))),
        "pr_auc": ap,
        "log_loss": log_loss,
        "brier_score": brier,
        "accuracy": PI * recall + (1 - PI) * (1 - fpr),
        "precision": precision,
        "recall": recall,
    }


def _sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    y = (rng.random(n) < PI).astype(np.float64)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    prod, cand = MODELS["production"], MODELS["candidate"]
    x_a = prod.mu * y + z1
    x_b = cand.mu * y + RHO * z1 + math.sqrt(1 - RHO * RHO) * z2
    hashes = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    return hashes, y, [prod.score(x_a), cand.score(x_b)]


def _monte_carlo_check(truth: dict[str, dict[str, float]], rows: int, seed: int) -> dict[str, float]:
    """|closed form − one large sample| per metric and model: the true values checked."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    hashes, y, scores = _sample(np.random.default_rng(seed), rows)
    worst: dict[str, float] = {}
    for (name, _), s in zip(MODELS.items(), scores, strict=True):
        got = {
            "roc_auc": roc_auc_score(y, s),
            "pr_auc": average_precision_score(y, s),
            "log_loss": log_loss(y, s),
            "brier_score": brier_score_loss(y, s),
            "recall": float(np.mean(s[y == 1] >= THRESHOLD)),
        }
        for metric, value in got.items():
            worst[metric] = max(worst.get(metric, 0.0), abs(value - truth[name][metric]))
    return {m: float(f"{v:.3g}") for m, v in worst.items()}


def coverage(repetitions: int, n: int, truth_rows: int, seed: int = 20241120) -> dict[str, Any]:
    """Coverage of the paired interval of candidate − production per metric over
    ``repetitions`` seeded samples of ``n`` rows, with its binomial standard error."""
    conf = EvaluationSettings()
    truth = {name: true_metrics(model) for name, model in MODELS.items()}
    true_diff = {m: truth["candidate"][m] - truth["production"][m] for m in truth["production"]}
    covered = {m: 0 for m in true_diff}
    widths: dict[str, list[float]] = {m: [] for m in true_diff}
    single = {m: 0 for m in true_diff}  # each model's own interval around its own true value
    rng = np.random.default_rng(seed)
    for _ in range(repetitions):
        hashes, y, scores = _sample(rng, n)
        sums = bootstrap_sums_of(
            hashes, y, scores, [THRESHOLD, THRESHOLD], conf.replicates, conf.seed, conf.calibration_bins,
            conf.score_bins,
        )  # fmt: skip
        ranks = [ranking_of(rank_sums(s, y, (0.0, 0.0))) for s in scores]
        got = estimates(sums, ranks, conf.calibration_bins, conf.confidence)
        for m in true_diff:
            e = got[1][m]
            if e.diff_ci_low is not None and e.diff_ci_high is not None:
                covered[m] += e.diff_ci_low <= true_diff[m] <= e.diff_ci_high
                widths[m].append(e.diff_ci_high - e.diff_ci_low)
            p = got[0][m]
            if p.ci_low is not None and p.ci_high is not None:
                single[m] += p.ci_low <= truth["production"][m] <= p.ci_high
    nominal = conf.confidence
    se = math.sqrt(nominal * (1 - nominal) / repetitions)
    per_metric = {
        m: {
            "true_difference": true_diff[m],
            "coverage": covered[m] / repetitions,
            "binomial_se": round(se, 4),
            "within_target": abs(covered[m] / repetitions - nominal) <= 0.03,
            "judged": m in JUDGED,
            "median_interval_width": float(np.median(widths[m])) if widths[m] else None,
            "production_interval_coverage": single[m] / repetitions,
        }
        for m in true_diff
    }
    return {
        "repetitions": repetitions,
        "rows_per_sample": n,
        "replicates": conf.replicates,
        "confidence": nominal,
        "score_bins": conf.score_bins,
        "target": f"{nominal:.2f} ± 0.03 for {', '.join(JUDGED)}",
        "met": all(per_metric[m]["within_target"] for m in JUDGED),
        "population": {
            "positive_share": PI,
            "feature_correlation_given_label": RHO,
            "models": {name: {"mu": m.mu, "alpha": m.alpha, "beta": m.beta} for name, m in MODELS.items()},
            "threshold": THRESHOLD,
        },
        "true_values": truth,
        "true_values_vs_a_sample_of": {
            "rows": truth_rows,
            "max_abs_diff": _monte_carlo_check(truth, truth_rows, seed + 1),
        },
        "metrics": per_metric,
        "not_shown": {
            "ece": "its sample estimate is biased upwards (|·| of noisy bin means); no exact population value to cover"
        },
    }
