"""A disk spool of bulk batches, for while Elasticsearch is slow or down.

Each batch is one file ``<sequence>.jsonl`` (written to a temporary name, fsynced, then
renamed, so a crash never leaves half a batch). Files are replayed oldest first and
removed only after Elasticsearch took every record; a process that restarts replays what
the last one left. Past ``max_bytes`` a batch is refused and the caller counts it dropped.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["Spool"]

_SUFFIX = ".jsonl"


class Spool:
    """Ordered on-disk batches of ``{"_id": …, "_source": …}`` actions."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        existing = self.pending()
        self._next = int(existing[-1].stem) + 1 if existing else 1
        self._bytes = sum(p.stat().st_size for p in existing)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def pending(self) -> list[Path]:
        """Spooled batch files, oldest first."""
        return sorted(p for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def append(self, actions: list[dict[str, Any]]) -> bool:
        """Write a batch; False (nothing written) when it would exceed the disk cap."""
        if not actions:
            return True
        payload = "".join(json.dumps(a, separators=(",", ":"), ensure_ascii=False) + "\n" for a in actions)
        data = payload.encode("utf-8")
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                return False
            path = self.directory / f"{self._next:012d}{_SUFFIX}"
            self._next += 1
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
            self._bytes += len(data)
        return True

    def read(self, path: Path) -> list[dict[str, Any]]:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def remove(self, path: Path) -> None:
        with self._lock:
            size = path.stat().st_size
            path.unlink()
            self._bytes -= size
