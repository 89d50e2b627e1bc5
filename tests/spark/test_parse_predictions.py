"""bronze prediction rows → silver.predictions / silver.quarantine: the parse step against
expected rows, one failing example per reason code, and the job on real Delta tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs import parse_logs
from jobs.lib.delta_io import ensure_table, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import MissingColumnsError
from jobs.lib.window import DayWindow
from jobs.silver.parse import KINDS, PREDICTIONS, ParseError, parse_predictions, parse_window
from schemas.records import SILVER_QUARANTINE_REASONS
from schemas.tables import BRONZE_SERVING_LOGS, SILVER_PREDICTIONS
from serving.id_map import IdMap
from serving.record_builders import prediction_record
from skewguard.config import Settings, load_settings
from tests.helpers import bronze_df, table

pytestmark = pytest.mark.spark

DAY1, DAY2 = dt.date(2024, 11, 20), dt.date(2024, 11, 21)
NOON = dt.datetime(2024, 11, 20, 12)
MODEL = {"name": "fraud-model", "version": "2024.11.0", "transform_hash": "abc123"}
LINEAGE = ["parse_run_id", "parsed_at"]


def _prediction(**fields: Any) -> dict[str, Any]:
    record = {"model": MODEL, "features": {"f001": 1.5}, "outputs": {"score": 0.25}, "sampling_rate": 0.5}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


def _bronze_row(event_id: str, source: dict[str, Any] | str, **over: Any) -> dict[str, Any]:
    ts = over.pop("event_ts", NOON)
    row = {
        "event_id": event_id, "es_index": "flywheel", "event_ts": ts, "event_date": ts.date(),
        "workload_id": "fraud-scoring", "client_id": "web", "record_kind": "prediction",
        "source_json": source if isinstance(source, str) else json.dumps(source),
        "ingest_run_id": "ingest-1", "ingested_at": NOON,
    }  # fmt: skip
    row.update(over)
    return row


@pytest.fixture()
def lake_settings(lakehouse: Path) -> Settings:
    """Settings on a fresh lakehouse; no Elasticsearch needed."""
    return load_settings()


def _write_bronze(spark, settings: Settings, rows: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    path = ensure_table(spark, settings, BRONZE_SERVING_LOGS)
    bronze_df(spark, rows).write.format("delta").mode("append").save(path)


def test_parse_predictions_expected_rows(spark):  # type: ignore[no-untyped-def]
    full = _prediction(
        request_id="req-1",
        features={"f001": 12.5, "f002": None, "f026": 7, "f029": "ios", "f030": True, "f031": 'a"{b', "f032": 1e3},
        outputs={"score": 0.42, "label": 0},
    )
    sparse = _prediction(model={"name": "m", "version": 3}, features={}, sampling_rate=1)  # no request_id
    rows = [
        _bronze_row("full", json.dumps(full).replace('"f032": 1000.0', '"f032": 1e3')),
        _bronze_row("sparse", sparse, client_id=None, workload_id="ranking-v2"),
        _bronze_row("bad", _prediction(sampling_rate=2)),
    ]
    expected_schema = T.StructType(
        [
            T.StructField("event_id", T.StringType(), False),
            T.StructField("workload_id", T.StringType(), False),
            T.StructField("client_id", T.StringType()),
            T.StructField("request_id", T.StringType()),
            T.StructField("model_name", T.StringType()),
            T.StructField("model_version", T.StringType()),
            T.StructField("transform_hash", T.StringType()),
            T.StructField("features", T.MapType(T.StringType(), T.StringType())),
            T.StructField("outputs", T.MapType(T.StringType(), T.DoubleType())),
            T.StructField("sampling_rate", T.DoubleType()),
            T.StructField("reason", T.StringType()),
            T.StructField("source_json", T.StringType()),
        ]
    )
    features = {
        "f001": "12.5",
        "f002": None,
        "f026": "7",
        "f029": "ios",
        "f030": "true",
        "f031": 'a"{b',
        "f032": "1000.0",
    }
    expected_df = spark.createDataFrame(
        [
            (
                "full",
                "fraud-scoring",
                "web",
                "req-1",
                "fraud-model",
                "2024.11.0",
                "abc123",
                features,
                {"score": 0.42, "label": 0.0},
                0.5,
                None,
                None,
            ),
            ("sparse", "ranking-v2", None, None, "m", "3", None, {}, {"score": 0.25}, 1.0, None, None),
            (
                "bad",
                "fraud-scoring",
                "web",
                None,
                "fraud-model",
                "2024.11.0",
                "abc123",
                {"f001": "1.5"},
                {"score": 0.25},
                2.0,
                "invalid_sampling_rate",
                rows[2]["source_json"],
            ),
        ],  # fmt: skip
        expected_schema,
    )

    actual_df = parse_predictions(bronze_df(spark, rows)).select(*expected_schema.names)

    assertDataFrameEqual(actual_df, expected_df)


# one failing example per reason code (the first rule broken wins)
REASON_CASES: dict[str, tuple[str, dict[str, Any] | str]] = {
    "no-model": ("invalid_model", _prediction(model=...)),
    "null-model": ("invalid_model", _prediction(model=None)),
    "model-string": ("invalid_model", _prediction(model="fraud-model")),
    "no-version": ("invalid_model", _prediction(model={"name": "m", "transform_hash": "h"})),
    "blank-name": ("invalid_model", _prediction(model={"name": " ", "version": "1"})),
    "nested-name": ("invalid_model", _prediction(model={"name": {"id": "m"}, "version": "1"})),
    "unknown-id-map": ("invalid_id_map", _prediction(id_map="0123456789abcdef", model={"name": "m", "version": "1"})),
    "numeric-id-map": ("invalid_id_map", _prediction(id_map=7)),
    "nested-feature": ("invalid_features", _prediction(features={"f001": {"value": 1}})),
    "array-feature": ("invalid_features", _prediction(features={"f001": [1, 2]})),
    "repeated-id": ("invalid_features", json.dumps(_prediction()).replace('"f001": 1.5', '"f001": 1, "f001": 2')),
    "no-outputs": ("invalid_outputs", _prediction(outputs=...)),
    "empty-outputs": ("invalid_outputs", _prediction(outputs={})),
    "text-output": ("invalid_outputs", _prediction(outputs={"score": "high"})),
    "null-output": ("invalid_outputs", _prediction(outputs={"score": None})),
    "nan-output": ("invalid_outputs", _prediction(outputs={"score": "NaN"})),
    "no-rate": ("invalid_sampling_rate", _prediction(sampling_rate=...)),
    "zero-rate": ("invalid_sampling_rate", _prediction(sampling_rate=0)),
    "text-rate": ("invalid_sampling_rate", _prediction(sampling_rate="0.5")),
    "over-one": ("invalid_sampling_rate", _prediction(sampling_rate=1.01)),
    "ok-rate-one": (None, _prediction(sampling_rate=1)),  # type: ignore[dict-item]
}


def test_each_reason_has_a_failing_example(spark):  # type: ignore[no-untyped-def]
    prediction_reasons = {k for k, v in SILVER_QUARANTINE_REASONS.items() if v.startswith("prediction:")}
    assert {reason for reason, _ in REASON_CASES.values()} - {None} == prediction_reasons  # LLM: test_llm_datasets
    rows = [_bronze_row(key, source) for key, (_, source) in REASON_CASES.items()]

    parsed = {r["event_id"]: r["reason"] for r in parse_predictions(bronze_df(spark, rows)).collect()}

    assert parsed == {key: reason for key, (reason, _) in REASON_CASES.items()}


def test_a_minimised_record_parses_to_the_full_records_silver_row(spark, tmp_path):  # type: ignore[no-untyped-def]
    id_map = IdMap.build(["account_age_days", "country", "device", "txn_amount"],
                         {"country": ["US", "FR", "DE"], "device": ["mobile", "desktop"]})  # fmt: skip
    full = [
        {"account_age_days": 12.5, "country": "FR", "device": None, "txn_amount": 3},
        {"country": "JP", "device": "desktop", "unmapped_feature": "x"},  # a new label, an unmapped name
        {"txn_amount": None},
    ]
    settings = load_settings()
    settings = settings.model_copy(update={"serving": settings.serving.model_copy(update={"id_maps_dir": tmp_path})})
    id_map.save(tmp_path)
    IdMap.build(["other"]).save(tmp_path)  # a second map in the folder must not interfere
    rows = []
    for i, features in enumerate(full):
        minimised = prediction_record(workload_id="fraud-scoring", features=features, outputs={"score": 0.25},
                                      model=MODEL, sampling_rate=0.5, id_map=id_map)  # fmt: skip
        assert minimised["features"] != features and minimised["id_map"] == id_map.map_id
        assert id_map.expand(minimised["features"]) == features
        rows += [_bronze_row(f"full-{i}", _prediction(features=features)), _bronze_row(f"min-{i}", minimised)]

    parsed = {r["event_id"]: r.asDict() for r in parse_predictions(bronze_df(spark, rows), settings).collect()}

    assert len(parsed) == 2 * len(full)
    for i in range(len(full)):
        full_row, minimised_row = parsed.pop(f"full-{i}"), parsed.pop(f"min-{i}")
        assert full_row["reason"] is None and minimised_row["reason"] is None
        assert {k: v for k, v in minimised_row.items() if k != "event_id"} == {
            k: v for k, v in full_row.items() if k != "event_id"
        }
    assert parsed == {}
    assert json.loads(id_map.to_json())["features"]["country"] == "1"  # the documented id map


def test_parse_predictions_names_missing_columns(spark):  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([("e", "{}")], "event_id string, source_json string")
    with pytest.raises(MissingColumnsError, match="parse_predictions needs columns"):
        parse_predictions(df)


def _window_rows() -> list[dict[str, Any]]:
    day2 = dt.datetime(2024, 11, 21, 8)
    return [
        _bronze_row("d1-fraud", _prediction(request_id="r1")),
        _bronze_row("d1-fraud-bad", _prediction(outputs=...)),
        _bronze_row("d1-rank", _prediction(request_id="r2"), workload_id="ranking-v2"),
        _bronze_row("d2-fraud", _prediction(request_id="r3"), event_ts=day2),
        _bronze_row("d2-rank-bad", _prediction(model=None), event_ts=day2, workload_id="ranking-v2"),
        _bronze_row("d1-llm", {"request": {}, "response": {}}, record_kind="llm_interaction"),
        _bronze_row("d0-fraud", _prediction(), event_ts=dt.datetime(2024, 11, 19, 23)),
    ]


def _silver(spark, settings):  # type: ignore[no-untyped-def]
    return table(spark, settings, "silver.predictions"), table(spark, settings, "silver.quarantine")


def test_parse_job_writes_the_window_and_reruns_replace_exactly_their_window(spark, lake_settings):  # type: ignore[no-untyped-def]
    _write_bronze(spark, lake_settings, _window_rows())

    assert parse_logs.main(["--start", str(DAY1), "--end", str(DAY2), "--kind", "predictions"]) == 0

    predictions, quarantine = _silver(spark, lake_settings)
    assert sorted(r["event_id"] for r in predictions.collect()) == ["d1-fraud", "d1-rank", "d2-fraud"]
    assert {r["event_id"]: (r["reason"], r["record_kind"]) for r in quarantine.collect()} == {
        "d1-fraud-bad": ("invalid_outputs", "prediction"),
        "d2-rank-bad": ("invalid_model", "prediction"),
    }
    assert predictions.columns == SILVER_PREDICTIONS.column_names
    (run,) = table(spark, lake_settings, "metrics.job_runs").collect()
    assert (run["status"], run["source_count"], run["landed_count"], run["quarantined_count"]) == ("succeeded", 5, 3, 2)
    details = json.loads(run["details_json"])
    assert details["by_day_workload"] == {
        "2024-11-20|fraud-scoring": {"bronze": 2, "parsed": 1, "quarantined": 1, "superseded": 0},
        "2024-11-20|ranking-v2": {"bronze": 1, "parsed": 1, "quarantined": 0, "superseded": 0},
        "2024-11-21|fraud-scoring": {"bronze": 1, "parsed": 1, "quarantined": 0, "superseded": 0},
        "2024-11-21|ranking-v2": {"bronze": 1, "parsed": 0, "quarantined": 1, "superseded": 0},
    }
    assert details["reasons"] == {"invalid_model": 1, "invalid_outputs": 1}
    assert run["output_version"] == table_version(spark, lake_settings.lakehouse.table_path("silver.predictions"))

    # the same window again: the same rows, all rewritten by the new run
    first_predictions, first_quarantine = (df.drop(*LINEAGE).cache() for df in _silver(spark, lake_settings))
    assert parse_logs.main(["--start", str(DAY1), "--end", str(DAY2), "--kind", "predictions"]) == 0
    predictions, quarantine = _silver(spark, lake_settings)
    assertDataFrameEqual(predictions.drop(*LINEAGE), first_predictions)
    assertDataFrameEqual(quarantine.drop(*LINEAGE), first_quarantine)
    assert predictions.select("parse_run_id").distinct().count() == 1

    # one day × workload: its record that failed is fixed upstream (re-ingested), then re-parsed
    outside = ~((F.col("event_date") == DAY1) & (F.col("workload_id") == "fraud-scoring"))
    before = predictions.where(outside).collect(), quarantine.where(outside).collect()
    path = lake_settings.lakehouse.table_path("bronze.serving_logs")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE event_id = 'd1-fraud-bad'")
    _write_bronze(spark, lake_settings, [_bronze_row("d1-fraud-bad", _prediction(request_id="r9"))])
    assert parse_logs.main(["--date", str(DAY1), "--workload", "fraud-scoring", "--kind", "predictions"]) == 0

    predictions, quarantine = _silver(spark, lake_settings)
    assert sorted(predictions.where(outside).collect()) == sorted(before[0])
    assert sorted(quarantine.where(outside).collect()) == sorted(before[1])
    assert sorted(r["event_id"] for r in predictions.where(~outside).collect()) == ["d1-fraud", "d1-fraud-bad"]
    assert quarantine.where(~outside).count() == 0


def test_counts_that_do_not_reconcile_commit_nothing(spark, lake_settings):  # type: ignore[no-untyped-def]
    _write_bronze(spark, lake_settings, _window_rows())

    def lossy_parse(bronze_df, settings):  # type: ignore[no-untyped-def]  # a parse step that loses a record
        return parse_predictions(bronze_df, settings).where(F.col("event_id") != "d1-rank")

    lossy = dataclasses.replace(PREDICTIONS, parse=lossy_parse)
    with pytest.raises(ParseError, match=r"2024-11-20\|ranking-v2: bronze holds 1 rows .* 0 parsed"):
        parse_window(spark, lake_settings, DayWindow(DAY1, DAY2), RunRecord(job="parse_logs"), lossy)

    for name in ("silver.predictions", "silver.quarantine"):
        assert not DeltaTable.isDeltaTable(spark, lake_settings.lakehouse.table_path(name))


def test_missing_bronze_fails_with_one_line_and_is_recorded(spark, lake_settings):  # type: ignore[no-untyped-def]
    assert parse_logs.main(["--date", str(DAY1)]) == 1

    runs = table(spark, lake_settings, "metrics.job_runs").collect()
    assert sorted(json.loads(r["details_json"])["kind"] for r in runs) == ["llm", "predictions"]  # both kinds tried
    for run in runs:
        assert run["status"] == "failed" and "bronze.serving_logs does not exist" in run["error"]
        assert "\n" not in run["error"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--date", "2024-11-20", "--kind", "images"],
        ["--start", "2024-11-20"],
        ["--start", "2024-11-21", "--end", "2024-11-20"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_logs.main(argv)
    assert exc.value.code == 2


def test_the_job_offers_exactly_the_implemented_kinds() -> None:
    assert set(parse_logs.KIND_NAMES) == set(KINDS)


def test_silver_holds_one_row_per_event_id_newest_ingest_wins(spark, lake_settings):  # type: ignore[no-untyped-def]
    """A record in bronze twice — in two backing indices, or on a new day and workload after its
    timestamp and workload changed and it was ingested again — is one silver row: the newest ingest's."""
    later = NOON + dt.timedelta(hours=1)
    _write_bronze(
        spark,
        lake_settings,
        [
            _bronze_row("moved", _prediction(request_id="first")),
            _bronze_row("twin", _prediction(request_id="old"), es_index="flywheel-000001"),
            _bronze_row("twin", _prediction(request_id="new"), es_index="flywheel-000002", ingested_at=later),
        ],
    )
    day1, day2 = DayWindow(DAY1, DAY1), DayWindow(DAY2, DAY2)

    def parse(window: DayWindow) -> dict[str, Any]:
        run = parse_window(spark, lake_settings, window, RunRecord(job="parse_logs"))
        return json.loads(json.dumps(run.details["by_day_workload"]))

    def silver() -> list[tuple[str, dt.date, str, str]]:
        rows = table(spark, lake_settings, "silver.predictions").collect()
        return sorted((r["event_id"], r["event_date"], r["workload_id"], r["request_id"]) for r in rows)

    assert parse(day1)["2024-11-20|fraud-scoring"] == {"bronze": 3, "parsed": 2, "quarantined": 0, "superseded": 1}
    assert silver() == [("moved", DAY1, "fraud-scoring", "first"), ("twin", DAY1, "fraud-scoring", "new")]

    # its timestamp and workload changed in the index, and its new day was ingested
    moved = _bronze_row(
        "moved", _prediction(request_id="second"), event_ts=NOON + dt.timedelta(days=1), workload_id="ranking-v2",
        ingested_at=later,
    )  # fmt: skip
    _write_bronze(spark, lake_settings, [moved])
    parse(day2)
    assert silver() == [("moved", DAY2, "ranking-v2", "second"), ("twin", DAY1, "fraud-scoring", "new")]
    assert parse(day1)["2024-11-20|fraud-scoring"]["superseded"] == 2  # the old copy stays out
    assert silver() == [("moved", DAY2, "ranking-v2", "second"), ("twin", DAY1, "fraud-scoring", "new")]
