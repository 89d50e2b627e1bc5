"""Noise floors and p-values of the drift metrics (no Spark): each against scipy's own test on
the same data, the status rule (material / below noise / below threshold), and seeded
no-drift splits that stay quiet while real shifts are flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2, chi2_contingency, ks_2samp, kstwo

from skewguard import drift_noise as noise
from skewguard import drift_stats as m

ALPHA = 0.01
# the default thresholds (conf/base.yaml)
WARN = {"psi": 0.1, "ks": 0.05, "js_distance": 0.1}
ALERT = {"psi": 0.2, "ks": 0.1, "js_distance": 0.2}


@pytest.mark.parametrize(("n", "k", "shift"), [(100, 80, 0.0), (300, 290, 0.2), (1000, 2500, 0.05), (5000, 40, 1.0)])
def test_ks_p_value_and_critical_value_are_scipys_asymptotic_ones(n: int, k: int, shift: float) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(0, 1, n), rng.normal(shift, 1, k)
    expected = ks_2samp(ref, cur, method="asymp")
    floor, p_value = noise.ks_noise(float(expected.statistic), n, k, ALPHA)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-12)
    assert floor is not None and kstwo.sf(floor, round(n * k / (n + k))) == pytest.approx(ALPHA, rel=1e-4)
    assert noise.ks_noise(None, n, k, ALPHA) == (None, None)


def test_chi_squared_is_scipys_contingency_test_without_empty_bins() -> None:
    ref, cur = np.array([50, 30, 0, 20, 0, 7]), np.array([10, 30, 5, 55, 0, 9])
    stat, (floor, p_value) = noise.chi_squared(ref, cur, ALPHA)
    expected = chi2_contingency(np.vstack([ref, cur])[:, [0, 1, 2, 3, 5]], correction=False)
    assert stat == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-12)
    assert floor == pytest.approx(chi2.isf(ALPHA, expected.dof), abs=1e-12)
    assert noise.chi_squared(ref, np.zeros(6), ALPHA) == (None, (None, None))
    assert noise.chi_squared(np.array([4, 0]), np.array([9, 0]), ALPHA) == (0.0, (0.0, 1.0))


def test_null_rate_noise_is_the_two_by_two_chi_squared_test() -> None:
    ref_nulls, ref_total, cur_nulls, cur_total = 30, 1000, 21, 400
    delta = cur_nulls / cur_total - ref_nulls / ref_total
    floor, p_value = noise.null_rate_noise(delta, ref_nulls, ref_total, cur_nulls, cur_total, ALPHA)
    table = [[ref_nulls, ref_total - ref_nulls], [cur_nulls, cur_total - cur_nulls]]
    assert p_value == pytest.approx(chi2_contingency(table, correction=False).pvalue, abs=1e-12)
    # at the floor the test is exactly at the level
    at_floor = noise.null_rate_noise(floor, ref_nulls, ref_total, cur_nulls, cur_total, ALPHA)[1]
    assert at_floor == pytest.approx(ALPHA, rel=1e-4)
    assert noise.null_rate_noise(0.0, 0, 50, 0, 80, ALPHA) == (0.0, 1.0)  # no nulls on either side


def test_js_floor_is_the_g_test_for_equal_sizes_and_psi_follows_its_chi_squared_relation() -> None:
    # n = m = 1000, every occupied bin expecting ≥ MIN_EXPECTED (the fewest: 70)
    ref, cur = np.array([480, 320, 0, 160, 40]), np.array([400, 380, 0, 120, 100])
    divergence, distance = m.js(ref, cur)
    g_test = chi2_contingency(np.vstack([ref, cur])[:, [0, 1, 3, 4]], correction=False, lambda_="log-likelihood")
    for kind, value in (("js_divergence", divergence), ("js_distance", distance)):
        floor, p_value = noise.binned_noise(kind, value, ref, cur, ALPHA)
        assert p_value == pytest.approx(g_test.pvalue, abs=1e-12), kind
    div_floor = noise.binned_noise("js_divergence", divergence, ref, cur, ALPHA)[0]
    dist_floor = noise.binned_noise("js_distance", distance, ref, cur, ALPHA)[0]
    assert dist_floor == pytest.approx(math.sqrt(div_floor), abs=1e-15)
    psi = m.psi(ref, cur, 1e-4)
    floor, p_value = noise.binned_noise("psi", psi, ref, cur, ALPHA)
    assert floor == pytest.approx(chi2.isf(ALPHA, 3) * (2 / 1000), abs=1e-12)
    assert p_value == pytest.approx(chi2.sf(psi / (2 / 1000), 3), abs=1e-12)
    assert noise.binned_noise("psi", 0.0, np.array([5, 0]), np.array([7, 0]), ALPHA) == (0.0, 1.0)


def _psi_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    r, c = ref / ref.sum(axis=1, keepdims=True), cur / cur.sum(axis=1, keepdims=True)
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    return np.sum((c - r) * np.log(c / r), axis=1)


def test_small_windows_draw_psis_null_where_its_chi_squared_relation_flags_twice_alpha() -> None:
    """10 equally likely bins at 100 a side expect 10 a bin, under MIN_EXPECTED: the χ² floor
    would be passed by 2α of no-drift splits (PSI's tail is heavier than its second-order
    term's), the drawn floor by α."""
    n, k = 100, 10
    pooled_ref, pooled_cur = np.full(k, n // k), np.full(k, n // k)  # pooled proportions: uniform
    floor, _ = noise.binned_noise("psi", 0.0, pooled_ref, pooled_cur, ALPHA)
    chi2_floor = chi2.isf(ALPHA, k - 1) * (2 / n)
    assert floor is not None and floor > chi2_floor
    rng = np.random.default_rng(11)
    p = np.full(k, 1 / k)
    psi = _psi_rows(rng.multinomial(n, p, size=40_000), rng.multinomial(n, p, size=40_000))
    assert np.mean(psi > chi2_floor) > 1.7 * ALPHA
    assert np.mean(psi > floor) == pytest.approx(ALPHA, abs=0.003)


def test_judge_names_the_reason() -> None:
    assert noise.judge(0.04, 0.05, 0.1, 0.02) == ("ok", "below threshold")
    assert noise.judge(0.08, 0.05, 0.1, 0.09) == ("ok", "below noise")
    assert noise.judge(0.12, 0.05, 0.1, 0.13) == ("ok", "below noise")
    assert noise.judge(0.095, 0.05, 0.1, 0.09) == ("warn", "material")
    assert noise.judge(0.12, 0.05, 0.1, 0.03) == ("alert", "material")
    assert noise.judge(-0.12, 0.02, 0.1, 0.03) == ("alert", "material")  # deltas by their size
    assert noise.judge(0.3, 0.1, 0.2, None, p_value=0.2, alpha=ALPHA) == ("ok", "below noise")
    assert noise.judge(0.3, 0.1, 0.2, None, p_value=1e-6, alpha=ALPHA) == ("alert", "material")
    assert noise.judge(None, 0.1, 0.2, 0.0) == ("empty", None)
    assert noise.judge(3.0, None, None, 0.0) == ("info", None)


DISTRIBUTIONS = {
    "normal": lambda r, n, s: r.normal(s, 1, n),
    "heavy_tailed": lambda r, n, s: r.standard_t(2, n) + s,
    "heavy_ties": lambda r, n, s: np.floor(r.random(n) * 8 + s * 8),
}


def _hist(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx, on_edge, _, _ = m.bin_numeric(values, edges)
    return np.bincount(idx, minlength=edges.size + 1), np.bincount(idx[on_edge], minlength=edges.size)[: edges.size]


def _statuses(ref: np.ndarray, cur: np.ndarray) -> dict[str, str]:
    """PSI on 10 reference-quantile bins and KS (scipy's statistic), judged as the drift job does."""
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    (rc, _), (cc, _) = _hist(ref, edges), _hist(cur, edges)
    psi = m.psi(rc, cc, 1e-4)
    d = float(ks_2samp(ref, cur).statistic)
    out = {}
    for metric, value, floor in (
        ("psi", psi, noise.binned_noise("psi", psi, rc, cc, ALPHA)[0]),
        ("ks", d, noise.ks_noise(d, ref.size, cur.size, ALPHA)[0]),
    ):
        out[metric] = noise.judge(value, WARN[metric], ALERT[metric], floor)[0]
    return out


def _categorical_statuses(ref: np.ndarray, cur: np.ndarray, cats: int) -> dict[str, str]:
    rc, cc = np.bincount(ref, minlength=cats), np.bincount(cur, minlength=cats)
    psi = m.psi(rc, cc, 1e-4)
    _, distance = m.js(rc, cc)
    return {
        "psi": noise.judge(psi, WARN["psi"], ALERT["psi"], noise.binned_noise("psi", psi, rc, cc, ALPHA)[0])[0],
        "js_distance": noise.judge(
            distance, WARN["js_distance"], ALERT["js_distance"],
            noise.binned_noise("js_distance", distance, rc, cc, ALPHA)[0],
        )[0],
    }  # fmt: skip


@pytest.mark.parametrize("n", [100, 1000])
def test_no_drift_splits_flag_at_most_alpha_and_real_shifts_are_flagged(n: int) -> None:
    """40 seeded splits per distribution: the share of (split, metric) in warn/alert stays
    within α + 0.03 (three binomial standard errors of 160 trials at α = 0.01 is ≈ 0.024), and
    a shift of 0.5 sd (KS ≈ 0.2, PSI ≈ 0.25: past the alert thresholds) at n = 1000 is flagged
    every time."""
    rng = np.random.default_rng(n)
    zipf = 1.0 / np.arange(1, 13)
    flags, trials = 0, 0
    for _ in range(40):
        for draw in DISTRIBUTIONS.values():
            statuses = _statuses(draw(rng, n, 0.0), draw(rng, n, 0.0))
            flags += sum(s in ("warn", "alert") for s in statuses.values())
            trials += len(statuses)
        ref, cur = (rng.choice(12, n, p=zipf / zipf.sum()) for _ in range(2))
        statuses = _categorical_statuses(ref, cur, 12)
        flags += sum(s in ("warn", "alert") for s in statuses.values())
        trials += len(statuses)
    assert flags / trials <= ALPHA + 0.03, (flags, trials)
    if n >= 1000:
        for _ in range(20):
            for name, draw in DISTRIBUTIONS.items():
                statuses = _statuses(draw(rng, n, 0.0), draw(rng, n, 0.5))
                assert statuses["ks"] == "alert" or statuses["psi"] == "alert", (name, statuses)
