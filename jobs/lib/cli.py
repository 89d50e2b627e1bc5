"""Argument and exit-code conventions shared by every job's ``main(argv)``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable

from skewguard.config import ConfigError, Settings, load_settings
from skewguard.logs import setup_logging

__all__ = ["EXIT_FAILED", "EXIT_OK", "add_common_args", "iso_date", "one_line", "run_job"]

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


def one_line(exc: BaseException) -> str:
    """A single line a person can act on (py4j errors carry Java stack traces)."""
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
