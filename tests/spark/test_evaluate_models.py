"""Candidates against production on labelled served rows, with the project's own jobs on real
Delta tables: every metric equals scikit-learn's on the same rows (to 1e-9); the production
bundle as its own candidate differs by exactly 0 and passes the gate; a worse model fails it
naming the metric; a bundle with transform skew fails it through its parity gate."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from jobs.gold.training_set import TIME_COLUMN
from jobs.parity.replay_client import request_from_logged
from serving.bundle import Bundle
from skewguard.config import load_settings
from tests.html.chromium import dump_dom
from tests.spark.parity_data import DAY, WORKLOAD, build_bundle
from tests.spark.test_parity import _rehash, _reordered_vocabulary, _tracked

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def settings(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        mp.setenv("SKEWGUARD_MLFLOW_ENABLED", "true")  # the evaluation's run is read back from MLflow
        yield load_settings()


@pytest.fixture(scope="module")
def bundles(spark, settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Production (fraud v1), a worse model on the same transforms (v2: heavily regularised)
    and production with a reordered vocabulary (skew); each checked by the parity gate."""
    from jobs.build_training_set import main as build  # noqa: F401  (built by build_bundle)
    from jobs.check_parity import main as check_parity
    from jobs.train_reference_model import main as train
    from ops.build_bundle import build_named_bundle

    production = build_bundle(spark, settings, tmp_path_factory.mktemp("spec"), n=2000)
    assert train(["--training-set", "pt", "--name", "fraud", "--version", "v2", "--reg-param", "50"]) == 0
    worse = build_named_bundle(settings, "fraud", "v2").path
    skewed = tmp_path_factory.mktemp("skewed") / "fraud-v1-skewed"
    shutil.copytree(production, skewed)
    _reordered_vocabulary(skewed)
    _rehash(skewed)
    reports = tmp_path_factory.mktemp("parity")
    outcomes = [
        check_parity(["--bundle", str(b), "--sample-size", "300", "--report-dir", str(reports / b.name)])
        for b in (production, worse, skewed)
    ]
    assert outcomes == [0, 0, 1]
    return {"production": production, "worse": worse, "skewed": skewed}


def _evaluate(*args: str) -> int:
    from jobs.evaluate_models import main

    return main(["--date", str(DAY), "--workload", WORKLOAD, *args])


def _latest_rows(spark, settings) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.evaluations"))
    latest = df.agg(F.max("evaluated_at")).first()[0]
    return [r.asDict() for r in df.where(F.col("evaluated_at") == F.lit(latest)).collect()]


def _scores(spark, settings, folder: Path) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """The bundle's scores of the window's labelled rows, computed here in plain Python."""
    bundle = Bundle.load(folder)
    df = spark.read.format("delta").load(settings.lakehouse.table_path("silver.labeled_examples"))
    rows = sorted(df.select("event_id", "features", "event_ts", "label").collect(), key=lambda r: r["event_id"])
    requests = [request_from_logged(dict(r["features"]), bundle.inputs, r["event_ts"], TIME_COLUMN) for r in rows]
    return bundle.evaluate(requests)[1], np.array([r["label"] for r in rows])


