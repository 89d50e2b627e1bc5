"""The serving-side logger: a cheap call in the request path, a background bulk sender,
and a disk spool so that nothing is lost while Elasticsearch is slow or down.

    logger = ServingLogger()                       # conf + ELASTICSEARCH_URL / ES_COLLECTION_NAME
    logger.log_prediction(workload_id="fraud-scoring", request_id=req_id, features=x, outputs=y,
                          model={"name": "fraud", "version": "7", "transform_hash": h})
    logger.log_chat("support-tools", request=req, response=completion)   # OpenAI objects or dicts
    logger.close()                                 # flush (or spool) everything

A logging call samples, builds the record, encodes it as JSON (``serving.encoding``: numpy,
``Decimal``, dates and non-finite numbers included) and puts it on a bounded in-memory
queue; it never raises and never waits on the network. A record that cannot be encoded is
refused there and then: counted ``rejected`` and kept, with the reason, in the dead-letter
file. One sender thread redacts PII, sends batches with elasticsearch-py's bulk helper
(stable ``_id``, so a replay never duplicates), spools a batch to disk when the cluster fails
and replays the spool, oldest first, once it is back (``serving.delivery``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from schemas.records import parse_timestamp
from serving.delivery import Delivery
from serving.encoding import UnencodableValue, decode, encode, render_for_report
from serving.id_map import IdMap, load_id_maps
from serving.record_builders import chat_record, prediction_record
from serving.redact import RedactionConfig, Redactor
from serving.sampling import SamplingPolicy
from serving.spool import Spool
from skewguard.config import Settings, load_settings
from skewguard.es import client_for, daily_index

__all__ = ["LoggerStats", "ServingLogger"]

log = logging.getLogger(__name__)
_FLUSH = object()
_DEAD = object()

# Routing and model identity: never PII, never scanned. Everything else in a record (the
# ids and client the application passes included) is scanned and may be hashed.
_ENVELOPE_FIELDS = ("timestamp", "workload_id", "model", "sampling_rate")


@dataclass
class LoggerStats:
    """Counters since the logger started."""

    accepted: int = 0  # records that passed sampling, were encoded and queued
    sampled_out: int = 0
    sent: int = 0  # indexed on first delivery
    spooled: int = 0  # written to the disk spool
    replayed: int = 0  # indexed from the spool
    dropped: int = 0  # lost because the spool's disk cap was reached (logged as errors)
    rejected: int = 0  # refused at the call (bad arguments, unencodable value) or by Elasticsearch
    #                    for good (e.g. mapping); each kept in deadletter.jsonl with its reason
    errors: int = 0  # failures of the logger itself (logged with their traceback)
    corrupt_files: int = 0  # spool files that could not be read back, moved to corrupt/


def _configured_id_map(directory: Path, map_id: str | None) -> IdMap | None:
    if map_id is None:
        return None
    found = load_id_maps(directory).get(map_id)
    if found is None:  # at start-up, loudly: minimising with no map the parse can expand is data loss
        raise ValueError(f"serving.id_map {map_id!r}: no such map in {directory}")
    return found


class ServingLogger:
    """Logs predictions and LLM interactions to Elasticsearch without blocking serving."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        index: str | None = None,
        client: Elasticsearch | None = None,
        id_map: IdMap | None = None,
    ) -> None:
        """``id_map`` (else the map ``serving.id_map`` names in ``serving.id_maps_dir``)
        minimises every prediction's features (:mod:`serving.id_map`)."""
        self.settings = settings or load_settings()
        es, sv = self.settings.elasticsearch, self.settings.serving
        # the writer role's credentials: missing ones fail here, before anything starts
        self._client = client or client_for(self.settings.es_for("writer"), fast_json=True)
        self.id_map = id_map if id_map is not None else _configured_id_map(sv.id_maps_dir, sv.id_map)
        self.index = index or es.index
        self._daily = es.daily_indices
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
        self._delivery = Delivery(self._client, self.index, self._spool, self._count, sv.retry_max_s)
        self._hash_event_id = "event_id" in self.redactor.config.hash_fields and sv.pii_enabled
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
        """Log one prediction; returns its ``event_id``, or None when sampled out or refused
        (``stats.rejected``, the reason in the dead-letter file)."""
        try:
            rate = self.policy.rate_for(workload_id)
            if not self._sampled(workload_id, request_id or event_id, rate):
                return None
            try:
                record = prediction_record(
                    workload_id=workload_id, features=features, outputs=outputs, model=model, sampling_rate=rate,
                    event_id=event_id, request_id=request_id, client_id=client_id, timestamp=timestamp,
                    id_map=self.id_map,
                )  # fmt: skip
            except (TypeError, ValueError, AttributeError) as exc:
                call = {"workload_id": workload_id, "event_id": event_id, "request_id": request_id,
                        "client_id": client_id, "features": features, "outputs": outputs, "model": model}  # fmt: skip
                self._refuse(event_id, call, f"invalid arguments: {type(exc).__name__}: {exc}")
                return None
            return self._accept(str(record["event_id"]), record)
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
            doc_id = uuid.uuid4().hex
            try:
                record = chat_record(
                    workload_id=workload_id, request=request, response=response, client_id=client_id,
                    timestamp=timestamp,
                )  # fmt: skip
                key = request_id or record["response"].get("id")
                key = key if isinstance(key, str) else None
            except (TypeError, ValueError, AttributeError) as exc:
                call = {"workload_id": workload_id, "request": request, "response": response, "client_id": client_id}
                self._refuse(doc_id, call, f"invalid arguments: {type(exc).__name__}: {exc}")
                return None
            if not self._sampled(workload_id, key, self.policy.rate_for(workload_id)):
                return None
            return self._accept(doc_id, record)
        except Exception:
            self._count("errors")
            log.exception("log_chat failed; the record was not logged")
            return None

    def _sampled(self, workload_id: str, key: str | None, rate: float) -> bool:
        keep = self.policy.decide(workload_id, key) if key else random.random() < rate
        if not keep:
            self._count("sampled_out")
        return keep

    def _accept(self, doc_id: str, record: dict[str, Any]) -> str | None:
        """Encode the record now (so a bad value is refused here) and queue it, with whether
        what the application passed certainly needs no PII redaction (judged on the objects:
        cheaper than on the text, and then the sender sends the bytes as they are)."""
        try:
            data = encode(record)
        except UnencodableValue as exc:
            self._refuse(doc_id, record, f"unencodable value at {exc}")
            return None
        self._put((doc_id, data, self.redactor.is_clean_value(record, skip=_ENVELOPE_FIELDS), self._index_of(record)))
        self._count("accepted")
        return doc_id

    def _index_of(self, record: dict[str, Any]) -> str | None:
        """With ``elasticsearch.daily_indices``, the index of the record's UTC day (else None: the
        logger's index); a timestamp it cannot read goes to today's, where ingest quarantines it."""
        if not self._daily:
            return None
        instant = parse_timestamp(record.get("timestamp"))
        return daily_index(self.index, (instant or dt.datetime.now(dt.UTC)).date())

    def _refuse(self, doc_id: str | None, record: Any, reason: str) -> None:
        """Count a record refused at the call; the sender redacts it into the dead-letter file."""
        self._count("rejected")
        self._put((_DEAD, (doc_id, reason, render_for_report(record))))

    def _put(self, item: tuple[Any, ...]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._overflow.append(item)  # the sender moves these to the spool

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

        True only when every record accepted since start-up is in Elasticsearch: False when
        any was refused (``rejected``, in the dead-letter file), dropped, or is still in the
        spool (replayed by the next logger on the same spool folder, and a warning says how
        much), when a spool file had to be set aside as corrupt, or the logger itself failed.
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
        stats = self.stats_dict()
        lost = {k: stats[k] for k in ("rejected", "dropped", "errors", "corrupt_files") if stats[k]}
        if lost:
            log.warning("closing: not everything reached Elasticsearch: %s", lost)
        return left == 0 and not lost and not self._thread.is_alive()

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
        delivery = self._delivery
        while True:
            batch, markers = self._next_batch(sv.batch_size, sv.flush_interval_s)
            try:
                self._drain_overflow()
                if batch:
                    self._deliver(batch)
                if markers or self._stopping.is_set():
                    self._wait_in_flight()
                if self._spool.pending() and not delivery.is_down():
                    self._wait_in_flight()
                    delivery.replay()
            except Exception:  # the sender must survive anything; its batches are in the spool
                self._count("errors")
                log.exception("log sender error")
            for marker in markers:
                marker.set()
            if self._stopping.is_set() and self._queue.empty() and not self._overflow:
                if not self._spool.pending() or time.monotonic() >= self._close_by:
                    return  # what is left stays in the spool for the next logger
                if delivery.is_down():  # closing: try again soon, not after a long backoff
                    delivery.retry_at = min(delivery.retry_at, time.monotonic() + 0.5)
                time.sleep(0.1)

    def _next_batch(self, size: int, wait_s: float) -> tuple[list[tuple[Any, ...]], list[threading.Event]]:
        batch: list[tuple[Any, ...]] = []
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

    def _actions(self, items: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """Bulk actions of queued records; dead-letter entries are written on the way."""
        actions = []
        for item in items:
            try:
                if item[0] is _DEAD:
                    doc_id, reason, rendered = item[1]
                    record = self.redactor.redact(decode(rendered))
                    reason = self.redactor.redact_text(reason)
                    self._delivery.dead_letter(doc_id, "call", reason, record, counted=True)
                else:
                    actions.append(self._action(*item))
            except Exception as exc:  # one bad record must not take its batch with it
                self._delivery.dead_letter(item[0] if isinstance(item[0], str) else None, "sender",
                                           f"could not prepare the record: {type(exc).__name__}", None)  # fmt: skip
        return actions

    def _action(self, doc_id: str, data: bytes, clean: bool, index: str | None) -> dict[str, Any]:
        # Only what the application passed in is redacted, not the time, routing and model
        # identity (the envelope). A clean record goes out as the bytes the call encoded; one
        # the call could not judge on its objects (numpy values, long numbers) gets a second
        # look on its text before it is walked.
        routing = {"_index": index} if index is not None else {}
        if clean or self.redactor.is_clean_json(data.decode()):
            return {**routing, "_id": doc_id, "_source": data}
        record = decode(data)
        envelope = {k: record.pop(k) for k in _ENVELOPE_FIELDS if k in record}
        redacted = self.redactor.redact(record)
        if self._hash_event_id and redacted.get("event_id") != record.get("event_id"):
            doc_id = str(redacted["event_id"])  # the id must not carry the clear value either
        return {**routing, "_id": doc_id, "_source": encode({**envelope, **redacted})}

    def _drain_overflow(self) -> None:
        items = []
        while self._overflow:
            items.append(self._overflow.popleft())
        if items:
            log.warning("logging queue full: %d records go to the spool", len(items))
            self._delivery.to_spool(self._actions(items))

    def _deliver(self, batch: list[tuple[Any, ...]]) -> None:
        actions = self._actions(batch)
        if not actions:
            return
        if self._spool.pending() or self._delivery.is_down():
            self._delivery.to_spool(actions)  # older records wait on disk: keep the order
            return
        # Up to `sender_threads` bulk requests in flight: the next batch is redacted while
        # Elasticsearch indexes the previous one.
        self._slots.acquire()
        future = self._pool.submit(self._delivery.send_batch, actions)
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
