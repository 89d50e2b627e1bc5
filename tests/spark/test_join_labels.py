"""Delayed labels × silver.predictions: on-time, late, missing, duplicate, tied and
before-event labels; JSONL and Delta sources; a re-run picks up labels that arrived since."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs import join_labels
from jobs.lib.delta_io import ensure_table, table_version
from jobs.silver.label_join import choose_labels, read_labels, with_unlabeled_cause
from schemas.tables import SILVER_LABELED_EXAMPLES, SILVER_PREDICTIONS
from skewguard.config import Settings, load_settings
from tests.helpers import table

pytestmark = pytest.mark.spark

DAY1, DAY2 = dt.date(2024, 11, 20), dt.date(2024, 11, 21)
NOON = dt.datetime(2024, 11, 20, 12)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)

# event_id -> (request_id, event time)
PREDICTIONS = {
    "on-time": ("req-a", NOON),
    "late": ("req-b", NOON),
    "missing": ("req-c", NOON),
    "duplicate": ("req-d", NOON),
    "before": ("req-e", NOON),
    "mixed": ("req-f", NOON),
    "no-request": (None, NOON),
    "tie": ("req-g", NOON),
    "edges": ("req-h", NOON + 3 * H),
    "day2": ("req-i", NOON + D),
}
# request_id, label, label time (all within a 7-day window unless noted)
LABELS: list[tuple[str | None, float | None, dt.datetime | None]] = [
    ("req-a", 1.0, NOON + 2 * H),
    ("req-b", 1.0, NOON + 8 * D),  # late
    ("req-d", 0.0, NOON + 1 * H),
    ("req-d", 1.0, NOON + 3 * H),  # the newest in the window: wins
    ("req-d", 0.0, NOON + 9 * D),  # newer but late
    ("req-e", 1.0, NOON - H),  # before the prediction
    ("req-f", 1.0, NOON - H),
    ("req-f", 0.0, NOON + 10 * D),
    ("req-g", 0.0, NOON + 5 * H),  # a tie on time: the larger label wins
    ("req-g", 1.0, NOON + 5 * H),
    ("req-h", 0.0, NOON + 3 * H),  # exactly at the event: a candidate
    ("req-h", 1.0, NOON + 3 * H + 7 * D),  # exactly at the window's end: a candidate, and newer
    ("req-i", 0.0, NOON + D + 30 * 60 * dt.timedelta(seconds=1)),
]
EXPECTED = {  # event_id -> (label, label time, cause)
    "on-time": (1.0, NOON + 2 * H, None),
    "late": (None, None, "only_late"),
    "missing": (None, None, "no_label"),
    "duplicate": (1.0, NOON + 3 * H, None),
    "before": (None, None, "only_before_event"),
    "mixed": (None, None, "outside_window"),
    "no-request": (None, None, "no_request_id"),
    "tie": (1.0, NOON + 5 * H, None),
    "edges": (1.0, NOON + 3 * H + 7 * D, None),
    "day2": (0.0, NOON + D + 30 * 60 * dt.timedelta(seconds=1), None),
}


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat() + "Z"


def _label_lines() -> list[dict[str, Any]]:
    """The labels as JSONL lines, their times in the formats accepted (ISO Z, offset, epoch s)."""
    lines = []
    for i, (request_id, label, ts) in enumerate(LABELS):
        assert ts is not None
        epoch = ts.replace(tzinfo=dt.UTC).timestamp()
        when: Any = (_iso(ts), (ts + 2 * H).isoformat() + "+02:00", int(epoch), str(int(epoch)))[i % 4]
        lines.append({"request_id": request_id, "label": label, "label_ts": when})
    return lines


INVALID_LINES = [
    {"request_id": None, "label": 1, "label_ts": _iso(NOON)},
    {"request_id": "req-c", "label": "yes", "label_ts": _iso(NOON + H)},
    {"request_id": "req-c", "label": 1, "label_ts": "soon"},
]


def _write_jsonl(path: Path, lines: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")
    return str(path)


def _prediction_row(event_id: str, request_id: str | None, ts: dt.datetime) -> tuple[Any, ...]:
    values = {
        "event_id": event_id, "event_ts": ts, "event_date": ts.date(), "workload_id": "fraud-scoring",
        "client_id": "web", "request_id": request_id, "model_name": "m", "model_version": "1",
        "transform_hash": "h", "features": {"f001": "1.5", "f029": "ios", "f002": None},
        "outputs": {"score": 0.5}, "sampling_rate": 0.1, "parse_run_id": "parse-1", "parsed_at": NOON,
    }  # fmt: skip
    return tuple(values[c] for c in SILVER_PREDICTIONS.column_names)


@pytest.fixture()
def lake_settings(lakehouse: Path, spark) -> Settings:  # type: ignore[no-untyped-def]
    """A fresh lakehouse holding the predictions above in silver.predictions."""
    settings = load_settings()
    path = ensure_table(spark, settings, SILVER_PREDICTIONS)
    rows = [_prediction_row(eid, req, ts) for eid, (req, ts) in PREDICTIONS.items()]
    spark.createDataFrame(rows, SILVER_PREDICTIONS.spark_schema()).write.format("delta").mode("append").save(path)
    return settings


def _labels_df(spark):  # type: ignore[no-untyped-def]
    schema = "request_id string, label double, label_ts timestamp"
    return spark.createDataFrame(LABELS, schema)


def test_newest_candidate_wins_and_the_rest_get_a_cause(spark):  # type: ignore[no-untyped-def]
    keys_df = spark.createDataFrame(
        [(eid, req, ts) for eid, (req, ts) in PREDICTIONS.items()],
        "event_id string, request_id string, event_ts timestamp",
    )
    expected_df = spark.createDataFrame(
        [(eid, *EXPECTED[eid]) for eid in PREDICTIONS],
        "event_id string, label double, label_ts timestamp, cause string",
    )

    chosen_df = choose_labels(keys_df, _labels_df(spark), window_days=7)
    actual_df = with_unlabeled_cause(keys_df, chosen_df).select("event_id", "label", "label_ts", "cause")

    assertDataFrameEqual(actual_df, expected_df)


def test_read_labels_from_jsonl_and_delta(spark, tmp_path):  # type: ignore[no-untyped-def]
    jsonl = _write_jsonl(tmp_path / "labels.jsonl", _label_lines() + INVALID_LINES)
    expected_df = spark.createDataFrame(
        [(*row, True) for row in LABELS]
        + [
            (None, 1.0, NOON, False),
            ("req-c", None, NOON + H, False),
            ("req-c", 1.0, None, False),
            (None, None, None, False),
        ],
        T.StructType(
            [
                T.StructField("request_id", T.StringType()),
                T.StructField("label", T.DoubleType()),
                T.StructField("label_ts", T.TimestampType()),
                T.StructField("is_valid", T.BooleanType()),
            ]
        ),
    )

    assertDataFrameEqual(read_labels(spark, jsonl), expected_df)

    delta = str(tmp_path / "labels_delta")
    typed = spark.createDataFrame(
        [(r, int(lab), ts) for r, lab, ts in LABELS], "request_id string, label int, label_ts timestamp"
    )
    typed.write.format("delta").save(delta)
    assertDataFrameEqual(read_labels(spark, delta), expected_df.where("is_valid"))


def _examples(spark, settings):  # type: ignore[no-untyped-def]
    return table(spark, settings, "silver.labeled_examples")


def test_join_job_writes_labeled_examples_and_counts_the_rest(spark, lake_settings, tmp_path):  # type: ignore[no-untyped-def]
    _write_jsonl(tmp_path / "labels" / "part-1.jsonl", _label_lines() + INVALID_LINES)
    predictions_version = table_version(spark, lake_settings.lakehouse.table_path("silver.predictions"))

    assert join_labels.main(["--start", str(DAY1), "--end", str(DAY2), "--labels", str(tmp_path / "labels")]) == 0

    examples = _examples(spark, lake_settings)
    assert examples.columns == SILVER_LABELED_EXAMPLES.column_names
    labeled = {eid: exp for eid, exp in EXPECTED.items() if exp[0] is not None}
    assert {r["event_id"]: (r["label"], r["label_ts"], None) for r in examples.collect()} == labeled
    (row,) = examples.where("event_id = 'duplicate'").collect()
    assert (row["label_delay_s"], row["predictions_version"], row["parse_run_id"]) == (
        3 * 3600.0,
        predictions_version,
        "parse-1",
    )
    assert row["features"] == {"f001": "1.5", "f029": "ios", "f002": None}
    (run,) = table(spark, lake_settings, "metrics.job_runs").collect()
    assert (run["status"], run["source_count"], run["landed_count"]) == ("succeeded", 10, 5)
    details = json.loads(run["details_json"])
    assert details["unlabeled"] == {
        "no_label": 1, "no_request_id": 1, "only_before_event": 1, "only_late": 1, "outside_window": 1,
    }  # fmt: skip
    assert (details["labels_read"], details["labels_skipped"]) == (len(LABELS) + 4, 4)
    assert details["by_day_workload"]["2024-11-21|fraud-scoring"] == {"labeled": 1, "predictions": 1}
    assert details["label_window_days"] == 7.0  # conf default

    # a label for the missing prediction arrives; re-joining day 1 picks it up and keeps day 2
    day2 = examples.where(f"event_date = '{DAY2}'").collect()
    _write_jsonl(
        tmp_path / "labels" / "part-2.jsonl", [{"request_id": "req-c", "label": 0, "label_ts": _iso(NOON + D)}]
    )
    assert join_labels.main(["--date", str(DAY1), "--labels", str(tmp_path / "labels")]) == 0

    examples = _examples(spark, lake_settings)
    assert examples.where(f"event_date = '{DAY2}'").collect() == day2
    assert {r["event_id"]: r["label"] for r in examples.collect()} == {
        **{eid: exp[0] for eid, exp in labeled.items()},
        "missing": 0.0,
    }
    assert examples.count() == examples.select("event_id").distinct().count()


def test_delta_labels_and_a_longer_window(spark, lake_settings, tmp_path):  # type: ignore[no-untyped-def]
    delta = str(tmp_path / "labels_delta")
    _labels_df(spark).write.format("delta").save(delta)

    argv = ["--start", str(DAY1), "--end", str(DAY2), "--labels", delta, "--label-window-days", "8.5"]
    assert join_labels.main(argv) == 0

    labels = {r["event_id"]: r["label"] for r in _examples(spark, lake_settings).collect()}
    # with 8.5 days, the label 8 days late counts, and so does the duplicate's — 9 days is still too late
    assert labels == {"on-time": 1.0, "late": 1.0, "duplicate": 1.0, "tie": 1.0, "edges": 1.0, "day2": 0.0}


def test_missing_predictions_table_fails_with_one_line(spark, lakehouse, tmp_path):  # type: ignore[no-untyped-def]
    labels = _write_jsonl(tmp_path / "labels.jsonl", _label_lines())

    assert join_labels.main(["--date", str(DAY1), "--labels", labels]) == 1

    (run,) = table(spark, load_settings(), "metrics.job_runs").collect()
    assert run["status"] == "failed" and "silver.predictions does not exist" in run["error"]
