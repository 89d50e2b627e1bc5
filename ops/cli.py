"""The ``skewguard`` command: generate and load logs, show bronze, print spark-submit args.

skewguard generate --out logs.jsonl --days 3 --records-per-day 2000
skewguard load logs.jsonl [--index flywheel] [--workload-id W] [--client-id C]
skewguard create-index [--index flywheel]      (as the admin role: the index, its mapping and template)
skewguard labels --input logs.jsonl --out labels.jsonl   (synthetic delayed labels for the predictions)
skewguard ingest --date 2024-11-20            (same as skewguard-ingest)
skewguard summary                             (rows per day × workload, quarantine)
skewguard reconcile --date 2024-11-20          (Elasticsearch vs bronze + quarantine; exit 1 on a mismatch)
skewguard submit-args                         (--jars/--conf/--py-files for spark-submit)
skewguard bundle build --model M --version V --training-set T   (package a trained model for serving)
skewguard bundle predict BUNDLE requests.jsonl                   (outputs of a bundle, one JSON a line)
skewguard bundle export-mlflow BUNDLE [--out DIR] [--log] [--register NAME]   (the bundle as an MLflow model)
skewguard demo                                (generate → load → ingest → … → bundle → serve → ingest)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import TypeAlias

from jobs.lib.job import EXIT_FAILED, add_common_args, iso_date, one_line
from ops.cli_commands import (
    run_bundle_build,
    run_bundle_export_mlflow,
    run_bundle_predict,
    run_create_index,
    run_demo,
    run_generate,
    run_labels,
    run_load,
    run_reconcile,
    run_submit_args,
    run_summary,
)
from skewguard.config import ConfigError
from skewguard.logs import setup_logging

__all__ = ["main"]

log = logging.getLogger("skewguard.cli")

#: what ``add_subparsers`` returns: the sub-commands (or a command's actions) to add a parser to
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skewguard", description="skewguard: serving logs → Delta → training.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (
        _add_generate,
        _add_labels,
        _add_load,
        _add_create_index,
        _add_ingest,
        _add_summary,
        _add_reconcile,
        _add_submit_args,
        _add_demo,
        _add_bundle,
    ):
        add_command(commands)
    return parser


def _add_generate(commands: _Commands) -> None:
    p = commands.add_parser("generate", help="write deterministic synthetic serving logs (JSONL)")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    p.add_argument("--start-date", type=iso_date, default=dt.date(2024, 11, 20), help="first UTC day")
    p.add_argument("--days", type=int, default=3, help="number of days")
    p.add_argument("--records-per-day", type=int, default=1000, help="records per day, all workloads")
    p.add_argument("--malformed-fraction", type=float, default=0.0, help="share of damaged records (0..1)")
    add_common_args(p)
    p.set_defaults(func=run_generate)


def _add_labels(commands: _Commands) -> None:
    p = commands.add_parser(
        "labels",
        help="write synthetic delayed labels (JSONL) for the prediction records of a generated log file",
        description="Draw each prediction's outcome from a hidden model of its features and give it a label "
        "on time, late, twice, before the event or never, with the shares below. Writes "
        '{"request_id", "label", "label_ts"} lines and, next to them, <out>.summary.json with the counts a '
        "correct label join reproduces.",
    )
    p.add_argument("--input", type=Path, required=True, help="JSONL log records (e.g. from skewguard generate)")
    p.add_argument("--out", type=Path, required=True, help="JSONL file of labels to write")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed and input, same bytes)")
    p.add_argument(
        "--window-days",
        type=float,
        help="label window in days: on-time labels fall inside it, late ones after it "
        "(default: conf training.label_window_days)",
    )
    p.add_argument("--missing-share", type=float, default=0.1, help="share of predictions with no label")
    p.add_argument("--late-share", type=float, default=0.05, help="share labelled only after the window")
    p.add_argument(
        "--duplicate-share", type=float, default=0.05, help="share labelled twice (the newer in-window wins)"
    )
    p.add_argument("--before-event-share", type=float, default=0.01, help="share labelled before the prediction")
    add_common_args(p)
    p.set_defaults(func=run_labels)


def _add_load(commands: _Commands) -> None:
    p = commands.add_parser("load", help="index a JSONL file of log records into Elasticsearch")
    p.add_argument("path", type=Path, help="JSONL file, one record a line")
    p.add_argument("--index", help="target index (default: conf / ES_COLLECTION_NAME)")
    p.add_argument(
        "--mapping",
        default="skewguard",
        choices=["skewguard", "flywheel"],
        help="mapping used when the index must be created (default skewguard)",
    )
    p.add_argument("--workload-id", help="set this workload_id on every record")
    p.add_argument(
        "--workload-from-tools",
        action="store_true",
        help="set each record's workload_id from the sorted tool names its request offers",
    )
    p.add_argument("--client-id", help="set this client_id on every record")
    add_common_args(p)
    p.set_defaults(func=run_load)


def _add_create_index(commands: _Commands) -> None:
    p = commands.add_parser(
        "create-index",
        help="create the log index and its template (admin credentials)",
        description="As the admin role (ES_ADMIN_USERNAME/ES_ADMIN_PASSWORD or ES_ADMIN_API_KEY on a secured "
        "cluster): create the log index with its mapping unless it exists, and install an index template for "
        "<index>-*, so an index the writer's documents auto-create (e.g. a day's index) gets the same mapping. "
        "The writer role may create documents only, not indices.",
    )
    p.add_argument("--index", help="index to create (default: conf / ES_COLLECTION_NAME)")
    p.add_argument("--mapping", default="skewguard", choices=["skewguard", "flywheel"], help="default skewguard")
    add_common_args(p)
    p.set_defaults(func=run_create_index)


def _add_ingest(commands: _Commands) -> None:
    # Only listed here: main() hands `skewguard ingest ...` to skewguard-ingest before parsing.
    p = commands.add_parser("ingest", help="ingest a window into bronze (see skewguard-ingest --help)", add_help=False)
    p.set_defaults(func=None)


def _add_summary(commands: _Commands) -> None:
    p = commands.add_parser("summary", help="print rows per day × workload in bronze, quarantine, table paths")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_common_args(p)
    p.set_defaults(func=run_summary)


def _add_reconcile(commands: _Commands) -> None:
    p = commands.add_parser(
        "reconcile",
        help="Elasticsearch's counts next to bronze + quarantine per day × workload; exit 1 on any mismatch",
    )
    p.add_argument("--date", type=iso_date, help="one UTC day, YYYY-MM-DD")
    p.add_argument("--start", type=iso_date, help="first UTC day (with --end)")
    p.add_argument("--end", type=iso_date, help="last UTC day, inclusive")
    p.add_argument("--workload", help="only this workload_id")
    p.add_argument("--index", help="index or alias (default: conf / ES_COLLECTION_NAME)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_common_args(p)
    p.set_defaults(func=run_reconcile)


def _add_submit_args(commands: _Commands) -> None:
    p = commands.add_parser("submit-args", help="print the spark-submit arguments (jars, Delta conf, code)")
    p.add_argument(
        "--no-py-files",
        action="store_true",
        help="omit --py-files (driver and executors already have skewguard installed)",
    )
    add_common_args(p)
    p.set_defaults(func=run_submit_args)


def _add_demo(commands: _Commands) -> None:
    p = commands.add_parser(
        "demo",
        help="the closed loop on the local default: generate → load → ingest → parse → labels → training "
        "set → model → bundle → serve with logging → ingest",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-date", type=iso_date, default=dt.date(2024, 11, 20))
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--records-per-day", type=int, default=2000)
    p.add_argument("--serve-requests", type=int, default=500, help="requests served with the new bundle")
    p.add_argument("--no-loop", action="store_true", help="stop after ingest (no training, bundle or serving)")
    add_common_args(p)
    p.set_defaults(func=run_demo)


def _add_bundle(commands: _Commands) -> None:
    p = commands.add_parser("bundle", help="build a model bundle, predict with one, or export it to MLflow")
    actions = p.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")
    _add_bundle_build(actions)
    _add_bundle_predict(actions)
    _add_bundle_export_mlflow(actions)


def _add_bundle_build(actions: _Commands) -> None:
    p = actions.add_parser(
        "build",
        help="package a trained model, its fitted transforms and the transform source",
        description="Write <artifacts>/bundles/<model>-<version>/: manifest.json (name, version, dtype "
        "contract, stages with params, model weights, hashes), pipeline.json, model.json and a copy of "
        "transforms/ whose content hash the manifest records. Prints the bundle's path.",
    )
    p.add_argument("--model", required=True, help="model name (as given to skewguard-train-model)")
    p.add_argument("--version", required=True, help="model version")
    p.add_argument("--training-set", help="training set whose fitted pipeline to bundle (default: the model's)")
    p.add_argument("--out", type=Path, help="bundle folder (default: <artifacts>/bundles/<model>-<version>)")
    add_common_args(p)
    p.set_defaults(func=run_bundle_build)


def _add_bundle_predict(actions: _Commands) -> None:
    p = actions.add_parser(
        "predict",
        help="outputs of a bundle for requests in a JSONL file",
        description="Load the bundle as serving does (no Spark) and print one JSON line of outputs per request "
        "line ({feature id: value, ..., event_ts: time}).",
    )
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument("requests", type=Path, help="JSONL file, one request a line")
    add_common_args(p)
    p.set_defaults(func=run_bundle_predict)


def _add_bundle_export_mlflow(actions: _Commands) -> None:
    p = actions.add_parser(
        "export-mlflow",
        help="write a bundle as an MLflow pyfunc model (needs: pip install 'skewguard[mlflow]')",
        description="Write an MLflow model folder whose python_function flavour scores with the bundle's own "
        "code (the bundle folder is its artifact, its content hash checked on load): "
        "mlflow.pyfunc.load_model(DIR).predict(df) gives the bundle's outputs bit for bit. The signature is the "
        "bundle's input contract (timestamps as timezone-naive UTC, MLflow's datetime type); outputs score and "
        "label. Loading it needs MLflow, pandas, numpy and pyarrow, not skewguard. Prints the model's path.",
    )
    p.add_argument("bundle", type=Path, help="bundle folder")
    p.add_argument(
        "--out", type=Path, help="MLflow model folder to write (default: <artifacts>/mlflow_models/<model>-<version>)"
    )
    p.add_argument(
        "--log",
        action="store_true",
        help="instead, log it as the model of a new run in the tracking store of conf mlflow (tracking_uri, "
        "experiment) and print its models:/ URI",
    )
    p.add_argument("--register", metavar="NAME", help="with --log (implied): also register it as a new version of NAME")
    add_common_args(p)
    p.set_defaults(func=run_bundle_export_mlflow)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ingest"]:
        from jobs import ingest_logs

        return ingest_logs.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        setup_logging()
        log.error("configuration error: %s", exc)
        return 2
    except Exception as exc:
        log.error("%s failed: %s", args.command, one_line(exc))
        log.debug("full error", exc_info=True)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
