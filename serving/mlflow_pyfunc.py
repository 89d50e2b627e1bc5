"""A model bundle as an MLflow ``pyfunc`` model, for platforms and people that speak MLflow.

``skewguard bundle export-mlflow`` calls :func:`export_bundle` (a model folder) and, with
``--log``/``--register``, :func:`log_bundle` (a run's model in a tracking store, optionally a
registered model version). The MLflow model holds the
bundle folder itself as an artifact and a :class:`BundleModel` whose ``predict`` loads it with
:class:`~serving.bundle.Bundle` (checking the content hash taken at export) and scores with the
bundle's own code: the same transforms, the same weights, the same float operations, so the
outputs equal the bundle's bit for bit. Nothing is re-implemented or converted to another
framework, which is what would let the two drift apart.

The model carries a copy of this module and of :mod:`serving.bundle` (MLflow's ``code_paths``),
and the bundle carries its transforms: loading it needs MLflow, pandas, numpy and pyarrow, not
skewguard. Its signature is the bundle's input contract: ``double`` and ``string`` inputs
optional (the bundle imputes what is missing), timestamps required; outputs ``score`` and
``label``.

This module imports MLflow: import it only through :func:`skewguard.settings_mlflow.import_mlflow`
having succeeded (the command does).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from serving.bundle import Bundle

__all__ = ["BundleModel", "export_bundle", "log_bundle", "model_signature", "records_of"]

log = logging.getLogger("skewguard.bundle")

#: contract dtype → MLflow column type
MLFLOW_TYPES = {"double": "double", "string": "string", "timestamp": "datetime"}
#: modules shipped in the model's ``code/serving/`` so that it loads without skewguard installed
SHIPPED_MODULES = ("__init__.py", "bundle.py", "mlflow_pyfunc.py", "pyfunc_model_code.py")
#: distributions the model needs where it is loaded, pinned to the versions that exported it
RUNTIME_DISTRIBUTIONS = ("numpy", "pyarrow", "pandas")


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def records_of(model_input: Any) -> list[dict[str, Any]]:
    """The rows of a pyfunc input as the bundle's requests: one mapping per row, with the
    missing values (None, NaN, NaT, NA: how pandas holds an absent feature) left out, as serving
    leaves out a feature it does not have."""
    if isinstance(model_input, pd.DataFrame):
        rows: Sequence[Mapping[str, Any]] = model_input.to_dict("records")
    elif isinstance(model_input, Mapping):
        rows = [model_input]
    else:
        rows = list(model_input)
    return [{k: v for k, v in row.items() if not _missing(v)} for row in rows]


def model_signature(bundle: Bundle) -> ModelSignature:
    """The bundle's input contract as an MLflow signature (see the module)."""
    inputs = [
        ColSpec(MLFLOW_TYPES[dtype], name, required=dtype == "timestamp") for name, dtype in bundle.inputs.items()
    ]
    outputs = [ColSpec("double", "score"), ColSpec("long", "label")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


#: MLflow's advice for hand-written models, which does not apply: the signature is the bundle's
#: contract, given at export, not an example
_MLFLOW_ADVICE = ".*input example"


class BundleModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # untyped base
    """``predict`` of a bundle: a DataFrame of the contract's columns in, ``score`` and
    ``label`` out, one row per input row. The bundle is loaded from the model's artifact,
    checked against the content hash in the model's config (recorded at export)."""

    # MLflow would wrap ``predict`` to check its inputs against type hints; the signature does it
    _skip_type_hint_validation = True

    def __init__(self) -> None:
        self._bundle: Bundle | None = None

    def load_context(self, context: Any) -> None:
        self._bundle = Bundle.load(context.artifacts["bundle"], content_hash=context.model_config["content_hash"])

    # no type hint on model_input: MLflow would read one as a second signature
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        if self._bundle is None:
            self.load_context(context)
        bundle = self._bundle
        if bundle is None:
            raise RuntimeError("the bundle did not load")
        _, scores = bundle.evaluate(records_of(model_input))
        return pd.DataFrame({"score": scores, "label": (scores >= bundle.threshold).astype(np.int64)})


def _pip_requirements() -> list[str]:
    mlflow_dist = "mlflow-skinny"
    try:
        mlflow_version = importlib.metadata.version(mlflow_dist)
    except importlib.metadata.PackageNotFoundError:
        mlflow_dist, mlflow_version = "mlflow", importlib.metadata.version("mlflow")
    pins = [f"{mlflow_dist}=={mlflow_version}"]
    return pins + [f"{d}=={importlib.metadata.version(d)}" for d in RUNTIME_DISTRIBUTIONS]


@contextmanager
def _pyfunc_arguments(bundle: Bundle) -> Iterator[dict[str, Any]]:
    """What ``save_model`` and ``log_model`` are given for ``bundle`` (see the module)."""
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="skewguard-pyfunc-") as tmp:
        code = Path(tmp) / "serving"
        code.mkdir()
        for name in SHIPPED_MODULES:
            shutil.copy2(here / name, code / name)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MLFLOW_ADVICE, category=UserWarning)
            yield {
                "python_model": str(here / "pyfunc_model_code.py"),
                "model_config": {"content_hash": bundle.content_hash},
                "artifacts": {"bundle": str(bundle.path)},
                "code_paths": [str(code)],
                "signature": model_signature(bundle),
                "pip_requirements": _pip_requirements(),
                "metadata": {"skewguard_bundle": {**bundle.model_identity(), "content_hash": bundle.content_hash}},
            }


