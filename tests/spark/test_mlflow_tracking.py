"""MLflow tracking of a run record, on a real local file store read back with MlflowClient:
params, metrics, tags and report artifacts as the module says; a store that cannot be written
is a warning, not an error; off by default. And the MLflow command without MLflow installed
is one line naming the extra; a pyfunc input's missing values are absent keys for the bundle.
(Here, not in ``unit/``: MLflow imports pyspark whenever it is installed.)"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from jobs.lib.runs import RunRecord
from jobs.lib.tracking import track_run
from ops.cli import main as cli
from skewguard.config import Settings, load_settings

mlflow_tracking = pytest.importorskip("mlflow.tracking")


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env={"SKEWGUARD_LAKEHOUSE": str(tmp_path / "lake"), "SKEWGUARD_MLFLOW_ENABLED": "true", **env})


def _record(tmp_path: Path, **kwargs: object) -> RunRecord:
    report = tmp_path / "parity-report"
    report.mkdir()
    (report / "report.html").write_text("<h1>Parity PASSED</h1>")
    (report / "report.json").write_text("{}")
    (report / "requests.tsv").write_text("the replayed requests: not a report\n")
    details = {
        "passed": True,
        "max_abs_diff": 2.5e-17,
        "examples_over_tolerance": 0,
        "report_path": str(report),
        "phases": {"write_s": 0.25, "note": "text is no metric"},
        "params": {"bundle": "fraud v1", "tolerance": 1e-6, "sample_size": 10_000},
        "empty": None,
    }
    return RunRecord(job="check_parity", status="succeeded", read_count=10_000, landed_count=1, details=details,
                     workload_id="fraud-scoring", source="gold.training_set:pt@v3", **kwargs)  # type: ignore[arg-type]  # fmt: skip


def test_run_is_logged_with_params_metrics_and_report(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    run = _record(tmp_path)
    mlflow_id = track_run(settings, run)
    assert mlflow_id is not None and run.details["mlflow_run_id"] == mlflow_id
    uri = settings.mlflow_tracking_uri()
    assert uri == (tmp_path / "lake" / "mlruns").as_uri() and (tmp_path / "lake" / "mlruns").is_dir()
    client = mlflow_tracking.MlflowClient(uri)
    got = client.get_run(mlflow_id)
    assert client.get_experiment(got.info.experiment_id).name == "skewguard"
    assert got.info.run_name == run.run_id and got.info.status == "FINISHED"
    assert got.data.tags["skewguard.job"] == "check_parity" and got.data.tags["skewguard.status"] == "succeeded"
    assert got.data.params == {
        "workload_id": "fraud-scoring",
        "source": "gold.training_set:pt@v3",
        "bundle": "fraud v1",
        "tolerance": "1e-06",
        "sample_size": "10000",
    }
    metrics = dict(got.data.metrics)
    assert metrics.pop("duration_s") >= 0
    assert metrics == {
        "read_count": 10_000.0,
        "landed_count": 1.0,
        "passed": 1.0,
        "max_abs_diff": 2.5e-17,
        "examples_over_tolerance": 0.0,
        "phases.write_s": 0.25,
    }
    assert sorted(a.path for a in client.list_artifacts(mlflow_id, "report")) == [
        "report/report.html",
        "report/report.json",
    ]
    html = Path(client.download_artifacts(mlflow_id, "report/report.html", str(tmp_path / "down")))
    assert html.read_text() == "<h1>Parity PASSED</h1>"


def test_failed_run_is_logged_as_failed_with_its_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, MLFLOW_EXPERIMENT_NAME="gates")
    run = RunRecord(job="compute_drift", error="no reference profile 'x'")
    mlflow_id = track_run(settings, run)
    assert mlflow_id is not None
    got = mlflow_tracking.MlflowClient(settings.mlflow_tracking_uri()).get_run(mlflow_id)
    assert got.info.status == "FAILED" and got.data.tags["skewguard.error"] == "no reference profile 'x'"
    assert got.data.tags["skewguard.status"] == "failed"


def test_a_store_that_cannot_be_written_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = _settings(tmp_path, MLFLOW_TRACKING_URI=str(blocker / "mlruns"))
    run = _record(tmp_path)
    with caplog.at_level(logging.WARNING, logger="skewguard.tracking"):
        assert track_run(settings, run) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "was not logged to MLflow" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage() and "mlflow_run_id" not in run.details


def test_off_by_default_and_only_the_configured_jobs(tmp_path: Path) -> None:
    off = load_settings(env={"SKEWGUARD_LAKEHOUSE": str(tmp_path / "lake")})
    assert off.mlflow.enabled is False
    assert track_run(off, _record(tmp_path)) is None
    assert track_run(_settings(tmp_path), RunRecord(job="ingest_logs", status="succeeded")) is None
    assert not (tmp_path / "lake" / "mlruns").exists()


def test_export_without_mlflow_installed_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets where it is not installed
    monkeypatch.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path / "lake"))
    code = cli(["bundle", "export-mlflow", str(tmp_path / "some-bundle"), "--out", str(tmp_path / "m")])
    assert code == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(
        "ERROR skewguard.cli: bundle export-mlflow: MLflow is not installed: pip install 'skewguard[mlflow]'"
    )
    assert not (tmp_path / "m").exists()


def test_pyfunc_rows_leave_out_every_kind_of_missing_value() -> None:
    import datetime as dt

    import pandas as pd

    from serving.mlflow_pyfunc import records_of

    when = dt.datetime(2024, 11, 20, 8)
    frame = pd.DataFrame(
        {
            "f001": [1.5, float("nan"), None],
            "f003": pd.array(["ios", pd.NA, "web"], dtype="string"),
            "f004": ["FR", None, ""],
            "event_ts": pd.to_datetime([when, None, when]),
        }
    )
    assert records_of(frame) == [
        {"f001": 1.5, "f003": "ios", "f004": "FR", "event_ts": pd.Timestamp(when)},
        {},
        {"f003": "web", "f004": "", "event_ts": pd.Timestamp(when)},
    ]
