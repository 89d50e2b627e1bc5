"""The dataset verdict (Evidently's dataset drift) on hand-made mixes of feature statuses: the
share of measured features in alert, in alert from ``drift_share`` on; one row per workload ×
slice, a feature's status the worst of its thresholded metrics (``info`` ignored)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.drift.dataset_verdict import dataset_rows, verdict_line
from skewguard import drift_stats as m


@pytest.mark.parametrize(
    ("statuses", "share", "expected"),
    [
        (["alert", "alert", "ok", "warn"], 0.5, "alert"),  # exactly the share: alert (≥, as Evidently)
        (["alert", "warn", "warn", "ok"], 0.25, "ok"),  # warn does not count
        (["alert", "ok", "ok", "empty", "empty"], 1 / 3, "ok"),  # empty features are not measured
        (["alert", "alert", "empty"], 1.0, "alert"),
        (["ok", "ok"], 0.0, "ok"),
    ],
)
def test_share_of_features_in_alert(statuses: list[str], share: float, expected: str) -> None:
    assert m.dataset_drift(statuses, 0.5) == (pytest.approx(share), expected)


def test_nothing_measured_is_empty_and_the_share_is_configurable() -> None:
    assert m.dataset_drift(["empty", "empty"], 0.5) == (None, "empty")
    assert m.dataset_drift([], 0.5) == (None, "empty")
    assert m.dataset_drift(["alert", "ok", "ok", "ok"], 0.25)[1] == "alert"
    assert m.dataset_drift(["alert", "ok", "ok", "ok"], 0.3)[1] == "ok"


def _row(feature: str, metric: str, status: str, slice_value: str = "", workload: str = "w1") -> dict[str, Any]:
    return {
        "run_id": "r1", "window_start": "2024-03-02", "window_end": "2024-03-02", "reference": "ref",
        "workload_id": workload, "slice_column": "model_version" if slice_value else "", "slice_value": slice_value,
        "feature": feature, "metric": metric, "status": status,
    }  # fmt: skip


def test_one_row_per_workload_and_slice_from_each_features_worst_metric() -> None:
    rows = [
        _row("a", "psi", "ok"), _row("a", "ks", "alert"), _row("a", "count_delta", "info"),  # a: alert
        _row("b", "psi", "warn"), _row("b", "ks", "ok"),  # b: warn
        _row("c", "js_distance", "alert"),  # c: alert
        _row("d", "psi", "ok"),
        _row("a", "psi", "alert", "v2"), _row("b", "psi", "ok", "v2"),  # the slice: 1 of 2
        _row("a", "psi", "empty", workload="w2"), _row("a", "count_delta", "info", workload="w2"),
    ]  # fmt: skip
    verdicts = {(v["workload_id"], v["slice_value"]): v for v in dataset_rows(rows, 0.5)}
    assert sorted(verdicts) == [("w1", ""), ("w1", "v2"), ("w2", "")]
    whole = verdicts[("w1", "")]
    assert (whole["feature"], whole["feature_type"], whole["metric"]) == ("*", "dataset", "dataset_drift")
    assert whole["value"] == 0.5 and whole["status"] == "alert" and whole["reason"] == "material"
    assert (whole["ref_count"], whole["cur_count"], whole["alert_threshold"]) == (4, 2, 0.5)
    assert json.loads(whole["details_json"]) == {"features": 4, "in_alert": ["a", "c"]}
    assert whole["run_id"] == "r1" and whole["reference"] == "ref"
    assert verdicts[("w1", "v2")]["status"] == "alert" and verdicts[("w1", "v2")]["slice_column"] == "model_version"
    assert (verdicts[("w2", "")]["value"], verdicts[("w2", "")]["status"]) == (None, "empty")
    assert verdict_line(whole) == "ALERT dataset w1: 2 of 4 feature(s) in alert (0.5 ≥ drift_share 0.5)"
    # a stricter share: the workload is ok, below the threshold
    strict = next(v for v in dataset_rows(rows, 0.75) if v["slice_value"] == "" and v["workload_id"] == "w1")
    assert (strict["status"], strict["reason"]) == ("ok", "below threshold")
    # the verdict rows themselves are never counted as features
    assert len(dataset_rows(rows + dataset_rows(rows, 0.5), 0.5)) == 3
