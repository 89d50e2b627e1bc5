"""spark-submit job: evaluate candidate model bundles against the production one on the
labelled traffic that was served, and (with --gate) decide whether a candidate may be promoted.

    skewguard-evaluate-models --start 2024-11-20 --end 2024-11-22 --workload fraud-scoring \\
        --candidate lakehouse/artifacts/bundles/fraud-scoring-model-v2 --gate && promote.sh

Exit codes: 0 evaluated (with --gate: every candidate passed), 1 (--gate) a candidate failed
the gate (the log names the metric and workload, or the parity gate), 2 the evaluation could
not run (bad usage or configuration, no such bundle, no labelled rows, a failing source;
nothing is written then).
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

JOB = "evaluate_models"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-evaluate-models",
        description=(
            "Score the production bundle and one or more candidates on the same labelled served rows "
            "(silver.labeled_examples of a window, or only a training set's eval split): each bundle recomputes "
            "its outputs from the logged inputs through its own transforms. Metrics per workload and per "
            "evaluation.slice_columns slice: ROC AUC, PR AUC (average precision), log loss, Brier score, expected "
            "calibration error, accuracy/precision/recall at the bundle's threshold — each with a bootstrap "
            "confidence interval, and each candidate's difference from production with a paired one. Appends "
            "the rows to metrics.evaluations and writes an HTML report."
        ),
    )
    add_window_args(parser)
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        required=True,
        help="a candidate bundle: its folder, or <name>/<version> of a bundle built here (repeatable)",
    )
    parser.add_argument(
        "--production",
        help="the production bundle (folder or <name>/<version>; default: the one that served most rows of the window)",
    )
    parser.add_argument("--training-set", help="evaluate only the rows of this training set's eval split")
    parser.add_argument(
        "--by",
        choices=["window", "day"],
        default="window",
        help="window (default): one set of metrics for the whole window; day: also each day on its own",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 unless every candidate passed its parity gate and no metric of evaluation.gate is worse than "
        "production's by more than its margin (the far end of the paired interval)",
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)
    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.evaluate.tabular_evaluation import EvaluationRequest, evaluate_models

    request = EvaluationRequest(
        window, tuple(args.candidate), args.production, args.training_set, by_day=args.by == "day"
    )
    outcome = run_stage(
        JOB, settings, partial(evaluate_models, request=request, gate=args.gate), window=window, label=str(window)
    )
    if not outcome.succeeded:
        return EXIT_USAGE
    result = outcome.result
    from jobs.evaluate.evaluation_summary import table_lines

    for line in table_lines(result.rows):
        log.info("%s", line)
    if result.refused:
        log.warning(
            "%d row(s) refused by a bundle were left out for every bundle, e.g. %s", result.refused, result.refusals[:1]
        )
    log.info("report: %s", result.report)
    if not args.gate:
        return EXIT_OK
    failed = [d for d in result.decisions if not d.passed]
    for d in result.decisions:
        log.info("GATE %s %s", "PASS" if d.passed else "FAIL", d.candidate)
        for line in d.failures:
            log.warning("GATE FAIL %s", line)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
