"""Training set → reference model → bundle, from labeled examples written as a real Delta
table: split stability, lineage, fitted params equal to the plain-Python fit, vectors equal
bit for bit, and a bundle that predicts in a process without Spark."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from schemas.tables import SILVER_LABELED_EXAMPLES
from skewguard.config import load_settings
from transforms import FittedPipeline, split_of

pytestmark = pytest.mark.spark

DAY = dt.date(2024, 11, 20)
WORKLOAD = "fraud-scoring"


def _examples(n: int, seed: int = 3) -> list[dict]:
    """Labeled examples with a learnable label: numeric, categorical and missing values."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        ts = dt.datetime(2024, 11, 20, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(86_400))
        amount = None if k % 17 == 0 else round(rng.lognormvariate(3, 1), 4)
        device = None if k % 23 == 0 else rng.choice(["ios", "android", "web"])
        visits = rng.randrange(0, 50)
        z = 0.04 * (amount or 20) - 1.5 + (1.2 if device == "ios" else 0) - 0.02 * visits
        label = 1.0 if rng.random() < 1 / (1 + math.exp(-z)) else 0.0
        features = {"f001": None if amount is None else repr(amount), "f002": str(visits), "f003": device}
        rows.append(
            {
                "event_id": f"evt-{k:05d}",
                "event_ts": ts,
                "event_date": DAY,
                "workload_id": WORKLOAD,
                "client_id": "web",
                "request_id": f"req-{k}",
                "model_name": f"{WORKLOAD}-model",
                "model_version": "v1" if k % 5 else "v2",
                "transform_hash": "abc123",
                "features": features,
                "outputs": {"score": 0.5, "label": 1.0},
                "sampling_rate": 1.0,
                "label": label,
                "label_ts": ts + dt.timedelta(hours=2),
                "label_delay_s": 7200.0,
                "parse_run_id": "parse-1",
                "join_run_id": "join-1",
                "joined_at": ts,
                "predictions_version": 0,
            }
        )
    return rows