class _Page(HTMLParser):
    """Every element id, and the gate table's decision cells, as Chromium serialised the page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()
        self.decisions: list[str] = []
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids[a["id"] or ""] += 1
        if tag == "td" and a.get("class") in ("pass", "fail"):
            self._cell = a["class"]

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.decisions.append(data.strip())
            self._cell = None


@pytest.mark.browser
def test_candidates_are_scored_like_scikit_learn_and_gated(spark, settings, bundles) -> None:  # type: ignore[no-untyped-def]
    production, worse, skewed = bundles["production"], bundles["worse"], bundles["skewed"]
    code = _evaluate(
        "--production", str(production), "--candidate", str(production), "--candidate", str(worse),
        "--candidate", str(skewed), "--gate",
    )  # fmt: skip
    assert code == 1
    rows = _latest_rows(spark, settings)
    whole = [r for r in rows if r["slice_column"] == ""]
    by = {(r["bundle_role"], r["bundle_path"], r["metric"]): r for r in whole}
    for role, folder in (("production", production), ("candidate", worse)):
        scores, labels = _scores(spark, settings, folder)
        expected = {
            "roc_auc": roc_auc_score(labels, scores),
            "pr_auc": average_precision_score(labels, scores),
            "log_loss": log_loss(labels, scores),
            "brier_score": brier_score_loss(labels, scores),
        }
        for metric, value in expected.items():
            row = by[(role, str(folder), metric)]
            assert row["value"] == pytest.approx(value, abs=1e-9), (role, metric)
            assert row["ci_low"] <= row["value"] <= row["ci_high"], (role, metric)
            assert row["n"] == labels.size and row["positives"] == int(labels.sum())
            assert row["replicates"] == 200
    # production as its own candidate: the very same rows and weights, every difference exactly 0
    same = [r for r in whole if r["bundle_role"] == "candidate" and r["bundle_path"] == str(production)]
    assert len(same) == 8
    for r in same:
        assert (r["diff_vs_production"], r["diff_ci_low"], r["diff_ci_high"]) == (0.0, 0.0, 0.0), r["metric"]
    # the over-regularised model's scores crowd the base rate: log loss rises past its margin
    assert by[("candidate", str(worse), "log_loss")]["diff_ci_low"] > 0.01

    from jobs.evaluate.promotion_gate import gate_decisions

    decisions = {
        d.candidate: d
        for d in gate_decisions(rows, settings, {str(production): True, str(worse): True, str(skewed): False})
    }
    assert decisions[str(production)].passed and decisions[str(production)].failures == []
    assert not decisions[str(worse)].passed
    assert any("log_loss" in line and "margin 0.01" in line for line in decisions[str(worse)].failures)
    assert not decisions[str(skewed)].passed
    assert any("parity gate failed" in line for line in decisions[str(skewed)].failures)

    # the report as a browser renders it: self-contained, the gate's three decisions, one ROC
    # and one calibration line per bundle, and no id twice
    report = sorted(settings.evaluation_report_root().glob("*/report.html"))[-1]
    html = report.read_text()
    assert "<script" not in html and "<link" not in html
    assert not [u for u in re.findall(r"https?://[^\s\"')]+", html) if not u.startswith("http://www.w3.org/")]
    page = _Page()
    page.feed(dump_dom(report))
    assert page.decisions == ["PASS", "FAIL", "FAIL"]
    for b in range(4):
        assert page.ids[f"scope0-rocchart-roc-{b}"] == 1 and page.ids[f"scope0-calchart-calibration-{b}"] == 1, b
    assert [i for i, n in page.ids.items() if n > 1] == []


def test_the_production_bundle_against_itself_passes_and_bad_usage_exits_2(spark, settings, bundles) -> None:  # type: ignore[no-untyped-def]
    production = bundles["production"]
    assert _evaluate("--production", str(production), "--candidate", str(production), "--gate", "--by", "day") == 0
    rows = _latest_rows(spark, settings)
    assert {str(r["event_date"]) for r in rows} == {str(DAY), "None"}
    # the same run in MLflow: the bundles as params, the window's metrics of each, the report
    client, run = _tracked(settings, "evaluate_models", rows[0]["run_id"])
    params = run.data.params
    assert (params["production"], params["candidate1"], params["workload_id"]) == (str(production),) * 2 + (WORKLOAD,)
    whole = {(r["bundle_role"], r["metric"]): r for r in rows if r["event_date"] is None and r["slice_column"] == ""}
    for metric in ("roc_auc", "pr_auc", "log_loss", "brier_score"):
        assert run.data.metrics[f"metrics.{WORKLOAD}.production.{metric}"] == whole[("production", metric)]["value"]
        assert run.data.metrics[f"metrics.{WORKLOAD}.candidate1.{metric}"] == whole[("candidate", metric)]["value"]
        assert run.data.metrics[f"metrics.{WORKLOAD}.candidate1.{metric}_diff_vs_production"] == 0.0
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report")] == ["report/report.html"]
    # a candidate that is neither a folder nor a built bundle: could not run, nothing written
    before = len(_latest_rows(spark, settings))
    assert _evaluate("--production", str(production), "--candidate", "nowhere/v9") == 2
    assert _evaluate("--production", str(production), "--candidate", "not a bundle") == 2
    assert len(_latest_rows(spark, settings)) == before
    assert json.loads(rows[0]["details_json"])["spec"] == str(production)
