"""What each ``skewguard`` sub-command does: one ``run_<command>(args)`` returning the exit code.

:mod:`ops.cli` parses the command line and hands the arguments to one of these.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from typing import TYPE_CHECKING

from jobs.lib.job import EXIT_FAILED, EXIT_OK, EXIT_USAGE, one_line
from ops.summary import bronze_summary, format_summary
from skewguard.config import Settings, load_settings, repo_root
from skewguard.logs import setup_logging

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "run_bundle_build",
    "run_bundle_export_mlflow",
    "run_bundle_predict",
    "run_create_index",
    "run_demo",
    "run_generate",
    "run_labels",
    "run_load",
    "run_reconcile",
    "run_submit_args",
    "run_summary",
]

log = logging.getLogger("skewguard.cli")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.profile)
    setup_logging(args.log_level, settings.secret_values())
    return settings


def _session(settings: Settings, command: str) -> SparkSession:
    from jobs.lib.session import get_session

    return get_session(settings, app_name=f"skewguard-{command}")


def run_generate(args: argparse.Namespace) -> int:
    from ops.synthetic import GeneratorConfig, generate, write_jsonl

    setup_logging(args.log_level)
    config = GeneratorConfig(
        seed=args.seed,
        start_date=args.start_date,
        days=args.days,
        records_per_day=args.records_per_day,
        malformed_fraction=args.malformed_fraction,
    )
    summary = write_jsonl(generate(config), args.out, total=config.days * config.records_per_day)
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


def run_labels(args: argparse.Namespace) -> int:
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


def run_load(args: argparse.Namespace) -> int:
    from ops.loader import load_jsonl
    from skewguard.es import connect

    settings = _settings(args)
    index = args.index or settings.elasticsearch.index
    client = connect(settings.es_for("writer"))
    try:
        result = load_jsonl(
            client,
            args.path,
            index,
            mapping=args.mapping,
            workload_id=args.workload_id,
            workload_from_tools=args.workload_from_tools,
            client_id=args.client_id,
            daily=settings.elasticsearch.daily_indices,
        )
    finally:
        client.close()
    if result.rejected:
        lines = ""
        if result.bad_lines:
            shown = ", ".join(map(str, result.bad_lines[:10])) + (", …" if len(result.bad_lines) > 10 else "")
            lines = f"; unreadable line{'s' if len(result.bad_lines) > 1 else ''} {shown}"
        log.error(
            "%d of %d records rejected (%s%s); %d indexed; the rejected ones, with reasons, in %s",
            result.rejected,
            result.read,
            ", ".join(f"{k}: {v}" for k, v in result.reject_reasons.items()),
            lines,
            result.indexed,
            result.rejected_path,
        )
        return EXIT_FAILED
    return EXIT_OK


def run_create_index(args: argparse.Namespace) -> int:
    from ops.loader import MAPPINGS
    from skewguard.es import connect, ensure_index, put_index_template

    settings = _settings(args)
    index = args.index or settings.elasticsearch.index
    client = connect(settings.es_for("admin"))
    try:
        template = put_index_template(client, index, MAPPINGS[args.mapping])
        created = ensure_index(client, index, MAPPINGS[args.mapping])
    finally:
        client.close()
    log.info("index %s %s; template %s covers %s-*", index, "created" if created else "already there", template, index)
    return EXIT_OK


def run_submit_args(args: argparse.Namespace) -> int:
    from skewguard.stack import submit_args_shell

    sys.stdout.write(submit_args_shell(load_settings(args.profile), with_py_files=not args.no_py_files) + "\n")
    return EXIT_OK


def run_reconcile(args: argparse.Namespace) -> int:
    from jobs.bronze.reconcile import ReconcileError, format_reconcile, reconcile
    from skewguard.es import ElasticsearchUnavailable

    setup_logging(args.log_level)
    if bool(args.start) != bool(args.end) or (args.date is None) == (args.start is None):
        log.error("reconcile: give --date, or --start with --end")
        return EXIT_USAGE
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    if end < start:
        log.error("reconcile: --end %s is before --start %s", end, start)
        return EXIT_USAGE
    settings = _settings(args)
    try:
        rows = reconcile(_session(settings, "reconcile"), settings, start, end, args.workload, args.index)
    except (ReconcileError, ElasticsearchUnavailable) as exc:
        log.error("reconcile failed: %s", one_line(exc))
        return EXIT_FAILED
    if args.json:
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    else:
        sys.stdout.write(format_reconcile(rows) + "\n")
    bad = [r for r in rows if not r.reconciles]
    if bad:
        log.error(
            "%d day × workload rows do not reconcile (first: %s %s, %s)",
            len(bad), bad[0].day, bad[0].workload_id, bad[0].status,
        )  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


def run_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    summary = bronze_summary(_session(settings, "summary"), settings)
    sys.stdout.write((json.dumps(summary, indent=2) if args.json else format_summary(summary)) + "\n")
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
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
    generated = write_jsonl(generate(config), out, total=config.days * config.records_per_day)
    log.info("demo: generated %d records over %d days into %s", generated.total, args.days, out)
    client = connect(settings.es_for("writer"))
    try:
        loaded = load_jsonl(client, out, settings.elasticsearch.index, daily=settings.elasticsearch.daily_indices)
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
    spark = _session(settings, "demo")
    sys.stdout.write("\n" + format_summary(bronze_summary(spark, settings)) + "\n")
    if args.no_loop:
        return EXIT_OK
    from ops.demo_loop import close_the_loop, format_loop

    common = ("--log-level", args.log_level, *(("--profile", args.profile) if args.profile else ()))
    result = close_the_loop(
        spark,
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


def run_bundle_build(args: argparse.Namespace) -> int:
    from ops.build_bundle import build_named_bundle

    bundle = build_named_bundle(_settings(args), args.model, args.version, args.training_set, args.out)
    sys.stdout.write(f"{bundle.path}\n")
    return EXIT_OK


def run_bundle_predict(args: argparse.Namespace) -> int:
    from serving.bundle import Bundle

    setup_logging(args.log_level)
    bundle = Bundle.load(args.bundle)
    with args.requests.open() as fh:
        for line in fh:
            if line.strip():
                sys.stdout.write(json.dumps(bundle.predict(json.loads(line))) + "\n")
    return EXIT_OK


def run_bundle_export_mlflow(args: argparse.Namespace) -> int:
    from serving.bundle import Bundle
    from skewguard.settings_mlflow import MlflowMissing, import_mlflow

    settings = _settings(args)
    if (args.log or args.register) and args.out:
        log.error("bundle export-mlflow: --out writes a folder, --log/--register a tracking store: give one")
        return EXIT_USAGE
    uri = settings.mlflow_tracking_uri() if args.log or args.register else None
    try:
        import_mlflow(uri)
    except MlflowMissing as exc:
        log.error("bundle export-mlflow: %s", exc)
        return EXIT_USAGE
    from serving.mlflow_pyfunc import export_bundle, log_bundle

    if uri is not None:
        model_uri, version = log_bundle(args.bundle, uri, settings.mlflow.experiment, args.register)
        sys.stdout.write(f"models:/{args.register}/{version}\n" if version else f"{model_uri}\n")
        return EXIT_OK
    out = args.out
    if out is None:
        manifest = Bundle.load(args.bundle).manifest
        out = settings.artifacts_path() / "mlflow_models" / f"{manifest['name']}-{manifest['version']}"
    export_bundle(args.bundle, out)
    sys.stdout.write(f"{out}\n")
    return EXIT_OK
