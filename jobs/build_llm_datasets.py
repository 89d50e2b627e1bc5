"""spark-submit job: LLM interactions of a window → per-workload fine-tuning and evaluation datasets.

    skewguard-build-llm-datasets --start 2024-11-18 --end 2024-11-20
    skewguard-build-llm-datasets --date 2024-11-20 --workload customer-support-tools --export-dir /data/exports
    spark-submit $(skewguard submit-args) jobs/build_llm_datasets.py --date 2024-11-20 --profile cluster

Prints one line per workload (raw, invalid by reason, filtered, duplicates, train/val/eval)
and the export folder. Exit codes: 0 succeeded, 1 failed (one-line cause on stderr, e.g. a
workload below llm.min_records with its counts; gold.llm_datasets untouched), 2 bad usage.
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

JOB = "build_llm_datasets"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-build-llm-datasets",
        description=(
            "Build fine-tuning and evaluation datasets from silver.llm_interactions for a window of UTC days, "
            "per workload: classify the workload (tool-calling or generic), apply its quality filters, keep the "
            "newest record per user query, split into eval (llm.eval_size records), val (llm.val_ratio of the "
            "rest) and train, stratified by the first tool called; write gold.llm_datasets and export "
            "<export-dir>/<workload>/{train,val}.jsonl (chat fine-tuning shape) and eval.jsonl (request + "
            "expected response). Fails, writing nothing, when a workload has fewer than llm.min_records records."
        ),
    )
    add_window_args(parser)
    parser.add_argument(
        "--export-dir", help="where the JSONL files go (default: llm.export_dir, under the lakehouse root)"
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
    from jobs.gold.llm_datasets import build_llm_datasets

    stage = partial(build_llm_datasets, window=window, export_root=args.export_dir)
    outcome = run_stage(JOB, settings, stage, window=window)
    if not outcome.succeeded:
        return EXIT_FAILED
    run, built = outcome.run, outcome.result
    lines = [f"LLM datasets for {window} (gold.llm_datasets v{run.output_version}):"]
    for ds in built.values():
        lines += [f"  {ds.line()}", f"    exported to {ds.export_dir}/{{train,val,eval}}.jsonl"]
    log.info("%s succeeded: run %s built %d workload(s)", JOB, run.run_id, len(built))
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
