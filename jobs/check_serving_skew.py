"""spark-submit job: serving skew on what serving logged for one day and workload.

    skewguard-check-serving-skew --date 2024-11-21 --workload fraud-scoring \
        [--feature-table lakehouse/features/customers --entity-key customer_id]

Exit codes: 0 checked (and, with --fail-on-mismatch, nothing differs), 1 the check failed or
(with --fail-on-mismatch) something differs, 2 bad usage or configuration, 3 (with
--fail-on-mismatch) the day has no logged predictions for the workload: nothing was checked
(and metrics.serving_skew keeps its earlier rows for the day).
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

from jobs.lib.job import (
    EXIT_FAILED,
    EXIT_NO_DATA,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    iso_date,
    job_settings,
    run_stage,
)
from jobs.lib.window import DayWindow

__all__ = ["main"]

JOB = "check_serving_skew"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-check-serving-skew",
        description=(
            "For one UTC day and workload of silver.predictions: recompute every logged prediction with the bundle "
            "its log names (model version + transform hash, from <artifacts>/bundles/<name>-<version>) and count "
            "logged outputs that differ; with --feature-table, join each logged feature point-in-time to the "
            "offline table and count values missing in serving, stale or different. Writes metrics.serving_skew "
            "(a re-run replaces the day and workload)."
        ),
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the UTC day, YYYY-MM-DD")
    parser.add_argument("--workload", required=True, help="the workload_id")
    parser.add_argument(
        "--feature-table",
        help="Delta table (path) of offline features: an entity column, an as-of timestamp, one column per feature id",
    )
    parser.add_argument(
        "--entity-key",
        help="with --feature-table: the logged feature id (or client_id / request_id) that holds the entity id",
    )
    parser.add_argument("--entity-column", default="entity_id", help="entity column of the feature table")
    parser.add_argument("--as-of-column", default="as_of", help="as-of timestamp column of the feature table")
    parser.add_argument(
        "--fail-on-mismatch",
        action="store_true",
        help="exit 1 when any check finds a difference, 3 when there is nothing to check (no logged predictions)",
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.feature_table) != bool(args.entity_key):
        parser.error("--feature-table and --entity-key go together")

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.parity.serving_skew import FeatureTable, check_serving_skew, summarize

    table = (
        FeatureTable(args.feature_table, args.entity_key, args.entity_column, args.as_of_column)
        if args.feature_table
        else None
    )
    stage = partial(check_serving_skew, day=args.date, workload=args.workload, feature_table=table)
    window = DayWindow(args.date, args.date, args.workload)
    outcome = run_stage(JOB, settings, stage, window=window, label=f"{args.date} {args.workload}")
    if not outcome.succeeded:
        return EXIT_FAILED
    rows = outcome.result
    if not rows:
        log.warning(
            "%s %s: no logged predictions in silver.predictions: nothing checked, earlier results kept",
            args.date,
            args.workload,
        )
        return EXIT_NO_DATA if args.fail_on_mismatch else EXIT_OK
    findings = summarize(rows)
    for line in findings:
        log.warning("%s", line)
    log.info("%s %s: %d checks, %d with differences", args.date, args.workload, len(rows), len(findings))
    return EXIT_FAILED if findings and args.fail_on_mismatch else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
