"""spark-submit job: labeled examples of a window and workload → gold.training_set.

    skewguard-build-training-set --start 2024-11-20 --end 2024-11-22 --workload fraud-scoring
    skewguard-build-training-set --date 2024-11-23 --workload fraud-scoring --fitted artifacts/…/pipeline.json

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr; the set is untouched), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from functools import partial
from pathlib import Path

import yaml

from jobs.lib.job import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_args,
    add_window_args,
    job_settings,
    one_line,
    run_stage,
    window_from_args,
)

__all__ = ["main"]

JOB = "build_training_set"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-build-training-set",
        description=(
            "Build a training set from silver.labeled_examples for a window of UTC days and one workload: "
            "type the logged feature vectors, split train/validation/eval by a hash of event_id, fit the "
            "shared transform pipeline on the train split (or load a fitted one), apply it and write "
            "gold.training_set. The fitted pipeline and a manifest naming the Delta version written go to "
            "<artifacts>/training_sets/<name>/."
        ),
    )
    add_window_args(parser)
    parser.add_argument("--name", help="training set name (default: <workload>_<start>_<end>); rebuilding replaces it")
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--pipeline",
        type=Path,
        help="pipeline spec (YAML/JSON: name, inputs, stages, outputs) to fit; default: one built from the "
        "features found (numeric: impute, clip, standardise; categorical: one-hot vocabulary; UTC time features)",
    )
    how.add_argument("--fitted", type=Path, help="a fitted pipeline (pipeline.json) to apply as is, without fitting")
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    window = window_from_args(parser, args)
    if window.workload_id is None:
        parser.error("--workload is required: a training set is built for one workload")

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.gold.training_set import TrainingSetRequest, build_training_set, default_name
    from skewguard.artifacts import ArtifactNameError, checked_name
    from transforms import FittedPipeline, Pipeline

    try:
        pipeline = Pipeline.from_spec(yaml.safe_load(args.pipeline.read_text())) if args.pipeline else None
        fitted = FittedPipeline.from_json(json.loads(args.fitted.read_text())) if args.fitted else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("%s: cannot read the pipeline: %s", JOB, one_line(exc))
        return EXIT_USAGE
    name = args.name or default_name(window)
    try:  # the name becomes a folder under the artifacts: one folder name, nothing that leaves it
        checked_name("training set", name)
    except ArtifactNameError as exc:
        log.error("%s: %s (pass --name)", JOB, exc)
        return EXIT_USAGE
    request = TrainingSetRequest(window, name, pipeline, fitted)
    outcome = run_stage(JOB, settings, partial(build_training_set, request=request), window=window)
    if not outcome.succeeded:
        return EXIT_FAILED
    manifest = outcome.result
    counts = ", ".join(f"{k} {v}" for k, v in manifest["split_counts"].items())
    log.info("training set %s (v%d): %s", manifest["name"], manifest["version"], counts)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
