"""The level a feature's metrics are tested at (no Spark): a feature is flagged when any of its
thresholded metrics is, so under ``drift.metric_correction = bonferroni`` (the default) each of
its T distinct null tests runs at α / T and a feature without drift is flagged with
probability at most α; the correction reaches every floor, p-value and ``alpha`` it reports."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import kstwo

from jobs.drift.feature_drift import (
    KIND_METRICS,
    FeatureDrift,
    feature_alpha,
    feature_status,
    finish_ks,
    flagging_tests,
    judge_metrics,
    measure,
)
from jobs.drift.sources import FeatureSpec
from skewguard.config import load_settings
from skewguard.drift_stats import CATEGORY_NULL, CATEGORY_OTHER, CATEGORY_UNSEEN
from skewguard.settings_models import DriftSettings, Thresholds

NUMERIC, CATEGORICAL = FeatureSpec("x", "numeric", "x"), FeatureSpec("c", "categorical", "c")


def _conf(**update: Any) -> DriftSettings:
    return load_settings("local", env={}).drift.model_copy(update=update)


def test_default_thresholds_give_three_tests_per_feature() -> None:
    conf = _conf()
    # numeric: PSI, KS, null rate; categorical: PSI, JS (distance), null rate
    assert flagging_tests(conf, "w", NUMERIC) == 3
    assert flagging_tests(conf, "w", CATEGORICAL) == 3
    assert feature_alpha(conf, monitored=30, tests=3) == pytest.approx(0.01 / 3)


def test_metrics_sharing_a_null_test_count_once_and_informational_ones_not_at_all() -> None:
    limits = Thresholds(warn=0.1, alert=0.2)
    thresholds = {**_conf().thresholds, "js_divergence": limits, "tv_distance": limits,
                  "l_infinity_distance": limits, "chi_squared_test": limits, "count_delta": limits}  # fmt: skip
    conf = _conf(thresholds=thresholds)
    # JS's divergence and distance are one test; TV, L∞ and χ² the χ² test; the count delta none
    assert flagging_tests(conf, "w", CATEGORICAL) == 4
    assert flagging_tests(conf, "w", NUMERIC) == 4  # no JS on numeric features
    only_ks = _conf(thresholds={"ks": limits}, overrides={"w/x": {"psi": limits}})
    assert flagging_tests(only_ks, "w", NUMERIC) == 2
    assert flagging_tests(only_ks, "other", NUMERIC) == 1
    assert flagging_tests(only_ks, "w", CATEGORICAL) == 0


@pytest.mark.parametrize(
    ("features", "metrics", "expected"),
    [("none", "bonferroni", 0.01 / 3), ("none", "none", 0.01), ("bonferroni", "bonferroni", 0.01 / 5 / 3),
     ("bonferroni", "none", 0.01 / 5)],
)  # fmt: skip
def test_feature_alpha_combines_both_corrections(features: str, metrics: str, expected: float) -> None:
    conf = _conf(alpha_correction=features, metric_correction=metrics)
    assert feature_alpha(conf, monitored=5, tests=3) == pytest.approx(expected)
    assert feature_alpha(conf, monitored=5, tests=0) == pytest.approx(expected * (3 if metrics != "none" else 1))


def _numeric(rng: np.random.Generator, n: int) -> tuple[dict[str, Any], np.ndarray]:
    """A reference profile on 3 quantile edges (PSI's too) and a current count vector."""
    ref, cur = rng.normal(size=n), rng.normal(0.1, 1, n)
    edges = np.quantile(ref, [0.25, 0.5, 0.75], method="inverted_cdf")

    def counts(values: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values, side="left")
        on = np.bincount(idx[np.isin(values, edges)], minlength=3)[:3]
        return np.concatenate([np.bincount(idx, minlength=4), on, [0]])

    c = counts(ref)
    profile = {"count": n, "null_count": 0, "null_rate": 0.0, "rows": n, "bin_edges": list(edges),
               "bin_counts": [*c[:4], 0], "fine_edges": list(edges), "fine_counts": list(c[:4]),
               "fine_on_edge": list(c[4:7])}  # fmt: skip
    return profile, counts(cur)


def test_the_corrected_level_reaches_every_floor_and_the_metrics_are_those_declared() -> None:
    settings = load_settings("local", env={})
    rng = np.random.default_rng(5)
    profile, cur = _numeric(rng, 400)
    alpha = feature_alpha(settings.drift, 1, flagging_tests(settings.drift, "w", NUMERIC))
    f = FeatureDrift("w", None, 0, NUMERIC, profile, cur, 400, alpha=alpha)
    measure(f, settings)
    finish_ks(f, np.zeros(0), exact=False)
    assert set(f.metrics) == set(KIND_METRICS["numeric"])
    assert f.metrics["ks"]["floor"] == pytest.approx(kstwo.isf(0.01 / 3, 200))
    values = judge_metrics(f, settings, exact=False)
    assert [v.alpha for v in values if v.alpha is not None] == pytest.approx([0.01 / 3] * 7)  # all but the count delta
    assert feature_status(values) in ("ok", "warn", "alert")

    cats = ["a", "b", CATEGORY_OTHER, CATEGORY_NULL, CATEGORY_UNSEEN]
    ref_profile = {"count": 100, "null_count": 0, "null_rate": 0.0, "rows": 100, "categories": cats,
                   "category_counts": [60, 40, 0, 0, 0], "other_categories": []}  # fmt: skip
    g = FeatureDrift("w", None, 1, CATEGORICAL, ref_profile, np.array([50, 45, 0, 0, 5]), 100, alpha=alpha)
    measure(g, settings)
    assert set(g.metrics) == set(KIND_METRICS["categorical"])
    judged = {v.metric: v for v in judge_metrics(g, settings, exact=False)}
    assert judged["count_delta"].status == "info" and judged["count_delta"].alpha is None
    assert judged["psi"].value > 0.2 and judged["psi"].alpha == pytest.approx(0.01 / 3)  # the unseen bin's ε