def export_bundle(bundle_path: Path, out: Path, content_hash: str | None = None) -> Bundle:
    """Write the bundle at ``bundle_path`` (checked against ``content_hash`` when given) as an
    MLflow pyfunc model in the folder ``out``, replacing an MLflow model already there (any
    other non-empty folder is refused); returns the bundle as loaded for the export."""
    bundle = Bundle.load(bundle_path, content_hash=content_hash)
    if out.exists() and any(out.iterdir()):
        if not (out / "MLmodel").is_file():
            raise FileExistsError(f"{out}: not empty and not an MLflow model; give another --out")
        shutil.rmtree(out)
    with _pyfunc_arguments(bundle) as arguments:
        mlflow.pyfunc.save_model(path=str(out), **arguments)
    log.info("bundle %s %s exported as an MLflow pyfunc model to %s (inputs %s)", bundle.name, bundle.version, out,
             json.dumps(bundle.inputs))  # fmt: skip
    return bundle


def log_bundle(
    bundle_path: Path, tracking_uri: str, experiment: str, register_as: str | None = None
) -> tuple[str, str | None]:
    """Log the bundle at ``bundle_path`` as the pyfunc model of a new run in ``experiment`` of
    the tracking store ``tracking_uri`` (which becomes the process's MLflow tracking URI) and,
    with ``register_as``, as a new version of that registered model; returns the model's URI
    and the registered version (None when not registered)."""
    bundle = Bundle.load(bundle_path)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    tags = {"skewguard.job": "bundle_export_mlflow", "skewguard.bundle_content_hash": bundle.content_hash}
    with mlflow.start_run(run_name=f"bundle {bundle.name} {bundle.version}", tags=tags):
        mlflow.log_params({**bundle.model_identity(), "bundle_path": str(bundle.path)})
        with _pyfunc_arguments(bundle) as arguments:
            info = mlflow.pyfunc.log_model(name="model", registered_model_name=register_as, **arguments)
    version = None if info.registered_model_version is None else str(info.registered_model_version)
    log.info("bundle %s %s logged to MLflow as %s%s", bundle.name, bundle.version, info.model_uri,
             f", registered as {register_as} version {version}" if version else "")  # fmt: skip
    return str(info.model_uri), version
