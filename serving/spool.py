"""A disk spool of bulk batches, for while Elasticsearch is slow or down, shared safely by
every logger process of an application.

Each batch is one file ``<time ns>-<pid>-<random>.jsonl``: written under a hidden
temporary name opened with ``O_EXCL``, fsynced, then linked to its final name (which also
fails rather than replace a file), so processes never overwrite each other and a crash
never leaves half a batch. Files are replayed oldest first. Before sending a file a
process *claims* it by renaming it to ``<name>.claimed-<pid>``: a rename succeeds for one
process only, so two processes never send the same file at once. The claim is removed once
Elasticsearch took every record, or released (renamed back) when it did not; a claim
whose process has died is released by the next logger that opens the spool. A file that
cannot be read back (truncated, bad bytes, a line that is not an action) is moved to
``corrupt/`` with an error in the log, and replay goes on with the next. Past
``max_bytes`` (every process's files together) a batch is refused and the caller counts
it dropped. ``deadletter.jsonl`` beside the batches keeps records refused for good, one
line per record, each written by a single append.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from skewguard.processes import process_alive

__all__ = ["CorruptSpoolFile", "Spool"]

log = logging.getLogger(__name__)

_SUFFIX = ".jsonl"
_CLAIM = ".claimed-"
# "<20-digit ns>-<pid>-<8 hex>", or the "<12-digit sequence>" of earlier versions.
_BATCH_NAME = re.compile(r"^(?:\d{20}-\d+-[0-9a-f]{8}|\d{12})\.jsonl$")
_CLAIM_NAME = re.compile(r"^(?P<batch>.+\.jsonl)\.claimed-(?P<pid>\d+)$")
DEAD_LETTER = "deadletter.jsonl"
_STALE_CLAIM_S = 900.0
CORRUPT = "corrupt"


class CorruptSpoolFile(ValueError):
    """A spooled batch cannot be read back; it is moved aside, not replayed."""


def _storable(action: dict[str, Any]) -> dict[str, Any]:
    """The action with a ``_source`` given as JSON bytes kept as JSON text."""
    source = action.get("_source")
    return {**action, "_source": source.decode()} if isinstance(source, bytes) else action

    return True


class Spool:
    """Ordered on-disk batches of ``{"_id": …, "_source": …}`` actions."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._last_ns = 0
        self.release_abandoned_claims()

    @property
    def size_bytes(self) -> int:
        """Bytes of every batch in the spool, claimed or not, whichever process wrote it."""
        total = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file() and (_BATCH_NAME.match(entry.name) or _CLAIM_NAME.match(entry.name)):
                    with contextlib.suppress(FileNotFoundError):  # another process removed it meanwhile
                        total += entry.stat().st_size
        return total

    def pending(self) -> list[Path]:
        """Unclaimed batch files, oldest first."""
        with os.scandir(self.directory) as entries:
            return sorted(self.directory / e.name for e in entries if _BATCH_NAME.match(e.name))

    def append(self, actions: list[dict[str, Any]]) -> bool:
        """Write a batch; False (nothing written) when it would exceed the disk cap."""
        if not actions:
            return True
        data = b"".join(orjson.dumps(_storable(a)) + b"\n" for a in actions)
        with self._lock:
            if self.size_bytes + len(data) > self.max_bytes:
                return False
            self._last_ns = max(time.time_ns(), self._last_ns + 1)  # strictly increasing in a process
            name = f"{self._last_ns:020d}-{self._pid}-{secrets.token_hex(4)}{_SUFFIX}"
            tmp = self.directory / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.link(tmp, self.directory / name)  # fails, never replaces, if the name exists
            finally:
                tmp.unlink(missing_ok=True)
        return True

    def claim(self, path: Path) -> Path | None:
        """Take ``path`` for this process; None when another process took it first."""
        claimed = path.with_name(f"{path.name}{_CLAIM}{self._pid}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        os.utime(claimed)  # the claim's age: see release_abandoned_claims
        return claimed

    def release(self, claimed: Path) -> None:
        """Give a claimed file back, to be replayed later (by any process)."""
        os.rename(claimed, claimed.with_name(claimed.name.split(_CLAIM, 1)[0]))

    def release_abandoned_claims(self) -> int:
        """Release the claims of processes that are no longer running (or whose claim is
        older than any send takes, in case the pid was reused); how many."""
        released = 0
        stale_before = time.time() - _STALE_CLAIM_S
        for path in self.directory.iterdir():
            m = _CLAIM_NAME.match(path.name)
            if not m or int(m["pid"]) == self._pid:
                continue
            stale = False
            with contextlib.suppress(FileNotFoundError):
                stale = path.stat().st_mtime < stale_before
            if not process_alive(int(m["pid"])) or stale:
                try:
                    os.rename(path, path.with_name(m["batch"]))
                    released += 1
                except FileNotFoundError:
                    pass
        if released:
            log.info("released %d spool files claimed by processes that stopped", released)
        return released

    def read(self, path: Path) -> list[dict[str, Any]]:
        """The actions of a batch file; raises :class:`CorruptSpoolFile` if any line is bad."""
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            raise CorruptSpoolFile(f"{path.name}: truncated (the last line has no end)")
        actions = []
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                action = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CorruptSpoolFile(f"{path.name} line {number}: {exc}") from None
            if not isinstance(action, dict) or not isinstance(action.get("_id"), str) or "_source" not in action:
                raise CorruptSpoolFile(f"{path.name} line {number}: not a spooled action")
            actions.append(action)
        return actions

    def set_aside(self, path: Path, cause: str) -> Path:
        """Move a file that cannot be replayed to ``corrupt/``; logs an error naming it."""
        folder = self.directory / CORRUPT
        folder.mkdir(exist_ok=True)
        target = folder / path.name.split(_CLAIM, 1)[0]
        os.rename(path, target)
        log.error("spool file moved aside to %s: %s; replay goes on with the next file", target, cause)
        return target

    def remove(self, path: Path) -> None:
        path.unlink()

    def dead_letter(self, entry: dict[str, Any]) -> None:
        """Append one entry to ``deadletter.jsonl`` in one write (safe across processes)."""
        line = orjson.dumps(entry, default=str) + b"\n"
        fd = os.open(self.directory / DEAD_LETTER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
