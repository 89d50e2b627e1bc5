"""Deterministic synthetic serving-log generator (JSONL) for the two serving record kinds.

* ``llm_interaction`` -- Data Flywheel records with exactly the keys in :data:`FLYWHEEL_KEYS`
  (OpenAI chat-completions ``request`` + ChatCompletion ``response``).
* ``prediction`` -- feature logs (``f001``... IDs), model identity, outputs, sampling rate.

One ``random.Random(seed)`` drives everything, so the same config gives byte-identical output.
Per UTC day the counts are exact, rounded half up: ``round(records_per_day * llm_share)`` LLM
records and ``round(records_per_day * malformed_fraction)`` malformed ones, whose reasons cycle
through :data:`MALFORMED_REASONS` in order.

The record bodies come from :mod:`ops.synthetic_conversations` (LLM) and
:mod:`ops.synthetic_predictions` (predictions, and each workload's :func:`feature_schema`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from ops.synthetic_conversations import ConversationBuilder
from ops.synthetic_predictions import PredictionBuilder
from skewguard.progress import progress

__all__ = [
    "FLYWHEEL_KEYS",
    "KIND_LLM",
    "KIND_PREDICTION",
    "MALFORMED_REASONS",
    "GeneratedRecord",
    "GenerationSummary",
    "GeneratorConfig",
    "generate",
    "record_instant",
    "write_jsonl",
]

logger = logging.getLogger(__name__)

KIND_LLM = "llm_interaction"
KIND_PREDICTION = "prediction"
FLYWHEEL_KEYS = frozenset({"request", "response", "timestamp", "client_id", "workload_id"})
MALFORMED_REASONS: tuple[str, ...] = (
    "missing_timestamp",
    "bad_timestamp",
    "missing_workload_id",
    "unknown_record_kind",
    "incomplete_llm_record",
)
_INCOMPLETE = "incomplete_llm_record"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_BAD_TIMESTAMPS = ("yesterday-ish", "2024-13-45T99:00:00Z", "not-a-date", "32/11/2024 25:61", "")
_ISO_OFFSETS_MIN = (0, 0, 0, 60, 120, -300, -480, 330, 540)


@dataclass(frozen=True)
class GeneratedRecord:
    """One generated record plus the ground truth a quarantine step should reproduce."""

    record: dict[str, Any]
    kind: str
    day: date
    workload_id: str
    expected_reason: str | None


@dataclass(frozen=True)
class GeneratorConfig:
    """Generator settings; validated on construction (``ValueError`` when invalid)."""

    seed: int = 7
    start_date: date = date(2024, 11, 20)
    days: int = 3
    records_per_day: int = 1000
    llm_share: float = 0.5
    malformed_fraction: float = 0.0
    llm_workloads: tuple[str, ...] = ("customer-support-tools", "summarize-generic")
    prediction_workloads: tuple[str, ...] = ("fraud-scoring", "ranking-v2")
    clients: tuple[str, ...] = ("web", "ios", "android", "batch-eval")
    drifted_features: tuple[str, ...] = ()
    """Prediction feature ids whose distribution moves (numbers to the upper half of their
    range, categories towards the first value): drift to find, e.g. in the demo."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` describing the first invalid setting."""
        for name, low in (("seed", None), ("days", 1), ("records_per_day", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an int, got {value!r}")
            if low is not None and value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not isinstance(self.start_date, date) or isinstance(self.start_date, datetime):
            raise ValueError(f"start_date must be a datetime.date, got {self.start_date!r}")
        for name in ("llm_share", "malformed_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        if self.llm_share > 0 and not self.llm_workloads:
            raise ValueError("llm_workloads must not be empty when llm_share > 0")
        if self.llm_share < 1 and not self.prediction_workloads:
            raise ValueError("prediction_workloads must not be empty when llm_share < 1")
        if not self.clients:
            raise ValueError("clients must not be empty")
        names = (*self.llm_workloads, *self.prediction_workloads, *self.clients)
        if any(not isinstance(n, str) or not n for n in names):
            raise ValueError("workload and client names must be non-empty strings")
        workloads = (*self.llm_workloads, *self.prediction_workloads)
        if len(set(workloads)) != len(workloads):
            raise ValueError(f"workload names must be unique across kinds: {workloads}")


@dataclass
class GenerationSummary:
    """Counts collected by :func:`write_jsonl`."""

    total: int = 0
    valid_by_day_workload: dict[tuple[str, str], int] = field(default_factory=dict)
    valid_by_kind: dict[str, int] = field(default_factory=dict)
    malformed_by_reason: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0

    @property
    def malformed_total(self) -> int:
        """Number of malformed records."""
        return sum(self.malformed_by_reason.values())

    def add(self, gen: GeneratedRecord, nbytes: int) -> None:
        """Account for one written record of ``nbytes`` bytes (newline included)."""
        self.total += 1
        self.bytes_written += nbytes
        if gen.expected_reason is None:
            _bump(self.valid_by_day_workload, (gen.day.isoformat(), gen.workload_id))
            _bump(self.valid_by_kind, gen.kind)
        else:
            _bump(self.malformed_by_reason, gen.expected_reason)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable view; day/workload keys rendered as ``"YYYY-MM-DD|workload"``."""
        return {
            "total": self.total,
            "valid_by_day_workload": {f"{d}|{w}": n for (d, w), n in sorted(self.valid_by_day_workload.items())},
            "valid_by_kind": dict(sorted(self.valid_by_kind.items())),
            "malformed_by_reason": dict(sorted(self.malformed_by_reason.items())),
            "bytes_written": self.bytes_written,
        }


def record_instant(record: dict[str, Any]) -> datetime | None:
    """Return the record's UTC instant from any supported ``timestamp`` format, else ``None``.

    Ints/floats are epoch seconds, or epoch millis when ``>= 1e11``; strings are ISO-8601
    (``Z`` or ``+HH:MM`` offsets; naive strings are taken as UTC).
    """
    ts = record.get("timestamp") if isinstance(record, dict) else None
    try:
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            return _EPOCH + timedelta(milliseconds=ts if abs(ts) >= 1e11 else ts * 1000)
        if isinstance(ts, str):
            parsed = datetime.fromisoformat(ts)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return None


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)


def _bump(counts: dict[Any, int], key: Any) -> None:
    counts[key] = counts.get(key, 0) + 1


def _timestamp(rng: random.Random, epoch_ms: int) -> int | str:
    """Epoch seconds, epoch millis or ISO-8601 (``Z`` or ``+HH:MM``), one third each."""
    roll = rng.random()
    if roll < 1 / 3:
        return epoch_ms // 1000
    if roll < 2 / 3:
        return epoch_ms
    off = rng.choice(_ISO_OFFSETS_MIN)
    local = _EPOCH + timedelta(milliseconds=epoch_ms + off * 60_000)
    text = local.replace(tzinfo=None).isoformat(timespec="milliseconds" if roll < 0.85 else "seconds")
    if off == 0:
        return text + "Z"
    return f"{text}{'+' if off > 0 else '-'}{abs(off) // 60:02d}:{abs(off) % 60:02d}"


def _damage(rng: random.Random, reason: str, record: dict[str, Any]) -> dict[str, Any]:
    """Apply exactly the defect named by ``reason``; return the (possibly new) record."""
    if reason == "missing_timestamp":
        del record["timestamp"]
    elif reason == "bad_timestamp":
        record["timestamp"] = rng.choice(_BAD_TIMESTAMPS)
    elif reason == "missing_workload_id":
        mode = rng.randrange(3)
        if mode == 0:
            del record["workload_id"]
        else:
            record["workload_id"] = "" if mode == 1 else None
    elif reason == "unknown_record_kind":
        record = {k: record[k] for k in ("timestamp", "client_id", "workload_id")}
        record["payload"] = {
            "event": rng.choice(("heartbeat", "cache_stats", "debug")),
            "latency_ms": rng.randrange(1, 900),
            "status": "ok",
        }
    else:  # incomplete_llm_record
        del record["response" if rng.random() < 0.5 else "request"]
    return record


def generate(config: GeneratorConfig) -> Iterator[GeneratedRecord]:
    """Yield ``days * records_per_day`` records, day by day, deterministically from the seed.

    Records are built fresh (no shared nested objects), so callers may mutate them. A reason
    ``incomplete_llm_record`` that cannot be served (no LLM record left that day, or
    ``llm_share == 0``) is skipped in the cycle; otherwise every 5 malformed records hold each
    reason once.
    """
    config.validate()
    rng = random.Random(config.seed)
    records = _RecordBuilder(config, rng)
    reasons = itertools.cycle(MALFORMED_REASONS if config.llm_share > 0 else MALFORMED_REASONS[:-1])
    n = config.records_per_day
    n_llm = _round_half_up(n * config.llm_share)
    n_bad = _round_half_up(n * config.malformed_fraction)
    logger.debug("generating %d day(s) x %d records (per day: %d llm, %d malformed)", config.days, n, n_llm, n_bad)
    for d in range(config.days):
        day = config.start_date + timedelta(days=d)
        for slot in _day_slots(rng, day, (n, n_llm, n_bad), reasons):
            record, workload = records.well_formed(slot.is_llm, slot.epoch_ms)
            if slot.reason is not None:
                record = _damage(rng, slot.reason, record)
            yield GeneratedRecord(
                record=record,
                kind=KIND_LLM if slot.is_llm else KIND_PREDICTION,
                day=day,
                workload_id=workload,
                expected_reason=slot.reason,
            )


class _Slot(NamedTuple):
    """What one record of a day will be: malformed (and why) or not, its kind, its instant."""

    reason: str | None
    is_llm: bool
    epoch_ms: int


def _day_slots(rng: random.Random, day: date, counts: tuple[int, int, int], reasons: Iterator[str]) -> Iterator[_Slot]:
    """Deal the day's ``(records, llm, malformed)`` counts out exactly, one slot per record.

    Selection sampling: exact per-day counts without materialising the day. Lazy on purpose:
    a slot draws from ``rng`` only when the previous record is built, so the draws keep their
    order (and the output its bytes).
    """
    rnd = rng.random
    day_ms = (day - _EPOCH.date()).days * _DAY_MS
    rem_total, rem_llm, rem_bad = counts
    while rem_total:
        reason: str | None = None
        if rem_bad and rnd() * rem_total < rem_bad:
            rem_bad -= 1
            reason = next(reasons)
            if reason == _INCOMPLETE and rem_llm == 0:
                reason = next(reasons)
        is_llm = reason == _INCOMPLETE or (rem_llm > 0 and rnd() * rem_total < rem_llm)
        rem_total -= 1
        if is_llm:
            rem_llm -= 1
        yield _Slot(reason, is_llm, day_ms + int(rnd() * _DAY_MS))


class _RecordBuilder:
    """Builds a well-formed record of either kind: the envelope here, the body by its builder."""

    def __init__(self, config: GeneratorConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.conversations = ConversationBuilder(rng, config.llm_workloads)
        self.predictions = PredictionBuilder(rng, config.prediction_workloads, config.drifted_features)

    def well_formed(self, is_llm: bool, epoch_ms: int) -> tuple[dict[str, Any], str]:
        """Return a record of the kind at the instant, and its workload."""
        rng, config = self.rng, self.config
        client = rng.choice(config.clients)
        ts = _timestamp(rng, epoch_ms)
        if is_llm:
            workload = rng.choice(config.llm_workloads)
            request, response = self.conversations.chat_completion(workload, epoch_ms // 1000 + rng.randrange(3))
            record = {
                "request": request,
                "response": response,
                "timestamp": ts,
                "client_id": client,
                "workload_id": workload,
            }
            return record, workload
        workload = rng.choice(config.prediction_workloads)
        record = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "request_id": f"req-{rng.getrandbits(64):016x}",
            "timestamp": ts,
            "client_id": client,
            "workload_id": workload,
        }
        record.update(self.predictions.prediction(workload))
        return record, workload


def write_jsonl(records: Iterable[GeneratedRecord], path: Path, total: int | None = None) -> GenerationSummary:
    """Stream ``records`` to ``path`` as compact UTF-8 JSONL (one per line); return the counts.

    ``total`` (the records expected) sizes the progress bar shown on a terminal.

    Parent directories are created; an existing file is overwritten.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary()
    encode = _ENCODER.encode
    started = time.perf_counter()
    with path.open("wb", buffering=1 << 20) as fh:
        for gen in progress(records, total=total, desc=f"writing {path.name}", unit="rec"):
            line = (encode(gen.record) + "\n").encode("utf-8")
            fh.write(line)
            summary.add(gen, len(line))
    elapsed = time.perf_counter() - started
    logger.info(
        "wrote %d records (%d bytes, %d malformed) to %s in %.1fs (%.0f rec/s)",
        summary.total,
        summary.bytes_written,
        summary.malformed_total,
        path,
        elapsed,
        summary.total / elapsed if elapsed > 0 else 0.0,
    )
    return summary
