"""Model-bundle runtime: load a bundle and predict, with no Spark anywhere.

A bundle is a folder: ``manifest.json`` (name, version, dtype contract, stage list, model,
hashes), ``pipeline.json`` (the fitted transforms), ``model.json`` and ``transforms/`` — a
copy of the transform source that built the training set. The transforms are imported
from that copy (under a package name of their own), after checking its content hash, so
serving runs byte-identical code to training.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["Bundle", "BundleError", "bundle_content_hash", "source_files_hash"]

BUNDLE_FORMAT = 1


class BundleError(RuntimeError):
    """The bundle is incomplete, altered, or of an unknown format."""


def source_files_hash(folder: Path) -> str:
    """SHA-256 over ``*.py`` (name and bytes, in name order): the same rule as
    ``transforms.source_hash``, restated here so a bundle is checked before any of its code runs."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def bundle_content_hash(folder: Path) -> str:
    """SHA-256 over every file of a bundle (its path in the bundle, then its bytes, in path
    order; a symlink counts as its target's name), skipping the ``__pycache__`` folders Python
    writes when the transforms are imported. ``skewguard bundle build`` records it."""
    digest = hashlib.sha256()
    entries: list[tuple[str, Path]] = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        here = Path(top)
        entries += [((here / f).relative_to(folder).as_posix(), here / f) for f in files]
        entries += [((here / d).relative_to(folder).as_posix(), here / d) for d in dirs if (here / d).is_symlink()]
    for name, path in sorted(entries):
        body = b"symlink:" + os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
    return digest.hexdigest()


