"""Unit tests for the synthetic serving-log generator (no Spark, no Elasticsearch)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ops.synthetic import (
    FLYWHEEL_KEYS,
    KIND_LLM,
    KIND_PREDICTION,
    MALFORMED_REASONS,
    GeneratedRecord,
    GeneratorConfig,
    generate,
    record_instant,
    write_jsonl,
)

SMALL = GeneratorConfig(days=2, records_per_day=500)


@pytest.fixture(scope="module")
def default_records() -> list[GeneratedRecord]:
    """Default config: 3 days x 1000 records, no malformed records."""
    return list(generate(GeneratorConfig()))


@pytest.fixture(scope="module")
def damaged_records() -> list[GeneratedRecord]:
    """3 days x 1000 records with 10% malformed."""
    return list(generate(GeneratorConfig(malformed_fraction=0.1)))


def _tool_calls(gen: GeneratedRecord) -> list[dict[str, Any]]:
    return gen.record["response"]["choices"][0]["message"].get("tool_calls") or []


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    cfg = replace(SMALL, malformed_fraction=0.05)
    write_jsonl(generate(cfg), tmp_path / "a.jsonl")
    write_jsonl(generate(cfg), tmp_path / "b.jsonl")
    write_jsonl(generate(replace(cfg, seed=8)), tmp_path / "c.jsonl")
    a, b, c = ((tmp_path / f"{n}.jsonl").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_counts_and_summary_add_up(tmp_path: Path) -> None:
    cfg = GeneratorConfig(malformed_fraction=0.1)
    out = tmp_path / "nested" / "logs.jsonl"
    summary = write_jsonl(generate(cfg), out)
    lines = out.read_bytes().splitlines(keepends=True)
    assert summary.total == len(lines) == cfg.days * cfg.records_per_day
    assert summary.bytes_written == sum(len(line) for line in lines)
    valid = sum(summary.valid_by_day_workload.values())
    assert valid == sum(summary.valid_by_kind.values())
    assert valid + sum(summary.malformed_by_reason.values()) == summary.total
    workloads = (*cfg.llm_workloads, *cfg.prediction_workloads)
    days = ("2024-11-20", "2024-11-21", "2024-11-22")
    for day in days:
        for workload in workloads:
            assert summary.valid_by_day_workload[(day, workload)] > 0
    doc = summary.to_json()
    json.dumps(doc)
    assert doc["valid_by_day_workload"]["2024-11-21|fraud-scoring"] > 0
    assert doc["total"] == summary.total


def test_write_is_compact_utf8(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    write_jsonl(generate(SMALL), out)
    text = out.read_text(encoding="utf-8")
    assert '": ' not in text  # compact separators (no space after the colon)
    assert "São Paulo" in text or "Résumé" in text  # ensure_ascii=False
    assert all(json.loads(line) for line in text.splitlines())


def test_exact_kind_counts_per_day(default_records: list[GeneratedRecord]) -> None:
    per_day = Counter((g.day, g.kind) for g in default_records)
    for d in (date(2024, 11, 20), date(2024, 11, 21), date(2024, 11, 22)):
        assert per_day[(d, KIND_LLM)] == 500
        assert per_day[(d, KIND_PREDICTION)] == 500


def test_llm_records_have_exactly_flywheel_keys(default_records: list[GeneratedRecord]) -> None:
    llm = [g for g in default_records if g.kind == KIND_LLM]
    assert llm
    for g in llm:
        assert set(g.record) == FLYWHEEL_KEYS
        req, resp = g.record["request"], g.record["response"]
        assert req["messages"][0]["role"] == "system"
        assert resp["object"] == "chat.completion"
        assert resp["id"].startswith("chatcmpl-")
        assert isinstance(resp["created"], int)
        usage = resp["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        choice = resp["choices"][0]
        assert choice["message"]["role"] == "assistant"
        if _tool_calls(g):
            assert choice["finish_reason"] == "tool_calls"
            assert choice["message"]["content"] is None
        else:
            assert choice["finish_reason"] == "stop"
            assert isinstance(choice["message"]["content"], str)


def test_tool_calling_shapes(default_records: list[GeneratedRecord]) -> None:
    tool_recs = [g for g in default_records if g.workload_id == "customer-support-tools"]
    plain = [g for g in default_records if g.workload_id == "summarize-generic"]
    assert all("tools" not in g.record["request"] for g in plain)
    assert not any(_tool_calls(g) for g in plain)
    arg_types: Counter[str] = Counter()
    for g in tool_recs:
        tools = g.record["request"]["tools"]
        names = {t["function"]["name"] for t in tools}
        for t in tools:
            assert t["type"] == "function"
            assert t["function"]["parameters"]["type"] == "object"
        for call in _tool_calls(g):
            assert call["type"] == "function"
            assert call["function"]["name"] in names
            args = call["function"]["arguments"]
            if isinstance(args, str):
                arg_types["str"] += 1
                assert isinstance(json.loads(args), dict)
            else:
                arg_types[type(args).__name__] += 1
    assert arg_types["str"] > 50 and arg_types["dict"] > 50
    assert set(arg_types) == {"str", "dict"}
    roles = {m["role"] for g in tool_recs for m in g.record["request"]["messages"]}
    assert {"system", "user", "assistant", "tool"} <= roles
    contents = [
        m["content"]
        for g in default_records
        if g.kind == KIND_LLM
        for m in g.record["request"]["messages"]
        if m["role"] == "user"
    ]
    assert any(isinstance(c, list) and c[0]["type"] == "text" for c in contents)
    assert any(isinstance(c, str) for c in contents)
    finishes = Counter(g.record["response"]["choices"][0]["finish_reason"] for g in tool_recs)
    assert finishes["tool_calls"] > 0 and finishes["stop"] > 0


def test_prediction_records(default_records: list[GeneratedRecord]) -> None:
    preds = [g for g in default_records if g.kind == KIND_PREDICTION]
    keys = {
        "event_id",
        "request_id",
        "timestamp",
        "client_id",
        "workload_id",
        "model",
        "features",
        "outputs",
        "sampling_rate",
    }
    value_types: Counter[str] = Counter()
    for g in preds:
        rec = g.record
        assert set(rec) == keys
        assert set(rec["model"]) == {"name", "version", "transform_hash"}
        int(rec["model"]["transform_hash"], 16)
        assert 0.0 <= rec["outputs"]["score"] <= 1.0
        assert rec["outputs"]["label"] in (0, 1)
        assert 0 < rec["sampling_rate"] <= 1
        for fid, value in rec["features"].items():
            assert len(fid) == 4 and fid[0] == "f" and fid[1:].isdigit()
            value_types[type(value).__name__] += 1
    assert {"float", "int", "str", "NoneType"} <= set(value_types)
    assert len({g.record["event_id"] for g in preds}) == len(preds)
    assert {g.workload_id for g in preds} == {"fraud-scoring", "ranking-v2"}
    assert {g.record["client_id"] for g in default_records} == set(GeneratorConfig().clients)


def test_timestamp_formats_and_record_instant(default_records: list[GeneratedRecord]) -> None:
    formats: Counter[str] = Counter()
    for g in default_records:
        ts = g.record["timestamp"]
        if isinstance(ts, str):
            formats["iso_z" if ts.endswith("Z") else "iso_offset"] += 1
        else:
            formats["millis" if ts >= 1e11 else "seconds"] += 1
        instant = record_instant(g.record)
        assert instant is not None and instant.tzinfo is not None
        assert instant.astimezone(UTC).date() == g.day, (ts, g.day)
    assert set(formats) == {"seconds", "millis", "iso_z", "iso_offset"}
    assert min(formats.values()) > 100


def test_record_instant_edge_cases() -> None:
    want = datetime(2024, 11, 20, 12, 0, tzinfo=UTC)
    for ts in (
        1732104000,
        1732104000000,
        "2024-11-20T12:00:00Z",
        "2024-11-20T14:00:00+02:00",
        "2024-11-20T07:00:00.000-05:00",
        1732104000.0,
    ):
        assert record_instant({"timestamp": ts}) == want, ts
    for ts in ("yesterday-ish", "2024-13-45T99:00:00Z", "", None, True, [1], 10**30):
        assert record_instant({"timestamp": ts}) is None, ts
    assert record_instant({}) is None


def test_malformed_share_and_reasons(damaged_records: list[GeneratedRecord]) -> None:
    bad = [g for g in damaged_records if g.expected_reason is not None]
    # Exact count: round-half-up(records_per_day * malformed_fraction) per day = 100 x 3 days.
    assert len(bad) == 300
    per_day = Counter(g.day for g in bad)
    assert set(per_day.values()) == {100}
    reasons = Counter(g.expected_reason for g in bad)
    assert set(reasons) == set(MALFORMED_REASONS)
    assert max(reasons.values()) - min(reasons.values()) <= 1
    # Kind counts stay exact even though incomplete_llm_record forces LLM records.
    kinds = Counter((g.day, g.kind) for g in damaged_records)
    assert all(v == 500 for v in kinds.values())


def test_each_damaged_record_has_its_defect(damaged_records: list[GeneratedRecord]) -> None:
    for g in damaged_records:
        rec, reason = g.record, g.expected_reason
        has_ts = "timestamp" in rec and record_instant(rec) is not None
        has_wl = bool(rec.get("workload_id"))
        is_llm_shape = "request" in rec or "response" in rec
        is_pred_shape = "features" in rec
        if reason is None:
            assert has_ts and has_wl and (is_llm_shape or is_pred_shape)
            continue
        # Exactly one defect: every other check passes.
        assert has_ts == (reason not in ("missing_timestamp", "bad_timestamp")), reason
        assert has_wl == (reason != "missing_workload_id"), reason
        assert rec.get("workload_id", g.workload_id) in (g.workload_id, "", None)
        if reason == "missing_timestamp":
            assert "timestamp" not in rec
        elif reason == "bad_timestamp":
            assert isinstance(rec["timestamp"], str)
        elif reason == "unknown_record_kind":
            assert not is_llm_shape and not is_pred_shape and "payload" in rec
        elif reason == "incomplete_llm_record":
            assert g.kind == KIND_LLM
            assert ("request" in rec) != ("response" in rec)
            assert set(rec) < FLYWHEEL_KEYS
        if reason != "unknown_record_kind":
            assert is_llm_shape or is_pred_shape
        if reason != "incomplete_llm_record" and g.kind == KIND_LLM and is_llm_shape:
            assert "request" in rec and "response" in rec
        if has_ts:
            assert record_instant(rec).date() == g.day  # type: ignore[union-attr]


def test_reasons_cycle_with_five_malformed() -> None:
    cfg = GeneratorConfig(days=1, records_per_day=50, malformed_fraction=0.1)
    bad = [g.expected_reason for g in generate(cfg) if g.expected_reason]
    assert sorted(bad) == sorted(MALFORMED_REASONS)


def test_no_llm_share_skips_incomplete_reason() -> None:
    cfg = GeneratorConfig(days=1, records_per_day=100, llm_share=0.0, malformed_fraction=0.2, llm_workloads=())
    recs = list(generate(cfg))
    assert {g.kind for g in recs} == {KIND_PREDICTION}
    reasons = Counter(g.expected_reason for g in recs if g.expected_reason)
    assert set(reasons) == set(MALFORMED_REASONS) - {"incomplete_llm_record"}
    assert sum(reasons.values()) == 20


def test_average_size(tmp_path: Path) -> None:
    summary = write_jsonl(generate(SMALL), tmp_path / "s.jsonl")
    mean = summary.bytes_written / summary.total
    assert 600 <= mean <= 1600, mean


def test_generate_is_lazy() -> None:
    it = generate(GeneratorConfig(days=1000, records_per_day=1_000_000))
    first = next(it)
    assert first.day == date(2024, 11, 20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days"),
        ({"records_per_day": -1}, "records_per_day"),
        ({"llm_share": 1.5}, "llm_share"),
        ({"llm_share": -0.1}, "llm_share"),
        ({"malformed_fraction": 1.01}, "malformed_fraction"),
        ({"llm_workloads": ()}, "llm_workloads"),
        ({"prediction_workloads": ()}, "prediction_workloads"),
        ({"clients": ()}, "clients"),
        ({"llm_workloads": ("a", "fraud-scoring")}, "unique"),
        ({"start_date": "2024-11-20"}, "start_date"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**kwargs)


def test_config_allows_empty_workloads_when_share_is_zero() -> None:
    GeneratorConfig(llm_share=0.0, llm_workloads=())
    GeneratorConfig(llm_share=1.0, prediction_workloads=())
    recs = list(generate(GeneratorConfig(days=1, records_per_day=10, llm_share=1.0, prediction_workloads=())))
    assert len(recs) == 10 and {g.kind for g in recs} == {KIND_LLM}
    assert list(generate(GeneratorConfig(days=1, records_per_day=0))) == []
