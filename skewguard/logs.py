"""Logging set-up for every command: one format, quiet libraries, secrets masked."""

from __future__ import annotations

import logging
import sys

__all__ = ["SecretMask", "setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = ("py4j", "elastic_transport", "urllib3", "elasticsearch")


class SecretMask(logging.Filter):
    """Replaces known secret values in every log line (belt and braces: none is logged)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "***")
                record.msg, record.args = message, None
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted: notebooks and tests swap
    it, and a sender thread may log after the stream seen at set-up time was closed."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def setup_logging(level: str = "INFO", secrets: list[str] | None = None) -> None:
    """Log to stderr at ``level``; libraries that log every HTTP request stay at WARNING."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(SecretMask(secrets or []))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
