"""``metrics.job_runs``: one row per run of any job, succeeded or failed.

A run that dies without recording itself (``kill -9``, a lost driver machine) still gets its
row: each run leaves a marker under ``<lakehouse>/_runs/in_progress/`` while it works, and
the next run of any job on that host records every marker whose process is gone as
``failed`` with an ``abandoned:`` cause.

:func:`recorded_stage` is the run half of every job's skeleton (``jobs.lib.job.run_stage``
builds the session and calls it); :func:`recorded_run` is the same for a ``work(run)`` callable."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pyspark.sql import SparkSession

from jobs.lib.delta_io import ensure_table
from jobs.lib.job import one_line
from jobs.lib.tracking import track_run
from schemas.tables import JOB_RUNS
from skewguard.config import Settings
from skewguard.processes import process_alive

if TYPE_CHECKING:
    from jobs.lib.window import DayWindow, RunWindow

__all__ = [
    "Outcome",
    "RunMarkers",
    "RunRecord",
    "Stage",
    "new_run_id",
    "record_abandoned",
    "record_run",
    "recorded_run",
    "recorded_stage",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def new_run_id(job: str) -> str:
    return f"{job}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunRecord:
    """What a job reports about itself; ``finish()`` stamps the end time and duration."""

    job: str
    run_id: str = ""
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    status: str = "failed"
    error: str | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    workload_id: str | None = None
    source: str | None = None
    source_count: int | None = None
    read_count: int | None = None
    landed_count: int | None = None
    quarantined_count: int | None = None
    out_of_window_count: int | None = None
    output_version: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.run_id = self.run_id or new_run_id(self.job)

    def row(self) -> dict[str, Any]:
        finished = dt.datetime.now(dt.UTC)
        values = {name: getattr(self, name, None) for name in JOB_RUNS.column_names}
        values.update(
            finished_at=finished,
            duration_s=round(time.monotonic() - self._t0, 3),
            details_json=json.dumps(self.details, default=str, sort_keys=True),
        )
        return values


class Stage(Protocol[T_co]):
    """A stage's work: reads, transforms, writes, fills ``run`` with its counts and returns its
    result. Called with keywords, so a stage function's other inputs are bound beforehand with
    ``functools.partial(fn, name=value, ...)``."""

    def __call__(self, *, spark: SparkSession, settings: Settings, run: RunRecord) -> T_co: ...


class Outcome(Generic[T]):
    """A recorded run: ``run`` as written to ``metrics.job_runs`` and, when it succeeded,
    ``result``, what its stage returned."""

    __slots__ = ("_result", "run")

    def __init__(self, run: RunRecord, result: T | None = None) -> None:
        self.run = run
        self._result = result

    @property
    def succeeded(self) -> bool:
        return self.run.status == "succeeded"

    @property
    def result(self) -> T:
        """What the stage returned; only a succeeded run has a result."""
        if not self.succeeded or self._result is None:
            raise RuntimeError(f"run {self.run.run_id} ({self.run.status}) has no result: {self.run.error}")
        return self._result


def record_run(spark: SparkSession, settings: Settings, run: RunRecord) -> None:
    """Append the run's row to ``metrics.job_runs``."""
    path = ensure_table(spark, settings, JOB_RUNS)
    row = run.row()
    df = spark.createDataFrame([tuple(row[c] for c in JOB_RUNS.column_names)], JOB_RUNS.spark_schema())
    df.write.format("delta").mode("append").save(path)


def recorded_stage(
    spark: SparkSession,
    settings: Settings,
    job: str,
    stage: Stage[T],
    *,
    window: DayWindow | RunWindow | None = None,
    label: str | None = None,
) -> Outcome[T]:
    """Run ``stage`` on a fresh :class:`RunRecord` covering ``window`` and append the run to
    ``metrics.job_runs``, whether it succeeded or failed. A failure is logged as one line a
    person can act on (the trace at DEBUG) and leaves ``run.status == "failed"``; it is not
    raised. Runs that died before recording themselves are recorded first (see the module).
    With ``mlflow.enabled``, the run is also logged to MLflow (:mod:`jobs.lib.tracking`)."""
    log = logging.getLogger(f"skewguard.{job}")
    run = RunRecord(job=job)
    if window is not None:
        run.window_start, run.window_end, run.workload_id = window.start, window.end, window.workload_id
    name = f"{job} ({label})" if label else job
    markers: RunMarkers | None = None
    try:
        markers = RunMarkers(spark, settings)
        record_abandoned(spark, settings, markers, run.run_id)
        markers.put(run)
    except Exception as exc:  # bookkeeping of dead runs must not stop this one
        log.warning("could not check or leave the in-progress marker: %s", one_line(exc))
    result: T | None = None
    try:
        result = stage(spark=spark, settings=settings, run=run)
    except Exception as exc:
        run.status, run.error = "failed", one_line(exc)
        log.error("%s failed: %s", name, run.error)
        log.debug("full error", exc_info=True)
    track_run(settings, run)  # when conf turns MLflow on; never raises
    try:
        record_run(spark, settings, run)
    except Exception as exc:
        log.error("could not record the run in metrics.job_runs: %s", one_line(exc))
    else:
        if markers is not None:
            markers.remove(run.run_id)
    return Outcome(run, result)