def _import_transforms(folder: Path, content_hash: str) -> ModuleType:
    name = f"_skewguard_bundle_transforms_{content_hash[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise BundleError(f"cannot import the bundled transforms from {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


class Bundle:
    """A loaded bundle: ``predict`` for one request, ``predict_batch`` for many."""

    def __init__(
        self, path: Path, manifest: dict[str, Any], transforms: ModuleType, fitted: Any, content_hash: str = ""
    ) -> None:
        self.path = path
        self.content_hash = content_hash
        """:func:`bundle_content_hash` of the folder, taken before its code was imported."""
        self.manifest = manifest
        self.transforms = transforms
        self.fitted = fitted
        model = manifest["model"]
        self.weights = np.asarray(model["coefficients"], dtype=np.float64)
        self.intercept = float(model["intercept"])
        self.threshold = float(model["threshold"])

    @classmethod
    def load(cls, path: str | Path, content_hash: str | None = None) -> Bundle:
        """Load the bundle at ``path``; with ``content_hash`` (recorded when it was built), only
        when :func:`bundle_content_hash` of the folder equals it, checked before any of its code
        is imported."""
        root = Path(path)
        if not root.is_dir():
            raise BundleError(f"{root}: no model bundle there")
        actual_hash = bundle_content_hash(root)  # before anything imports: __pycache__ is skipped anyway
        if content_hash is not None and actual_hash != content_hash:
            raise BundleError(
                f"{root}: content hash {actual_hash[:12]} differs from the one recorded when it was built "
                f"({content_hash[:12]}): the bundle was changed since; rebuild it"
            )
        try:
            manifest = json.loads((root / "manifest.json").read_text())
            pipeline_text = (root / "pipeline.json").read_text()
        except (OSError, ValueError) as exc:
            raise BundleError(f"{root}: not a readable model bundle ({exc})") from exc
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{root}: bundle format {manifest.get('format')!r}, expected {BUNDLE_FORMAT}")
        expected = manifest["transform_source"]["content_hash"]
        actual = source_files_hash(root / "transforms")
        if actual != expected:
            raise BundleError(f"{root}: bundled transform source hash {actual[:12]} != manifest {expected[:12]}")
        transforms = _import_transforms(root / "transforms", expected)
        fitted = transforms.FittedPipeline.loads(pipeline_text)
        if fitted.params_hash() != manifest["pipeline_hash"]:
            raise BundleError(f"{root}: pipeline.json does not match the manifest's pipeline_hash")
        names = fitted.output_names()
        if names != manifest["model"]["feature_names"]:
            raise BundleError(f"{root}: the model's feature names differ from the pipeline's outputs")
        return cls(root, manifest, transforms, fitted, actual_hash)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def transform_hash(self) -> str:
        return str(self.manifest["transform_source"]["content_hash"])

    @property
    def inputs(self) -> dict[str, str]:
        """The dtype contract: input name → ``double`` | ``string`` | ``timestamp``."""
        return dict(self.fitted.pipeline.inputs)

    def model_identity(self) -> dict[str, str]:
        """What a prediction log's ``model`` field should say."""
        return {"name": self.name, "version": self.version, "transform_hash": self.transform_hash}

    def _check(self, examples: Sequence[Mapping[str, Any]]) -> None:
        for name, dtype in self.inputs.items():
            if dtype == "timestamp" and any(e.get(name) is None for e in examples):
                raise ValueError(f"bundle {self.name} {self.version}: every request needs {name!r} (a timestamp)")

    def features(self, examples: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Transformed feature vectors (float64, one row per example). Features may be absent
        (they are imputed); a timestamp input may not (``ValueError`` naming it)."""
        self._check(examples)
        matrix: np.ndarray = self.fitted.matrix_from_records(examples)
        return matrix

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        # a row-wise sum, not a BLAS product: each row's result is independent of the batch
        z = (matrix * self.weights).sum(axis=1) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def evaluate(self, examples: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Feature vectors and scores of many examples: what ``predict_batch`` computes,
        with the vectors kept (parity checks compare both)."""
        matrix = self.features(examples)
        return matrix, self.scores(matrix)

    def evaluate_batch(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`evaluate` of inputs already typed by the contract: an Arrow batch of the
        contract's columns as ``records_to_batch`` makes them of the examples (float64,
        string, UTC timestamps; null for missing). The same vectors and scores as
        :meth:`evaluate` gives those examples, without a Python object per value."""
        for name, dtype in self.inputs.items():
            if dtype == "timestamp" and batch.column(name).null_count:
                raise ValueError(f"bundle {self.name} {self.version}: every request needs {name!r} (a timestamp)")
        matrix: np.ndarray = self.fitted.matrix(batch)
        return matrix, self.scores(matrix)

    def scores_or_refusals(self, examples: Sequence[Mapping[str, Any]]) -> tuple[list[float | None], list[str | None]]:
        """Each example's score, in one call; when the bundle refuses the batch, one call per
        example to find the ones it refuses: their score is None and their refusal
        (``<exception>: <message>``) is given instead."""
        scores: list[float | None] = [None] * len(examples)
        errors: list[str | None] = [None] * len(examples)
        try:
            return [float(s) for s in self.evaluate(examples)[1]], errors
        except (ValueError, TypeError, KeyError):
            for i, example in enumerate(examples):
                try:
                    scores[i] = float(self.evaluate([example])[1][0])
                except (ValueError, TypeError, KeyError) as exc:
                    errors[i] = f"{type(exc).__name__}: {exc}"
        return scores, errors

    def trace(self, examples: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, list[Any]]]]:
        """What the bundled transforms hold after typing the inputs and after each stage
        (see ``transforms.FittedPipeline.trace``), for examples given as serving receives them."""
        self._check(examples)
        batch = self.transforms.records_to_batch(examples, self.fitted.pipeline.inputs)
        return list(self.fitted.trace(batch))

    def predict_batch(self, examples: Sequence[Mapping[str, Any]]) -> list[dict[str, float | int]]:
        """Outputs of many examples given as serving receives them (absent keys are missing)."""
        _, scores = self.evaluate(examples)
        return [{"score": float(s), "label": int(s >= self.threshold)} for s in scores]

    def predict(self, example: Mapping[str, Any]) -> dict[str, float | int]:
        """Outputs of one example."""
        return self.predict_batch([example])[0]
