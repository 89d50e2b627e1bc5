"""spark-submit job: parse a window of bronze serving logs into typed silver tables.

    skewguard-parse --date 2024-11-20
    skewguard-parse --start 2024-11-18 --end 2024-11-20 --workload fraud-scoring
    spark-submit $(skewguard submit-args) jobs/parse_logs.py --date 2024-11-20 --profile cluster

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr; that kind's silver tables
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

JOB = "parse_logs"
log = logging.getLogger(f"skewguard.{JOB}")
KIND_NAMES = (
    "predictions",
    "llm",
)  # keep in step with jobs.silver.parse.KINDS (not imported here: no Spark at parse time)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-parse",
        description=(
            "Parse one window of whole UTC days of bronze.serving_logs into typed silver tables: prediction "
            "records into silver.predictions (model, the features as logged, outputs, sampling rate), LLM "
            "interactions into silver.llm_interactions (messages, tools, response, usage, derived columns, after "
            "the OpenAI chat-format validation); records that do not parse go to silver.quarantine with one "
            "reason code each. Re-running a window replaces exactly that window. Each record kind is recorded as "
            "its own run in metrics.job_runs."
        ),
    )
    add_window_args(parser)
    parser.add_argument(
        "--kind",
        choices=[*KIND_NAMES, "all"],
        default="all",
        help="which record kind to parse: predictions, llm or all (default)",
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)
    names = list(KIND_NAMES) if args.kind == "all" else [args.kind]

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.silver.parse import KINDS, parse_window

    code = EXIT_OK
    for name in names:
        kind = KINDS[name]
        outcome = run_stage(JOB, settings, partial(parse_window, window=window, kind=kind), window=window, label=name)
        if not outcome.succeeded:
            code = EXIT_FAILED
            continue
        run = outcome.run
        log.info(
            "%s (%s) succeeded: run %s parsed %d, quarantined %d (%s version %s)",
            JOB, name, run.run_id, run.landed_count, run.quarantined_count, kind.table.name, run.output_version,
        )  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())
