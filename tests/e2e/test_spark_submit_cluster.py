"""The ingest job through spark-submit on a local standalone cluster (master + worker JVMs)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skewguard.config import load_settings, repo_root
from skewguard.stack import submit_args
from tests.conftest import run_script
from tests.helpers import load_records, table

pytestmark = [pytest.mark.es, pytest.mark.spark, pytest.mark.cluster]

ROOT = repo_root()
DAY = dt.date(2024, 11, 21)
#: as conf/test.yaml sets for local sessions: tiny tables need no adaptive re-planning, no UI
#: and no compiled code
TINY_DATA_CONF = [
    "--conf", "spark.sql.adaptive.enabled=false", "--conf", "spark.ui.enabled=false",
    "--conf", "spark.sql.codegen.wholeStage=false", "--conf", "spark.sql.codegen.factoryMode=NO_CODEGEN",
]  # fmt: skip


@pytest.fixture(scope="module")
def spark_master() -> Iterator[str]:
    was_running = "running" in run_script("scripts/spark_cluster.sh", "status")
    run_script("scripts/spark_cluster.sh", "start")
    yield run_script("scripts/spark_cluster.sh", "url").strip()
    if not was_running:
        run_script("scripts/spark_cluster.sh", "stop")


def _app_dirs() -> set[str]:
    work = ROOT / ".cache" / "spark-cluster" / "work"
    return {p.name for p in work.glob("app-*")} if work.is_dir() else set()


def test_ingest_job_runs_on_a_standalone_cluster(spark_master, settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    noon = int(dt.datetime(2024, 11, 21, 12, tzinfo=dt.UTC).timestamp())
    records = [
        {"event_id": f"c{i}", "timestamp": noon + i, "workload_id": f"wl-{i % 3}", "features": {"f": i}}
        for i in range(300)
    ] + [{"event_id": "bad", "timestamp": "soon", "workload_id": "wl-0", "features": {}}]
    assert load_records(settings, records, tmp_path / "c.jsonl").indexed == 301
    apps_before = _app_dirs()

    spark_submit = Path(sys.executable).parent / "spark-submit"  # pyspark's, in this virtualenv
    cmd = [
        str(spark_submit),
        "--master", spark_master,
        "--driver-memory", "1g",
        "--executor-memory", "1g",
        *TINY_DATA_CONF,
        *submit_args(load_settings("cluster")),
        str(ROOT / "jobs" / "ingest_logs.py"),
        "--date", str(DAY),
        "--profile", "cluster",
    ]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SKEWGUARD_PROFILE", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]

    new_apps = _app_dirs() - apps_before
    assert len(new_apps) == 1, "the job did not run on the cluster's worker"
    (app,) = new_apps
    executor_logs = list((ROOT / ".cache" / "spark-cluster" / "work" / app).glob("*/stderr"))
    assert executor_logs and any("Finished task" in p.read_text() for p in executor_logs)

    bronze = table(spark, settings, "bronze.serving_logs")
    counts = {r["workload_id"]: r["count"] for r in bronze.groupBy("workload_id").count().collect()}
    assert counts == {"wl-0": 100, "wl-1": 100, "wl-2": 100}
    assert [r["reason"] for r in table(spark, settings, "bronze.quarantine").collect()] == ["bad_timestamp"]
    (run,) = table(spark, settings, "metrics.job_runs").collect()
    assert (run["status"], run["source_count"], run["landed_count"]) == ("succeeded", 301, 300)


def test_training_set_job_runs_arrow_transforms_on_the_cluster(spark_master, settings, spark) -> None:  # type: ignore[no-untyped-def]
    """build_training_set through spark-submit: the shared transforms run in the worker's
    Python processes (mapInArrow) and give the vectors the plain-Python code gives."""
    import json

    import numpy as np

    from jobs.lib.delta_io import ensure_table
    from schemas.tables import SILVER_LABELED_EXAMPLES
    from skewguard.artifacts import training_set_dir
    from tests.spark.test_training_set import _examples, _table
    from transforms import FittedPipeline

    rows = _examples(600)
    columns = SILVER_LABELED_EXAMPLES.column_names
    spark.createDataFrame(
        [tuple(r[c] for c in columns) for r in rows], SILVER_LABELED_EXAMPLES.spark_schema()
    ).write.format("delta").mode("append").save(ensure_table(spark, settings, SILVER_LABELED_EXAMPLES))
    apps_before = _app_dirs()
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master", spark_master,
        "--driver-memory", "1g",
        "--executor-memory", "1g",
        *TINY_DATA_CONF,
        *submit_args(load_settings("cluster")),
        str(ROOT / "jobs" / "build_training_set.py"),
        "--date", "2024-11-20", "--workload", "fraud-scoring", "--name", "on-cluster",
        "--profile", "cluster",
    ]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SKEWGUARD_PROFILE", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (app,) = _app_dirs() - apps_before
    executor_logs = [p.read_text() for p in (ROOT / ".cache" / "spark-cluster" / "work" / app).glob("*/stderr")]
    assert any("Finished task" in text for text in executor_logs)

    fitted = FittedPipeline.loads((training_set_dir(settings, "on-cluster") / "pipeline.json").read_text())
    manifest = json.loads((training_set_dir(settings, "on-cluster") / "manifest.json").read_text())
    gold = {
        r["event_id"]: r["features"]
        for r in table(spark, settings, "gold.training_set").where("training_set = 'on-cluster'").collect()
    }
    assert len(gold) == len(rows) == sum(manifest["split_counts"].values())
    got = np.array([gold[r["event_id"]] for r in rows])
    np.testing.assert_array_equal(got, fitted.matrix(_table(rows)))


def test_parity_gate_through_spark_submit(spark_master, settings, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """check_parity as a deploy step on the cluster: exit 0 for the bundle as built, exit 1
    for a copy whose vocabulary was re-ordered (the serving process runs on the driver)."""
    import json
    import shutil

    from tests.spark.parity_data import build_bundle
    from tests.spark.test_parity import _rehash, _reordered_vocabulary

    bundle = build_bundle(spark, settings, tmp_path, n=3000)
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    _reordered_vocabulary(broken)
    _rehash(broken)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SKEWGUARD_PROFILE", None)
    for path, expected in ((bundle, 0), (broken, 1)):
        report_dir = tmp_path / f"report-{path.name}"
        cmd = [
            str(Path(sys.executable).parent / "spark-submit"),
            "--master", spark_master,
            "--driver-memory", "1g",
            "--executor-memory", "1g",
            *TINY_DATA_CONF,
            *submit_args(load_settings("cluster")),
            str(ROOT / "jobs" / "check_parity.py"),
            "--bundle", str(path), "--sample-size", "1000", "--report-dir", str(report_dir),
            "--profile", "cluster",
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == expected, proc.stderr[-4000:]
        report = json.loads((report_dir / "report.json").read_text())
        assert report["examples"] == 1000 and report["passed"] is (expected == 0)
    assert report["divergence"]["step"] == "vocabulary"
