"""generator → loader → Elasticsearch → ingest job → Delta, all real."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs import ingest_logs
from ops.loader import document_id, load_jsonl
from ops.synthetic import GeneratorConfig, generate, write_jsonl
from skewguard.config import Settings
from skewguard.es import connect
from tests.helpers import load_records, table

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY1, DAY2, DAY3 = dt.date(2024, 11, 20), dt.date(2024, 11, 21), dt.date(2024, 11, 22)
LINEAGE = ["ingest_run_id", "ingested_at"]


def _load_generated(settings: Settings, tmp_path: Path, config: GeneratorConfig):  # type: ignore[no-untyped-def]
    records = list(generate(config))
    summary = write_jsonl(records, tmp_path / "logs.jsonl")
    client = connect(settings.elasticsearch)
    try:
        loaded = load_jsonl(client, tmp_path / "logs.jsonl", settings.elasticsearch.index)
    finally:
        client.close()
    assert loaded.indexed == len(records) and loaded.rejected == 0
    return records, summary


def _runs(spark, settings):  # type: ignore[no-untyped-def]
    return table(spark, settings, "metrics.job_runs").orderBy("started_at").collect()


def test_generated_logs_land_per_day_and_workload(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=11, start_date=DAY1, days=3, records_per_day=300, malformed_fraction=0.05)
    records, summary = _load_generated(settings, tmp_path, config)

    assert ingest_logs.main(["--start", str(DAY1), "--end", str(DAY3)]) == 0

    bronze = table(spark, settings, "bronze.serving_logs")
    per_day_workload = {
        f"{r['event_date']}|{r['workload_id']}": r["count"]
        for r in bronze.groupBy("event_date", "workload_id").count().collect()
    }
    assert per_day_workload == summary.to_json()["valid_by_day_workload"]
    kinds = {r["record_kind"]: r["count"] for r in bronze.groupBy("record_kind").count().collect()}
    assert kinds == summary.valid_by_kind

    # the landed source JSON parses back equal to what was indexed, record by record
    indexed = {document_id(g.record): g.record for g in records if g.expected_reason is None}
    landed = {r["event_id"]: json.loads(r["source_json"]) for r in bronze.select("event_id", "source_json").collect()}
    assert landed == indexed

    quarantine = table(spark, settings, "bronze.quarantine")
    reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    assert reasons == summary.malformed_by_reason
    expected_reason = {document_id(g.record): g.expected_reason for g in records if g.expected_reason}
    assert {r["event_id"]: r["reason"] for r in quarantine.collect()} == expected_reason

    (run,) = _runs(spark, settings)
    assert run["status"] == "succeeded" and run["error"] is None
    assert run["source_count"] == len(records) == run["read_count"]
    assert run["landed_count"] + run["quarantined_count"] + run["out_of_window_count"] == run["source_count"]
    assert (run["landed_count"], run["quarantined_count"]) == (sum(kinds.values()), sum(reasons.values()))


def test_rerun_adds_nothing_and_a_second_day_leaves_the_first_untouched(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=5, start_date=DAY1, days=2, records_per_day=200, malformed_fraction=0.05)
    _load_generated(settings, tmp_path, config)

    assert ingest_logs.main(["--date", str(DAY1)]) == 0
    day1_first = table(spark, settings, "bronze.serving_logs").drop(*LINEAGE).cache()
    quarantine_first = table(spark, settings, "bronze.quarantine").drop(*LINEAGE, "window_start", "window_end").cache()
    assert day1_first.count() > 0 and quarantine_first.count() > 0

    assert ingest_logs.main(["--date", str(DAY1)]) == 0
    assertDataFrameEqual(table(spark, settings, "bronze.serving_logs").drop(*LINEAGE), day1_first)
    assertDataFrameEqual(
        table(spark, settings, "bronze.quarantine").drop(*LINEAGE, "window_start", "window_end"), quarantine_first
    )

    day1_rows = table(spark, settings, "bronze.serving_logs").where(F.col("event_date") == DAY1).collect()
    assert ingest_logs.main(["--date", str(DAY2)]) == 0
    bronze = table(spark, settings, "bronze.serving_logs")
    assert sorted(bronze.where(F.col("event_date") == DAY1).collect()) == sorted(day1_rows)  # lineage too
    assert bronze.where(F.col("event_date") == DAY2).count() > 0
    assert bronze.count() == bronze.select("event_id").distinct().count()
    # undated records are found by every window but kept once
    quarantine = table(spark, settings, "bronze.quarantine")
    assert quarantine.count() == quarantine.select("event_id").distinct().count()


def test_malformed_records_are_quarantined_with_their_reason(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    ts = int(dt.datetime(2024, 11, 20, 12, tzinfo=dt.UTC).timestamp())
    good_llm = {"request": {"messages": [{"role": "user", "content": "hi"}]}, "response": {"choices": []}}
    cases = {
        "ok-llm": ({"timestamp": ts, "workload_id": "w", **good_llm}, None),
        "ok-pred": ({"event_id": "ok-pred", "timestamp": ts * 1000, "workload_id": "w", "features": {"f1": 1}}, None),
        "ok-iso": ({"timestamp": "2024-11-20T23:59:59.999Z", "workload_id": "w", "features": {}}, None),
        "no-ts": ({"workload_id": "w", **good_llm}, "missing_timestamp"),
        "null-ts": ({"timestamp": None, "workload_id": "w", **good_llm}, "missing_timestamp"),
        "bad-ts": ({"timestamp": "2024-13-45T99:00:00Z", "workload_id": "w", **good_llm}, "bad_timestamp"),
        "word-ts": ({"timestamp": "yesterday", "workload_id": "w", "features": {}}, "bad_timestamp"),
        "no-wl": ({"timestamp": ts, **good_llm}, "missing_workload_id"),
        "blank-wl": ({"timestamp": ts, "workload_id": "  ", "features": {}}, "missing_workload_id"),
        "no-kind": ({"timestamp": ts, "workload_id": "w", "payload": {"x": 1}}, "unknown_record_kind"),
        "req-only": ({"timestamp": ts, "workload_id": "w", "request": good_llm["request"]}, "incomplete_llm_record"),
        "resp-only": ({"timestamp": ts, "workload_id": "w", "response": {"choices": []}}, "incomplete_llm_record"),
    }
    records = [{**rec, "event_id": key} for key, (rec, _) in cases.items()]
    assert load_records(settings, records, tmp_path / "cases.jsonl").indexed == len(cases)

    assert ingest_logs.main(["--date", str(DAY1)]) == 0

    quarantined = {r["event_id"]: r["reason"] for r in table(spark, settings, "bronze.quarantine").collect()}
    assert quarantined == {key: reason for key, (_, reason) in cases.items() if reason}
    landed = {r["event_id"]: r["record_kind"] for r in table(spark, settings, "bronze.serving_logs").collect()}
    assert landed == {"ok-llm": "llm_interaction", "ok-pred": "prediction", "ok-iso": "prediction"}
    (run,) = _runs(spark, settings)
    assert (run["source_count"], run["landed_count"], run["quarantined_count"]) == (12, 3, 9)
    assert json.loads(run["details_json"])["reasons"] == dict(
        sorted(Counter(reason for _, reason in cases.values() if reason).items())
    )


def test_workload_window_replaces_only_that_workload(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=3, start_date=DAY1, days=1, records_per_day=200)
    _load_generated(settings, tmp_path, config)
    assert ingest_logs.main(["--date", str(DAY1)]) == 0
    before = table(spark, settings, "bronze.serving_logs").where(F.col("workload_id") != "fraud-scoring").collect()

    assert ingest_logs.main(["--date", str(DAY1), "--workload", "fraud-scoring"]) == 0

    bronze = table(spark, settings, "bronze.serving_logs")
    assert sorted(bronze.where(F.col("workload_id") != "fraud-scoring").collect()) == sorted(before)
    assert bronze.count() == 200
    runs = _runs(spark, settings)
    assert runs[-1]["workload_id"] == "fraud-scoring"
    assert runs[-1]["landed_count"] == bronze.where(F.col("workload_id") == "fraud-scoring").count()


def test_late_records_land_exactly_once_with_lookback(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Records indexed after their day was ingested are picked up by the next day's run with
    --lookback-days 1; every record of both days lands exactly once."""
    config = GeneratorConfig(seed=8, start_date=DAY1, days=2, records_per_day=200, malformed_fraction=0.0)
    records = list(generate(config))
    day1 = [g.record for g in records if g.day == DAY1]
    day2 = [g.record for g in records if g.day == DAY2]
    on_time, late = day1[: len(day1) - 40], day1[len(day1) - 40 :]
    load_records(settings, on_time, tmp_path / "on_time.jsonl")
    assert ingest_logs.main(["--date", str(DAY1)]) == 0
    assert table(spark, settings, "bronze.serving_logs").where(F.col("event_date") == DAY1).count() == len(on_time)

    load_records(settings, late + day2, tmp_path / "late_and_day2.jsonl")
    assert ingest_logs.main(["--date", str(DAY2), "--lookback-days", "1"]) == 0
    bronze = table(spark, settings, "bronze.serving_logs")
    counts = {r["event_date"]: r["count"] for r in bronze.groupBy("event_date").count().collect()}
    assert counts == {DAY1: len(day1), DAY2: len(day2)}
    assert bronze.count() == bronze.select("event_id").distinct().count()
    runs = _runs(spark, settings)
    assert (runs[-1]["window_start"], runs[-1]["window_end"]) == (DAY1, DAY2)

    with pytest.raises(SystemExit) as usage:  # a window of its own does not take a lookback
        ingest_logs.main(["--start", str(DAY1), "--end", str(DAY2), "--lookback-days", "1"])
    assert usage.value.code == 2


