"""Data cannot choose code: a model name and version read from the logs load a bundle only
when both are plain names, the folder resolves inside ``<artifacts>/bundles`` and its content
hash is the one ``skewguard bundle build`` recorded. Each hostile case is refused with one
line, before any of the hostile folder's code is imported (its ``transforms/__init__.py``
would create a marker file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from ops.build_bundle import build_named_bundle
from serving.built_bundle import load_built_bundle
from serving.bundle import Bundle, BundleError, bundle_content_hash
from skewguard.artifacts import ArtifactNameError, bundle_dir, checked_name, model_dir, training_set_dir
from skewguard.config import Settings, load_settings
from tests.tamper import plant_marker
from transforms import Pipeline, source_hash

SPEC = {
    "name": "tiny",
    "inputs": {"f1": "double"},
    "stages": [{"kind": "standardize", "name": "s", "columns": ["f1"]}],
    "outputs": ["f1"],
}


def _trained(settings: Settings, name: str, version: str) -> None:
    """A training set folder and a trained model, as the jobs write them (no Spark needed)."""
    fitted = Pipeline.from_spec(SPEC).fit(pa.table({"f1": [1.0, 2.0, 4.0]}))
    ts = training_set_dir(settings, "tiny-ts")
    ts.mkdir(parents=True)
    (ts / "pipeline.json").write_text(fitted.dumps() + "\n")
    window = {"start": "2024-11-20", "end": "2024-11-20", "workload_id": "w"}
    manifest = {"name": "tiny-ts", "table": "gold.training_set", "version": 1, "window": window}
    (ts / "manifest.json").write_text(json.dumps({**manifest, "transform_source_hash": source_hash()}))
    model = {
        "type": "logistic_regression",
        "name": name,
        "version": version,
        "feature_names": fitted.output_names(),
        "coefficients": [0.5],
        "intercept": -0.1,
        "threshold": 0.5,
        "outputs": ["score", "label"],
        "metrics": {},
        "training_set": {"name": "tiny-ts", "pipeline_hash": fitted.params_hash()},
    }
    folder = model_dir(settings, name, version)
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")


@pytest.fixture()
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Bundle]:
    monkeypatch.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path / "lakehouse"))
    settings = load_settings()
    _trained(settings, "m", "v1")
    return settings, build_named_bundle(settings, "m", "v1")


def _refused(settings: Settings, name: str, version: str, marker: Path, *why: str) -> str:
    with pytest.raises(BundleError) as caught:
        load_built_bundle(settings, name, version)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in why), message
    assert not marker.exists(), f"{name!r} {version!r}: the hostile folder's code ran"
    return message


def test_hostile_names_symlinks_and_edited_bundles_are_refused_before_import(  # type: ignore[no-untyped-def]
    built, tmp_path
) -> None:
    settings, bundle = built
    artifacts = settings.artifacts_path()
    record = artifacts / "bundle_records" / "m-v1.json"
    assert json.loads(record.read_text())["content_hash"] == bundle.content_hash  # outside the bundle
    assert not record.is_relative_to(bundle.path)
    good = load_built_bundle(settings, "m", "v1")
    assert good.path == bundle_dir(settings, "m", "v1").resolve() and good.predict({"f1": 2.0})["label"] in (0, 1)

    marker = tmp_path / "imported.txt"
    hostile = tmp_path / "hostile-v1"  # a well-formed bundle whose code leaves a trace
    shutil.copytree(bundle.path, hostile)
    plant_marker(hostile, marker)
    Bundle.load(hostile)  # the premise: without the checks, its code runs
    assert marker.exists()
    marker.unlink()
    shutil.copytree(hostile, artifacts / "x-v1")  # where bundles/../x-v1 points

    _refused(settings, "../x", "v1", marker, "model '../x'", "not a valid name")
    _refused(settings, "m", "../../x-v1", marker, "version '../../x-v1'", "not a valid name")
    _refused(settings, "/etc", "v1", marker, "'/etc'", "not a valid name")
    _refused(settings, str(tmp_path / "hostile"), "v1", marker, "not a valid name")  # an absolute path to it
    _refused(settings, "", None, marker, "not a valid name")  # type: ignore[arg-type]

    # a symlink out of the bundles folder, even with a record that matches what it points at
    (artifacts / "bundles" / "link-v1").symlink_to(hostile, target_is_directory=True)
    record.with_name("link-v1.json").write_text(json.dumps({"content_hash": bundle_content_hash(hostile)}))
    _refused(settings, "link", "v1", marker, "outside")

    # a bundle edited after it was built (and made self-consistent again): only its record tells
    edited = tmp_path / "edited.txt"  # another source than the hostile one's (already imported)
    plant_marker(bundle.path, edited)
    _refused(settings, "m", "v1", edited, "differs from the one recorded when it was built")
    # a bundle that was never built here has no record; a missing one is refused too
    shutil.copytree(artifacts / "bundles" / "m-v1", artifacts / "bundles" / "m-v2")
    _refused(settings, "m", "v2", edited, "no build record")
    _refused(settings, "m", "v3", edited, "No such file")


def test_names_become_one_folder_or_nothing() -> None:
    for ok in ("fraud-scoring-model", "v20261122061720", "a.b_c-1", "7"):
        assert checked_name("x", ok) == ok
    for bad in ("..", ".", ".hidden", "a/b", "/etc", "a\\b", "", " a", "a" * 129, "é"):
        with pytest.raises(ArtifactNameError, match="not a valid name"):
            checked_name("x", bad)
