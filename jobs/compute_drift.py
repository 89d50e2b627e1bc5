"""spark-submit job: drift of a window of serving logs (or any Delta table) against a stored
reference profile (or, with --compare previous, against the window before it on the profile's
bins) — PSI, KS, JS, null-rate and count deltas, a dataset verdict per workload — into
metrics.drift, with an HTML report (each feature's trend over the last windows) and an alert
summary.

    skewguard-compute-drift --reference fraud-scoring_20241101_20241120 --date 2024-11-21 --fail-on-alert

Exit codes: 0 computed (no alert, or alerts without --fail-on-alert), 1 an alert was raised
and --fail-on-alert was given (with --fail-on dataset: a workload's dataset verdict is in
alert), 2 the drift could not be computed (bad usage or configuration, no such profile, a
failing source; nothing is written then), 3 (with --fail-on-alert, and no alert) a profiled
workload has no rows in the window: it was not checked, and its earlier rows in metrics.drift
are kept.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path

from jobs.lib.job import (
    EXIT_FAILED,
    EXIT_NO_DATA,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    add_window_args,
    job_settings,
    run_stage,
    window_from_args,
)

__all__ = ["main"]

JOB = "compute_drift"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-compute-drift",
        description=(
            "Compare a window of current rows with a reference profile (profile_reference) per workload × feature "
            "(and per value of drift.slice_columns): PSI for every feature, KS for numeric ones (bounded by "
            "default: [D_lo, D_hi], walked exactly where a threshold falls inside; --ks-mode exact gives scipy's "
            "ks_2samp statistic), JS divergence and distance for categorical ones, null-rate and count deltas. "
            "Each workload (and slice) also gets a dataset verdict: the share of its features in alert, in alert "
            "itself from drift.drift_share on. "
            "Writes metrics.drift (a re-run of the window replaces its rows), <report-dir>/report.html and "
            "<report-dir>/summary.json (the alert and warning lines); the report shows each feature's KS / JS "
            "distance over the last drift.trend_windows windows against the same reference."
        ),
    )
    parser.add_argument("--reference", required=True, help="name of the reference profile")
    add_window_args(parser)
    parser.add_argument(
        "--table", help="current rows: a table name or Delta path (default: where the reference's rows are logged)"
    )
    parser.add_argument(
        "--compare",
        choices=["reference", "previous"],
        default="reference",
        help="what the window is compared with: reference (the stored profile; drift_type baseline, the default) "
        "or previous (the window of the same length just before it, binned on the profile's edges; drift_type "
        "consecutive)",
    )
    parser.add_argument("--ks-mode", choices=["bounded", "exact"], help="KS computation (default: drift.ks_mode)")
    parser.add_argument("--report-dir", type=Path, help="folder of the report (default: <drift.report_dir>/<run id>)")
    parser.add_argument(
        "--fail-on-alert",
        action="store_true",
        help="exit 1 when any metric is in alert, else 3 when a profiled workload has no rows in the window",
    )
    parser.add_argument(
        "--fail-on",
        choices=["any-feature", "dataset"],
        help="what --fail-on-alert gates on (implies it): any-feature (the default) exits 1 when any metric of "
        "any feature is in alert; dataset only when a workload's share of features in alert reaches "
        "drift.drift_share (its dataset verdict)",
    )
    add_common_args(parser)
    return parser


def _against(args: argparse.Namespace) -> str:
    return args.reference if args.compare == "reference" else f"the previous window (bins of {args.reference})"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.drift.measure_drift import measure_drift

    stage = partial(
        measure_drift,
        reference=args.reference,
        window=window,
        table=args.table,
        ks_mode=args.ks_mode,
        report_dir=args.report_dir,
        compare=args.compare,
    )
    outcome = run_stage(JOB, settings, stage, window=window, label=f"{window} vs {_against(args)}")
    if not outcome.succeeded:
        return EXIT_USAGE
    result = outcome.result
    for line in result.dataset_alerts + result.alerts + result.warnings:
        log.warning("%s", line)
    features = result.report.features
    log.info(
        "%s vs %s: %d feature(s) × scope(s): %d alert, %d warn; report: %s",
        window,
        _against(args),
        len(features),
        sum(f.status == "alert" for f in features),
        sum(f.status == "warn" for f in features),
        outcome.run.details["report"],
    )
    if result.empty_workloads:
        log.warning("%s: no rows for %s: not checked, earlier results kept", window, ", ".join(result.empty_workloads))
    if not (args.fail_on_alert or args.fail_on):
        return EXIT_OK
    failing = result.dataset_alerts if args.fail_on == "dataset" else result.alerts
    return EXIT_FAILED if failing else EXIT_NO_DATA if result.empty_workloads else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
