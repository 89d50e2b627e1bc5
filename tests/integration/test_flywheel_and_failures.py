"""Data Flywheel records as published, its own strict mapping, and an unreachable cluster."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from jobs import ingest_logs, parse_logs
from jobs.lib.delta_io import table_version
from skewguard.config import repo_root
from tests.helpers import load_records, table

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY = dt.date(2024, 11, 20)
NOON = int(dt.datetime(2024, 11, 20, 12, tzinfo=dt.UTC).timestamp())

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def _flywheel_record(i: int, arguments: object, timestamp: object) -> dict:
    """A record exactly as the Data Flywheel publishes it: five keys, nothing else."""
    return {
        "request": {
            "model": "meta/llama-3.1-8b-instruct",
            "messages": [{"role": "user", "content": f"Weather in Paris? ({i})"}],
            "tools": TOOLS,
            "temperature": 0.2,
            "metadata": {"anything": ["the", "mapping", "does", "not", "declare"], "n": i},
        },
        "response": {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "created": NOON,
            "model": "meta/llama-3.1-8b-instruct",
            "system_fingerprint": "fp_unmapped",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": arguments},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        },
        "timestamp": timestamp,
        "client_id": "aiva",
        "workload_id": "aiva-weather",
    }


def test_flywheel_records_land_unchanged_from_the_flywheel_mapping(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    records = [
        _flywheel_record(0, '{"city": "Paris"}', NOON),  # epoch seconds: indexed as 1970 by this mapping
        _flywheel_record(1, {"city": "Paris"}, NOON + 60),
        _flywheel_record(2, '{"city": "Lyon", "unit": "C"}', (NOON + 120) * 1000),  # epoch millis
        _flywheel_record(3, {"city": "Nice"}, "2024-11-20T23:30:00+00:00"),
        _flywheel_record(4, {"city": "Oslo"}, NOON - 86_400),  # the day before: not in the window
    ]
    result = load_records(settings, records, tmp_path / "flywheel.jsonl", mapping="flywheel")
    assert result.indexed == 5 and result.rejected == 0

    assert ingest_logs.main(["--date", str(DAY)]) == 0

    bronze = table(spark, settings, "bronze.serving_logs").orderBy("event_ts").collect()
    assert [json.loads(r["source_json"]) for r in bronze] == records[:4]
    assert {r["record_kind"] for r in bronze} == {"llm_interaction"}
    assert [r["event_ts"] for r in bronze] == [
        dt.datetime(2024, 11, 20, 12, 0),
        dt.datetime(2024, 11, 20, 12, 1),
        dt.datetime(2024, 11, 20, 12, 2),
        dt.datetime(2024, 11, 20, 23, 30),
    ]
    # and they parse into silver as they are: string and object arguments alike
    assert parse_logs.main(["--date", str(DAY), "--kind", "llm"]) == 0
    silver = table(spark, settings, "silver.llm_interactions").orderBy("event_ts").collect()
    calls = [r["response_message"]["tool_calls"][0] for r in silver]
    assert [c["arguments"] for c in calls] == [
        '{"city":"Paris"}', '{"city":"Paris"}', '{"city":"Lyon","unit":"C"}', '{"city":"Nice"}'
    ]  # fmt: skip
    assert [c["arguments_raw"] for c in calls] == [
        '{"city": "Paris"}', '{"city":"Paris"}', '{"city": "Lyon", "unit": "C"}', '{"city":"Nice"}'
    ]  # fmt: skip
    assert {(r["workload_type"], r["first_tool"], r["prompt_tokens"], r["finish_reason"]) for r in silver} == {
        ("tool_calling", "get_weather", 42, "tool_calls")
    }
    # the strict mapping would have refused an undeclared top-level field: the loader says so
    extra = {**_flywheel_record(9, "{}", NOON), "trace_id": "abc"}
    rejected = load_records(settings, [extra], tmp_path / "extra.jsonl", mapping="flywheel")
    assert (rejected.indexed, rejected.rejected) == (0, 1)
    assert rejected.reject_reasons == {"strict_dynamic_mapping_exception": 1}
    assert rejected.rejected_path is not None and rejected.rejected_path.is_file()


def test_undeclared_fields_are_kept_with_the_skewguard_mapping(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    record = {
        "event_id": "p-1",
        "timestamp": NOON,
        "workload_id": "fraud-scoring",
        "features": {"f001": 0.5, "f002": None, "f003": "FR"},
        "outputs": {"score": 0.91},
        "model": {"name": "fraud", "version": "3", "transform_hash": "ab12", "extra": [1, 2]},
        "trace": {"span_id": "s1", "tags": {"region": "eu"}},
        "new_top_level": 7,
    }
    assert load_records(settings, [record], tmp_path / "p.jsonl").indexed == 1
    assert ingest_logs.main(["--date", str(DAY)]) == 0
    (row,) = table(spark, settings, "bronze.serving_logs").collect()
    assert json.loads(row["source_json"]) == record
    assert (row["event_id"], row["record_kind"], row["client_id"]) == ("p-1", "prediction", None)


def _run_job_subprocess(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.ingest_logs", *args],
        cwd=repo_root(),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_unreachable_elasticsearch_fails_with_one_line_and_leaves_tables(
    spark, settings, tmp_path, monkeypatch, capsys
):  # type: ignore[no-untyped-def]
    record = {"event_id": "e1", "timestamp": NOON, "workload_id": "w", "features": {"a": 1}}
    bad = {"event_id": "e2", "workload_id": "w", "features": {"a": 1}}
    load_records(settings, [record, bad], tmp_path / "one.jsonl")
    assert ingest_logs.main(["--date", str(DAY)]) == 0
    bronze_path = settings.lakehouse.table_path("bronze.serving_logs")
    quarantine_path = settings.lakehouse.table_path("bronze.quarantine")
    versions = (table_version(spark, bronze_path), table_version(spark, quarantine_path))

    capsys.readouterr()
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9299")
    assert ingest_logs.main(["--date", str(DAY)]) == 1  # in this process: its session is warm

    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if " ERROR skewguard" in line]
    assert len(errors) == 1, stderr[-3000:]
    assert "Elasticsearch at http://127.0.0.1:9299 unavailable" in errors[0]
    assert "ConnectionError" in errors[0] or "Connection refused" in errors[0]
    assert (table_version(spark, bronze_path), table_version(spark, quarantine_path)) == versions
    runs = table(spark, settings, "metrics.job_runs").orderBy("started_at").collect()
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    assert "unavailable" in runs[-1]["error"]


def test_bad_configuration_fails_at_start_naming_the_key(tmp_path):  # type: ignore[no-untyped-def]
    proc = _run_job_subprocess(["--date", str(DAY)], {"ELASTICSEARCH_URL": "localhost:9200"})
    assert proc.returncode == 2
    assert "elasticsearch.url (env ELASTICSEARCH_URL): Value error, must start with http:// or https://" in proc.stderr


def test_load_reports_a_bad_byte_by_line_and_keeps_the_rest(settings, tmp_path, capsys):  # type: ignore[no-untyped-def]
    from ops import cli
    from skewguard.es import connect

    good = [json.dumps({"event_id": f"ok-{i}", "timestamp": NOON, "workload_id": "w", "features": {}}) for i in (1, 2)]
    path = tmp_path / "logs.jsonl"
    path.write_bytes(
        good[0].encode()
        + b"\n"
        + b'{"event_id": "bad-\xff", "timestamp": 1}\n'
        + b"not json\n"
        + good[1].encode()
        + b"\n"
    )
    capsys.readouterr()
    assert cli.main(["load", str(path)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "unreadable lines 2, 3" in errors[0], errors
    rejected = [json.loads(line) for line in path.with_suffix(".rejected.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "unparseable_line"), (3, "unparseable_line")]
    assert "not UTF-8" in rejected[0]["detail"] and rejected[0]["text"].startswith('{"event_id": "bad-\\xff"')
    assert rejected[1]["text"] == "not json"
    client = connect(settings.elasticsearch)
    try:
        assert client.count(index=settings.elasticsearch.index)["count"] == 2
    finally:
        client.close()
