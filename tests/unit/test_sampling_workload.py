"""Deterministic sampling (same id → same decision everywhere) and tool-set workload ids."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.sampling import SamplingPolicy, sample_fraction, should_log
from serving.workload import tool_names, workload_id_from_tools

IDS = [f"req-{i}" for i in range(100_000)]


# -- sampling -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.1, 0.5])
def test_logged_share_matches_rate(rate: float) -> None:
    share = sum(should_log(rid, rate) for rid in IDS) / len(IDS)
    assert abs(share - rate) < 0.005


def test_fraction_is_in_unit_interval_and_matches_blake2b() -> None:
    fractions = [sample_fraction(rid, "s") for rid in IDS[:1000]]
    assert all(0.0 <= f < 1.0 for f in fractions)
    n = int.from_bytes(hashlib.blake2b(b"s\0req-7", digest_size=8).digest(), "big")
    assert math.isclose(sample_fraction("req-7", "s"), n / 2**64, rel_tol=1e-12, abs_tol=1e-15)


def test_rate_edges() -> None:
    assert all(should_log(rid, 1.0) for rid in IDS[:1000])
    assert not any(should_log(rid, 0.0) for rid in IDS[:1000])
    assert should_log("x", 1) and not should_log("x", 0)


@pytest.mark.parametrize("rate", [-0.1, 1.01, float("nan"), float("inf"), True, "0.5", None])
def test_invalid_rates_raise(rate: object) -> None:
    with pytest.raises(ValueError):
        should_log("req-1", rate)  # type: ignore[arg-type]


def test_same_id_same_decision_across_calls_and_instances() -> None:
    a = SamplingPolicy(default_rate=0.1, salt="v1")
    b = SamplingPolicy(default_rate=0.1, salt="v1")
    first = [a.decide("chat", rid) for rid in IDS[:5000]]
    assert first == [a.decide("chat", rid) for rid in IDS[:5000]]
    assert first == [b.decide("chat", rid) for rid in IDS[:5000]]
    assert any(first) and not all(first)


def test_same_decision_in_another_process() -> None:
    # A fresh interpreter has a different PYTHONHASHSEED; decisions must not depend on it.
    code = (
        "from serving.sampling import should_log; "
        "print(''.join('1' if should_log(f'req-{i}', 0.3, 's') else '0' for i in range(300)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    assert out == "".join("1" if should_log(f"req-{i}", 0.3, "s") else "0" for i in range(300))


def test_salt_changes_decisions() -> None:
    plain = [should_log(rid, 0.5) for rid in IDS[:2000]]
    salted = [should_log(rid, 0.5, salt="2024-q4") for rid in IDS[:2000]]
    assert plain != salted
    assert sample_fraction("req-1") != sample_fraction("req-1", "x")


def test_per_workload_rates() -> None:
    policy = SamplingPolicy(default_rate=0.5, rates={"tools-search": 0.0, "generic": 1.0})
    assert policy.rate_for("tools-search") == 0.0
    assert policy.rate_for("generic") == 1.0
    assert policy.rate_for("unknown") == 0.5
    assert not any(policy.decide("tools-search", rid) for rid in IDS[:1000])
    assert all(policy.decide("generic", rid) for rid in IDS[:1000])


def test_policy_rates_are_a_validated_read_only_copy() -> None:
    rates = {"a": 0.2}
    policy = SamplingPolicy(rates=rates)
    rates["a"] = 0.9
    assert policy.rate_for("a") == 0.2
    with pytest.raises(TypeError):
        policy.rates["a"] = 0.5  # type: ignore[index]


def test_policy_invalid_rates_name_the_workload() -> None:
    with pytest.raises(ValueError, match="tools-search"):
        SamplingPolicy(rates={"tools-search": 1.5})
    with pytest.raises(ValueError, match="default_rate"):
        SamplingPolicy(default_rate=-1)


# -- workload ids ---------------------------------------------------------------------------------------------------


def _tool(name: str) -> dict[str, object]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def test_order_and_duplicates_do_not_matter() -> None:
    a = {"tools": [_tool("search"), _tool("get_weather")]}
    b = {"tools": [_tool("get_weather"), _tool("search"), _tool("search")]}
    assert tool_names(a) == tool_names(b) == ["get_weather", "search"]
    assert workload_id_from_tools(a) == workload_id_from_tools(b) == "tools-get_weather+search"


def test_no_tools_is_generic() -> None:
    assert workload_id_from_tools({"messages": []}) == "generic"
    assert workload_id_from_tools({"tools": []}) == "generic"
    assert workload_id_from_tools({"tools": None}, generic="chat") == "chat"
    assert tool_names({}) == []


def test_long_tool_lists_are_hashed() -> None:
    names = [f"tool_number_{i:02d}" for i in range(10)]
    request = {"tools": [_tool(n) for n in reversed(names)]}
    wid = workload_id_from_tools(request, prefix="agent")
    joined = "+".join(sorted(names))
    assert wid == f"agent-10-{hashlib.sha256(joined.encode()).hexdigest()[:16]}"
    assert len(wid) <= 64
    short = workload_id_from_tools({"tools": [_tool("a" * 58)]})
    assert short == "tools-" + "a" * 58 and len(short) == 64
    assert workload_id_from_tools({"tools": [_tool("a" * 59)]}).startswith("tools-1-")


def test_legacy_functions_and_flat_form() -> None:
    assert workload_id_from_tools({"functions": [{"name": "lookup"}, {"name": "book"}]}) == "tools-book+lookup"
    mixed = {"tools": [_tool("search")], "functions": [{"name": "lookup"}, {"name": "search"}]}
    assert tool_names(mixed) == ["lookup", "search"]
    assert tool_names({"tools": [{"type": "function", "name": "flat"}]}) == ["flat"]


def test_malformed_entries_are_skipped() -> None:
    request = {
        "tools": [
            "search",
            None,
            42,
            {},
            {"type": "function"},
            {"type": "function", "function": "search"},
            {"type": "function", "function": {"name": ""}},
            {"type": "function", "function": {"name": 7}},
            {"type": "file_search"},
            _tool("ok"),
        ],
        "functions": "not-a-list",
    }
    assert tool_names(request) == ["ok"]
    assert workload_id_from_tools({"tools": "search"}) == "generic"
    assert workload_id_from_tools({"tools": {"name": "x"}}) == "generic"