def test_new_fields_land_and_are_listed_per_day(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Top-level and request keys never seen before break nothing: the records land with
    their exact source, and the summary lists the unknown top-level fields per day."""
    from ops.summary import bronze_summary, format_summary

    config = GeneratorConfig(seed=9, start_date=DAY1, days=1, records_per_day=60, malformed_fraction=0.0)
    records = [g.record for g in generate(config)]
    for k, record in enumerate(records):
        if k % 3 == 0:
            record["region"] = "eu-west"
        if k % 4 == 0:
            record["experiment"] = {"arm": "b", "ratio": 0.5}
        if "request" in record:
            record["request"]["service_tier"] = "priority"  # a request key the mapping never saw
    load_records(settings, records, tmp_path / "new_fields.jsonl")
    assert ingest_logs.main(["--date", str(DAY1)]) == 0
    bronze = table(spark, settings, "bronze.serving_logs")
    assert bronze.count() == len(records)
    stored = {json.dumps(json.loads(r["source_json"]), sort_keys=True) for r in bronze.collect()}
    assert stored == {json.dumps(r, sort_keys=True) for r in records}
    summary = bronze_summary(spark, settings)
    expected = {"region": len(range(0, len(records), 3)), "experiment": len(range(0, len(records), 4))}
    assert summary["unknown_fields"] == {str(DAY1): dict(sorted(expected.items()))}
    assert f"unknown top-level fields on {DAY1} (kept in source_json): experiment" in format_summary(summary)


def test_alias_and_backing_index_reads_land_once_and_disagreeing_days_are_quarantined(  # type: ignore[no-untyped-def]
    spark, settings, es_index, tmp_path, capsys
):
    """Read through an alias, then through its backing index, then after a rollover: each record
    is one bronze row keyed on its concrete index. Timestamps Elasticsearch and Spark place on
    different days are quarantined (``timestamp_disagrees``) by the window Elasticsearch found them in."""
    from ops import cli
    from schemas.records import SKEWGUARD_INDEX_MAPPING
    from skewguard.es import ensure_index

    day = dt.date(2024, 1, 1)
    noon = int(dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC).timestamp())
    first, second = f"{es_index}-000001", f"{es_index}-000002"  # es_index itself is the alias

    def predictions(prefix: str, n: int) -> list[dict]:
        return [
            {"event_id": f"{prefix}{i}", "timestamp": noon + i, "workload_id": "w", "features": {}} for i in range(n)
        ]

    disagreeing = [
        {
            "event_id": "year-only",
            "timestamp": "2024",
            "workload_id": "w",
            "features": {},
        },  # ES: 2024-01-01, Spark: 1970
        {"event_id": "micros", "timestamp": noon * 1_000_000, "workload_id": "w", "features": {}},  # Spark: year 56000
    ]
    client = connect(settings.elasticsearch)
    try:
        ensure_index(client, first, SKEWGUARD_INDEX_MAPPING)
        client.indices.put_alias(index=first, name=es_index, is_write_index=True)
        load_records(settings, predictions("a", 5) + disagreeing, tmp_path / "a.jsonl")

        assert ingest_logs.main(["--date", str(day)]) == 0  # through the alias
        assert ingest_logs.main(["--date", str(day), "--index", first]) == 0  # through the backing index
        bronze = table(spark, settings, "bronze.serving_logs")
        assert sorted((r["event_id"], r["es_index"]) for r in bronze.collect()) == [(f"a{i}", first) for i in range(5)]
        quarantine = {
            r["event_id"]: (r["reason"], r["event_date"]) for r in table(spark, settings, "bronze.quarantine").collect()
        }
        assert quarantine == {"year-only": ("timestamp_disagrees", day), "micros": ("timestamp_disagrees", day)}

        # rollover: new documents go to a new backing index behind the same alias
        ensure_index(client, second, SKEWGUARD_INDEX_MAPPING)
        client.indices.update_aliases(
            actions=[
                {"add": {"index": first, "alias": es_index, "is_write_index": False}},
                {"add": {"index": second, "alias": es_index, "is_write_index": True}},
            ]
        )
        load_records(settings, predictions("b", 3), tmp_path / "b.jsonl")
        assert ingest_logs.main(["--date", str(day)]) == 0
        bronze = table(spark, settings, "bronze.serving_logs")
        assert sorted((r["event_id"], r["es_index"]) for r in bronze.collect()) == sorted(
            [(f"a{i}", first) for i in range(5)] + [(f"b{i}", second) for i in range(3)]
        )
        assert table(spark, settings, "bronze.quarantine").count() == 2

        capsys.readouterr()
        assert cli.main(["reconcile", "--date", str(day), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert sum(r["elasticsearch"] for r in rows) == 10 == sum(r["bronze"] + r["quarantine"] for r in rows)
    finally:
        client.indices.delete(index=[first, second], ignore_unavailable=True)
        client.close()
