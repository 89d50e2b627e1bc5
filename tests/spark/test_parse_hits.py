"""The Spark parse of each hit's key fields, against expected columns and the Python rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import IngestWindow, MissingColumnsError, parse_hits
from ops.synthetic import GeneratorConfig, generate
from schemas.records import MILLIS_THRESHOLD, classify_record, parse_timestamp

pytestmark = pytest.mark.spark

HITS = T.StructType([T.StructField("event_id", T.StringType(), False), T.StructField("source_json", T.StringType())])
WINDOW = IngestWindow(dt.date(2024, 11, 20), dt.date(2024, 11, 20))


def test_parse_hits_expected_columns(spark):  # type: ignore[no-untyped-def]
    rows = [
        # event_id, source, expected event_ts, status, workload, kind
        ("s", '{"timestamp":1732104000,"workload_id":"w","request":{},"response":{}}',
         dt.datetime(2024, 11, 20, 12), "landed", "w", "llm_interaction"),
        ("ms", '{"timestamp":1732104000500,"workload_id":"w","features":{"a":1}}',
         dt.datetime(2024, 11, 20, 12, 0, 0, 500000), "landed", "w", "prediction"),
        ("iso", '{"timestamp":"2024-11-20T01:30:00+02:00","workload_id":"w","features":{}}',
         dt.datetime(2024, 11, 19, 23, 30), "out_of_window", "w", "prediction"),
        ("float", '{"timestamp":1732104000.25,"workload_id":"w","features":{}}',
         dt.datetime(2024, 11, 20, 12, 0, 0, 250000), "landed", "w", "prediction"),
        ("null", '{"timestamp":null,"workload_id":"w","features":{}}', None, "quarantined:missing_timestamp", "w",
         "prediction"),
        ("word", '{"timestamp":"soon","workload_id":"w","features":{}}', None, "quarantined:bad_timestamp", "w",
         "prediction"),
        ("nowl", '{"timestamp":1732104000,"features":{}}', dt.datetime(2024, 11, 20, 12),
         "quarantined:missing_workload_id", None, "prediction"),
        ("half", '{"timestamp":1732104000,"workload_id":"w","response":{}}', dt.datetime(2024, 11, 20, 12),
         "quarantined:incomplete_llm_record", "w", "prediction"),
        ("none", '{"timestamp":1732104000,"workload_id":"w"}', dt.datetime(2024, 11, 20, 12),
         "quarantined:unknown_record_kind", "w", "prediction"),
    ]  # fmt: skip
    hits_df = spark.createDataFrame([(r[0], r[1]) for r in rows], HITS)
    expected_schema = T.StructType(
        [
            T.StructField("event_id", T.StringType(), False),
            T.StructField("event_ts", T.TimestampType()),
            T.StructField("status", T.StringType()),
            T.StructField("workload_id", T.StringType()),
            T.StructField("record_kind", T.StringType()),
        ]
    )
    expected_df = spark.createDataFrame([(r[0], r[2], r[3], r[4], r[5]) for r in rows], expected_schema)

    actual_df = parse_hits(hits_df, WINDOW, MILLIS_THRESHOLD).select(*expected_schema.names)

    assertDataFrameEqual(actual_df, expected_df)


def test_spark_and_python_rules_agree_on_the_generated_corpus(spark):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=99, days=2, records_per_day=1500, malformed_fraction=0.2)
    generated = {f"r{i}": g for i, g in enumerate(generate(config))}
    window = IngestWindow(config.start_date, config.start_date + dt.timedelta(days=1))
    hits_df = spark.createDataFrame([(k, json.dumps(g.record)) for k, g in generated.items()], HITS)

    parsed = {r["event_id"]: r for r in parse_hits(hits_df, window, MILLIS_THRESHOLD).collect()}

    for key, g in generated.items():
        kind, reason = classify_record(g.record)
        assert reason == g.expected_reason == parsed[key]["reason"], key
        if reason is None:
            assert parsed[key]["record_kind"] == kind == g.kind
            instant = parse_timestamp(g.record["timestamp"])
            assert instant is not None
            assert parsed[key]["event_ts"] == instant.replace(tzinfo=None)
            assert parsed[key]["event_date"] == g.day


def test_parse_hits_names_missing_columns(spark):  # type: ignore[no-untyped-def]
    with pytest.raises(MissingColumnsError, match=r"needs columns \['source_json'\]"):
        parse_hits(spark.createDataFrame([("a",)], "event_id string"), WINDOW, MILLIS_THRESHOLD)


def test_days_elasticsearch_and_spark_disagree_on_are_quarantined_in_the_window_found(spark):  # type: ignore[no-untyped-def]
    window = IngestWindow(dt.date(2024, 1, 1), dt.date(2024, 11, 20))
    rows = [
        # the string "2024": a year to Elasticsearch, 2024 epoch seconds (1970) to Spark
        ("year", '{"timestamp":"2024","workload_id":"w","features":{}}', "quarantined:timestamp_disagrees",
         dt.date(2024, 1, 1)),
        # epoch microseconds: found as millis read as seconds; Spark reads millis (year 56000)
        ("micros", '{"timestamp":1732104000000000,"workload_id":"w","features":{}}',
         "quarantined:timestamp_disagrees", dt.date(2024, 11, 20)),
        ("late", '{"timestamp":"2024-11-21T00:00:01Z","workload_id":"w","features":{}}', "out_of_window",
         dt.date(2024, 11, 21)),
        ("ok", '{"timestamp":1704110400,"workload_id":"w","features":{}}', "landed", dt.date(2024, 1, 1)),
    ]  # fmt: skip
    hits_df = spark.createDataFrame([(r[0], r[1]) for r in rows], HITS)
    parsed = parse_hits(hits_df, window, MILLIS_THRESHOLD).select("event_id", "status", "event_date", "reason")
    assert sorted(tuple(r) for r in parsed.collect()) == sorted(
        (r[0], r[2], r[3], r[2].removeprefix("quarantined:") if r[2].startswith("quarantined:") else None) for r in rows
    )
