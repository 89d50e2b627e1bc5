"""How large a drift metric gets from sampling noise alone (numpy + scipy; no Spark).

A window of a few hundred rows differs from its reference by chance: KS between two samples
of 300 from the same distribution exceeds 0.1 one time in ten. A metric is therefore only
*material* when it passes its threshold **and** its **noise floor** — the critical value it
exceeds with probability α when both sides come from the same distribution at this
window's counts (n_ref, n_cur). The null distributions, all asymptotic:

* **KS**: D's two-sample null distribution as scipy's ``ks_2samp(method="asymp")`` takes it,
  Kolmogorov's one-sample distribution at n·m/(n+m) rounded (``scipy.stats.kstwo``). Ties
  only make D smaller, so with ties the test is conservative.
* **PSI** on k occupied bins: PSI = Σ (c−r)·ln(c/r) is the symmetrised Kullback–Leibler
  divergence, whose second-order expansion is Σ (c−r)²/p, Pearson's χ² statistic of the 2×k
  table divided by (1/n + 1/m). So PSI / (1/n + 1/m) ~ χ²(k−1) (Yurdakul, "Statistical
  properties of population stability index", 2018).
* **JS** (base 2) on the same bins: JSD·ln 2 expands to Σ (c−r)²/(8p), so
  8·ln 2·JSD / (1/n + 1/m) ~ χ²(k−1); for n = m it is exactly the G-test statistic of the
  2×k table. The distance's floor is the square root of the divergence's.
* **Hellinger** H² = 1 − Σ √(r·c) has the same expansion as JS in nats: 8·H² / (1/n + 1/m) ~ χ²(k−1).
* **χ²**: Pearson's statistic of the 2×k table of counts, χ²(k−1) (``chi2_contingency``
  without continuity correction).
* **Null-rate delta**: the two-proportion z-test with the pooled null rate (= the χ² test
  of the 2×2 table).

Bins empty on both sides carry no information and are not counted in k. The χ² relations
are second-order expansions and need every occupied bin to expect many values: Cochran's
rule of 5, enough for Pearson's own test, is not enough for the binned metrics — at 10 values
a bin expected (10 bins, 100 a side) PSI's χ² floor is passed by 2 % of no-drift splits at
α = 1 % (JS 1.4 %, Hellinger 1.7 %); from :data:`MIN_EXPECTED` (50) a bin it is 1.15 %. On
sparser bins — small windows, rare categories, a null bin with a handful of nulls, where PSI's
epsilon for an empty side makes PSI far larger than its χ² term — the null distribution is
drawn instead: seeded multinomial samples of both sides at their sizes from the pooled
proportions, the metric computed on each exactly as on the data.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "MIN_EXPECTED",
    "NULL_DRAWS",
    "REASON_MATERIAL",
    "REASON_NOISE",
    "REASON_THRESHOLD",
    "Noise",
    "binned_noise",
    "chi_squared",
    "judge",
    "ks_noise",
    "null_rate_noise",
]

REASON_MATERIAL, REASON_NOISE, REASON_THRESHOLD = "material", "below noise", "below threshold"

Noise = tuple[float | None, float | None]
"""(noise floor, p-value) of one metric's value; (None, None) when it cannot be tested."""


def ks_noise(d: float | None, n: int, m: int, alpha: float) -> Noise:
    """KS's critical value at level ``alpha`` and the p-value of ``d`` for samples of n and m
    (scipy ``ks_2samp(method="asymp")``)."""
    from scipy.stats import kstwo

    if d is None or n == 0 or m == 0:
        return None, None
    en = float(np.round(n * m / (n + m)))
    return _ks_critical(alpha, en), float(min(1.0, kstwo.sf(d, en)))


@functools.lru_cache(maxsize=256)
def _ks_critical(alpha: float, en: float) -> float:
    """``kstwo.isf(alpha, en)`` (a root search over the exact distribution: worth keeping, as
    every feature of a window shares its counts)."""
    from scipy.stats import kstwo

    return float(kstwo.isf(alpha, en))


