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

from jobs.lib.job import EXIT_FAILED, EXIT_OK, add_common_args, add_window_args, run_job, window_from_args
from skewguard.config import Settings

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

    def body(settings: Settings) -> int:
        from jobs.gold.llm_datasets import WorkloadDataset, build_llm_datasets
        from jobs.lib.runs import recorded_run
        from jobs.lib.session import get_session

        spark = get_session(settings, app_name=f"skewguard-{JOB}")
        built: dict[str, WorkloadDataset] = {}
        run = recorded_run(
            spark,
            settings,
            JOB,
            lambda run: built.update(build_llm_datasets(spark, settings, window, run, args.export_dir)),
        )
        if run.status != "succeeded":
            return EXIT_FAILED
        lines = [f"LLM datasets for {window} (gold.llm_datasets v{run.output_version}):"]
        for ds in built.values():
            lines += [f"  {ds.line()}", f"    exported to {ds.export_dir}/{{train,val,eval}}.jsonl"]
        log.info("%s succeeded: run %s built %d workload(s)", JOB, run.run_id, len(built))
        sys.stdout.write("\n".join(lines) + "\n")
        return EXIT_OK

    return run_job(JOB, args, body)


if __name__ == "__main__":
    sys.exit(main())
