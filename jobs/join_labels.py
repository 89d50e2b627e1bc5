"""spark-submit job: join delayed labels to a window of silver.predictions.

    skewguard-join-labels --date 2024-11-20 --labels /data/labels.jsonl
    skewguard-join-labels --start 2024-11-18 --end 2024-11-20 --labels lakehouse/raw/labels --label-window-days 3
    spark-submit $(skewguard submit-args) jobs/join_labels.py --date 2024-11-20 --labels s3a://… --profile cluster

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr; silver.labeled_examples
untouched), 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

from jobs.lib.job import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    add_window_args,
    job_settings,
    run_stage,
    window_from_args,
)

__all__ = ["main"]

JOB = "join_labels"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-join-labels",
        description=(
            "Give each prediction of one window of whole UTC days (silver.predictions) its delayed label and "
            "write the labeled ones to silver.labeled_examples. A label counts when it carries the prediction's "
            "request_id and is dated no earlier than the prediction and at most --label-window-days after it; "
            "when several do, the newest wins. Predictions left without a label are counted by cause in "
            "metrics.job_runs. Re-running a window replaces exactly that window (and picks up labels that "
            "arrived since)."
        ),
    )
    add_window_args(parser)
    parser.add_argument(
        "--labels",
        required=True,
        help="where the labels are: a Delta table (directory with _delta_log) or JSONL (a file or a directory) "
        "of {request_id, label, label_ts}; label_ts is ISO-8601 or epoch seconds",
    )
    parser.add_argument(
        "--label-window-days",
        type=float,
        help="how long after a prediction its label may arrive (default: conf training.label_window_days)",
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)
    if args.label_window_days is not None and args.label_window_days <= 0:
        parser.error(f"--label-window-days must be positive, got {args.label_window_days}")

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.silver.label_join import join_window

    window_days = args.label_window_days or settings.training.label_window_days
    stage = partial(join_window, window=window, labels_path=args.labels, window_days=window_days)
    outcome = run_stage(JOB, settings, stage, window=window)
    if not outcome.succeeded:
        return EXIT_FAILED
    run = outcome.run
    log.info(
        "%s succeeded: run %s labeled %d of %d predictions (silver.labeled_examples version %s)",
        JOB, run.run_id, run.landed_count, run.source_count, run.output_version,
    )  # fmt: skip
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