def recorded_run(
    spark: SparkSession,
    settings: Settings,
    job: str,
    work: Callable[[RunRecord], object],
    label: str | None = None,
    *,
    window: DayWindow | RunWindow | None = None,
) -> RunRecord:
    """:func:`recorded_stage` for a ``work(run)`` callable (notebooks, ad-hoc runs); returns the run."""

    def stage(*, spark: SparkSession, settings: Settings, run: RunRecord) -> object:
        return work(run)

    return recorded_stage(spark, settings, job, stage, window=window, label=label).run

    return True


class RunMarkers:
    """``<lakehouse>/_runs/in_progress/<run_id>.json`` through Hadoop's file system, so the
    lakehouse may be a local folder or an object store like the tables."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        jvm = spark.sparkContext._jvm
        if jvm is None:
            raise RuntimeError("the Spark session has no JVM gateway (was it stopped?)")
        self._jvm = jvm
        self._dir = jvm.org.apache.hadoop.fs.Path(f"{settings.lakehouse.root.rstrip('/')}/_runs/in_progress")
        self._fs = self._dir.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def _path(self, name: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(self._dir, name)

    def put(self, run: RunRecord) -> None:
        payload = {
            "run_id": run.run_id,
            "job": run.job,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": run.started_at.isoformat(),
        }
        out = self._fs.create(self._path(f"{run.run_id}.json"), True)
        try:
            out.write(bytearray(json.dumps(payload).encode()))
        finally:
            out.close()

    def remove(self, run_id: str) -> None:
        self.drop(f"{run_id}.json")

    def entries(self) -> list[dict[str, Any]]:
        if not self._fs.exists(self._dir):
            return []
        found = []
        for status in self._fs.listStatus(self._dir):
            name = status.getPath().getName()
            if not name.endswith(".json"):
                continue
            stream = self._fs.open(status.getPath())
            try:
                text = self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
            finally:
                stream.close()
            try:
                found.append({**json.loads(text), "_name": name})
            except ValueError:
                continue  # a marker cut short by the crash itself: its run never started work
        return found

    def claim(self, entry: dict[str, Any], by: str) -> str | None:
        """Rename the marker so only one of several runs noticing it records it; returns the
        claimed name (to :meth:`drop` once recorded) or None when another run was first."""
        claimed = f"{entry['_name']}.claimed-by-{by}"
        return claimed if self._fs.rename(self._path(entry["_name"]), self._path(claimed)) else None

    def drop(self, name: str) -> None:
        self._fs.delete(self._path(name), False)


def record_abandoned(spark: SparkSession, settings: Settings, markers: RunMarkers, noticed_by: str) -> int:
    """Record, as failed, every run on this host whose process ended without recording
    itself; returns how many. Markers of other hosts are left to runs on those hosts."""
    host, recorded = socket.gethostname(), 0
    for entry in markers.entries():
        if entry.get("host") != host or process_alive(int(entry.get("pid", 0))):
            continue
        claimed = markers.claim(entry, noticed_by)
        if claimed is None:
            continue
        started = dt.datetime.fromisoformat(entry["started_at"])
        elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
        run = RunRecord(
            job=entry["job"],
            run_id=entry["run_id"],
            started_at=started,
            error=(
                f"abandoned: the driver (pid {entry['pid']} on {host}) stopped before the run ended; "
                f"noticed by {noticed_by}"
            ),
            details={"abandoned": True, "noticed_by": noticed_by},
            _t0=time.monotonic() - elapsed,
        )
        record_run(spark, settings, run)
        markers.drop(claimed)
        logging.getLogger(f"skewguard.{run.job}").warning("run %s: %s", run.run_id, run.error)
        recorded += 1
    return recorded
