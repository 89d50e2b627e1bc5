"""LLM interaction records as the Data Flywheel publishes them, and bronze rows holding them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

NOON = dt.datetime(2024, 11, 20, 12)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


def completion(message: dict[str, Any], finish: str = "stop", usage: tuple[int, int] = (20, 5)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1732104000,
        "model": "meta/llama-3.1-8b-instruct",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def record(messages: list[dict[str, Any]], response: dict[str, Any], **request: Any) -> dict[str, Any]:
    """A Data Flywheel record: the keys it logs, nothing more."""
    return {
        "request": {"model": "meta/llama-3.1-70b-instruct", "messages": messages, **request},
        "response": response,
        "timestamp": 1732104000,
        "client_id": "support-app",
        "workload_id": "support-tools",
    }


def tool_call(arguments: Any, name: str = "get_weather", call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def bronze_row(event_id: str, source: dict[str, Any] | str, **over: Any) -> dict[str, Any]:
    ts = over.pop("event_ts", NOON)
    row = {
        "event_id": event_id, "es_index": "flywheel", "event_ts": ts, "event_date": ts.date(),
        "workload_id": source.get("workload_id", "support-tools") if isinstance(source, dict) else "support-tools",
        "client_id": "support-app", "record_kind": "llm_interaction",
        "source_json": source if isinstance(source, str) else json.dumps(source),
        "ingest_run_id": "ingest-1", "ingested_at": NOON,
    }  # fmt: skip
    row.update(over)
    return row
