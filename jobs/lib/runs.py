"""``metrics.job_runs``: one row per run of any job, succeeded or failed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from jobs.lib.cli import one_line
from jobs.lib.delta_io import ensure_table
from schemas.tables import JOB_RUNS
from skewguard.config import Settings

__all__ = ["RunRecord", "new_run_id", "record_run", "recorded_run"]


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


def record_run(spark: SparkSession, settings: Settings, run: RunRecord) -> None:
    """Append the run's row to ``metrics.job_runs``."""
    path = ensure_table(spark, settings, JOB_RUNS)
    row = run.row()
    df = spark.createDataFrame([tuple(row[c] for c in JOB_RUNS.column_names)], JOB_RUNS.spark_schema())
    df.write.format("delta").mode("append").save(path)


def recorded_run(
    spark: SparkSession, settings: Settings, job: str, work: Callable[[RunRecord], None], label: str | None = None
) -> RunRecord:
    """Run ``work`` on a fresh :class:`RunRecord` and append the run to ``metrics.job_runs``,
    whether it succeeded or failed. A failure is logged as one line a person can act on (the
    trace at DEBUG) and leaves ``run.status == "failed"``; it is not raised."""
    log = logging.getLogger(f"skewguard.{job}")
    run = RunRecord(job=job)
    name = f"{job} ({label})" if label else job
    try:
        work(run)
    except Exception as exc:
        run.status, run.error = "failed", one_line(exc)
        log.error("%s failed: %s", name, run.error)
        log.debug("full error", exc_info=True)
    try:
        record_run(spark, settings, run)
    except Exception as exc:
        log.error("could not record the run in metrics.job_runs: %s", one_line(exc))
    return run
