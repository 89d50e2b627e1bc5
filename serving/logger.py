"""The serving-side logger: a cheap call in the request path, a background bulk sender,
and a disk spool so that nothing is lost while Elasticsearch is slow or down.

    logger = ServingLogger()                       # conf + ELASTICSEARCH_URL / ES_COLLECTION_NAME
    logger.log_prediction(workload_id="fraud-scoring", request_id=req_id, features=x, outputs=y,
                          model={"name": "fraud", "version": "7", "transform_hash": h})
    logger.log_chat("support-tools", request=req, response=completion)   # OpenAI objects or dicts
    logger.close()                                 # flush (or spool) everything

A logging call samples, builds the record and puts it on a bounded in-memory queue; it
never raises and never waits on the network. One sender thread redacts PII, sends batches
with elasticsearch-py's bulk helper (stable ``_id``, so a replay never duplicates), spools
a batch to disk when the cluster fails and replays the spool, oldest first, once it is back.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from schemas.records import SKEWGUARD_INDEX_MAPPING
from serving.record_builders import chat_record, prediction_record
from serving.redact import RedactionConfig, Redactor
from serving.sampling import SamplingPolicy
from serving.spool import Spool
from skewguard.config import Settings, load_settings
from skewguard.es import client_for, ensure_index

__all__ = ["LoggerStats", "ServingLogger"]

log = logging.getLogger(__name__)
_RETRYABLE = {429, 502, 503, 504}
_FLUSH = object()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Fields the logger fills in (ids, time, model identity, routing): never PII, never scanned.
_ENVELOPE_FIELDS = frozenset(
    {"event_id", "request_id", "timestamp", "client_id", "workload_id", "model", "sampling_rate"}
)


class _Unavailable(Exception):
    """The cluster could not take the batch; it goes to the spool."""


@dataclass
class LoggerStats:
    """Counters since the logger started."""

    accepted: int = 0  # records that passed sampling and were queued
    sampled_out: int = 0
    sent: int = 0  # indexed on first delivery
    spooled: int = 0  # written to the disk spool
    replayed: int = 0  # indexed from the spool
    dropped: int = 0  # lost because the spool's disk cap was reached (logged as errors)
    rejected: int = 0  # refused by Elasticsearch for good (e.g. mapping); kept in deadletter.jsonl
    errors: int = 0  # logging calls that failed before queueing (bad arguments)


class ServingLogger:
    """Logs predictions and LLM interactions to Elasticsearch without blocking serving."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        index: str | None = None,
        client: Elasticsearch | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        es, sv = self.settings.elasticsearch, self.settings.serving
        self.index = index or es.index
        self.policy = SamplingPolicy(default_rate=sv.default_sampling_rate, rates=dict(sv.sampling_rates))
        self.redactor = Redactor(
            RedactionConfig(
                enabled=sv.pii_enabled,
                patterns=tuple(sv.pii_patterns),
                hash_fields=tuple(sv.pii_hash_fields),
                key=sv.pii_key.get_secret_value().encode() if sv.pii_key else None,
            )
        )
        self.stats = LoggerStats()
        self._stats_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=sv.queue_size)
        self._overflow: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._spool = Spool(sv.spool_dir / self.index, sv.spool_max_bytes)
        self._client = client or client_for(es)
        self._index_ready = False
        self._retry_at = 0.0
        self._backoff = 0.5
        self._stopping = threading.Event()
        self._close_by = float("inf")  # set by close(): the sender gives up retrying at that time
        self._pool = concurrent.futures.ThreadPoolExecutor(sv.sender_threads, thread_name_prefix="skewguard-bulk")
        self._slots = threading.Semaphore(sv.sender_threads)
        self._in_flight: set[concurrent.futures.Future[None]] = set()
        self._in_flight_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="skewguard-log-sender", daemon=True)
        self._thread.start()

    # ---- request path -------------------------------------------------------------------

    def log_prediction(
        self,
        *,
        workload_id: str,
        features: Mapping[str, Any],
        outputs: Mapping[str, Any],
        model: Mapping[str, Any],
        request_id: str | None = None,
        event_id: str | None = None,
        client_id: str | None = None,
        timestamp: str | float | None = None,
    ) -> str | None:
        """Log one prediction; returns its ``event_id``, or None when sampled out (or on error)."""
        try:
            rate = self.policy.rate_for(workload_id)
            if not self._sampled(workload_id, request_id or event_id, rate):
                return None
            record = prediction_record(
                workload_id=workload_id, features=features, outputs=outputs, model=model, sampling_rate=rate,
                event_id=event_id, request_id=request_id, client_id=client_id, timestamp=timestamp,
            )  # fmt: skip
            self._enqueue(record["event_id"], record)
            return str(record["event_id"])
        except Exception:
            self._count("errors")
            log.exception("log_prediction failed; the record was not logged")
            return None

    def log_chat(
        self,
        workload_id: str,
        request: Any,
        response: Any,
        *,
        client_id: str | None = None,
        request_id: str | None = None,
        timestamp: float | None = None,
    ) -> str | None:
        """Log one chat completion in the Data Flywheel format; returns the document ``_id``.

        ``request``/``response`` are dicts or OpenAI SDK objects. Sampling is decided by
        ``request_id``, else the completion's ``id``.
        """
        try:
            record = chat_record(
                workload_id=workload_id, request=request, response=response, client_id=client_id, timestamp=timestamp
            )
            key = request_id or record["response"].get("id")
            if not self._sampled(workload_id, key, self.policy.rate_for(workload_id)):
                return None
            doc_id = uuid.uuid4().hex
            self._enqueue(doc_id, record)
            return doc_id
        except Exception:
            self._count("errors")
            log.exception("log_chat failed; the record was not logged")
            return None

    def _sampled(self, workload_id: str, key: str | None, rate: float) -> bool:
        keep = self.policy.decide(workload_id, key) if key else random.random() < rate
        if not keep:
            self._count("sampled_out")
        return keep

    def _enqueue(self, doc_id: str, record: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((doc_id, record))
        except queue.Full:
            self._overflow.append((doc_id, record))  # the sender moves these to the spool
        self._count("accepted")

    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    # ---- control ------------------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every record logged before the call is in Elasticsearch or the spool."""
        done = threading.Event()
        try:
            self._queue.put((_FLUSH, done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Send what is queued, replay the spool while the cluster answers, stop the sender.

        True when nothing is left behind; otherwise what remains is in the spool (replayed
        by the next logger on the same spool folder) and a warning says how much.
        """
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        self._close_by = deadline
        self._stopping.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False)
        left = len(self._spool.pending())
        if left:
            log.warning("closing with %d batches (%d bytes) in the spool %s; they are replayed next time",
                        left, self._spool.size_bytes, self._spool.directory)  # fmt: skip
        return left == 0 and not self._thread.is_alive()

    def stats_dict(self) -> dict[str, int]:
        with self._stats_lock:
            return asdict(self.stats)

    def __enter__(self) -> ServingLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sender thread ------------------------------------------------------------------

    def _run(self) -> None:
        sv = self.settings.serving
        while True:
            batch, markers = self._next_batch(sv.batch_size, sv.flush_interval_s)
            try:
                self._drain_overflow()
                if batch:
                    self._deliver(batch)
                if markers or self._stopping.is_set():
                    self._wait_in_flight()
                if self._spool.pending() and time.monotonic() >= self._retry_at:
                    self._wait_in_flight()
                    self._replay()
            except Exception:  # the sender must survive anything; the batch is in the spool
                log.exception("log sender error")
            for marker in markers:
                marker.set()
            if self._stopping.is_set() and self._queue.empty() and not self._overflow:
                if not self._spool.pending() or time.monotonic() >= self._close_by:
                    return  # what is left stays in the spool for the next logger
                if self._retry_at > time.monotonic():  # closing: try again soon, not after a long backoff
                    self._retry_at = min(self._retry_at, time.monotonic() + 0.5)
                time.sleep(0.1)

    def _next_batch(self, size: int, wait_s: float) -> tuple[list[tuple[str, dict[str, Any]]], list[threading.Event]]:
        batch: list[tuple[str, dict[str, Any]]] = []
        markers: list[threading.Event] = []
        deadline = time.monotonic() + wait_s
        while len(batch) < size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 and not batch else self._queue.get_nowait()
            except queue.Empty:
                if batch or remaining <= 0 or self._stopping.is_set():
                    break
                continue
            if item[0] is _FLUSH:
                markers.append(item[1])
                break
            batch.append(item)
        return batch, markers

    def _action(self, doc_id: str, record: dict[str, Any]) -> dict[str, Any]:
        # Only what the application passed in is scanned for PII, not the ids, times and model
        # identity the logger fills in itself. A record with nothing to redact is sent as JSON
        # text spliced from the two parts, so each part is serialised once.
        envelope = {k: v for k, v in record.items() if k in _ENVELOPE_FIELDS}
        content = {k: v for k, v in record.items() if k not in _ENVELOPE_FIELDS}
        content_text = _dumps(content)
        if not self.redactor.is_clean_json(content_text):
            return {"_id": doc_id, "_source": {**record, **self.redactor.redact(content)}}
        envelope_text = _dumps(envelope)
        if not content:
            return {"_id": doc_id, "_source": envelope_text}
        joiner = "," if envelope else ""
        return {"_id": doc_id, "_source": envelope_text[:-1] + joiner + content_text[1:]}

    def _drain_overflow(self) -> None:
        items = []
        while self._overflow:
            items.append(self._overflow.popleft())
        if items:
            log.warning("logging queue full: %d records go to the spool", len(items))
            self._to_spool([self._action(i, r) for i, r in items])

    def _to_spool(self, actions: list[dict[str, Any]]) -> None:
        if self._spool.append(actions):
            self._count("spooled", len(actions))
        else:
            self._count("dropped", len(actions))
            log.error("DROPPED %d log records: the spool %s reached its cap of %d bytes",
                      len(actions), self._spool.directory, self._spool.max_bytes)  # fmt: skip

    def _deliver(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        actions = [self._action(i, r) for i, r in batch]
        if self._spool.pending() or time.monotonic() < self._retry_at:
            self._to_spool(actions)  # older records wait on disk: keep the order
            return
        # Up to `sender_threads` bulk requests in flight: the next batch is redacted and
        # serialised while Elasticsearch indexes the previous one.
        self._slots.acquire()
        future = self._pool.submit(self._send_batch, actions)
        with self._in_flight_lock:
            self._in_flight.add(future)
        future.add_done_callback(self._batch_done)

    def _batch_done(self, future: concurrent.futures.Future[None]) -> None:
        with self._in_flight_lock:
            self._in_flight.discard(future)
        self._slots.release()

    def _wait_in_flight(self) -> None:
        with self._in_flight_lock:
            pending = list(self._in_flight)
        concurrent.futures.wait(pending)

    def _send_batch(self, actions: list[dict[str, Any]]) -> None:
        try:
            retry = self._send(actions)
        except _Unavailable as exc:
            self._mark_down(exc)
            self._to_spool(actions)
            return
        except Exception:  # e.g. a serialisation error: keep the batch rather than lose it
            log.exception("unexpected error sending %d log records; spooling them", len(actions))
            self._to_spool(actions)
            return
        self._count("sent", len(actions) - len(retry))
        if retry:
            self._to_spool(retry)

    def _replay(self) -> None:
        for path in self._spool.pending():
            actions = self._spool.read(path)
            try:
                retry = self._send(actions)
            except _Unavailable as exc:
                self._mark_down(exc)
                return
            if retry:  # keep the file (its taken records are re-sent under the same _id)
                self._mark_down(_Unavailable(f"{len(retry)} records throttled"))
                return
            self._spool.remove(path)
            self._count("replayed", len(actions))
            log.info("replayed %d spooled log records from %s", len(actions), path.name)

    def _mark_down(self, exc: Exception) -> None:
        delay = self._backoff
        self._retry_at = time.monotonic() + delay
        self._backoff = min(self._backoff * 2, self.settings.serving.retry_max_s)
        log.warning("Elasticsearch unavailable (%s); spooling, next attempt in %.1fs", exc, delay)

    def _send(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk-index ``actions``; returns the ones to retry later. Raises _Unavailable."""
        by_id = {a["_id"]: a for a in actions}
        retry: list[dict[str, Any]] = []
        try:
            if not self._index_ready:
                ensure_index(self._client, self.index, SKEWGUARD_INDEX_MAPPING)
                self._index_ready = True
            for ok, item in helpers.streaming_bulk(
                self._client, ({"_index": self.index, **a} for a in actions), chunk_size=len(actions) or 1,
                max_retries=0, raise_on_error=False, raise_on_exception=True,
            ):  # fmt: skip
                if ok:
                    continue
                info = item.get("index", {})
                if info.get("status") in _RETRYABLE:
                    retry.append(by_id[info["_id"]])
                else:
                    self._dead_letter(by_id.get(info.get("_id"), {}), info.get("error"))
        except (TransportError, ApiError) as exc:
            raise _Unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        self._backoff = 0.5
        return retry

    def _dead_letter(self, action: dict[str, Any], error: Any) -> None:
        self._count("rejected")
        log.error(
            "Elasticsearch rejected log record %s for good: %s (kept in deadletter.jsonl)", action.get("_id"), error
        )
        with (self._spool.directory / "deadletter.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"action": action, "error": error}, default=str) + "\n")
