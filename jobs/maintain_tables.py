"""spark-submit job: table upkeep — retention, compaction and vacuum of every skewguard table,
and retention of the raw logs' daily Elasticsearch indices (only of days bronze has landed).

    skewguard-maintain-tables [--as-of 2024-12-31]

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_args, iso_date, job_settings, run_stage
from jobs.lib.window import RunWindow

if TYPE_CHECKING:
    from jobs.lib.runs import RunRecord
    from skewguard.config import Settings

__all__ = ["main"]

JOB = "maintain_tables"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-maintain-tables",
        description=(
            "For every skewguard Delta table that exists: delete rows older than the retention of "
            "maintenance.retention_days (bronze: 90 days, for storage and PII), compact the partitions of the "
            "last maintenance.optimize_days days (OPTIMIZE), and VACUUM files unreferenced for "
            "maintenance.vacuum_retention_hours. With maintenance.es_retention_days set, also delete the daily "
            "Elasticsearch indices (<index>-YYYY.MM.DD) older than that many days, but only a day that reconciles "
            "with bronze (every document landed); a day that does not is kept and reported. What was done goes to "
            "metrics.job_runs."
        ),
    )
    parser.add_argument(
        "--as-of", type=iso_date, help="the day retention and compaction count back from (default: today, UTC)"
    )
    add_common_args(parser)
    return parser


def _upkeep(spark: Any, settings: Settings, run: RunRecord, as_of: dt.date) -> dict[str, Any]:
    """The tables' upkeep, then the Elasticsearch indices' (its outcome in the run's details)."""
    from jobs.bronze.es_retention import expire_daily_indices
    from jobs.lib.maintenance import maintain_tables

    done = maintain_tables(spark, settings, as_of, run)
    run.details["elasticsearch"] = expire_daily_indices(spark, settings, as_of)
    if run.details["elasticsearch"].get("kept"):
        log.warning("daily indices kept past retention: %s", run.details["elasticsearch"]["kept"])
    return done


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_of = args.as_of or dt.datetime.now(dt.UTC).date()

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    stage = partial(_upkeep, as_of=as_of)
    outcome = run_stage(JOB, settings, stage, window=RunWindow(end=as_of), label=str(as_of))
    if not outcome.succeeded:
        return EXIT_FAILED
    log.info("%s succeeded as of %s: %d tables", JOB, as_of, len(outcome.result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
