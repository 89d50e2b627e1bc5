"""Getting prepared log records into Elasticsearch: bulk requests, backoff while the
cluster is down, the spool replayed oldest first, and the dead-letter file for records
refused for good. Used by the serving logger's sender thread (``serving.logger``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from schemas.records import SKEWGUARD_INDEX_MAPPING
from serving.encoding import decode
from serving.spool import CorruptSpoolFile, Spool
from skewguard.es import ensure_index

__all__ = ["Delivery", "Unavailable"]

log = logging.getLogger("serving.logger")
_RETRYABLE = {429, 502, 503, 504}


class Unavailable(Exception):
    """The cluster could not take the batch; it goes to the spool."""


def _readable(source: Any) -> Any:
    if isinstance(source, str | bytes):
        try:
            return decode(source)
        except ValueError:
            return source
    return source


class Delivery:
    """Sends batches of ``{"_id", "_source"}`` actions and keeps the score in ``count``."""

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        spool: Spool,
        count: Callable[[str, int], None],
        retry_max_s: float,
    ) -> None:
        self.client, self.index, self.spool = client, index, spool
        self._count = count
        self._retry_max_s = retry_max_s
        self._ready: set[str] = set()
        self._backoff = 0.5
        self._lock = threading.Lock()
        self.retry_at = 0.0

    def is_down(self) -> bool:
        return time.monotonic() < self.retry_at

    def to_spool(self, actions: list[dict[str, Any]]) -> None:
        if self.spool.append(actions):
            self._count("spooled", len(actions))
        else:
            self._count("dropped", len(actions))
            log.error("DROPPED %d log records: the spool %s reached its cap of %d bytes",
                      len(actions), self.spool.directory, self.spool.max_bytes)  # fmt: skip

    def send_batch(self, actions: list[dict[str, Any]]) -> None:
        """First delivery of a batch; what the cluster cannot take now goes to the spool."""
        try:
            retry, dead = self.send(actions)
        except Unavailable as exc:
            self.mark_down(exc)
            self.to_spool(actions)
            return
        except Exception:  # keep the batch rather than lose it
            log.exception("unexpected error sending %d log records; spooling them", len(actions))
            self.to_spool(actions)
            return
        self._count("sent", len(actions) - len(retry) - dead)
        if retry:
            self.to_spool(retry)

    def replay(self) -> None:
        """Send spooled files, oldest first, until one fails; each is claimed before it is sent."""
        for path in self.spool.pending():
            claimed = self.spool.claim(path)
            if claimed is None:
                continue  # another process is sending it
            try:
                actions = self.spool.read(claimed)
            except (CorruptSpoolFile, OSError) as exc:
                self.spool.set_aside(claimed, str(exc))
                self._count("corrupt_files", 1)
                continue
            try:
                retry, dead = self.send(actions)
            except BaseException as exc:
                self.spool.release(claimed)
                if isinstance(exc, Unavailable):
                    self.mark_down(exc)
                    return
                raise
            if retry:  # keep the file (its taken records are re-sent under the same _id)
                self.spool.release(claimed)
                self.mark_down(Unavailable(f"{len(retry)} records throttled"))
                return
            self.spool.remove(claimed)
            self._count("replayed", len(actions) - dead)
            log.info("replayed %d spooled log records from %s", len(actions), path.name)

    def mark_down(self, exc: Exception) -> None:
        with self._lock:
            delay = self._backoff
            self.retry_at = time.monotonic() + delay
            self._backoff = min(self._backoff * 2, self._retry_max_s)
        log.warning("Elasticsearch unavailable (%s); spooling, next attempt in %.1fs", exc, delay)

    def send(self, actions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """Bulk-index ``actions``; returns the ones to retry later and how many were refused
        for good (now in the dead-letter file). Raises :class:`Unavailable`."""
        by_id = {a["_id"]: a for a in actions}
        retry: list[dict[str, Any]] = []
        dead = 0
        try:
            for name in sorted({a.get("_index", self.index) for a in actions} - self._ready):
                # a day's index (an action's own `_index`) is created behind the logger's index as alias
                alias = None if name == self.index else self.index
                ensure_index(self.client, name, SKEWGUARD_INDEX_MAPPING, alias=alias)
                self._ready.add(name)
            for ok, item in helpers.streaming_bulk(
                # op_type create: all a writer role may do, and a re-sent record stays as first indexed
                self.client, ({"_op_type": "create", "_index": self.index, **a} for a in actions),
                chunk_size=len(actions) or 1,
                max_retries=0, raise_on_error=False, raise_on_exception=True,
            ):  # fmt: skip
                info = item.get("create", {})
                if ok or info.get("status") == 409:  # 409: delivered by an earlier attempt
                    continue
                if info.get("status") in _RETRYABLE:
                    retry.append(by_id[info["_id"]])
                else:
                    action = by_id.get(info.get("_id"), {})
                    self.dead_letter(action.get("_id"), "elasticsearch", info.get("error"), action.get("_source"))
                    dead += 1
        except (TransportError, ApiError) as exc:
            raise Unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        self._backoff = 0.5
        return retry, dead

    def dead_letter(self, doc_id: str | None, stage: str, reason: Any, record: Any, *, counted: bool = False) -> None:
        """Keep a record refused for good, with the reason, in ``deadletter.jsonl``
        (``counted``: it is already in ``rejected``, refused at the call)."""
        if not counted:
            self._count("rejected", 1)
        log.error("log record %s refused for good at %s: %.300s (kept in %s)",
                  doc_id, stage, reason, self.spool.directory / "deadletter.jsonl")  # fmt: skip
        self.spool.dead_letter({"_id": doc_id, "stage": stage, "reason": reason, "record": _readable(record)})
