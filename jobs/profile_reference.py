"""spark-submit job: profile a drift reference once, for every later drift run to compare with.

    skewguard-profile-reference --training-set fraud-scoring_20241101_20241120
    skewguard-profile-reference --name llm-nov --table silver.llm_interactions --start 2024-11-01 --end 2024-11-07

Exit codes: 0 profiled, 1 the profiling failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

from jobs.drift.sources import KNOWN_TABLES
from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_args, iso_date, job_settings, run_stage
from jobs.lib.window import RunWindow

__all__ = ["main"]

JOB = "profile_reference"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-profile-reference",
        description=(
            "Measure a reference once — a training set's examples as they were logged, or a window of any Delta "
            "table — and store its profile in metrics.reference_profiles: per workload × feature the counts, null "
            "rate, quantile bin edges (PSI), fine histograms on reference-quantile edges (KS) and top categories "
            "(JS). Features and their types come from the training set's contract, --features, drift.features in "
            "the configuration, or the LLM table's declaration. Re-profiling a name replaces its profile."
        ),
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--training-set", help="a built training set: its train examples are the reference")
    what.add_argument("--table", help=f"a Delta table: one of {', '.join(KNOWN_TABLES)}, or a path")
    parser.add_argument("--name", help="name of the profile (default: the training set's name; required with --table)")
    parser.add_argument("--start", type=iso_date, help="with --table: first UTC day of the reference window")
    parser.add_argument("--end", type=iso_date, help="with --table: last UTC day, inclusive")
    parser.add_argument("--workload", help="only this workload")
    parser.add_argument(
        "--features", help="name:numeric,name:categorical,… — the features to monitor (overrides the declarations)"
    )
    parser.add_argument("--workload-column", default="workload_id", help="--table: column naming the workload")
    parser.add_argument("--date-column", default="event_date", help="--table: date column the window applies to")
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.table and not args.name:
        parser.error("--table needs --name")
    if bool(args.start) != bool(args.end) or (args.start and args.training_set):
        parser.error("--start and --end go together, and only with --table")
    if args.start and args.end < args.start:
        parser.error(f"--end {args.end} is before --start {args.start}")

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.drift.reference_profile import profile_reference, profile_table
    from jobs.drift.sources import parse_feature_list, training_set_source

    try:
        given = parse_feature_list(args.features) if args.features else None
    except ValueError as exc:
        log.error("%s: %s", JOB, exc)
        return EXIT_USAGE
    name = args.name or args.training_set
    if args.training_set:
        try:
            source, contract = training_set_source(settings, args.training_set)
        except FileNotFoundError as exc:
            log.error("%s: %s", JOB, exc)
            return EXIT_USAGE
        stage = partial(profile_reference, source=source, name=name, contract=contract, given=given)
        window = RunWindow(source.start, source.end, source.workload)
    else:
        stage = partial(
            profile_table,
            table=args.table,
            name=name,
            start=args.start,
            end=args.end,
            workload=args.workload,
            workload_column=args.workload_column,
            date_column=args.date_column,
            given=given,
        )
        window = RunWindow(args.start, args.end, args.workload)
    outcome = run_stage(JOB, settings, stage, window=window, label=name)
    if not outcome.succeeded:
        return EXIT_FAILED
    log.info("reference profile %s: %s rows from %s", name, outcome.run.landed_count, outcome.run.source)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
