"""``skewguard bundle build``: package a trained model with its fitted transforms and a copy
of the transform source into a folder that serving loads (``serving.bundle.Bundle``), and
record the bundle's content hash under the artifacts folder (``bundle_records/``), which the
serving-skew check requires before it loads a bundle a log names."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from serving.bundle import BUNDLE_FORMAT, Bundle, bundle_content_hash, source_files_hash
from skewguard.artifacts import bundle_dir, model_dir, training_set_dir, write_bundle_record
from skewguard.config import Settings
from transforms import FittedPipeline

__all__ = ["build_bundle", "build_named_bundle"]

log = logging.getLogger("skewguard.bundle")

TRANSFORMS_SOURCE = Path(__file__).resolve().parent.parent / "transforms"


def build_bundle(model_folder: Path, training_set_folder: Path, out: Path) -> Bundle:
    """Write the bundle to ``out`` (replacing it) and return it loaded back, as serving will."""
    model_text = (model_folder / "model.json").read_text()
    model = json.loads(model_text)
    manifest_ts = json.loads((training_set_folder / "manifest.json").read_text())
    pipeline_text = (training_set_folder / "pipeline.json").read_text()
    fitted = FittedPipeline.loads(pipeline_text)
    if fitted.params_hash() != model["training_set"]["pipeline_hash"]:
        raise ValueError("the training set's pipeline.json is not the one the model was trained with")
    if fitted.output_names() != model["feature_names"]:
        raise ValueError("the model's feature names differ from the fitted pipeline's outputs")
    if out.exists():
        shutil.rmtree(out)
    (out / "transforms").mkdir(parents=True)
    for path in sorted(TRANSFORMS_SOURCE.glob("*.py")):
        shutil.copy2(path, out / "transforms" / path.name)
    content_hash = source_files_hash(out / "transforms")
    if content_hash != manifest_ts["transform_source_hash"]:
        log.warning(
            "transforms/ changed since training set %s was built (%s → %s): the bundle carries today's source",
            manifest_ts["name"],
            manifest_ts["transform_source_hash"][:12],
            content_hash[:12],
        )
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "name": model["name"],
        "version": model["version"],
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "inputs": dict(fitted.pipeline.inputs),
        "stages": [
            {**stage.spec(), "params": params}
            for stage, params in zip(fitted.pipeline.stages, fitted.params, strict=True)
        ],
        "pipeline_hash": fitted.params_hash(),
        "model": {k: model[k] for k in ("type", "feature_names", "coefficients", "intercept", "threshold", "outputs")},
        # the trained artifact this bundle was made from: the parity gate scores with it, not the copy here
        "model_source": {
            "name": model["name"],
            "version": model["version"],
            "sha256": hashlib.sha256(model_text.encode()).hexdigest(),
        },
        "metrics": model["metrics"],
        "training_set": {
            "name": manifest_ts["name"],
            "table": manifest_ts["table"],
            "version": manifest_ts["version"],
            "window": manifest_ts["window"],
        },
        "transform_source": {
            "path": "transforms/",
            "files": {p.name: _sha256(p) for p in sorted((out / "transforms").glob("*.py"))},
            "content_hash": content_hash,
            "built_training_set_with": manifest_ts["transform_source_hash"],
        },
    }
    (out / "pipeline.json").write_text(pipeline_text)
    (out / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("bundle %s %s written to %s (transforms %s)", model["name"], model["version"], out, content_hash[:12])
    return Bundle.load(out, content_hash=bundle_content_hash(out))


def build_named_bundle(
    settings: Settings, model: str, version: str, training_set: str | None = None, out: Path | None = None
) -> Bundle:
    """Bundle the trained model ``model``/``version`` (with its own training set's pipeline
    unless ``training_set`` names another) into ``out`` (default: :func:`bundle_dir`)."""
    folder = model_dir(settings, model, version)
    if not (folder / "model.json").exists():
        raise FileNotFoundError(f"no trained model at {folder}; run skewguard-train-model first")
    name = training_set or json.loads((folder / "model.json").read_text())["training_set"]["name"]
    standard = bundle_dir(settings, model, version)
    target = out or standard
    bundle = build_bundle(folder, training_set_dir(settings, name), target)
    if target.resolve() == standard.resolve():  # where a log's model name and version find it
        record = write_bundle_record(settings, model, version, bundle.content_hash)
        log.info("bundle content hash %s recorded in %s", bundle.content_hash[:12], record)
    return bundle


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
