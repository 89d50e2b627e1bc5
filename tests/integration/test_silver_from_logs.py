"""generated logs → Elasticsearch → ingest → parse → synthetic labels → join, all real: the
silver counts equal the log generator's and the label generator's ground truth exactly."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pyspark.sql import functions as F

from jobs import ingest_logs, join_labels, parse_logs
from ops.loader import document_id, load_jsonl
from ops.synthetic import KIND_PREDICTION, GeneratorConfig, generate, write_jsonl
from ops.synthetic_labels import LabelConfig, read_records, synthesize_labels, write_labels
from skewguard.es import connect
from tests.helpers import table

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY1, DAY2 = dt.date(2024, 11, 20), dt.date(2024, 11, 21)
WINDOW = ["--start", str(DAY1), "--end", str(DAY2)]


def _same_value(silver: str | None, logged: Any) -> bool:
    """A silver feature text against the logged JSON value (numbers may be re-rendered: 1e-4 → 1.0E-4)."""
    if logged is None or isinstance(logged, str):
        return silver == logged
    return silver is not None and float(silver) == float(logged)


def _last_run(spark, settings, job: str, kind: str | None = None) -> Any:  # type: ignore[no-untyped-def]
    runs = table(spark, settings, "metrics.job_runs").where(F.col("job") == job).orderBy("started_at").collect()
    return [r for r in runs if kind is None or json.loads(r["details_json"]).get("kind") == kind][-1]


def test_generated_logs_to_labeled_examples(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(seed=21, start_date=DAY1, days=2, records_per_day=300, malformed_fraction=0.05)
    generated = list(generate(config))
    logs = tmp_path / "logs.jsonl"
    generated_summary = write_jsonl(generated, logs)
    client = connect(settings.elasticsearch)
    try:
        assert load_jsonl(client, logs, settings.elasticsearch.index).rejected == 0
    finally:
        client.close()

    assert ingest_logs.main(WINDOW) == 0
    assert parse_logs.main(WINDOW) == 0

    predictions = table(spark, settings, "silver.predictions")
    per_day_workload = {
        f"{r['event_date']}|{r['workload_id']}": r["count"]
        for r in predictions.groupBy("event_date", "workload_id").count().collect()
    }
    expected = {
        key: n
        for key, n in generated_summary.to_json()["valid_by_day_workload"].items()
        if key.split("|")[1] in config.prediction_workloads
    }
    assert per_day_workload == expected
    assert table(spark, settings, "silver.quarantine").count() == 0
    parse_run = _last_run(spark, settings, "parse_logs", "predictions")
    assert (parse_run["source_count"], parse_run["landed_count"]) == (sum(expected.values()), sum(expected.values()))
    # the same run parsed the generated LLM records too, every one of them valid
    llm = table(spark, settings, "silver.llm_interactions").groupBy("event_date", "workload_id").count().collect()
    assert {f"{r['event_date']}|{r['workload_id']}": r["count"] for r in llm} == {
        key: n
        for key, n in generated_summary.to_json()["valid_by_day_workload"].items()
        if key.split("|")[1] in config.llm_workloads
    }
    # every feature vector exactly as logged
    logged = {
        document_id(g.record): g.record for g in generated if g.kind == KIND_PREDICTION and g.expected_reason is None
    }
    for row in predictions.select("event_id", "features", "outputs", "model_version", "request_id").collect():
        record = logged[row["event_id"]]
        assert row["features"].keys() == record["features"].keys()
        assert all(_same_value(row["features"][k], v) for k, v in record["features"].items()), row["event_id"]
        assert row["outputs"] == {k: float(v) for k, v in record["outputs"].items()}
        assert (row["model_version"], row["request_id"]) == (record["model"]["version"], record["request_id"])

    labels_config = LabelConfig(seed=5, window_days=settings.training.label_window_days)
    label_summary = write_labels(read_records(logs), tmp_path / "labels.jsonl", labels_config)
    assert join_labels.main([*WINDOW, "--labels", str(tmp_path / "labels.jsonl")]) == 0

    examples = table(spark, settings, "silver.labeled_examples")
    joined = {
        f"{r['event_date']}|{r['workload_id']}": r["count"]
        for r in examples.groupBy("event_date", "workload_id").count().collect()
    }
    assert joined == label_summary.joined_by_day_workload
    join_run = _last_run(spark, settings, "join_labels")
    details = json.loads(join_run["details_json"])
    assert details["predictions"] == label_summary.predictions == sum(expected.values())
    assert details["labeled"] == join_run["landed_count"] == label_summary.joined
    assert details["unlabeled"] == label_summary.unlabeled_by_cause
    assert details["labels_read"] == label_summary.label_rows and details["labels_skipped"] == 0
    truth = {o.request_id: o.joined_label for o in synthesize_labels(read_records(logs), labels_config)}
    assert {r["request_id"]: r["label"] for r in examples.select("request_id", "label").collect()} == {
        request_id: float(label) for request_id, label in truth.items() if label is not None
    }
    assert examples.where(F.col("label_delay_s") < 0).count() == 0
