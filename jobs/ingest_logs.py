"""spark-submit job: ingest a window of serving logs from Elasticsearch into bronze Delta tables.

    skewguard-ingest --date 2024-11-20
    skewguard-ingest --start 2024-11-18 --end 2024-11-20 --workload fraud-scoring
    skewguard-ingest --date 2024-11-20 --lookback-days 2     # 2024-11-18 … 2024-11-20: late records too
    skewguard-ingest --date 2024-11-20 --allow-source-drop   # erasure: delete what the index no longer holds
    spark-submit $(skewguard submit-args) jobs/ingest_logs.py --date 2024-11-20 --profile cluster

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr; bronze untouched), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from jobs.lib.window import DayWindow

__all__ = ["main"]

JOB = "ingest_logs"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-ingest",
        description=(
            "Copy one window of whole UTC days of serving logs (LLM interactions and predictions) "
            "from Elasticsearch into bronze.serving_logs, malformed records into bronze.quarantine, "
            "and record the run in metrics.job_runs. Re-running a window replaces exactly that window, "
            "but never deletes what Elasticsearch no longer holds (see --allow-source-drop)."
        ),
        epilog="Elasticsearch URL, index and credentials come from conf and the environment "
        "(ELASTICSEARCH_URL, ES_COLLECTION_NAME, ES_CA_CERTS; the reader role's ES_READER_USERNAME/"
        "ES_READER_PASSWORD or ES_READER_API_KEY, else the shared ES_USERNAME/ES_PASSWORD or ES_API_KEY).",
    )
    add_window_args(parser)
    parser.add_argument(
        "--lookback-days",
        type=int,
        default=0,
        help="with --date: also re-ingest the N days before it, so records indexed after their day was "
        "ingested (late data) land; each day is replaced whole, so they land exactly once (default 0)",
    )
    parser.add_argument("--index", help="index or alias to read (default: conf / ES_COLLECTION_NAME)")
    parser.add_argument(
        "--allow-source-drop",
        action="store_true",
        help="replace the window with exactly what Elasticsearch holds now, deleting bronze rows whose "
        "documents are gone (e.g. an erasure request). Without it, a day × workload with no documents left "
        "is kept as it is, and a run that would delete more than ingest.max_source_drop_share of one is refused",
    )
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)
    if args.lookback_days:
        if args.lookback_days < 0 or not args.date:
            parser.error("--lookback-days takes a number of days >= 0 and goes with --date")
        window = DayWindow(window.start - dt.timedelta(days=args.lookback_days), window.end, window.workload_id)

    settings = job_settings(JOB, args, es_role="reader")
    if settings is None:
        return EXIT_USAGE
    from jobs.bronze.ingest import ingest_window

    outcome = run_stage(
        JOB,
        settings,
        partial(ingest_window, window=window, index=args.index, allow_source_drop=args.allow_source_drop),
        window=window,
    )
    if not outcome.succeeded:
        return EXIT_FAILED
    run = outcome.run
    log.info(
        "%s succeeded: run %s landed %d, quarantined %d (bronze version %s)",
        JOB,
        run.run_id,
        run.landed_count,
        run.quarantined_count,
        run.output_version,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
