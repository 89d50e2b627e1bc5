"""Build the two log record kinds exactly as ``schemas/records.py`` declares them."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any

from serving.id_map import ID_MAP_FIELD, IdMap

__all__ = ["as_dict", "chat_record", "prediction_record"]


def as_dict(obj: Any) -> dict[str, Any]:
    """A plain dict from a dict or an OpenAI SDK object (anything with ``model_dump()``)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, dict):
            return result
    raise TypeError(f"expected a dict or an object with model_dump(), got {type(obj).__name__}")


def _iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prediction_record(
    *,
    workload_id: str,
    features: Mapping[str, Any],
    outputs: Mapping[str, Any],
    model: Mapping[str, Any],
    sampling_rate: float,
    event_id: str | None = None,
    request_id: str | None = None,
    client_id: str | None = None,
    timestamp: str | float | None = None,
    id_map: IdMap | None = None,
) -> dict[str, Any]:
    """A prediction record: feature IDs → values exactly as used, outputs, model identity;
    with ``id_map``, the features minimised by it and the map's id in ``id_map``."""
    if not workload_id:
        raise ValueError("workload_id is required")
    record = {
        "event_id": event_id or uuid.uuid4().hex,
        "request_id": request_id,
        "timestamp": timestamp if timestamp is not None else _iso_now(),
        "client_id": client_id,
        "workload_id": workload_id,
        "model": {
            "name": model.get("name"),
            "version": model.get("version"),
            "transform_hash": model.get("transform_hash"),
        },
        # the caller's own dicts: the logger encodes the record before the call returns
        "features": features if type(features) is dict else dict(features),
        "outputs": outputs if type(outputs) is dict else dict(outputs),
        "sampling_rate": sampling_rate,
    }
    if id_map is not None:
        record["features"] = id_map.minimise(features)
        record[ID_MAP_FIELD] = id_map.map_id
    return record


def chat_record(
    *, workload_id: str, request: Any, response: Any, client_id: str | None = None, timestamp: float | None = None
) -> dict[str, Any]:
    """An LLM interaction in the Data Flywheel format: exactly its five keys."""
    if not workload_id:
        raise ValueError("workload_id is required")
    return {
        "request": as_dict(request),
        "response": as_dict(response),
        "timestamp": int(timestamp if timestamp is not None else time.time()),
        "client_id": client_id,
        "workload_id": workload_id,
    }
