"""spark-submit job: train the reference logistic regression on a built training set.

    skewguard-train-model --training-set fraud-scoring_20241120_20241122

Exit codes: 0 succeeded, 1 failed (one-line cause on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from functools import partial

from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common_args, job_settings, one_line, run_stage
from jobs.lib.window import RunWindow

__all__ = ["main"]

JOB = "train_reference_model"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-train-model",
        description=(
            "Train a logistic regression (Spark MLlib) on the train split of a training set read at the exact "
            "Delta version its manifest names; report ROC AUC on the validation and eval splits; save weights "
            "and metrics to <artifacts>/models/<name>/<version>/model.json for `skewguard bundle build`."
        ),
    )
    parser.add_argument("--training-set", required=True, help="name of a built training set")
    parser.add_argument("--name", help="model name (default: <workload>-model)")
    parser.add_argument("--version", help="model version (default: v<UTC time of the run>)")
    parser.add_argument("--reg-param", type=float, default=0.01, help="L2 regularisation strength (default 0.01)")
    parser.add_argument("--max-iter", type=int, default=100, help="optimiser iterations (default 100)")
    add_common_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.reg_param < 0 or args.max_iter < 1:
        parser.error("--reg-param must be >= 0 and --max-iter >= 1")

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    from jobs.gold.reference_model import ModelRequest, train_reference_model
    from skewguard.artifacts import ArtifactNameError, checked_name, load_manifest

    try:
        workload = load_manifest(settings, args.training_set)["window"]["workload_id"]
    except (OSError, ValueError, KeyError) as exc:
        log.error("%s failed: %s", JOB, one_line(exc))
        return EXIT_FAILED
    name = args.name or f"{workload}-model"
    version = args.version or f"v{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    try:  # both become folder names under the artifacts
        checked_name("model name", name), checked_name("version", version)
    except ArtifactNameError as exc:
        log.error("%s: %s (pass --name/--version)", JOB, exc)
        return EXIT_USAGE
    request = ModelRequest(args.training_set, name, version, args.reg_param, args.max_iter)
    stage = partial(train_reference_model, request=request)
    outcome = run_stage(JOB, settings, stage, window=RunWindow(workload_id=workload))
    if not outcome.succeeded:
        return EXIT_FAILED
    model = outcome.result
    log.info(
        "model %s %s: validation AUC %.4f", model["name"], model["version"], model["metrics"]["validation_auc"] or 0
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
