"""The two log record kinds serving writes to Elasticsearch, their index mappings and the
rules that decide whether a record can be landed (else: the quarantine reason).

* **LLM interaction** — the Data Flywheel format, accepted as-is: ``request`` (OpenAI
  chat-completions payload), ``response`` (ChatCompletion), ``timestamp``, ``client_id``,
  ``workload_id``.
* **Prediction** — the same envelope plus ``event_id``, ``model`` {name, version,
  transform_hash}, ``features`` {feature_id: value} exactly as used, ``outputs``,
  ``sampling_rate`` and optional ``request_id``.

Timestamps may be epoch seconds, epoch milliseconds (numbers ≥ 1e11) or ISO-8601 strings.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FLYWHEEL_INDEX_MAPPING",
    "LABEL_RECORD_FIELDS",
    "LLM_INTERACTION",
    "MILLIS_THRESHOLD",
    "PREDICTION",
    "QUARANTINE_REASONS",
    "RECORD_KINDS",
    "SILVER_QUARANTINE_REASONS",
    "SKEWGUARD_INDEX_MAPPING",
    "UNLABELED_CAUSES",
    "RecordField",
    "RecordKind",
    "classify_record",
    "parse_timestamp",
]

#: Numeric timestamps at or above this are epoch milliseconds; below, epoch seconds.
MILLIS_THRESHOLD = 100_000_000_000

#: reason code -> meaning; every quarantined record carries exactly one.
QUARANTINE_REASONS: dict[str, str] = {
    "invalid_json": "the document source is not a JSON object",
    "missing_timestamp": "no `timestamp` field (or null)",
    "bad_timestamp": "`timestamp` is neither epoch seconds/millis nor ISO-8601",
    "timestamp_disagrees": 'Elasticsearch and Spark read `timestamp` as different days (e.g. the string `"2024"`, '
    "a year to Elasticsearch and 2024 epoch seconds to Spark; epoch microseconds): kept by the window Elasticsearch "
    "found it in, whose day is its `event_date`",
    "missing_workload_id": "no `workload_id`, or an empty one",
    "unknown_record_kind": "neither `request`/`response` (LLM) nor `features` (prediction) as JSON objects",
    "incomplete_llm_record": "an LLM record with a `request` object but no `response` object, or the reverse",
}

#: reason code -> meaning for records that are in bronze but cannot be parsed into silver
#: (``silver.quarantine``); checked in this order, the first that applies is the reason.
SILVER_QUARANTINE_REASONS: dict[str, str] = {
    "invalid_model": "prediction: `model` is missing, is not an object of scalar values, or lacks a non-blank "
    "`name` or `version`",
    "invalid_id_map": "prediction: `id_map` names a map `parse_logs` does not have (`serving.id_maps_dir`), or is "
    "not a string",
    "invalid_features": "prediction: `features` is not an object whose values are all scalars (number, string, "
    "boolean or null), or repeats a feature id",
    "invalid_outputs": "prediction: `outputs` is missing, empty, not an object, or holds a value that is not a "
    "finite JSON number",
    "invalid_sampling_rate": "prediction: `sampling_rate` is missing, not a JSON number, or outside (0, 1]",
    "missing_request_response": "LLM: `request` or `response` is missing or not a JSON object",
    "invalid_messages": "LLM: `request.messages` is missing, empty or not a list of objects, or a message's `role` "
    "is not one of system, developer, user, assistant, tool, function",
    "invalid_choices": "LLM: `response.choices` is missing, empty or not a list, or a choice has no "
    "`message` object",
    "invalid_tool_call": "LLM: a tool call (in the response or a request message) has a `type` other than "
    '`"function"`, no `function.name`, or `function.arguments` that are neither a JSON object nor a string '
    "holding one",
    "too_many_tool_parameters": "LLM: a tool call passes, or an offered tool declares, more parameters than "
    "`llm.max_tool_parameters`",
}

#: The fields of a delayed label (JSONL line or Delta row) that `join_labels` reads.
LABEL_RECORD_FIELDS: dict[str, str] = {
    "request_id": "the serving request the label belongs to (a prediction's `request_id`)",
    "label": "the observed outcome, a number (e.g. 0 or 1)",
    "label_ts": "when the outcome was observed: ISO-8601 (offset or `Z`; naive is UTC) or epoch seconds "
    "(numbers ≥ 1e11 are epoch milliseconds, as for log timestamps)",
}

#: Why a prediction of the window got no label in `silver.labeled_examples` (counted per run).
#: A label is a candidate when it shares the prediction's `request_id` and
#: `event_ts ≤ label_ts ≤ event_ts + label window`; the newest candidate wins.
UNLABELED_CAUSES: dict[str, str] = {
    "no_request_id": "the prediction has no `request_id`, so no label can name it",
    "no_label": "no label carries its `request_id`",
    "only_late": "every label for it is dated after the label window closed",
    "only_before_event": "every label for it is dated before the prediction (invalid)",
    "outside_window": "its labels are all outside the window, some late and some before the prediction",
}


@dataclass(frozen=True)
class RecordField:
    """A top-level field of a log record."""

    name: str
    es: dict[str, Any]
    doc: str
    required: bool = False


@dataclass(frozen=True)
class RecordKind:
    """One kind of log record: its name (the bronze ``record_kind``) and top-level fields."""

    kind: str
    doc: str
    fields: tuple[RecordField, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def markdown(self) -> str:
        lines = [f"### {self.kind}", "", self.doc, "", "| field | needed to land | meaning |", "|---|---|---|"]
        lines += [f"| `{f.name}` | {'yes' if f.required else 'no'} | {f.doc} |" for f in self.fields]
        return "\n".join(lines) + "\n"


_KEYWORD = {"type": "keyword"}
_OPAQUE = {"type": "object", "enabled": False}
# A date that reads epoch seconds right; malformed values are kept (not indexed) so that
# ingest can find and quarantine them instead of the bulk request rejecting them.
_TIMESTAMP = {"type": "date", "format": "strict_date_optional_time||epoch_second", "ignore_malformed": True}

_ENVELOPE = (
    RecordField("timestamp", _TIMESTAMP, "event time: epoch seconds, epoch millis or ISO-8601", True),
    RecordField("workload_id", _KEYWORD, "the workload (use case) that produced the record", True),
    RecordField("client_id", _KEYWORD, "the calling application or client"),
)

LLM_INTERACTION = RecordKind(
    kind="llm_interaction",
    doc="One chat completion as the Data Flywheel logs it; stored whole, never exploded into mapped fields.",
    fields=(
        RecordField("request", _OPAQUE, "OpenAI chat-completions request: model, messages, tools, …", True),
        RecordField("response", _OPAQUE, "ChatCompletion: choices[].message{role, content, tool_calls}, usage", True),
        *_ENVELOPE,
    ),
)

PREDICTION = RecordKind(
    kind="prediction",
    doc="One model prediction with the exact feature vector and outputs serving used. A feature value that is "
    'NaN, +inf or -inf is written as the string `"NaN"`, `"Infinity"` or `"-Infinity"` (JSON has no literal '
    "for them); the parse and the shared transforms read it back as that number.",
    fields=(
        RecordField("event_id", _KEYWORD, "stable id of the prediction; the loader makes it the document `_id`"),
        RecordField("request_id", _KEYWORD, "id of the serving request; joins delayed labels"),
        RecordField(
            "model",
            {"properties": {"name": _KEYWORD, "version": _KEYWORD, "transform_hash": _KEYWORD}},
            "{name, version, transform_hash} of the model that served",
        ),
        RecordField("features", _OPAQUE, "{feature_id: value} exactly as the model saw them", True),
        RecordField("outputs", _OPAQUE, "{output name: value} as returned"),
        RecordField("sampling_rate", {"type": "float"}, "share of requests logged for this workload"),
        RecordField(
            "id_map",
            _KEYWORD,
            "schema minimisation: id of the map (`serving.id_maps_dir`) whose short feature ids and category codes "
            "`features` uses; the parse expands them back to names and labels",
        ),
        *_ENVELOPE,
    ),
)

RECORD_KINDS = (LLM_INTERACTION, PREDICTION)


def _index_properties() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for kind in RECORD_KINDS:
        for f in kind.fields:
            props.setdefault(f.name, f.es)
    return props


#: skewguard's own index: known fields mapped, anything else kept in _source unindexed.
SKEWGUARD_INDEX_MAPPING: dict[str, Any] = {"dynamic": False, "properties": _index_properties()}

#: The Data Flywheel's own mapping (as it creates its index): strict, request/response
#: stored but not mapped, `timestamp` a date with the default format — so epoch *seconds*
#: written by apps are indexed as epoch *milliseconds*. Used to prove ingest copes with it.
FLYWHEEL_INDEX_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "workload_id": _KEYWORD,
        "client_id": _KEYWORD,
        "timestamp": {"type": "date"},
        "request": _OPAQUE,
        "response": _OPAQUE,
    },
}

_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")


def parse_timestamp(value: Any) -> dt.datetime | None:
    """UTC instant of a record's ``timestamp`` (the same rules the ingest job applies in Spark)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= MILLIS_THRESHOLD else value
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return parse_timestamp(float(text))
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    return None


def classify_record(record: Any) -> tuple[str | None, str | None]:
    """``(record_kind, None)`` for a record that can be landed, else ``(None, reason)``."""
    if not isinstance(record, dict):
        return None, "invalid_json"
    if record.get("timestamp") is None:
        return None, "missing_timestamp"
    if parse_timestamp(record["timestamp"]) is None:
        return None, "bad_timestamp"
    workload = record.get("workload_id")
    if workload is None or (isinstance(workload, str) and not workload.strip()):
        return None, "missing_workload_id"
    # request, response and features count only as JSON objects
    has_request, has_response = isinstance(record.get("request"), dict), isinstance(record.get("response"), dict)
    if has_request and has_response:
        return LLM_INTERACTION.kind, None
    if has_request or has_response:
        return None, "incomplete_llm_record"
    if isinstance(record.get("features"), dict):
        return PREDICTION.kind, None
    return None, "unknown_record_kind"