def _table(rows: list[dict]) -> pa.Table:
    """The Arrow table of the contract's inputs, typed as serving types a request."""
    return pa.table(
        {
            "f001": pa.array(
                [None if r["features"]["f001"] is None else float(r["features"]["f001"]) for r in rows],
                pa.float64(),
            ),
            "f002": pa.array([float(r["features"]["f002"]) for r in rows], pa.float64()),
            "f003": pa.array([r["features"]["f003"] for r in rows], pa.string()),
            "event_ts": pa.array([r["event_ts"] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture(scope="module")
def settings(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One lakehouse for the module: the set is built once and read by several tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        yield load_settings()


@pytest.fixture(scope="module")
def labeled(spark, settings):  # type: ignore[no-untyped-def]
    from jobs.lib.delta_io import ensure_table

    rows = _examples(1200)
    path = ensure_table(spark, settings, SILVER_LABELED_EXAMPLES)
    df = spark.createDataFrame(
        [tuple(r[c] for c in SILVER_LABELED_EXAMPLES.column_names) for r in rows],
        SILVER_LABELED_EXAMPLES.spark_schema(),
    )
    df.write.format("delta").mode("append").save(path)
    return rows


@pytest.fixture(scope="module")
def built(settings, labeled):  # type: ignore[no-untyped-def]
    """The training set ``ts1``, built once: its manifest and gold rows by event_id."""
    from skewguard.artifacts import load_manifest

    assert _build() == 0
    return load_manifest(settings, "ts1")


@pytest.fixture(scope="module")
def bundle_path(settings, built, tmp_path_factory):  # type: ignore[no-untyped-def]
    from jobs.train_reference_model import main as train
    from ops.build_bundle import build_bundle
    from skewguard.artifacts import model_dir, training_set_dir

    assert train(["--training-set", "ts1", "--name", "fraud", "--version", "v9"]) == 0
    out = tmp_path_factory.mktemp("bundle") / "fraud-v9"
    build_bundle(model_dir(settings, "fraud", "v9"), training_set_dir(settings, "ts1"), out)
    return out


def _build(name: str = "ts1") -> int:
    from jobs.build_training_set import main

    return main(["--date", str(DAY), "--workload", WORKLOAD, "--name", name])


def _gold(spark, settings, name: str):  # type: ignore[no-untyped-def]
    path = settings.lakehouse.table_path("gold.training_set")
    return {r["event_id"]: r for r in spark.read.format("delta").load(path).where(f"training_set = '{name}'").collect()}


def test_training_set_split_lineage_and_vectors(spark, settings, labeled, built) -> None:  # type: ignore[no-untyped-def]
    manifest = built
    gold = _gold(spark, settings, "ts1")
    assert len(gold) == len(labeled)
    conf = settings.training
    for r in labeled:
        g = gold[r["event_id"]]
        assert g["split"] == split_of(r["event_id"], conf.validation_fraction, conf.eval_fraction, conf.split_seed)
        assert (g["served_model_version"], g["served_transform_hash"], g["label"]) == (
            r["model_version"],
            "abc123",
            r["label"],
        )
        assert g["source_table"] == "silver.labeled_examples" and g["source_version"] == manifest["source"]["version"]
        assert g["pipeline_hash"] == manifest["pipeline_hash"]
    counts = {s: sum(1 for g in gold.values() if g["split"] == s) for s in ("train", "validation", "eval")}
    assert manifest["split_counts"] == counts and counts["validation"] > 50 and counts["eval"] > 50

    # the Spark fit equals the plain-Python fit on the train rows; the vectors are bit-identical
    fitted = FittedPipeline.loads(
        (Path(manifest["path"]).parents[1] / "artifacts" / "training_sets" / "ts1" / "pipeline.json").read_text()
    )
    assert fitted.pipeline.inputs == {"f001": "double", "f002": "double", "f003": "string", "event_ts": "timestamp"}

    train_rows = [r for r in labeled if gold[r["event_id"]]["split"] == "train"]
    assert fitted.pipeline.fit(_table(train_rows)).params == fitted.params
    expected = fitted.matrix(_table(labeled))
    got = np.array([gold[r["event_id"]]["features"] for r in labeled])
    np.testing.assert_array_equal(got, expected)
    assert manifest["feature_names"] == fitted.output_names()


def test_rebuild_is_stable_and_names_its_version(spark, settings, labeled, built) -> None:  # type: ignore[no-untyped-def]
    from skewguard.artifacts import load_manifest

    first, v1 = _gold(spark, settings, "ts1"), built["version"]
    assert _build() == 0
    second, v2 = _gold(spark, settings, "ts1"), load_manifest(settings, "ts1")["version"]
    assert v2 == v1 + 1
    assert {k: (g["split"], g["features"]) for k, g in first.items()} == {
        k: (g["split"], g["features"]) for k, g in second.items()
    }
    path = settings.lakehouse.table_path("gold.training_set")
    at_v1 = spark.read.format("delta").option("versionAsOf", v1).load(path).count()
    assert at_v1 == len(labeled)  # the manifest's version still reads exactly that set


def test_no_examples_fails_with_a_cause(spark, settings, labeled, capsys) -> None:  # type: ignore[no-untyped-def]
    from jobs.build_training_set import main

    assert main(["--date", "2024-01-01", "--workload", WORKLOAD, "--name", "empty"]) == 1
    err = capsys.readouterr().err
    assert "build_training_set failed: no labeled examples for the train split in 2024-01-01" in err
    assert not (Path(settings.artifacts_path()) / "training_sets" / "empty").exists()
    # a workload id that is no folder name cannot name a training set folder (it would leave the artifacts)
    assert main(["--date", "2024-01-01", "--workload", ".."]) == 2
    assert "training set '.._20240101_20240101' is not a valid name" in capsys.readouterr().err


def test_model_and_bundle_predict_without_spark(settings, bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from serving.bundle import Bundle

    bundle = Bundle.load(bundle_path)
    assert bundle.manifest["metrics"]["validation_auc"] > 0.6  # the label depends on the features
    assert bundle.manifest["training_set"]["name"] == "ts1"
    requests = [
        {"f001": 12.5, "f002": 3, "f003": "ios", "event_ts": "2024-11-21T08:00:00Z"},
        {"f002": 40, "f003": "unknown-device", "event_ts": 1732176000},
        {"f001": None, "f002": 0, "event_ts": "2024-11-21T23:59:59+00:00"},
    ]
    in_process = bundle.predict_batch(requests)
    assert [bundle.predict(r) for r in requests] == in_process  # one at a time == batch
    # a fresh interpreter whose import path has numpy and pyarrow but no Spark
    site = tmp_path / "site"
    site.mkdir()
    import numpy
    import pyarrow

    for mod in (numpy, pyarrow):
        (site / Path(mod.__file__).parent.name).symlink_to(Path(mod.__file__).parent)
    for extra in Path(numpy.__file__).parent.parent.glob("numpy.libs"):
        (site / extra.name).symlink_to(extra)
    code = (
        "import importlib.util, json, sys\n"
        f"sys.path[:0] = [{str(site)!r}, {str(Path(__file__).resolve().parents[2])!r}]\n"
        "assert importlib.util.find_spec('pyspark') is None, 'pyspark is importable'\n"
        "from serving.bundle import Bundle\n"
        f"b = Bundle.load({str(bundle_path)!r})\n"
        f"print(json.dumps([b.predict(r) for r in json.loads({json.dumps(requests)!r})]))\n"
        "assert 'pyspark' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == in_process


def test_bundle_refuses_altered_transform_source(bundle_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from serving.bundle import Bundle, BundleError

    shutil.copytree(bundle_path, tmp_path / "b")
    stages = tmp_path / "b" / "transforms" / "stages.py"
    stages.write_text(stages.read_text().replace("np.log1p", "np.log"))
    with pytest.raises(BundleError, match="source hash"):
        Bundle.load(tmp_path / "b")


def test_bundle_commands(settings, bundle_path, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from ops.cli import main
    from serving.bundle import Bundle

    out = tmp_path / "cli-bundle"
    assert main(["bundle", "build", "--model", "fraud", "--version", "v9", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    requests = [
        {"f001": 30.0, "f002": 2, "f003": "ios", "event_ts": "2024-11-21T08:00:00Z"},
        {"f002": 7, "event_ts": 1732176000},
    ]
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    assert main(["bundle", "predict", str(out), str(tmp_path / "requests.jsonl")]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == Bundle.load(bundle_path).predict_batch(requests)
    assert main(["bundle", "build", "--model", "nope", "--version", "v1"]) == 1
    assert "no trained model" in capsys.readouterr().err
    from jobs.train_reference_model import main as train

    assert train(["--training-set", "ts1", "--name", "../x"]) == 2
    assert "model name '../x' is not a valid name" in capsys.readouterr().err
    with pytest.raises(ValueError, match="every request needs 'event_ts'"):
        Bundle.load(out).predict({"f002": 7})
