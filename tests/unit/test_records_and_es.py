"""Record rules, index mappings, the window query and document ids (no server needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from ops.loader import document_id
from schemas import BRONZE_QUARANTINE, BRONZE_SERVING_LOGS, JOB_RUNS, SKEWGUARD_INDEX_MAPPING, TABLES
from schemas.records import FLYWHEEL_INDEX_MAPPING, QUARANTINE_REASONS, classify_record, parse_timestamp
from skewguard.es import window_query, window_ranges_ms

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1732104000, dt.datetime(2024, 11, 20, 12, tzinfo=UTC)),
        (1732104000500, dt.datetime(2024, 11, 20, 12, 0, 0, 500000, tzinfo=UTC)),
        ("1732104000", dt.datetime(2024, 11, 20, 12, tzinfo=UTC)),
        ("1.7321040005E9", dt.datetime(2024, 11, 20, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-11-20T12:00:00Z", dt.datetime(2024, 11, 20, 12, tzinfo=UTC)),
        ("2024-11-20T14:00:00+02:00", dt.datetime(2024, 11, 20, 12, tzinfo=UTC)),
        ("2024-11-20 12:00:00", dt.datetime(2024, 11, 20, 12, tzinfo=UTC)),
        ("soon", None),
        (True, None),
        (None, None),
        ({"t": 1}, None),
    ],
)
def test_parse_timestamp(value: object, expected: dt.datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_classify_record_reasons() -> None:
    ts = 1732104000
    assert classify_record({"timestamp": ts, "workload_id": "w", "request": {}, "response": {}}) == (
        "llm_interaction",
        None,
    )
    assert classify_record({"timestamp": ts, "workload_id": "w", "features": {}}) == ("prediction", None)
    assert classify_record([1]) == (None, "invalid_json")
    assert classify_record({"workload_id": "w"}) == (None, "missing_timestamp")
    assert classify_record({"timestamp": "x", "workload_id": "w"}) == (None, "bad_timestamp")
    assert classify_record({"timestamp": ts, "workload_id": ""}) == (None, "missing_workload_id")
    assert classify_record({"timestamp": ts, "workload_id": "w", "request": {}}) == (None, "incomplete_llm_record")
    assert classify_record({"timestamp": ts, "workload_id": "w"}) == (None, "unknown_record_kind")
    assert set(QUARANTINE_REASONS) == {
        "invalid_json",
        "missing_timestamp",
        "bad_timestamp",
        "timestamp_disagrees",  # decided against the window Elasticsearch found the record in (parse_hits)
        "missing_workload_id",
        "unknown_record_kind",
        "incomplete_llm_record",
    }


def test_mappings() -> None:
    props = SKEWGUARD_INDEX_MAPPING["properties"]
    assert SKEWGUARD_INDEX_MAPPING["dynamic"] is False
    assert props["request"] == props["response"] == props["features"] == {"type": "object", "enabled": False}
    assert props["workload_id"] == props["client_id"] == {"type": "keyword"}
    assert props["timestamp"]["format"] == "strict_date_optional_time||epoch_second"
    assert FLYWHEEL_INDEX_MAPPING["dynamic"] == "strict"
    assert FLYWHEEL_INDEX_MAPPING["properties"]["timestamp"] == {"type": "date"}


def test_window_ranges_cover_every_reading_of_a_number() -> None:
    day = dt.date(2024, 11, 20)
    lo_ms = 1732060800000
    hi_ms = lo_ms + 86_400_000
    assert window_ranges_ms(day, day) == [
        (lo_ms // 1000, hi_ms // 1000),
        (lo_ms, hi_ms),
        (lo_ms * 1000, hi_ms * 1000),
        (lo_ms * 1_000_000, hi_ms * 1_000_000),  # microseconds read as seconds
    ]
    assert len(window_ranges_ms(dt.date(9000, 1, 1), dt.date(9000, 1, 1))) == 3  # beyond a date field's range
    noon_epoch_s = 1732104000  # indexed as millis under the default date format
    assert any(lo <= noon_epoch_s < hi for lo, hi in window_ranges_ms(day, day))
    with pytest.raises(ValueError, match="before its start"):
        window_ranges_ms(day, day - dt.timedelta(days=1))


def test_window_query_shape() -> None:
    day = dt.date(2024, 11, 20)
    query = window_query(day, day, "fraud-scoring")
    should = query["bool"]["filter"][0]["bool"]["should"]
    assert len(should) == 5 and should[-1] == {"bool": {"must_not": {"exists": {"field": "timestamp"}}}}
    assert query["bool"]["filter"][1] == {"term": {"workload_id": "fraud-scoring"}}
    assert len(window_query(day, day)["bool"]["filter"]) == 1


def test_document_id_is_event_id_or_a_stable_content_hash() -> None:
    assert document_id({"event_id": "abc", "x": 1}) == "abc"
    a = document_id({"x": 1, "y": [1, 2]})
    assert a == document_id({"y": [1, 2], "x": 1}) and len(a) == 32
    assert a != document_id({"x": 2, "y": [1, 2]})


def test_table_schemas_derive_consistently() -> None:
    for schema in TABLES:
        assert schema.arrow_schema().names == schema.column_names
        assert f"### `{schema.name}`" in schema.markdown()
    assert BRONZE_SERVING_LOGS.partition_by == ("event_date", "workload_id")
    assert "reason" in BRONZE_QUARANTINE.column_names and "source_count" in JOB_RUNS.column_names
