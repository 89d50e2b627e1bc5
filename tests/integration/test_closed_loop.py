"""The closed loop end to end on real servers: logs → bronze → silver → labels → training
set → model → bundle → serving with the SDK → Elasticsearch → bronze → silver again."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ops.synthetic import GeneratorConfig, generate, write_jsonl
from ops.synthetic_labels import LabelConfig, synthesize_labels
from schemas.tables import TABLES
from skewguard.config import load_settings
from tests.helpers import load_records

pytestmark = [pytest.mark.es, pytest.mark.spark]


#: the tables one loop writes (``metrics.llm_evaluations`` needs an LLM endpoint, so not here)
LOOP_TABLES = {t.name for t in TABLES} - {"metrics.llm_evaluations", "metrics.llm_evaluation_records"}


def test_closed_loop_serves_the_bundle_and_lands_its_logs(settings, spark, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ops.demo_loop import close_the_loop, format_loop
    from serving.bundle import Bundle

    monkeypatch.setenv("SKEWGUARD_CATALOG", "true")  # the jobs register every table they write by name
    settings = load_settings()

    config = GeneratorConfig(seed=4, start_date=dt.date(2024, 11, 20), days=2, records_per_day=1200)
    log_file = tmp_path / "logs.jsonl"
    write_jsonl(generate(config), log_file)
    load_records(settings, (json.loads(line) for line in log_file.read_text().splitlines()), tmp_path / "es.jsonl")
    from jobs import ingest_logs

    assert ingest_logs.main(["--start", "2024-11-20", "--end", "2024-11-21"]) == 0
    result = close_the_loop(
        spark,
        settings,
        log_file=log_file,
        start=dt.date(2024, 11, 20),
        end=dt.date(2024, 11, 21),
        workload="fraud-scoring",
        serve_requests=200,
        seed=4,
    )
    # the training set holds exactly the fraud-scoring predictions whose label joined
    outcomes = list(
        synthesize_labels(
            (json.loads(line) for line in log_file.read_text().splitlines()),
            LabelConfig(seed=4, window_days=settings.training.label_window_days),
        )
    )
    joined = sum(1 for o in outcomes if o.workload_id == "fraud-scoring" and o.joined_label is not None)
    assert sum(result.training_set["split_counts"].values()) == joined
    assert result.model["metrics"]["validation_auc"] > 0.6
    # every served request was logged and landed under the new model version
    assert result.served == result.logged == result.landed == 200
    # what serving logged is what the bundle computes from the logged features
    bundle = Bundle.load(result.bundle_path)
    rows = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("silver.predictions"))
        .where(f"event_date = DATE'{result.serve_day}' AND model_version = '{bundle.version}'")
        .collect()
    )
    assert {r["transform_hash"] for r in rows} == {bundle.transform_hash}
    bronze = {
        r["event_id"]: json.loads(r["source_json"])
        for r in spark.read.format("delta")
        .load(settings.lakehouse.table_path("bronze.serving_logs"))
        .where(f"event_date = DATE'{result.serve_day}'")
        .collect()
    }
    for r in rows:
        source = bronze[r["event_id"]]
        again = bundle.predict({**source["features"], "event_ts": source["timestamp"]})
        assert source["outputs"] == again
    assert result.parity["passed"] and result.parity["examples"] == sum(result.training_set["split_counts"].values())
    # the loop also built the generated LLM workloads' datasets, with eval sets of the configured size
    gold = spark.read.format("delta").load(settings.lakehouse.table_path("gold.llm_datasets"))
    evals = {
        r["workload_id"]: r["count"] for r in gold.where("split = 'eval'").groupBy("workload_id").count().collect()
    }
    assert evals == dict.fromkeys(config.llm_workloads, settings.llm.eval_size)
    assert result.skew["rows"] == 200 and result.skew["mismatched"] == 0  # served = recomputed from the logs
    # the features drifted on purpose on the served day are in alert against the training set
    alerted = {r["feature"] for r in result.drift if r["status"] == "alert" and r["metric"] == "psi"}
    assert set(result.drifted) <= alerted
    assert Path(result.drift_report).is_file()
    text = format_loop(result)
    assert "validation AUC" in text and "parity gate: PASSED" in text
    # the second candidate was evaluated against the first on the eval split, and gated
    assert any(line.startswith("  roc_auc ") for line in result.evaluation)
    assert any(line.startswith("  promotion gate: ") for line in result.evaluation)
    evaluated = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.evaluations"))
    assert (
        evaluated.where("slice_column = '' AND metric = 'roc_auc'").select("n").distinct().collect()[0]["n"]
        == (result.training_set["split_counts"]["eval"])
    )
    # every table the loop wrote is readable by its documented name, registered at the table's path
    for name in sorted(LOOP_TABLES):
        location = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").where("col_name = 'Location'").first()["data_type"]
        assert location.removeprefix("file:").rstrip("/") == settings.lakehouse.table_path(name), name
    served_by_name = spark.sql(
        f"SELECT count(*) AS n FROM silver.predictions "
        f"WHERE event_date = DATE'{result.serve_day}' AND model_version = '{bundle.version}'"
    )
    assert served_by_name.first()["n"] == len(rows) == 200
