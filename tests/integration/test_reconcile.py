"""``skewguard reconcile`` against the real Elasticsearch and lakehouse: generated logs with
malformed records reconcile after ingest; late records show up as a mismatch on their day
(exit 1) until that day is ingested again; a record in bronze twice is reported; a missing
index or reversed dates fail with one line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs import ingest_logs
from ops import cli
from ops.synthetic import GeneratorConfig, generate
from skewguard.es import connect
from tests.helpers import load_records

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY1, DAY2 = dt.date(2024, 11, 20), dt.date(2024, 11, 21)


def _reconcile(capsys, *args: str) -> tuple[int, list[dict]]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = cli.main(["reconcile", "--start", str(DAY1), "--end", str(DAY2), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_reconcile_finds_what_is_not_ingested(spark, settings, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=12, start_date=DAY1, days=2, records_per_day=150, malformed_fraction=0.05)
    generated = list(generate(config))
    late = [g.record for g in generated if g.day == DAY1 and g.expected_reason is None][-25:]
    first = [g.record for g in generated if not any(g.record is r for r in late)]
    load_records(settings, first, tmp_path / "first.jsonl")
    assert ingest_logs.main(["--start", str(DAY1), "--end", str(DAY2)]) == 0

    code, rows = _reconcile(capsys)
    assert code == 0, rows
    assert sum(r["elasticsearch"] for r in rows) == len(first)
    assert sum(r["bronze"] + r["quarantine"] for r in rows) == len(first)
    assert {r["day"] for r in rows} >= {str(DAY1), str(DAY2)}

    load_records(settings, late, tmp_path / "late.jsonl")
    code, rows = _reconcile(capsys)
    assert code == 1
    off = [r for r in rows if r["difference"]]
    assert {r["day"] for r in off} == {str(DAY1)} and sum(r["difference"] for r in off) == len(late)

    assert ingest_logs.main(["--date", str(DAY2), "--lookback-days", "1"]) == 0
    code, rows = _reconcile(capsys)
    assert code == 0 and sum(r["elasticsearch"] for r in rows) == len(first) + len(late)

    # a record whose day changed in the index, ingested on its new day only: in bronze twice, reported
    moved = next(r for r in late if "event_id" in r)
    client = connect(settings.elasticsearch)
    try:
        new_ts = int(dt.datetime.combine(DAY2, dt.time(9), dt.UTC).timestamp())
        client.index(index=settings.elasticsearch.index, id=moved["event_id"], document={**moved, "timestamp": new_ts})
        client.indices.refresh(index=settings.elasticsearch.index)
    finally:
        client.close()
    assert ingest_logs.main(["--date", str(DAY2)]) == 0
    code, rows = _reconcile(capsys)
    doubled = {(r["day"], r["workload_id"]): r["bronze_duplicates"] for r in rows if r["bronze_duplicates"]}
    assert code == 1 and doubled == {(str(DAY1), moved["workload_id"]): 1, (str(DAY2), moved["workload_id"]): 1}
    assert {r["status"] for r in rows if r["bronze_duplicates"]} == {"duplicates"}

    # a missing index, reversed dates: one line, non-zero
    code = cli.main(["reconcile", "--date", str(DAY1), "--index", "no-such-index-19"])
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert code == 1 and len(errors) == 1 and "'no-such-index-19' does not exist" in errors[0], errors
    assert cli.main(["reconcile", "--start", str(DAY2), "--end", str(DAY1)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "before --start" in errors[0], errors


def test_es_retention_deletes_only_old_days_that_landed(spark, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jobs.bronze.es_retention import expire_daily_indices
    from skewguard.es import concrete_indices, daily_index

    base = settings.elasticsearch.index
    config = GeneratorConfig(seed=5, start_date=DAY1, days=2, records_per_day=60, malformed_fraction=0.05)
    records = [g.record for g in generate(config)]
    client = connect(settings.elasticsearch)
    try:
        loaded = load_records(settings, records, tmp_path / "days.jsonl", daily=True)
        day1, day2 = daily_index(base, DAY1), daily_index(base, DAY2)
        assert {day1, day2} <= set(loaded.by_index) and loaded.indexed == len(records)
        assert client.count(index=base)["count"] == len(records)  # the alias reads every day
        assert ingest_logs.main(["--date", str(DAY1)]) == 0  # through the alias; DAY2 never lands

        conf = settings.maintenance.model_copy(update={"es_retention_days": 3})
        as_of = DAY2 + dt.timedelta(days=10)
        done = expire_daily_indices(spark, settings.model_copy(update={"maintenance": conf}), as_of)

        assert done["deleted"] == [day1]
        assert list(done["kept"]) == [day2] and "not in bronze or quarantine" in done["kept"][day2]
        remaining = concrete_indices(client, base)
        assert day1 not in remaining and day2 in remaining
        assert client.count(index=day2)["count"] == loaded.by_index[day2]
        off = expire_daily_indices(spark, settings, as_of)  # retention unset: nothing deleted
        assert "skipped" in off and concrete_indices(client, base) == remaining
    finally:
        client.options(ignore_status=404).indices.delete(index=f"{base}-*")
        client.close()
