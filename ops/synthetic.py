"""Deterministic synthetic serving-log generator (JSONL) for the two serving record kinds.

* ``llm_interaction`` -- Data Flywheel records with exactly the keys in :data:`FLYWHEEL_KEYS`
  (OpenAI chat-completions ``request`` + ChatCompletion ``response``).
* ``prediction`` -- feature logs (``f001``... IDs), model identity, outputs, sampling rate.

One ``random.Random(seed)`` drives everything, so the same config gives byte-identical output.
Per UTC day the counts are exact, rounded half up: ``round(records_per_day * llm_share)`` LLM
records and ``round(records_per_day * malformed_fraction)`` malformed ones, whose reasons cycle
through :data:`MALFORMED_REASONS` in order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "FLYWHEEL_KEYS",
    "KIND_LLM",
    "KIND_PREDICTION",
    "MALFORMED_REASONS",
    "GeneratedRecord",
    "GenerationSummary",
    "GeneratorConfig",
    "feature_schema",
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
_LLM_MODELS = ("meta/llama-3.1-8b-instruct",) * 5 + ("meta/llama-3.1-70b-instruct", "meta/llama-3.2-3b-instruct")
_COUNTRIES = ("US", "DE", "FR", "IN", "BR", "JP", "GB", "NG", "MX", "CA")
_DEVICES = ("mobile", "desktop", "tablet", "smart-tv")

# --- text pools (fixed; only the choices among them depend on the seed) -------------------------
_SUPPORT_SYSTEM = (
    "You are Ava, the support assistant for Northwind Outfitters. Be polite and concise. Use the "
    "tools to look up orders, shipments and refunds instead of guessing; never reveal other "
    "customers' data and offer to escalate when a request is outside policy.",
    "You are a support agent for an online electronics store. Answer in the customer's language, "
    "verify order details with a tool call before promising anything, keep answers short.",
)
_SUMMARY_SYSTEM = (
    "You are a careful summarization assistant. Preserve names, numbers and dates exactly and do "
    "not add facts that are not in the source.",
    "Summarize documents for busy executives: lead with the decision, then the key risks.",
)
_SUMMARY_PROMPTS = (
    "Summarize the following text in two sentences:\n\n",
    "TL;DR this please:\n",
    "Give me a bullet-point summary of the notes below.\n\n",
    "Résumé en une phrase, s'il vous plaît :\n\n",
)
_DOC_SENTENCES = (
    "The quarterly review showed revenue up 12% year over year, driven by the subscription tier.",
    "Churn in the enterprise segment stayed flat at 3.1% despite the price change in September.",
    "The infrastructure team migrated the ingestion cluster to the new region without downtime.",
    "Two incidents were caused by an expired TLS certificate on the internal metrics gateway.",
    "Marketing proposes shifting 20% of the paid-search budget to partner referrals.",
    "Legal flagged that the data retention policy must be updated before the EU launch.",
    "Latency of the checkout API regressed by 40 ms after the fraud model update.",
    "Warehouse capacity in Rotterdam will hit 95% during the holiday peak; overflow goes to Lyon.",
    "Feedback from São Paulo stores says the mobile app needs an offline mode for stock counts.",
    "The board approved the budget on condition that cloud spend stays below 18% of revenue.",
)
_SUMMARIES = (
    "Revenue grew 12% while enterprise churn stayed flat.",
    "The team asks for budget approval and flags one compliance risk before launch.",
    "Infra work finished on time; two incidents came from an expired certificate.",
    "Holiday capacity is tight and overflow will be routed to a second warehouse.",
    "- Budget approved\n- Hiring plan adds six engineers\n- Pilot starts in January",
)
_FOLLOWUPS = ("Can you make it shorter?", "Now translate that summary into German.", "Which risk is the most urgent?")
_SUPPORT_ANSWERS = (
    "I checked your order: it left our warehouse yesterday and should arrive within two business "
    "days. Anything else I can help with?",
    "I'm sorry about the trouble. The refund is started; expect it on your statement in 3-5 days.",
    "I couldn't find that order number. Could you share the email address used at checkout?",
)
# name -> (description, parameters as "name:json-type", user message templates, tool result)
_TOOLS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "get_order_status": (
        "Look up the current status of a customer order.",
        ("order_id:string",),
        ("Hi, where is my order {order_id}? It still says processing.",),
        '{"status":"shipped","carrier":"ups","eta":"2024-11-22"}',
    ),
    "track_shipment": (
        "Get tracking events for a shipment.",
        ("tracking_number:string", "carrier:string"),
        ("My {carrier} tracking number {tracking_number} hasn't updated in 4 days, why?",),
        '{"events":[{"status":"in_transit","location":"Memphis, TN"}]}',
    ),
    "issue_refund": (
        "Issue a full or partial refund for an order.",
        ("order_id:string", "amount:number", "reason:string"),
        ("The jacket from order {order_id} arrived damaged ({reason}), I want my {amount} back.",),
        '{"refund_id":"rf_8812","status":"pending"}',
    ),
    "find_nearest_store": (
        "Find the nearest physical store to a city.",
        ("city:string", "open_now:boolean"),
        ("Is there a store near {city} where I can return something today?",),
        '{"stores":[{"name":"Northwind Central","distance_km":2.4}]}',
    ),
    "search_knowledge_base": (
        "Search help-center articles.",
        ("query:string", "top_k:integer"),
        ("How do I {query}?", "Quick question: {query}?"),
        '{"articles":[{"id":"kb-231","title":"Returns and exchanges"}]}',
    ),
}
_ENUMS: dict[str, tuple[str, ...]] = {
    "carrier": ("ups", "fedex", "dhl", "usps"),
    "reason": ("damaged", "late", "wrong_item", "other"),
    "city": ("Paris", "Berlin", "Austin", "São Paulo", "Osaka", "Lagos", "Düsseldorf"),
    "query": ("return an item without a receipt", "change my password", "cancel a subscription"),
}
_ARG_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "order_id": lambda r: f"NW-{r.randrange(100000, 999999)}",
    "tracking_number": lambda r: f"1Z{r.getrandbits(40):010X}",
    "amount": lambda r: round(r.uniform(5, 400), 2),
    "open_now": lambda r: r.random() < 0.5,
    "top_k": lambda r: r.randrange(1, 6),
}


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


class _Builder:
    """Builds record bodies from the shared RNG and per-workload tables precomputed once."""

    def __init__(self, config: GeneratorConfig, rng: random.Random) -> None:
        self.rng = rng
        self.tool_names = tuple(_TOOLS)
        self.schemas = {w: feature_schema(w) for w in config.prediction_workloads}
        self.drifted = frozenset(config.drifted_features)
        self.models: dict[str, tuple[tuple[str, str, str], ...]] = {}
        self.rates: dict[str, float] = {}
        for w in config.prediction_workloads:
            h = zlib.crc32(w.encode("utf-8"))
            self.models[w] = tuple(
                (f"{w}-model", v, hashlib.sha256(f"{w}|{v}|transforms".encode()).hexdigest()[:16])
                for v in (f"2024.{10 + h % 3}.{h % 7}", f"2024.{11 + h % 3}.0")
            )
            self.rates[w] = (0.01, 0.05, 0.1)[h % 3]
        # Workloads with "tool" in the name call tools; if none does, the first LLM workload does.
        tools = {w for w in config.llm_workloads if "tool" in w}
        self.tool_workloads = tools or set(config.llm_workloads[:1])

    def _args(self, tool: str) -> dict[str, Any]:
        r = self.rng
        args: dict[str, Any] = {}
        for spec in _TOOLS[tool][1]:
            name = spec.split(":", 1)[0]
            args[name] = r.choice(_ENUMS[name]) if name in _ENUMS else _ARG_VALUES[name](r)
        return args

    def _call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """A tool call; ``arguments`` is a JSON string or a JSON object, 50/50."""
        r = self.rng
        arguments: Any = _ENCODER.encode(args) if r.random() < 0.5 else args
        return {
            "id": f"call_{r.getrandbits(64):016x}",
            "type": "function",
            "function": {"name": tool, "arguments": arguments},
        }

    def _user(self, text: str) -> dict[str, Any]:
        if self.rng.random() < 0.25:
            return {"role": "user", "content": [{"type": "text", "text": text}]}
        return {"role": "user", "content": text}

    def _support(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]] | None]:
        r = self.rng
        tool = r.choice(self.tool_names)
        args = self._args(tool)
        messages: list[dict[str, Any]] = [{"role": "system", "content": r.choice(_SUPPORT_SYSTEM)}]
        roll = r.random()
        if roll < 0.2:  # an earlier turn with a completed tool round-trip
            prev = r.choice(self.tool_names)
            call = self._call(prev, self._args(prev))
            messages += [
                self._user(r.choice(_TOOLS[prev][2]).format_map(self._args(prev))),
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": _TOOLS[prev][3]},
                {"role": "assistant", "content": r.choice(_SUPPORT_ANSWERS)},
            ]
        messages.append(self._user(r.choice(_TOOLS[tool][2]).format_map(args)))
        calls: list[dict[str, Any]] | None = None
        if roll > 0.85:  # ends with a tool result, so the model answers in text
            call = self._call(tool, args)
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": _TOOLS[tool][3]},
            ]
        elif r.random() < 0.8:
            calls = [self._call(tool, args)]
        k = 1 if r.random() < 0.7 else 2
        defs = [tool, *[t for t in r.sample(self.tool_names, k + 1) if t != tool][:k]]
        r.shuffle(defs)
        if calls and r.random() < 0.1:  # parallel tool calls
            calls.append(self._call(defs[-1], self._args(defs[-1])))
        request["tools"] = [_tool_def(t) for t in defs]
        return messages, None if calls else r.choice(_SUPPORT_ANSWERS), calls

    def llm(self, workload: str, created: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return ``(request, response)`` for one chat completion."""
        r = self.rng
        model = r.choice(_LLM_MODELS)
        request: dict[str, Any] = {"model": model}
        calls: list[dict[str, Any]] | None = None
        if workload in self.tool_workloads:
            messages, content, calls = self._support(request)
        else:
            doc = " ".join(r.choices(_DOC_SENTENCES, k=r.randrange(2, 6)))
            messages = [
                {"role": "system", "content": r.choice(_SUMMARY_SYSTEM)},
                self._user(r.choice(_SUMMARY_PROMPTS) + doc),
            ]
            if r.random() < 0.2:
                messages += [{"role": "assistant", "content": r.choice(_SUMMARIES)}, self._user(r.choice(_FOLLOWUPS))]
            content = " ".join(r.choices(_SUMMARIES, k=r.randrange(1, 3)))
        request["messages"] = messages
        request["temperature"] = r.choice((0.0, 0.2, 0.7, 1.0))
        request["max_tokens"] = r.choice((256, 512, 1024))
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        prompt = 40 * len(messages) + r.randrange(20, 400)
        completion = 12 * len(calls) if calls else len(content or "") // 4 + 1
        return request, {
            "id": f"chatcmpl-{r.getrandbits(96):024x}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    def prediction(self, workload: str) -> dict[str, Any]:
        """Return the prediction-specific fields (model, features, outputs, sampling_rate)."""
        rnd = self.rng.random
        features: dict[str, Any] = {}
        for fid, kind, param, null_rate in self.schemas[workload]:
            if fid in self.drifted:
                features[fid] = _drifted(kind, param, rnd)
            elif kind == 0:
                features[fid] = None if rnd() < null_rate else round(rnd() * param, 4)
            elif kind == 1:
                features[fid] = int(rnd() * param)
            else:
                features[fid] = param[int(rnd() * len(param))]
        name, version, thash = self.models[workload][0 if rnd() < 0.9 else 1]
        score = round(rnd(), 6)
        return {
            "model": {"name": name, "version": version, "transform_hash": thash},
            "features": features,
            "outputs": {"score": score, "label": int(score >= 0.5)},
            "sampling_rate": self.rates[workload],
        }


def _drifted(kind: int, param: Any, rnd: Any) -> Any:
    if kind == 0:
        return round((0.5 + 0.5 * rnd()) * param, 4)
    if kind == 1:
        return int((0.5 + 0.5 * rnd()) * param)
    return param[0] if rnd() < 0.6 else param[int(rnd() * len(param))]


def feature_schema(workload: str) -> list[tuple[str, int, Any, float]]:
    """Seed-independent schema rows ``(id, kind 0=float/1=int/2=categorical, param, null rate)``.

    ``param`` is the scale of a float (values in ``[0, scale)``, 4 decimals), the bound of an
    int (values in ``[0, bound)``) or the tuple of a categorical feature's values.
    """
    srng = random.Random(zlib.crc32(workload.encode("utf-8")))
    n = 30 - srng.randrange(0, 5)
    rows: list[tuple[str, int, Any, float]] = []
    for i in range(1, n + 1):
        if i > n - 2:
            rows.append((f"f{i:03d}", 2, _COUNTRIES if i == n else _DEVICES, 0.0))
        elif i > n - 6:
            rows.append((f"f{i:03d}", 1, srng.choice((5, 50, 1000)), 0.0))
        else:
            scale = srng.choice((1.0, 10.0, 250.0, 5000.0))
            rows.append((f"f{i:03d}", 0, scale, srng.choice((0.0, 0.02, 0.08))))
    return rows


def _tool_def(tool: str) -> dict[str, Any]:
    desc, params, _templates, _result = _TOOLS[tool]
    props: dict[str, Any] = {}
    for spec in params:
        name, typ = spec.split(":", 1)
        props[name] = {"type": typ, "description": name.replace("_", " ")}
        if name in _ENUMS:
            props[name]["enum"] = list(_ENUMS[name])
    return {
        "type": "function",
        "function": {
            "name": tool,
            "description": desc,
            "parameters": {"type": "object", "properties": props, "required": [p.split(":")[0] for p in params]},
        },
    }


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
    rnd = rng.random
    builder = _Builder(config, rng)
    reasons = MALFORMED_REASONS if config.llm_share > 0 else MALFORMED_REASONS[:-1]
    ptr = 0
    n = config.records_per_day
    n_llm = _round_half_up(n * config.llm_share)
    n_bad = _round_half_up(n * config.malformed_fraction)
    logger.debug("generating %d day(s) x %d records (per day: %d llm, %d malformed)", config.days, n, n_llm, n_bad)
    for d in range(config.days):
        day = config.start_date + timedelta(days=d)
        day_ms = (day - _EPOCH.date()).days * _DAY_MS
        # Selection sampling: exact per-day counts without materialising the day.
        rem_total, rem_llm, rem_bad = n, n_llm, n_bad
        for _ in range(n):
            reason: str | None = None
            if rem_bad and rnd() * rem_total < rem_bad:
                rem_bad -= 1
                reason = reasons[ptr % len(reasons)]
                ptr += 1
                if reason == _INCOMPLETE and rem_llm == 0:
                    reason = reasons[ptr % len(reasons)]
                    ptr += 1
            is_llm = reason == _INCOMPLETE or (rem_llm > 0 and rnd() * rem_total < rem_llm)
            rem_total -= 1
            epoch_ms = day_ms + int(rnd() * _DAY_MS)
            client = rng.choice(config.clients)
            ts = _timestamp(rng, epoch_ms)
            record: dict[str, Any]
            if is_llm:
                rem_llm -= 1
                workload = rng.choice(config.llm_workloads)
                request, response = builder.llm(workload, epoch_ms // 1000 + rng.randrange(3))
                record = {
                    "request": request,
                    "response": response,
                    "timestamp": ts,
                    "client_id": client,
                    "workload_id": workload,
                }
            else:
                workload = rng.choice(config.prediction_workloads)
                record = {
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "request_id": f"req-{rng.getrandbits(64):016x}",
                    "timestamp": ts,
                    "client_id": client,
                    "workload_id": workload,
                }
                record.update(builder.prediction(workload))
            if reason is not None:
                record = _damage(rng, reason, record)
            yield GeneratedRecord(
                record=record,
                kind=KIND_LLM if is_llm else KIND_PREDICTION,
                day=day,
                workload_id=workload,
                expected_reason=reason,
            )


def write_jsonl(records: Iterable[GeneratedRecord], path: Path) -> GenerationSummary:
    """Stream ``records`` to ``path`` as compact UTF-8 JSONL (one per line); return the counts.

    Parent directories are created; an existing file is overwritten.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary()
    encode = _ENCODER.encode
    started = time.perf_counter()
    with path.open("wb", buffering=1 << 20) as fh:
        for gen in records:
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
