"""The skeleton every job's ``main(argv)`` follows, and its argument and exit-code conventions.

A job's ``main`` reads top to bottom: arguments (``add_window_args``, ``window_from_args``…) →
settings (:func:`job_settings`) → the stage's function run in a session as one recorded run
(:func:`run_stage`) → exit code, from the :class:`~jobs.lib.runs.Outcome` it returns.

Nothing here imports Spark at module level: ``--help``, usage and configuration errors never
start it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import TYPE_CHECKING, TypeVar

from jobs.lib.window import DayWindow, RunWindow
from skewguard.config import ConfigError, Settings, load_settings
from skewguard.es_roles import EsRole
from skewguard.logs import setup_logging

if TYPE_CHECKING:
    from jobs.lib.runs import Outcome, Stage

__all__ = [
    "EXIT_FAILED",
    "EXIT_NO_DATA",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_common_args",
    "add_window_args",
    "iso_date",
    "job_settings",
    "one_line",
    "run_stage",
    "window_from_args",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_NO_DATA = 3
"""A check given as a gate (``--fail-on-alert``, ``--fail-on-mismatch``) found no rows to check:
it did not pass, and earlier results were left as they were."""
log = logging.getLogger("skewguard")
T = TypeVar("T")


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


def job_settings(job: str, args: argparse.Namespace, es_role: EsRole | None = None) -> Settings | None:
    """Load the configuration (``--profile``) and log at ``--log-level`` with every secret masked;
    None, the cause logged as one line, when the configuration is bad (the job then exits 2).

    ``es_role``: the job connects to Elasticsearch as this role, whose credentials must then
    be there (see :mod:`skewguard.es_roles`)."""
    try:
        settings = load_settings(args.profile)
        if es_role is not None:
            settings.es_for(es_role)
    except ConfigError as exc:
        setup_logging(args.log_level)
        log.error("%s: configuration error: %s", job, exc)
        return None
    setup_logging(args.log_level, settings.secret_values())
    return settings


def run_stage(
    job: str,
    settings: Settings,
    stage: Stage[T],
    *,
    window: DayWindow | RunWindow | None = None,
    label: str | None = None,
) -> Outcome[T]:
    """Get the session (``skewguard-<job>``), then run ``stage(spark=, settings=, run=)`` as one
    run recorded in ``metrics.job_runs`` with ``window`` as what it covers; ``label`` names the run
    in its log lines. A failure is logged as one line and recorded, never raised: the outcome
    says whether the run succeeded and carries the stage's result when it did."""
    from jobs.lib.runs import recorded_stage
    from jobs.lib.session import get_session

    spark = get_session(settings, app_name=f"skewguard-{job}")
    return recorded_stage(spark, settings, job, stage, window=window, label=label)
