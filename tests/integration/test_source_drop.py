"""Elasticsearch retention or rollover removes documents; ingest never deletes bronze rows
because of it. Real Elasticsearch (documents deleted from the index), Spark and Delta."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from elasticsearch import helpers
from pyspark.sql import functions as F

from jobs import ingest_logs
from ops.loader import document_id
from ops.summary import bronze_summary, format_summary
from ops.synthetic import GeneratorConfig, generate
from skewguard.es import connect
from tests.helpers import load_records, table

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY1, DAY2, DAY3 = dt.date(2024, 11, 20), dt.date(2024, 11, 21), dt.date(2024, 11, 22)


def _delete(settings, ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    client = connect(settings.elasticsearch)
    try:
        # the minimal distribution has no _delete_by_query: delete by id
        actions = [{"_op_type": "delete", "_index": settings.elasticsearch.index, "_id": i} for i in ids]
        helpers.bulk(client, actions, refresh=True)
    finally:
        client.close()


def _bronze_rows(spark, settings):  # type: ignore[no-untyped-def]
    return sorted(table(spark, settings, "bronze.serving_logs").drop("ingest_run_id", "ingested_at").collect())


def _quarantine_ids(spark, settings) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["event_id"] for r in table(spark, settings, "bronze.quarantine").select("event_id").collect()}


def test_elasticsearch_retention_never_deletes_bronze(spark, settings, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=19, start_date=DAY1, days=3, records_per_day=48, malformed_fraction=0.1)
    generated = list(generate(config))
    records = [g.record for g in generated]
    load_records(settings, records, tmp_path / "logs.jsonl")
    assert ingest_logs.main(["--start", str(DAY1), "--end", str(DAY3)]) == 0
    everything = _bronze_rows(spark, settings)
    assert len(everything) == sum(g.expected_reason is None for g in generated)
    quarantined = _quarantine_ids(spark, settings)
    day1_quarantined = {document_id(g.record) for g in generated if g.day == DAY1 and g.expected_reason}
    assert day1_quarantined <= quarantined

    # retention removed day 1 wholly, and part of one workload of day 2
    by_cell: dict[tuple[dt.date, str], list[str]] = {}
    for r in table(spark, settings, "bronze.serving_logs").select("event_date", "workload_id", "event_id").collect():
        by_cell.setdefault((r["event_date"], r["workload_id"]), []).append(r["event_id"])
    day2_cell = sorted(c for c in by_cell if c[0] == DAY2)[0]
    partly = sorted(by_cell[day2_cell])[:2]
    _delete(settings, [document_id(g.record) for g in generated if g.day == DAY1] + partly)

    # the lookback run over them is refused, with one line naming the flag; bronze keeps every row
    capsys.readouterr()
    assert ingest_logs.main(["--date", str(DAY3), "--lookback-days", "2"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert f"{DAY2}|{day2_cell[1]}" in errors[0] and "--allow-source-drop" in errors[0], errors[0]
    assert _bronze_rows(spark, settings) == everything and _quarantine_ids(spark, settings) == quarantined

    # the flag forces it: exactly the deleted documents leave bronze (an erasure request)
    assert ingest_logs.main(["--date", str(DAY2), "--allow-source-drop"]) == 0
    after_erasure = _bronze_rows(spark, settings)
    assert {r["event_id"] for r in everything} - {r["event_id"] for r in after_erasure} == set(partly)

    # day 1 has no documents left: left untouched and reported as kept (its quarantine rows too);
    # a malformed record fixed in the index lands and leaves quarantine
    broken = next(g for g in generated if g.day == DAY3 and g.expected_reason == "missing_workload_id")
    fixed_id = document_id(broken.record)
    client = connect(settings.elasticsearch)
    try:
        fixed = {**broken.record, "workload_id": "fraud-scoring"}
        client.index(index=settings.elasticsearch.index, id=fixed_id, document=fixed, refresh=True)
    finally:
        client.close()
    assert ingest_logs.main(["--date", str(DAY3), "--lookback-days", "2"]) == 0
    stderr = capsys.readouterr().err
    bronze_now = _bronze_rows(spark, settings)
    assert [r for r in bronze_now if r["event_id"] != fixed_id] == after_erasure
    assert {r["event_id"] for r in bronze_now} - {r["event_id"] for r in after_erasure} == {fixed_id}
    assert _quarantine_ids(spark, settings) == quarantined - {fixed_id}
    assert table(spark, settings, "bronze.serving_logs").where(F.col("event_date") == DAY1).count() == sum(
        len(ids) for (day, _), ids in by_cell.items() if day == DAY1
    )
    run = table(spark, settings, "metrics.job_runs").orderBy(F.col("started_at").desc()).first()
    kept = json.loads(run["details_json"])["kept_source_empty"]
    assert set(kept) == {f"{day}|{wl}" for day, wl in by_cell if day == DAY1}
    assert "kept: source empty" in stderr
    assert "kept: source empty" in format_summary(bronze_summary(spark, settings))
