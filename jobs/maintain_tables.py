"""spark-submit job: table upkeep — retention, compaction and vacuum of every skewguard table.

    skewguard-maintain-tables [--as-of 2024-12-31]

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from functools import partial

from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_args, iso_date, job_settings, run_stage
from jobs.lib.window import RunWindow

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
            "maintenance.vacuum_retention_hours. What was done goes to metrics.job_runs."
        ),
    )
    parser.add_argument(
        "--as-of", type=iso_date, help="the day retention and compaction count back from (default: today, UTC)"
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_of = args.as_of or dt.datetime.now(dt.UTC).date()

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.lib.maintenance import maintain_tables

    stage = partial(maintain_tables, as_of=as_of)
    outcome = run_stage(JOB, settings, stage, window=RunWindow(end=as_of), label=str(as_of))
    if not outcome.succeeded:
        return EXIT_FAILED
    log.info("%s succeeded as of %s: %d tables", JOB, as_of, len(outcome.result))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
