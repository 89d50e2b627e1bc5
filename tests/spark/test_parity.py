"""The parity gate on real Spark, Delta and a real serving process: a correct bundle passes
on 10,000 examples; bundles with the classic skews fail, and the stage-by-stage bisection
names the stage and the features where the paths part.

MLflow tracking is on for this module (its default local store under the lakehouse): the
training run behind the bundle and the gate's runs are read back from it, and the bundle
exported as an MLflow pyfunc model scores bit for bit as the bundle does."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.parity.stratified_sample import allocate
from serving.bundle import source_files_hash
from skewguard.config import load_settings
from tests.spark.parity_data import WORKLOAD, build_bundle, examples
from transforms import INPUTS_STEP, FittedPipeline

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def settings(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        mp.setenv("SKEWGUARD_MLFLOW_ENABLED", "true")
        yield load_settings()


@pytest.fixture(scope="module")
def bundle_path(spark, settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    return build_bundle(spark, settings, tmp_path_factory.mktemp("spec"))


def _gate(bundle: Path, report_dir: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    from jobs.check_parity import main

    code = main(["--bundle", str(bundle), "--report-dir", str(report_dir), *extra])
    report_file = report_dir / "report.json"
    return code, json.loads(report_file.read_text()) if report_file.exists() else {}


def test_correct_bundle_passes_on_10000_examples(spark, settings, bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, report = _gate(bundle_path, tmp_path / "report", "--sample-size", "10000", "--stratify", "workload_id,split")
    assert code == 0, report
    assert report["passed"] is True and report["examples"] == 10_000
    assert report["max_abs_diff"] < 1e-6 and report["examples_over_tolerance"] == 0 and report["serving_errors"] == 0
    assert report["outputs"] == len(_feature_names(bundle_path)) + 2  # the vector, score and label
    # stratified: equal shares of the three splits, the smaller ones taken whole when short
    manifest = json.loads((settings.artifacts_path() / "training_sets" / "pt" / "manifest.json").read_text())
    sizes = {f"{WORKLOAD}/{s}": n for s, n in manifest["split_counts"].items()}
    strata = report["offline"]["strata"]
    assert sum(strata.values()) == 10_000 and set(strata) == set(sizes)
    assert all(strata[s] == sizes[s] for s in strata if sizes[s] <= 10_000 // 3)
    assert report["divergence"] is None and report["identity_notes"] == []
    assert report["serving_latency_ms"]["p50"] > 0
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Parity PASSED" in html and "fraud" in html
    assert "PARITY PASSED" in (tmp_path / "report" / "report.txt").read_text()
    rows = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.parity")).collect()
    row = next(r for r in rows if r["report_path"] == str(tmp_path / "report"))
    assert row["passed"] is True and row["examples"] == 10_000 and row["max_abs_diff"] == report["max_abs_diff"]
    assert row["offline_source"].startswith("gold.training_set:pt@v")
    # the same run in MLflow: its params, verdict and the report files (not the replayed requests)
    client, run = _tracked(settings, "check_parity", report["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["sample_size"] == "10000"
    assert run.data.params["tolerance"] == "1e-06" and run.data.params["strata"] == "workload_id,split"
    assert run.data.metrics["passed"] == 1.0 and run.data.metrics["max_abs_diff"] == report["max_abs_diff"]
    assert run.data.metrics["read_count"] == 10_000 and run.data.metrics["examples_over_tolerance"] == 0
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "report"))
    assert names == ["report/report.html", "report/report.json", "report/report.txt"]
    logged = client.download_artifacts(run.info.run_id, "report/report.html", str(tmp_path / "from-mlflow"))
    assert Path(logged).read_text() == html


def _feature_names(path: Path) -> list[str]:
    return json.loads((path / "manifest.json").read_text())["model"]["feature_names"]


# -- deliberately broken bundles ----------------------------------------------------------


def _rehash(folder: Path) -> None:
    """Make an altered bundle self-consistent, as a team shipping it by mistake would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    fitted = FittedPipeline.loads((folder / "pipeline.json").read_text())
    manifest["pipeline_hash"] = fitted.params_hash()
    files = sorted((folder / "transforms").glob("*.py"))
    manifest["transform_source"]["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest["transform_source"]["content_hash"] = source_files_hash(folder / "transforms")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _edit_params(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads((folder / "pipeline.json").read_text())
    edit(data)
    (folder / "pipeline.json").write_text(FittedPipeline.from_json(data).dumps() + "\n")


def _edit_source(folder: Path, module: str, old: str, new: str) -> None:
    path = folder / "transforms" / module
    text = path.read_text()
    assert old in text, f"{module} no longer contains {old!r}"
    path.write_text(text.replace(old, new))


def _stage(data: dict[str, Any], name: str) -> int:
    return [s["name"] for s in data["pipeline"]["stages"]].index(name)


def _float32(value: Any) -> Any:
    if isinstance(value, float):
        return float(np.float32(value))
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32(v) for v in value]
    return value


