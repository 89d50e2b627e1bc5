"""MLflow tracking of the jobs' runs, switched on in conf (``mlflow.enabled``).

Data scientists keep models and metrics in MLflow; the jobs already describe each run in a
:class:`~jobs.lib.runs.RunRecord` (window, counts, ``details``) for ``metrics.job_runs``. So the
MLflow run is made from that record, in one place, when the run is recorded
(:func:`jobs.lib.runs.recorded_stage` calls :func:`track_run`), and no job has tracking code
of its own. What a record becomes:

- **tags**: ``skewguard.job``, ``skewguard.run_id``, ``skewguard.status``, ``skewguard.error``,
  ``skewguard.profile``; the MLflow run is named after the skewguard run id, and the
  MLflow run id is written back into the record's ``details`` (so into ``metrics.job_runs``);
- **params**: the window and workload, the source, and ``details["params"]`` (the settings a
  stage chose, e.g. the training hyper-parameters), flattened with dots;
- **metrics**: the record's counts and duration and every number (and true/false, as 1/0)
  elsewhere in ``details``, flattened with dots (``phases.write_s``, ``validation_auc``…);
- **artifacts**: the reports ``details`` names (:data:`ARTIFACT_KEYS`): a file as it is, a
  folder as its ``report.*`` files (the parity folder also holds the replayed requests).

Which jobs are tracked is ``mlflow.jobs``. Logging is best effort: any failure (MLflow not
installed, a server that refuses, a full disk) is one warning and the job's result stands.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.lib.job import one_line
from skewguard.config import Settings
from skewguard.settings_mlflow import import_mlflow
from skewguard.settings_models import url_without_credentials

if TYPE_CHECKING:
    from jobs.lib.runs import RunRecord

__all__ = ["ARTIFACT_KEYS", "run_metrics", "run_params", "track_run"]

log = logging.getLogger("skewguard.tracking")

#: ``details`` key naming a report → the artifact folder it is logged under
ARTIFACT_KEYS = {"report": "report", "report_path": "report", "model_dir": "model"}
#: the record's own numbers, logged as metrics
COUNT_FIELDS = (
    "source_count",
    "read_count",
    "landed_count",
    "quarantined_count",
    "out_of_window_count",
    "output_version",
)
#: the record's fields logged as params
PARAM_FIELDS = ("window_start", "window_end", "workload_id", "source")
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_BATCH = 100  # MLflow's limit on params in one log_batch (metrics: 1000)


def _key(parts: tuple[str, ...]) -> str:
    return _BAD_KEY_CHARS.sub("_", ".".join(parts))[:250]


def _leaves(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, (*prefix, str(k)))
    else:
        yield prefix, value


def run_params(run: RunRecord) -> dict[str, str]:
    """The MLflow params of a run (see the module)."""
    params = {name: str(getattr(run, name)) for name in PARAM_FIELDS if getattr(run, name) is not None}
    for path, value in _leaves(run.details.get("params") or {}):
        if value is not None:
            params[_key(path)] = str(value)[:_MAX_PARAM_CHARS]
    return params


def run_metrics(run: RunRecord, duration_s: float) -> dict[str, float]:
    """The MLflow metrics of a run (see the module): numbers only, NaN and None left out."""
    metrics = {name: float(getattr(run, name)) for name in COUNT_FIELDS if getattr(run, name) is not None}
    metrics["duration_s"] = duration_s
    for path, value in _leaves({k: v for k, v in run.details.items() if k != "params"}):
        if isinstance(value, int | float) and math.isfinite(value):  # a bool is an int: true → 1.0
            metrics[_key(path)] = float(value)
    return metrics


def _reports(run: RunRecord) -> Iterator[tuple[Path, str]]:
    for key, folder in ARTIFACT_KEYS.items():
        named = run.details.get(key)
        if not isinstance(named, str) or "://" in named:
            continue
        path = Path(named)
        if path.is_file():
            yield path, folder
        elif path.is_dir():
            yield from ((p, folder) for p in sorted(path.iterdir()) if p.is_file() and p.stem in ("report", "model"))


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:  # another job created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def track_run(settings: Settings, run: RunRecord) -> str | None:
    """Log ``run`` to MLflow when ``mlflow.enabled`` and its job is in ``mlflow.jobs``; returns
    the MLflow run id (also put in ``run.details["mlflow_run_id"]``), or None when not tracked
    or when logging failed (a warning says why; the job is not affected)."""
    conf = settings.mlflow
    if not conf.enabled or run.job not in conf.jobs:
        return None
    try:
        return _log(settings, run)
    except Exception as exc:
        log.warning("run %s was not logged to MLflow: %s", run.run_id, one_line(exc))
        log.debug("full error", exc_info=True)
        return None


def _log(settings: Settings, run: RunRecord) -> str:
    uri = settings.mlflow_tracking_uri()
    import_mlflow(uri)
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    row = run.row()
    started_ms = int(run.started_at.timestamp() * 1000)
    finished_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    tags = {
        "skewguard.job": run.job,
        "skewguard.run_id": run.run_id,
        "skewguard.status": run.status,
        "skewguard.profile": settings.profile,
        **({"skewguard.error": run.error[:_MAX_PARAM_CHARS]} if run.error else {}),
    }
    created = client.create_run(
        _experiment_id(client, settings.mlflow.experiment), start_time=started_ms, tags=tags, run_name=run.run_id
    )
    mlflow_run_id = created.info.run_id
    succeeded = False
    try:
        params = [Param(k, v) for k, v in run_params(run).items()]
        metrics = [Metric(k, v, finished_ms, 0) for k, v in run_metrics(run, row["duration_s"]).items()]
        for i in range(0, max(len(params), len(metrics)), _BATCH):
            client.log_batch(mlflow_run_id, metrics=metrics[i : i + _BATCH], params=params[i : i + _BATCH])
        for path, folder in _reports(run):
            client.log_artifact(mlflow_run_id, str(path), folder)
        succeeded = True
    finally:
        status = "FINISHED" if succeeded and run.status == "succeeded" else "FAILED"
        client.set_terminated(mlflow_run_id, status, end_time=finished_ms)
    run.details["mlflow_run_id"] = mlflow_run_id
    where = url_without_credentials(uri)
    log.info("run %s logged to MLflow at %s (experiment %s, run %s)", run.run_id, where, settings.mlflow.experiment,
             mlflow_run_id)  # fmt: skip
    return mlflow_run_id
