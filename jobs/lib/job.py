"""Argument and exit-code conventions shared by every job's ``main(argv)``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable

from jobs.lib.window import DayWindow
from skewguard.config import ConfigError, Settings, load_settings
from skewguard.logs import setup_logging

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_common_args",
    "add_window_args",
    "iso_date",
    "one_line",
    "run_job",
    "window_from_args",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("skewguard")


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", help="conf overlay to apply (conf/<profile>.yaml; default: " "$SKEWGUARD_PROFILE or local)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging verbosity (default INFO)",
    )


def add_window_args(parser: argparse.ArgumentParser) -> None:
    """``--date`` | ``--start``/``--end`` and ``--workload``; read them back with :func:`window_from_args`."""
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=iso_date, help="one UTC day, YYYY-MM-DD")
    when.add_argument("--start", type=iso_date, help="first UTC day of the window (with --end)")
    parser.add_argument("--end", type=iso_date, help="last UTC day of the window, inclusive")
    parser.add_argument("--workload", help="only this workload_id (default: all workloads)")


def window_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> DayWindow:
    """The window the arguments name; a usage error (exit 2) when they are inconsistent."""
    if args.start and not args.end:
        parser.error("--start needs --end")
    if args.end and not args.start:
        parser.error("--end needs --start")
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    if end < start:
        parser.error(f"--end {end} is before --start {start}")
    return DayWindow(start, end, args.workload)


def java_root_cause(exc: BaseException) -> str | None:
    """``message (ExceptionClass)`` of the innermost cause of a Java error raised through
    py4j (e.g. a task's connection error under Spark's "Job aborted"), or None."""
    cause = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    found = None
    try:
        for _ in range(20):  # a cause chain, bounded
            if cause is None:
                break
            message = cause.getMessage()
            if message:
                found = f"{str(message).splitlines()[0].strip()} ({cause.getClass().getSimpleName()})"
            cause = cause.getCause()
    except Exception:  # the gateway is gone: fall back to the Python text
        return found
    return found


def one_line(exc: BaseException) -> str:
    """A single line a person can act on (py4j errors carry Java stack traces: their innermost
    cause is what went wrong, not "An error occurred while calling o168.localCheckpoint")."""
    root = java_root_cause(exc)
    if root is not None:
        return root[:500]
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "File ")):
            return line[:500]
    return type(exc).__name__


def run_job(name: str, args: argparse.Namespace, body: Callable[[Settings], int]) -> int:
    """Load conf, set up logging with secrets masked, run ``body``; map errors to exit codes."""
    try:
        settings = load_settings(args.profile)
    except ConfigError as exc:
        setup_logging(args.log_level)
        log.error("%s: configuration error: %s", name, exc)
        return EXIT_USAGE
    es = settings.elasticsearch
    secrets = [s.get_secret_value() for s in (es.password, es.api_key) if s is not None]
    setup_logging(args.log_level, secrets)
    return body(settings)
