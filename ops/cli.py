"""The ``skewguard`` command: generate and load logs, show bronze, print spark-submit args.

skewguard generate --out logs.jsonl --days 3 --records-per-day 2000
skewguard load logs.jsonl [--index flywheel] [--workload-id W] [--client-id C]
skewguard labels --input logs.jsonl --out labels.jsonl   (synthetic delayed labels for the predictions)
skewguard ingest --date 2024-11-20            (same as skewguard-ingest)
skewguard summary                             (rows per day × workload, quarantine)
skewguard reconcile --date 2024-11-20          (Elasticsearch vs bronze + quarantine; exit 1 on a mismatch)
skewguard submit-args                         (--jars/--conf/--py-files for spark-submit)
skewguard bundle build --model M --version V --training-set T   (package a trained model for serving)
skewguard bundle predict BUNDLE requests.jsonl                   (outputs of a bundle, one JSON a line)
skewguard demo                                (generate → load → ingest → … → bundle → serve → ingest)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from jobs.lib.job import EXIT_FAILED, EXIT_OK, add_common_args, iso_date, one_line
from ops.summary import bronze_summary, format_summary
from skewguard.config import ConfigError, Settings, load_settings, repo_root
from skewguard.logs import setup_logging

__all__ = ["main"]

log = logging.getLogger("skewguard.cli")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.profile)
    es = settings.elasticsearch
    setup_logging(args.log_level, [s.get_secret_value() for s in (es.password, es.api_key) if s])
    return settings


def _generate(args: argparse.Namespace) -> int:
    from ops.synthetic import GeneratorConfig, generate, write_jsonl

    setup_logging(args.log_level)
    config = GeneratorConfig(
        seed=args.seed,
        start_date=args.start_date,
        days=args.days,
        records_per_day=args.records_per_day,
        malformed_fraction=args.malformed_fraction,
    )
    summary = write_jsonl(generate(config), args.out)
    summary_path = args.out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    log.info(
        "wrote %d records (%d bytes) to %s; expected counts in %s",
        summary.total,
        summary.bytes_written,
        args.out,
        summary_path,
    )
    return EXIT_OK


def _labels(args: argparse.Namespace) -> int:
    from ops.synthetic_labels import LabelConfig, read_records, write_labels

    window_days = args.window_days
    if window_days is None:
        window_days = _settings(args).training.label_window_days
    else:
        setup_logging(args.log_level)
    config = LabelConfig(
        seed=args.seed,
        window_days=window_days,
        missing_share=args.missing_share,
        late_share=args.late_share,
        duplicate_share=args.duplicate_share,
        before_event_share=args.before_event_share,
    )
    summary = write_labels(read_records(args.input), args.out, config)
    summary_path = args.out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    log.info("wrote %d labels to %s; expected join counts in %s", summary.label_rows, args.out, summary_path)
    return EXIT_OK


def _load(args: argparse.Namespace) -> int:
    from ops.loader import load_jsonl
    from skewguard.es import connect

    settings = _settings(args)
    index = args.index or settings.elasticsearch.index
    client = connect(settings.elasticsearch)
    try:
        result = load_jsonl(
            client,
            args.path,
            index,
            mapping=args.mapping,
            workload_id=args.workload_id,
            workload_from_tools=args.workload_from_tools,
            client_id=args.client_id,
        )
    finally:
        client.close()
    if result.rejected:
        log.error(
            "%d of %d records rejected by Elasticsearch (%s); details in %s",
            result.rejected,
            result.read,
            ", ".join(f"{k}: {v}" for k, v in result.reject_reasons.items()),
            result.rejected_path,
        )
        return EXIT_FAILED
    return EXIT_OK


def _submit_args(args: argparse.Namespace) -> int:
    from skewguard.stack import submit_args_shell

    sys.stdout.write(submit_args_shell(load_settings(args.profile), with_py_files=not args.no_py_files) + "\n")
    return EXIT_OK


def _reconcile(args: argparse.Namespace) -> int:
    from ops.reconcile import format_reconcile, reconcile

    if bool(args.start) != bool(args.end) or (args.date is None) == (args.start is None):
        log.error("reconcile: give --date, or --start with --end")
        return 2
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    rows = reconcile(_settings(args), start, end, args.workload, args.index)
    if args.json:
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    else:
        sys.stdout.write(format_reconcile(rows) + "\n")
    bad = [r for r in rows if r.difference]
    if bad:
        log.error("%d day × workload rows do not reconcile (first: %s %s)", len(bad), bad[0].day, bad[0].workload_id)
        return 1
    return 0


def _summary(args: argparse.Namespace) -> int:
    summary = bronze_summary(_settings(args))
    sys.stdout.write((json.dumps(summary, indent=2) if args.json else format_summary(summary)) + "\n")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    """generate → load → ingest → summary, on the embedded default."""
    from jobs import ingest_logs
    from ops.loader import load_jsonl
    from ops.synthetic import GeneratorConfig, generate, write_jsonl
    from skewguard.es import connect

    settings = _settings(args)
    out = repo_root() / ".cache" / "demo" / "serving_logs.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    config = GeneratorConfig(
        seed=args.seed,
        start_date=args.start_date,
        days=args.days,
        records_per_day=args.records_per_day,
        malformed_fraction=0.02,
    )
    generated = write_jsonl(generate(config), out)
    log.info("demo: generated %d records over %d days into %s", generated.total, args.days, out)
    client = connect(settings.elasticsearch)
    try:
        loaded = load_jsonl(client, out, settings.elasticsearch.index)
    finally:
        client.close()
    if loaded.rejected:
        log.error("demo: Elasticsearch rejected %d records (%s)", loaded.rejected, loaded.rejected_path)
        return EXIT_FAILED
    end = args.start_date + dt.timedelta(days=args.days - 1)
    argv = ["--start", str(args.start_date), "--end", str(end), "--log-level", args.log_level]
    if args.profile:
        argv += ["--profile", args.profile]
    code = ingest_logs.main(argv)
    if code != EXIT_OK:
        return code
    sys.stdout.write("\n" + format_summary(bronze_summary(settings)) + "\n")
    if args.no_loop:
        return EXIT_OK
    from ops.demo_loop import close_the_loop, format_loop

    common = ("--log-level", args.log_level, *(("--profile", args.profile) if args.profile else ()))
    result = close_the_loop(
        settings,
        log_file=out,
        start=args.start_date,
        end=end,
        workload=config.prediction_workloads[0],
        serve_requests=args.serve_requests,
        seed=args.seed,
        common=common,
    )
    sys.stdout.write("\n" + format_loop(result) + "\n")
    return EXIT_OK


def _bundle_build(args: argparse.Namespace) -> int:
    from ops.build_bundle import build_named_bundle

    bundle = build_named_bundle(_settings(args), args.model, args.version, args.training_set, args.out)
    sys.stdout.write(f"{bundle.path}\n")
    return EXIT_OK


def _bundle_predict(args: argparse.Namespace) -> int:
    from serving.bundle import Bundle

    setup_logging(args.log_level)
    bundle = Bundle.load(args.bundle)
    with args.requests.open() as fh:
        for line in fh:
            if line.strip():
                sys.stdout.write(json.dumps(bundle.predict(json.loads(line))) + "\n")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skewguard", description="skewguard: serving logs → Delta → training.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="write deterministic synthetic serving logs (JSONL)")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same bytes)")
    p.add_argument("--start-date", type=iso_date, default=dt.date(2024, 11, 20), help="first UTC day")
    p.add_argument("--days", type=int, default=3, help="number of days")
    p.add_argument("--records-per-day", type=int, default=1000, help="records per day, all workloads")
    p.add_argument("--malformed-fraction", type=float, default=0.0, help="share of damaged records (0..1)")
    p.set_defaults(func=_generate)

    p = sub.add_parser(
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
    p.set_defaults(func=_labels)

    p = sub.add_parser("load", help="index a JSONL file of log records into Elasticsearch")
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
    p.set_defaults(func=_load)

    p = sub.add_parser("ingest", help="ingest a window into bronze (see skewguard-ingest --help)", add_help=False)
    p.set_defaults(func=None)

    p = sub.add_parser("summary", help="print rows per day × workload in bronze, quarantine, table paths")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_summary)

    p = sub.add_parser(
        "reconcile",
        help="Elasticsearch's counts next to bronze + quarantine per day × workload; exit 1 on any mismatch",
    )
    p.add_argument("--date", type=iso_date, help="one UTC day, YYYY-MM-DD")
    p.add_argument("--start", type=iso_date, help="first UTC day (with --end)")
    p.add_argument("--end", type=iso_date, help="last UTC day, inclusive")
    p.add_argument("--workload", help="only this workload_id")
    p.add_argument("--index", help="index or alias (default: conf / ES_COLLECTION_NAME)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_reconcile)

    p = sub.add_parser("submit-args", help="print the spark-submit arguments (jars, Delta conf, code)")
    p.add_argument(
        "--no-py-files",
        action="store_true",
        help="omit --py-files (driver and executors " "already have skewguard installed)",
    )
    p.set_defaults(func=_submit_args)

    p = sub.add_parser(
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
    p.set_defaults(func=_demo)

    p = sub.add_parser("bundle", help="build a model bundle, or predict with one")
    bundle_sub = p.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")
    b = bundle_sub.add_parser(
        "build",
        help="package a trained model, its fitted transforms and the transform source",
        description="Write <artifacts>/bundles/<model>-<version>/: manifest.json (name, version, dtype "
        "contract, stages with params, model weights, hashes), pipeline.json, model.json and a copy of "
        "transforms/ whose content hash the manifest records. Prints the bundle's path.",
    )
    b.add_argument("--model", required=True, help="model name (as given to skewguard-train-model)")
    b.add_argument("--version", required=True, help="model version")
    b.add_argument("--training-set", help="training set whose fitted pipeline to bundle (default: the model's)")
    b.add_argument("--out", type=Path, help="bundle folder (default: <artifacts>/bundles/<model>-<version>)")
    b.set_defaults(func=_bundle_build)
    b = bundle_sub.add_parser(
        "predict",
        help="outputs of a bundle for requests in a JSONL file",
        description="Load the bundle as serving does (no Spark) and print one JSON line of outputs per request "
        "line ({feature id: value, ..., event_ts: time}).",
    )
    b.add_argument("bundle", type=Path, help="bundle folder")
    b.add_argument("requests", type=Path, help="JSONL file, one request a line")
    b.set_defaults(func=_bundle_predict)

    for name in ("generate", "labels", "load", "summary", "reconcile", "submit-args", "demo"):
        add_common_args(sub.choices[name])
    for action in bundle_sub.choices.values():
        add_common_args(action)
    return parser


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
