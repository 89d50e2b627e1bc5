"""The parity gate's pure parts: output comparison, stage-by-stage bisection, the request
rebuilt from logged text, stratum allocation, pipeline traces and the report."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from jobs.parity.comparison import OfflineExample, bisect, compare
from jobs.parity.replay_client import request_from_logged
from transforms import INPUTS_STEP, Pipeline


def _example(ident: str, vector: list[float], score: float) -> OfflineExample:
    return OfflineExample(ident, {}, vector, score, int(score >= 0.5))


def _served(vector: list[float], score: float, latency: float = 100.0) -> dict:
    return {"features": vector, "score": score, "label": int(score >= 0.5), "latency_us": latency}


def test_compare_finds_outputs_over_tolerance_and_orders_the_worst() -> None:
    examples = [
        _example("a", [1.0, 2.0], 0.2),
        _example("b", [1.0, math.nan], 0.7),
        _example("c", [3.0, 4.0], 0.4),
        _example("d", [0.0, 0.0], 0.5),
    ]
    served = {
        "a": _served([1.0, 2.0 + 5e-7], 0.2),  # under the tolerance
        "b": _served([1.0, math.nan], 0.7),  # both missing: equal
        "c": _served([3.0, 4.5], 0.4 + 2e-6, latency=300.0),  # two outputs over
        "d": {"id": "d", "error": "ValueError: needs event_ts"},
    }
    result = compare("single", examples, served, ["x", "y"], 1e-6)
    assert result.max_abs_diff == pytest.approx(0.5)
    assert result.failing_ids == ["c"] and result.errors == {"d": "ValueError: needs event_ts"}
    assert result.over_by_output == {"y": 1, "score": 1}
    assert result.max_by_output["x"] == 0 and result.max_by_output["y"] == pytest.approx(0.5)
    assert [w["id"] for w in result.worst] == ["c", "a"]
    assert result.worst[0] == {
        "id": "c",
        "output": "y",
        "offline": 4.0,
        "serving": 4.5,
        "abs_diff": 0.5,
        "outputs_over_tolerance": 2,
    }
    assert not result.passed
    assert result.latency_ms(50) == pytest.approx(0.1)


def test_compare_one_side_missing_is_a_difference() -> None:
    result = compare("batch", [_example("a", [math.nan], 0.3)], {"a": _served([0.0], 0.3)}, ["x"], 1e-6)
    assert result.max_abs_diff == math.inf and result.failing_ids == ["a"]


def test_compare_passes_when_equal() -> None:
    examples = [_example(str(i), [float(i)], 0.1) for i in range(5)]
    served = {str(i): _served([float(i)], 0.1) for i in range(5)}
    result = compare("single", examples, served, ["x"], 1e-6)
    assert result.passed and result.max_abs_diff == 0 and result.worst == []


def _trace(steps: list[tuple[str, dict]]) -> list[list]:
    return [[s, c] for s, c in steps]


def test_bisect_names_the_first_step_and_features() -> None:
    offline = {
        "e1": _trace([(INPUTS_STEP, {"a": 1.0, "b": "x"}), ("impute", {"a": 1.0, "b": "x"}), ("scale", {"a": 0.5})]),
        "e2": _trace([(INPUTS_STEP, {"a": None, "b": "y"}), ("impute", {"a": 2.0, "b": "y"}), ("scale", {"a": 1.0})]),
    }
    serving = {
        "e1": _trace([(INPUTS_STEP, {"a": 1.0, "b": "x"}), ("impute", {"a": 1.0, "b": "x"}), ("scale", {"a": 0.7})]),
        "e2": _trace([(INPUTS_STEP, {"a": None, "b": "y"}), ("impute", {"a": 0.0, "b": "y"}), ("scale", {"a": 0.0})]),
    }
    found = bisect(offline, serving, 1e-6)
    assert found is not None
    assert (found.step, found.step_index, found.features) == ("impute", 1, ["a"])
    assert found.examples == [{"id": "e2", "feature": "a", "offline": 2.0, "serving": 0.0}]


def test_bisect_reports_stage_lists_that_differ_and_missing_columns() -> None:
    offline = {"e": _trace([(INPUTS_STEP, {"a": 1.0}), ("clip", {"a": 1.0}), ("scale", {"a": 0.1})])}
    serving = {"e": _trace([(INPUTS_STEP, {"a": 1.0}), ("scale", {"a": 0.1}), ("clip", {"a": 0.1})])}
    found = bisect(offline, serving, 1e-6)
    assert found is not None and found.step == "clip" and "stage lists differ" in found.note
    offline = {"e": _trace([(INPUTS_STEP, {"a": 1.0, "a#0": 1.0})])}
    serving = {"e": _trace([(INPUTS_STEP, {"a": 1.0})])}
    found = bisect(offline, serving, 1e-6)
    assert found is not None and found.features == ["a#0"] and found.examples[0]["serving"] == "(no such column)"
    assert bisect({"e": _trace([(INPUTS_STEP, {"a": 1.0})])}, {"e": _trace([(INPUTS_STEP, {"a": 1.0})])}, 1e-6) is None


def test_request_from_logged_text() -> None:
    contract = {"n": "double", "i": "double", "s": "string", "bad": "double", "gone": "double", "event_ts": "timestamp"}
    ts = dt.datetime(2024, 11, 21, 8, tzinfo=dt.UTC)
    logged = {"n": "0.25", "i": "7", "s": "123", "bad": "true", "gone": None, "extra": "ignored"}
    request = request_from_logged(logged, contract, ts)
    assert request == {"n": 0.25, "i": 7, "s": "123", "bad": "true", "event_ts": ts}
    assert isinstance(request["i"], int)


def test_pipeline_trace_shows_each_step() -> None:
    pipeline = Pipeline.from_spec(
        {
            "name": "t",
            "inputs": {"x": "double", "c": "string"},
            "stages": [
                {"kind": "impute", "name": "fill", "columns": ["x"]},
                {"kind": "vocabulary", "name": "vocab", "columns": ["c"], "options": {"one_hot": True}},
            ],
            "outputs": ["x", "c"],
        }
    )
    batch = pa.record_batch({"x": pa.array([1.0, None, 3.0]), "c": pa.array(["u", "v", None])})
    fitted = pipeline.fit(batch)
    steps = list(fitted.trace(batch))
    assert [s for s, _ in steps] == [INPUTS_STEP, "fill", "vocab"]
    assert steps[0][1] == {"x": [1.0, None, 3.0], "c": ["u", "v", None]}
    assert steps[1][1]["x"] == [1.0, 2.0, 3.0]
    assert set(steps[2][1]) == {"x", "c#0", "c#1", "c#2"}