def _occupied(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[int, int, int]:
    """(n, m, degrees of freedom) over the bins occupied on either side."""
    r, c = np.asarray(ref_counts, dtype=np.float64), np.asarray(cur_counts, dtype=np.float64)
    return int(r.sum()), int(c.sum()), max(int(np.count_nonzero((r + c) > 0)) - 1, 0)


NULL_DRAWS = 4000
"""Multinomial draws of the null distribution on sparse bins (p-values resolve to 1/4001)."""
MIN_EXPECTED = 50
"""Values of the smaller side every occupied bin must expect for a binned metric's χ² relation
(below it the null distribution is drawn; module docstring)."""
_PER_CHI2 = {
    "psi": 1.0,
    "js_divergence": 1.0 / (8 * math.log(2)),
    "js_distance": 1.0 / (8 * math.log(2)),
    "hellinger_distance": 1.0 / 8,
}


@functools.lru_cache(maxsize=4)
def _null_props(n: int, m: int, pooled: bytes) -> np.ndarray:
    """Proportions of :data:`NULL_DRAWS` seeded multinomial draws of n and m values from the
    ``pooled`` proportions (float64 bytes), 2 × draws × bins: the same draws for each metric of
    one feature's bins, so they are drawn once (read only)."""
    rng = np.random.default_rng(0)
    p = np.frombuffer(pooled, dtype=np.float64)
    props = np.stack([rng.multinomial(size, p, size=NULL_DRAWS) / size for size in (n, m)])
    props.flags.writeable = False
    return props


def _drawn(kind: str, props: np.ndarray, epsilon: float) -> np.ndarray:
    """The metric ``kind`` of each row pair of ``props`` (2 × draws × bins proportions)."""
    r, c = props
    if kind == "psi":
        r, c = np.where(r == 0, epsilon, r), np.where(c == 0, epsilon, c)
        return np.sum((c - r) * np.log(c / r), axis=1)
    if kind == "hellinger_distance":
        return np.sqrt(np.maximum(1.0 - np.sum(np.sqrt(r * c), axis=1), 0.0))
    mid = (r + c) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(r > 0, r * np.log(r / mid), 0.0) + np.where(c > 0, c * np.log(c / mid), 0.0)
    divergence = np.maximum(kl.sum(axis=1) / 2.0 / math.log(2.0), 0.0)
    return np.sqrt(divergence) if kind == "js_distance" else divergence


def binned_noise(
    kind: str, value: float | None, ref_counts: np.ndarray, cur_counts: np.ndarray, alpha: float,
    epsilon: float = 1e-4,
) -> Noise:  # fmt: skip
    """Noise floor and p-value of a binned metric ``kind`` (``psi``, ``js_divergence``,
    ``js_distance``, ``hellinger_distance``) of ``value`` on these counts. Every occupied bin
    expecting at least :data:`MIN_EXPECTED` of the smaller side: through the metric's χ²(k−1)
    relation (module docstring). Sparser bins (small windows; rare categories, where PSI's
    ``epsilon`` for an empty side dominates): from :data:`NULL_DRAWS` seeded multinomial draws
    of both sides at their sizes from the pooled proportions. With one occupied bin nothing can
    differ: floor 0, p 1."""
    from scipy.stats import chi2

    n, m, df = _occupied(ref_counts, cur_counts)
    if value is None or n == 0 or m == 0:
        return None, None
    if df == 0:
        return 0.0, 1.0
    pooled = np.asarray(ref_counts, dtype=np.float64) + np.asarray(cur_counts, dtype=np.float64)
    pooled = pooled[pooled > 0] / pooled.sum()
    if pooled.min() * min(n, m) < MIN_EXPECTED:
        null = _drawn(kind, _null_props(n, m, pooled.tobytes()), epsilon)
        floor = float(np.quantile(null, 1.0 - alpha, method="higher"))
        return floor, float((1 + np.count_nonzero(null >= value - 1e-12)) / (NULL_DRAWS + 1))
    # each metric (squared, for the distances) is Pearson's χ² statistic times ``per``
    per = (1.0 / n + 1.0 / m) * _PER_CHI2[kind]
    root = kind in ("js_distance", "hellinger_distance")
    critical = float(chi2.isf(alpha, df)) * per
    squared = value * value if root else value
    return (math.sqrt(critical) if root else critical), float(chi2.sf(max(squared, 0.0) / per, df))


def chi_squared(ref_counts: np.ndarray, cur_counts: np.ndarray, alpha: float) -> tuple[float | None, Noise]:
    """Pearson's χ² statistic of the 2×k table (the bins occupied on either side), with its
    critical value at ``alpha`` and p-value: scipy's ``chi2_contingency(correction=False)``."""
    from scipy.stats import chi2

    n, m, df = _occupied(ref_counts, cur_counts)
    if n == 0 or m == 0:
        return None, (None, None)
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    if df == 0:
        return 0.0, (0.0, 1.0)
    return stat, (float(chi2.isf(alpha, df)), float(chi2.sf(stat, df)))


def null_rate_noise(
    delta: float | None, ref_nulls: int, ref_total: int, cur_nulls: int, cur_total: int, alpha: float
) -> Noise:
    """Critical |Δ null rate| at ``alpha`` (two-sided, pooled null rate) and the p-value of ``delta``."""
    from scipy.stats import norm

    if delta is None or ref_total == 0 or cur_total == 0:
        return None, None
    pooled = (ref_nulls + cur_nulls) / (ref_total + cur_total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_total + 1 / cur_total))
    if se == 0:  # no nulls anywhere (or nothing else): the rates cannot differ by chance
        return 0.0, 1.0 if delta == 0 else 0.0
    return float(norm.isf(alpha / 2) * se), float(min(1.0, 2 * norm.sf(abs(delta) / se)))


def judge(
    value: float | None,
    warn: float | None,
    alert: float | None,
    floor: float | None,
    p_value: float | None = None,
    alpha: float | None = None,
) -> tuple[str, str | None]:
    """(status, reason) of a value: ``empty`` (no value) and ``info`` (no thresholds) have no
    reason; else ``ok`` · ``below threshold`` when its size is not above ``warn`` (or
    ``alert``), ``ok`` · ``below noise`` when it is but not above the noise floor (or, for a
    metric with no floor, its p-value is not below α), else ``warn``/``alert`` · ``material``."""
    if value is None or math.isnan(value):
        return "empty", None
    if warn is None and alert is None:
        return "info", None
    size = abs(value)
    first = warn if warn is not None else alert
    if first is None or size <= first:
        return "ok", REASON_THRESHOLD
    if floor is not None and size <= floor:
        return "ok", REASON_NOISE
    if floor is None and p_value is not None and alpha is not None and p_value >= alpha:
        return "ok", REASON_NOISE
    return ("alert" if alert is not None and size > alert else "warn"), REASON_MATERIAL