def _float32_params(folder: Path) -> None:
    _edit_params(folder, lambda d: d.update(params=_float32(d["params"])))


def _reordered_vocabulary(folder: Path) -> None:
    def edit(d: dict[str, Any]) -> None:
        vocab = d["params"][_stage(d, "vocabulary")]["vocab"]
        vocab["f003"] = list(reversed(vocab["f003"]))

    _edit_params(folder, edit)


def _stale_vocabulary(folder: Path) -> None:
    def edit(d: dict[str, Any]) -> None:  # last month's vocabulary: "web" was not yet a device
        vocab = d["params"][_stage(d, "vocabulary")]["vocab"]
        vocab["f003"] = [v if v != "web" else "blackberry" for v in vocab["f003"]]

    _edit_params(folder, edit)


def _hash_seed(folder: Path) -> None:
    _edit_params(folder, lambda d: d["pipeline"]["stages"][_stage(d, "hash_country")]["options"].update(seed=7))


def _local_time(folder: Path) -> None:
    _edit_source(folder, "stages.py", "import math\n", "import math\nimport time\n")
    _edit_source(
        folder,
        "stages.py",
        "            hour = np.floor_divide(us, 3_600_000_000) % 24\n",
        "            us = us + time.localtime().tm_gmtoff * 1_000_000  # the server's wall clock\n"
        "            hour = np.floor_divide(us, 3_600_000_000) % 24\n",
    )


def _integer_typing(folder: Path) -> None:
    _edit_source(
        folder,
        "frame.py",
        '        return float(value)\n    if dtype == "string":',
        '        return float(int(value))  # the request schema declares an integer\n    if dtype == "string":',
    )


def _missing_default(folder: Path) -> None:
    _edit_params(folder, lambda d: d["params"][_stage(d, "impute_numeric")]["values"].update(f001=0.0))


DEFECTS: dict[str, tuple[Callable[[Path], None], str, set[str]]] = {
    # defect: (how to break the bundle, first divergent step, features that differ there)
    "float32_params": (_float32_params, "impute_numeric", {"f001"}),
    "reordered_vocabulary": (_reordered_vocabulary, "vocabulary", {"f003#0", "f003#2"}),
    "stale_vocabulary": (_stale_vocabulary, "vocabulary", set()),  # filled in by the test
    "hash_seed": (_hash_seed, "hash_country", {"f004"}),
    "local_time": (_local_time, "time_features", {"event_ts_hour_sin", "event_ts_hour_cos"}),
    "integer_typing": (_integer_typing, INPUTS_STEP, {"f001", "f005"}),
    "missing_default": (_missing_default, "impute_numeric", {"f001"}),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_broken_bundle_fails_and_names_stage_and_feature(  # type: ignore[no-untyped-def]
    spark, settings, bundle_path, tmp_path, monkeypatch, defect
) -> None:
    breaker, step, features = DEFECTS[defect]
    broken = tmp_path / "broken"
    shutil.copytree(bundle_path, broken)
    breaker(broken)
    _rehash(broken)
    fitted = FittedPipeline.loads((bundle_path / "pipeline.json").read_text())
    if defect == "float32_params":
        # the premise: float32 moves f001's mean by more than the tolerance (f002's and f005's
        # imputed values are never used: they have no missing values)
        mean = fitted.params[0]["values"]["f001"]
        assert abs(float(np.float32(mean)) - mean) >= 1e-6
    if defect == "stale_vocabulary":
        vocab = fitted.params[5]["vocab"]["f003"]
        features = {f"f003#{vocab.index('web')}", f"f003#{len(vocab)}"}  # web's column, and out-of-vocabulary
    if defect == "local_time":
        monkeypatch.setenv("TZ", "Asia/Kolkata")  # the serving process runs on a UTC+05:30 clock

    code, report = _gate(broken, tmp_path / "report", "--sample-size", "2000")
    assert code == 1, report
    assert report["passed"] is False and report["examples_over_tolerance"] > 0
    divergence = report["divergence"]
    assert divergence["step"] == step, divergence
    if defect == "local_time":  # the day of week moves too for events late in the UTC day
        assert features <= set(divergence["features"]) <= features | {"event_ts_day_of_week"}
    else:
        assert set(divergence["features"]) == features, divergence
    first = divergence["examples"][0]
    assert first["feature"] in features and first["offline"] != first["serving"]
    text = (tmp_path / "report" / "report.txt").read_text()
    assert f"FIRST DIVERGENCE at step {step!r}" in text
    assert "Parity FAILED" in (tmp_path / "report" / "report.html").read_text()
    row = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("metrics.parity"))
        .where(f"report_path = '{tmp_path / 'report'}'")
        .first()
    )
    assert row["passed"] is False and row["first_divergent_step"] == step
    assert set(row["divergent_features"]) == set(divergence["features"])


