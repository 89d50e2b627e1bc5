"""The ``mlflow`` section of ``conf/*.yaml``, and the one way skewguard imports MLflow.

MLflow is an optional extra (``pip install 'skewguard[mlflow]'``): the jobs log their runs to
a tracking server only when ``mlflow.enabled`` is on, and ``skewguard bundle export-mlflow``
writes a bundle as an MLflow model. Both import it through :func:`import_mlflow`, so a missing
package is one line naming the extra, not a traceback.

Composed into ``Settings`` by :mod:`skewguard.config`; import it from there.
"""

from __future__ import annotations

import os
from types import ModuleType

from pydantic import Field, field_validator

from skewguard.settings_models import SettingsModel

__all__ = ["MLFLOW_EXTRA", "TRACKED_JOBS", "MlflowMissing", "MlflowSettings", "import_mlflow", "is_file_store"]

MLFLOW_EXTRA = "pip install 'skewguard[mlflow]'"
#: the jobs tracked unless ``mlflow.jobs`` says otherwise
TRACKED_JOBS = ("train_reference_model", "check_parity", "compute_drift", "evaluate_models", "evaluate_llm")


class MlflowSettings(SettingsModel):
    enabled: bool = False
    """Log the parameters, metrics and reports of the training, parity, drift and evaluation runs
    to the tracking server (env ``SKEWGUARD_MLFLOW_ENABLED``). A failure to log is a warning; the
    job's outcome does not depend on it."""
    tracking_uri: str | None = None
    """Where runs go (env ``MLFLOW_TRACKING_URI``): a tracking server (``http://…``, ``databricks``),
    a database (``sqlite:///…``, needs MLflow's SQL extras) or a folder. ``null``: the folder
    ``<lakehouse>/mlruns``, MLflow's file store, which needs no server and no extra package."""
    experiment: str = Field(default="skewguard", min_length=1)
    """Experiment the runs are logged under (env ``MLFLOW_EXPERIMENT_NAME``)."""
    jobs: tuple[str, ...] = TRACKED_JOBS
    """The jobs whose runs are logged (names as in ``metrics.job_runs.job``): by default training,
    parity, drift and evaluation; any job's run can be, e.g. ``ingest_logs`` for its counts."""

    @field_validator("tracking_uri")
    @classmethod
    def _blank_is_default(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class MlflowMissing(RuntimeError):
    """MLflow is needed and not installed."""


def is_file_store(uri: str) -> bool:
    """Whether ``uri`` names MLflow's file store (a plain path or ``file:``)."""
    return ("://" not in uri and not uri.startswith(("sqlite:", "databricks"))) or uri.startswith("file:")


def import_mlflow(tracking_uri: str | None = None) -> ModuleType:
    """The ``mlflow`` module, or :class:`MlflowMissing` saying how to install it.

    MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set (it is "in
    maintenance mode": new features go to the database store, which needs SQLAlchemy and
    Alembic, not part of ``mlflow-skinny``). The file store still reads and writes runs,
    parameters, metrics, artifacts and models, which is all skewguard uses, so when
    ``tracking_uri`` is a folder the opt-in is set for this process (unless already set)."""
    try:
        import mlflow
    except ImportError:
        raise MlflowMissing(f"MLflow is not installed: {MLFLOW_EXTRA}") from None
    if tracking_uri is not None and is_file_store(tracking_uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow
