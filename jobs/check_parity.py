"""spark-submit job: the blocking parity gate before a model bundle is deployed.

    skewguard-check-parity --bundle lakehouse/artifacts/bundles/fraud-scoring-model-v3 && deploy.sh

Exit codes: 0 the bundle reproduces the offline outputs (max |Δ| < tolerance), 1 it does
not (the report names the first stage and features that differ), 2 the gate could not run
(bad arguments or configuration, missing bundle or training set, the serving process crashed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path

from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_args, job_settings, run_stage

__all__ = ["main"]

JOB = "check_parity"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-check-parity",
        description=(
            "Send sampled offline examples through a model bundle in a separate plain Python process, exactly as "
            "serving receives them (JSON requests, one at a time and in batches), and compare every output with "
            "what the offline pipeline computed in Spark. On a mismatch, both paths are re-run stage by stage on "
            "the failing examples and the report names the first stage and the features where they part. "
            "Writes metrics.parity and report.txt/.html/.json. Exit 0 pass, 1 fail, 2 error."
        ),
    )
    parser.add_argument("--bundle", type=Path, required=True, help="the model bundle folder to check")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--training-set", help="training set whose examples and vectors are the offline side (default: the bundle's)"
    )
    source.add_argument(
        "--table",
        help="instead, any Delta table (path) with event_id, the bundle's input columns typed, and `features` "
        "(array<double>, ordered as the bundle's feature names)",
    )
    parser.add_argument(
        "--offline-pipeline",
        type=Path,
        help="with --table: the fitted pipeline.json that computed its features (default: the bundle's training set's)",
    )
    parser.add_argument("--sample-size", type=int, help="examples to compare (default: parity.sample_size, 10000)")
    parser.add_argument(
        "--stratify",
        default="",
        help="comma-separated columns to sample equally across, e.g. workload_id,split (default: none)",
    )
    parser.add_argument("--tolerance", type=float, help="largest allowed |Δ| (default: parity.tolerance, 1e-6)")
    parser.add_argument("--report-dir", type=Path, help="where the report goes (default: <artifacts>/parity/<run>)")
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sample_size is not None and args.sample_size < 1:
        parser.error("--sample-size must be at least 1")
    if args.tolerance is not None and args.tolerance <= 0:
        parser.error("--tolerance must be positive")
    if args.offline_pipeline and not args.table:
        parser.error("--offline-pipeline goes with --table")
    strata = tuple(c.strip() for c in args.stratify.split(",") if c.strip())

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.parity.gate import ParityRequest, check_parity
    from jobs.parity.parity_report import render_text

    if not (args.bundle / "manifest.json").exists():
        log.error("%s: no model bundle at %s (no manifest.json)", JOB, args.bundle)
        return EXIT_USAGE
    request = ParityRequest(
        bundle=args.bundle,
        training_set=args.training_set,
        table=args.table,
        offline_pipeline=args.offline_pipeline,
        strata=strata,
        sample_size=args.sample_size,
        tolerance=args.tolerance,
        report_dir=args.report_dir,
    )
    outcome = run_stage(JOB, settings, partial(check_parity, request=request), label=str(args.bundle))
    if not outcome.succeeded:
        return EXIT_USAGE
    report = outcome.result
    if report["passed"]:
        log.info("%s", render_text(report).rstrip())
        return EXIT_OK
    log.error("%s", render_text(report).rstrip())
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