def test_bundle_with_other_weights_fails_against_the_trained_model(bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The offline score comes from the model train_reference_model wrote, not the bundle's copy."""
    altered = tmp_path / "altered"
    shutil.copytree(bundle_path, altered)
    for name in ("manifest.json", "model.json"):
        data = json.loads((altered / name).read_text())
        model = data["model"] if name == "manifest.json" else data
        model["coefficients"] = [w * 1.01 for w in model["coefficients"]]
        (altered / name).write_text(json.dumps(data, indent=2, sort_keys=True))
    code, report = _gate(altered, tmp_path / "report", "--sample-size", "300")
    assert code == 1, report
    assert report["passed"] is False and report["max_abs_diff"] >= 1e-6
    assert any("model weights are not those of the trained model" in n for n in report["identity_notes"])


def test_gate_errors_exit_2(settings, bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _ = _gate(tmp_path / "no-such-bundle", tmp_path / "r1")
    assert code == 2
    code, _ = _gate(bundle_path, tmp_path / "r2", "--training-set", "no-such-set")
    assert code == 2
    # a bundle that does not name its trained model, or whose trained model changed since, cannot be checked
    unnamed = tmp_path / "unnamed"
    shutil.copytree(bundle_path, unnamed)
    manifest = json.loads((unnamed / "manifest.json").read_text())
    source = manifest.pop("model_source")
    (unnamed / "manifest.json").write_text(json.dumps(manifest))
    assert _gate(unnamed, tmp_path / "r3")[0] == 2
    manifest["model_source"] = {**source, "sha256": "0" * 64}
    (unnamed / "manifest.json").write_text(json.dumps(manifest))
    assert _gate(unnamed, tmp_path / "r4")[0] == 2


def _tracked(settings, job: str, run_id: str):  # type: ignore[no-untyped-def]
    """The MLflow client of the module's store and the one run it holds for skewguard run ``run_id``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri())
    experiment = client.get_experiment_by_name("skewguard")
    found = client.search_runs([experiment.experiment_id], f"tags.`skewguard.run_id` = '{run_id}'")
    assert len(found) == 1 and found[0].data.tags["skewguard.job"] == job, found
    return client, found[0]


def test_training_run_is_tracked_in_mlflow(spark, settings, bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model_file = settings.artifacts_path() / "models" / "fraud" / "v1" / "model.json"
    model = json.loads(model_file.read_text())
    client, run = _tracked(settings, "train_reference_model", model["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == model["run_id"]
    assert {k: run.data.params[k] for k in ("training_set", "name", "version", "reg_param", "max_iter")} == {
        "training_set": "pt", "name": "fraud", "version": "v1", "reg_param": "0.01", "max_iter": "100",
    }  # fmt: skip
    metrics = run.data.metrics
    assert metrics["validation_auc"] == model["metrics"]["validation_auc"] > 0.5
    assert metrics["eval_auc"] == model["metrics"]["eval_auc"]
    assert metrics["train_count"] == model["metrics"]["train_count"] == metrics["read_count"]
    logged = client.download_artifacts(run.info.run_id, "model/model.json", str(tmp_path))
    assert Path(logged).read_bytes() == model_file.read_bytes()
    # metrics.job_runs names the MLflow run
    row = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("metrics.job_runs"))
        .where(f"run_id = '{model['run_id']}'")
        .first()
    )
    assert json.loads(row["details_json"])["mlflow_run_id"] == run.info.run_id


def test_bundle_exported_to_mlflow_scores_as_the_bundle_bit_for_bit(settings, bundle_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import mlflow.pyfunc
    import pandas as pd

    from ops.cli import main as cli
    from serving.bundle import Bundle

    out = tmp_path / "pyfunc"
    assert cli(["bundle", "export-mlflow", str(bundle_path), "--out", str(out)]) == 0
    requests = [{**r["features"], "event_ts": r["event_ts"]} for r in examples(3000, seed=23)]
    own = Bundle.load(bundle_path).predict_batch(requests)  # the requests as serving receives them
    want_scores = np.array([o["score"] for o in own])
    want_labels = np.array([o["label"] for o in own])
    assert len(set(want_labels)) == 2 and len(np.unique(want_scores)) > 2000  # a test that can fail

    # what a pyfunc caller passes: the contract's columns typed (missing as NaN / None),
    # timestamps as timezone-naive UTC (MLflow's datetime)
    inputs = json.loads((bundle_path / "manifest.json").read_text())["inputs"]
    frame = pd.DataFrame(
        [{k: float(v) if inputs[k] == "double" and v is not None else v for k, v in r.items()} for r in requests]
    )
    frame["event_ts"] = frame["event_ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    assert frame["f001"].isna().sum() > 100 and frame["f003"].isna().sum() > 100
    got = mlflow.pyfunc.load_model(str(out)).predict(frame)
    assert list(got.columns) == ["score", "label"] and got["label"].dtype == np.int64
    assert np.array_equal(got["score"].to_numpy(), want_scores) and np.array_equal(got["label"].to_numpy(), want_labels)

    # logged to the module's tracking store and registered: the registry's version scores the same
    capsys.readouterr()
    assert cli(["bundle", "export-mlflow", str(bundle_path), "--register", "fraud-scoring"]) == 0
    assert capsys.readouterr().out == "models:/fraud-scoring/1\n"
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri())
    registered = mlflow.pyfunc.load_model("models:/fraud-scoring/1").predict(frame)
    assert np.array_equal(registered["score"].to_numpy(), want_scores)

    # and in a fresh process where skewguard cannot be imported: the model carries its code
    frame.to_pickle(tmp_path / "frame.pkl")
    script = f"""
import importlib.abc, sys
class NoSkewguard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {{"skewguard", "jobs", "ops", "transforms", "schemas", "tests"}}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, NoSkewguard())
import mlflow.pyfunc, numpy as np, pandas as pd
got = mlflow.pyfunc.load_model({str(out)!r}).predict(pd.read_pickle({str(tmp_path / "frame.pkl")!r}))
import serving
assert serving.__file__.startswith({str(out)!r}), serving.__file__
np.save({str(tmp_path / "scores.npy")!r}, got["score"].to_numpy())
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert np.array_equal(np.load(tmp_path / "scores.npy"), want_scores)


def test_allocate_equal_shares_and_small_strata_taken_whole() -> None:
    assert allocate({("a",): 100, ("b",): 100}, 10) == {("a",): 5, ("b",): 5}
    assert allocate({("a",): 2, ("b",): 100, ("c",): 100}, 12) == {("a",): 2, ("b",): 5, ("c",): 5}
    assert allocate({("a",): 3, ("b",): 4}, 100) == {("a",): 3, ("b",): 4}
    shares = allocate({("a",): 50, ("b",): 50, ("c",): 50}, 10)
    assert sum(shares.values()) == 10 and sorted(shares.values()) == [3, 3, 4]
