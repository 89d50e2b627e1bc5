"""Progress bars for long loops, shown only to a person watching a terminal.

The loader, the generator and the LLM evaluation's requests run for minutes on real sizes;
in a terminal they show a tqdm bar on stderr, while in CI, under a scheduler or with stderr
sent to a log file they stay quiet (a bar there is noise: carriage returns in every log
line). Spark jobs ask :func:`is_terminal` too, for Spark's console progress bar.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

__all__ = ["is_terminal", "progress"]

T = TypeVar("T")


def is_terminal(stream: IO[Any] | None = None) -> bool:
    """True when ``stream`` (default stderr) is a terminal a person can watch: a tty, and
    ``TERM`` is not ``dumb``."""
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb"


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str, unit: str = "it", stream: IO[Any] | None = None
) -> Iterator[T]:
    """``items``, counted on a progress bar on ``stream`` (default stderr) when it is a
    terminal; just ``items`` otherwise."""
    stream = sys.stderr if stream is None else stream
    if not is_terminal(stream):
        yield from items
        return
    with tqdm(items, total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True, leave=False) as bar:
        yield from bar
