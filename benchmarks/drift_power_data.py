"""The generated data of bench-drift-power: four distributions of the issue (and a long-tailed
categorical one), their effects, and each effect's population metric values.

Every split is drawn from its own seed ``(SEED, distribution, n, split)``, so a split's rows
do not depend on how the sweep is scheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skewguard import drift_stats as m

__all__ = ["DISTRIBUTIONS", "SEED", "Distribution", "population"]

SEED = 20_20
TIES_SD = float(np.sqrt((8**2 - 1) / 12))
"""The sd of the heavy-ties values (8 equally likely integers 0..7)."""


def _zipf(categories: int, exponent: float) -> np.ndarray:
    p = 1.0 / np.arange(1, categories + 1) ** exponent
    return p / p.sum()


def _moved(p: np.ndarray, mass: float) -> np.ndarray:
    """``mass`` of the probability moved from the most frequent category to the second."""
    q = p.copy()
    q[0] -= mass
    q[1] += mass
    return q


@dataclass(frozen=True)
class Distribution:
    name: str
    kind: str
    """``numeric`` or ``categorical``."""
    description: str
    effects: tuple[float, ...]
    effect_unit: str
    draw: Callable[[np.random.Generator, int, float], np.ndarray]
    probabilities: np.ndarray | None = None
    """Categorical: the category probabilities (names ``c000``, ``c001``, …)."""
    in_target: bool = True
    """Counted in ``false_alarm_rate_max`` (the issue's four distributions)."""


def _categorical(name: str, categories: int, exponent: float, in_target: bool, what: str) -> Distribution:
    p = _zipf(categories, exponent)
    names = np.array([f"c{i:03d}" for i in range(categories)])

    def draw(rng: np.random.Generator, n: int, effect: float) -> np.ndarray:
        return names[rng.choice(categories, n, p=_moved(p, effect) if effect else p)]

    return Distribution(
        name, "categorical", what, (0.05, 0.1, 0.2), "probability mass moved from the top category to the second",
        draw, p, in_target,
    )  # fmt: skip


DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        Distribution(
            "normal", "numeric", "N(0, 1); effect: location shift in sd", (0.1, 0.25, 0.5), "sd",
            lambda r, n, e: r.normal(e, 1.0, n),
        ),
        Distribution(
            "heavy_tailed", "numeric", "Student t, 2 df (no finite variance); effect: location shift in scale units",
            (0.1, 0.25, 0.5), "scale units", lambda r, n, e: r.standard_t(2, n) + e,
        ),
        Distribution(
            "heavy_ties", "numeric",
            f"integer-valued, 8 equally likely values floor(8·U); effect: floor(8·U + e·{TIES_SD:.3f}), a "
            "location shift in sd of the underlying value", (0.1, 0.25, 0.5), "sd",
            lambda r, n, e: np.floor(r.random(n) * 8 + e * TIES_SD),
        ),
        _categorical("categorical_zipf", 12, 1.0, True, "Zipf (s = 1) over 12 categories, as the suite's test"),
        _categorical(
            "categorical_zipf_long_tail", 200, 1.1, False,
            "Zipf (s = 1.1) over 200 categories: past drift.top_k (20), so __other__ and __unseen__ are used; "
            "reported apart (not in false_alarm_rate_max)",
        ),
    )
}  # fmt: skip


def _numeric_population(dist: Distribution, effect: float, bins: int, epsilon: float) -> dict[str, float]:
    """PSI on the reference's population quantile bins and KS, exactly."""
    from scipy import stats

    if dist.name == "heavy_ties":
        grid = np.arange(-1, 12)
        shift = effect * TIES_SD
        p_ref = np.where((grid >= 0) & (grid <= 7), 1 / 8, 0.0)
        p_cur = np.clip((grid + 1 - shift) / 8, 0, 1) - np.clip((grid - shift) / 8, 0, 1)
        cdf_ref = np.cumsum(p_ref)
        edges = np.unique([grid[np.argmax(cdf_ref >= j / bins - 1e-12)] for j in range(1, bins)])
        idx = np.searchsorted(edges, grid, side="left")
        ref_bins = np.bincount(idx, weights=p_ref, minlength=edges.size + 1)
        cur_bins = np.bincount(idx, weights=p_cur, minlength=edges.size + 1)
        ks = float(np.max(np.abs(cdf_ref - np.cumsum(p_cur))))
    else:
        law = stats.norm() if dist.name == "normal" else stats.t(2)
        edges = law.ppf(np.arange(1, bins) / bins)
        cdf = np.concatenate([[0.0], law.cdf(edges - effect), [1.0]])
        ref_bins, cur_bins = np.full(bins, 1 / bins), np.diff(cdf)
        ks = float(2 * law.cdf(effect / 2) - 1)  # symmetric and unimodal: the largest gap is midway
    return {"psi": float(m.psi(ref_bins, cur_bins, epsilon) or 0.0), "ks": ks}


def population(dist: Distribution, effect: float, conf: Any) -> dict[str, float]:
    """The metrics' values between the reference and the shifted distributions themselves (no
    sampling): PSI on the job's bins (population deciles; top K categories and __other__), KS,
    JS distance."""
    if dist.kind == "numeric":
        return _numeric_population(dist, effect, conf.bins, conf.epsilon)
    assert dist.probabilities is not None
    p, q = dist.probabilities, _moved(dist.probabilities, effect)
    k = conf.top_k
    binned = [np.append(x[:k], x[k:].sum()) if x.size > k else x for x in (p, q)]
    _, distance = m.js(binned[0], binned[1])
    return {"psi": float(m.psi(binned[0], binned[1], conf.epsilon) or 0.0), "js_distance": float(distance or 0.0)}
