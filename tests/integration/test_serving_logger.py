"""The serving logger against real Elasticsearch servers: fields intact, outages survived,
PII never stored in clear."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from serving.id_map import IdMap
from serving.logger import ServingLogger
from skewguard.config import load_settings
from tests.conftest import run_script
from tests.helpers import load_records, logger_settings

pytestmark = pytest.mark.es

AUX_URL = "http://127.0.0.1:9202"


def _all_docs(client: Elasticsearch, index: str) -> dict[str, dict[str, Any]]:
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def _completion(i: int, arguments: Any) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": 1732104000,
        "model": "meta/llama-3.1-8b-instruct",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


class _SdkObject:
    """Stands in for an OpenAI SDK pydantic object: all the logger uses is model_dump()."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def model_dump(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))


def test_records_are_found_with_every_field_intact(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    request = {
        "model": "meta/llama-3.1-8b-instruct",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "order 42?"}]}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    }
    with ServingLogger(logger_settings(tmp_path, local_es, es_index)) as logger:
        chat_ids = [
            logger.log_chat("support", request, _completion(0, '{"order": 42}'), client_id="web"),
            logger.log_chat("support", _SdkObject(request), _SdkObject(_completion(1, {"order": 43})), client_id="ios"),
        ]
        pred_id = logger.log_prediction(
            workload_id="fraud-scoring", request_id="req-1", features={"f001": 0.25, "f002": None, "f003": "FR"},
            outputs={"score": 0.875}, model={"name": "fraud", "version": "7", "transform_hash": "ab12"},
        )  # fmt: skip
    assert logger.stats.sent == 3 and logger.stats.spooled == 0
    with Elasticsearch(local_es) as client:
        docs = _all_docs(client, es_index)
    assert set(docs) == {*chat_ids, pred_id}
    chat0, chat1 = docs[chat_ids[0]], docs[chat_ids[1]]
    assert set(chat0) == {"request", "response", "timestamp", "client_id", "workload_id"}
    assert chat0["request"] == request and chat1["request"] == request
    assert chat0["response"] == _completion(0, '{"order": 42}')
    assert chat1["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == {"order": 43}
    pred = docs[pred_id]
    assert pred["features"] == {"f001": 0.25, "f002": None, "f003": "FR"}
    assert pred["outputs"] == {"score": 0.875} and pred["model"]["transform_hash"] == "ab12"
    assert (pred["event_id"], pred["request_id"], pred["sampling_rate"]) == (pred_id, "req-1", 1.0)


def test_daily_indices_behind_the_alias_and_minimised_features(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    id_map = IdMap.build(["account_age_days", "country"], {"country": ["US", "FR"]})
    id_map.save(tmp_path / "maps")
    settings = logger_settings(tmp_path, local_es, es_index, id_maps_dir=tmp_path / "maps", id_map=id_map.map_id)
    settings = settings.model_copy(
        update={"elasticsearch": settings.elasticsearch.model_copy(update={"daily_indices": True})}
    )
    model = {"name": "fraud", "version": "7", "transform_hash": "ab12"}
    features = {"account_age_days": 3.5, "country": "FR"}
    try:
        with ServingLogger(settings) as logger:
            ids = [
                logger.log_prediction(
                    workload_id="fraud-scoring", features=features, outputs={"score": 0.5}, model=model, timestamp=ts
                )  # fmt: skip
                for ts in ("2024-11-20T23:59:59Z", 1732147200, "2024-11-21T00:00:00+01:00")
            ]
        assert logger.stats.sent == 3
        with Elasticsearch(local_es) as client:
            by_index = {
                name: set(_all_docs(client, name)) for name in client.indices.get_alias(index=es_index)
            }  # the alias stands for the days
            docs = _all_docs(client, es_index)
        # 1732147200 is 2024-11-21T00:00:00Z; +01:00 midnight is still the 20th in UTC
        assert by_index == {f"{es_index}-2024.11.20": {ids[0], ids[2]}, f"{es_index}-2024.11.21": {ids[1]}}
        assert docs[ids[0]]["features"] == {"0": 3.5, "1": 1} and docs[ids[0]]["id_map"] == id_map.map_id
        assert id_map.expand(docs[ids[0]]["features"]) == features
    finally:
        with Elasticsearch(local_es) as client:
            client.options(ignore_status=404).indices.delete(index=f"{es_index}-*")
    with pytest.raises(ValueError, match="no such map"):
        ServingLogger(logger_settings(tmp_path, local_es, es_index, id_map="0000000000000000"))


@pytest.fixture()
def aux_es() -> Iterator[str]:
    """A node of its own (scripts/es.sh aux), which this test stops and starts."""
    run_script("scripts/es.sh", "start", "aux")
    yield AUX_URL
    run_script("scripts/es.sh", "start", "aux")  # leave it running if a test stopped it
    with Elasticsearch(AUX_URL) as client:
        client.options(ignore_status=404).indices.delete(index="outage-*")
    run_script("scripts/es.sh", "stop", "aux")


def test_an_outage_loses_and_duplicates_nothing(aux_es, tmp_path):  # type: ignore[no-untyped-def]
    index = f"outage-{int(time.time())}"
    logger = ServingLogger(logger_settings(tmp_path, aux_es, index, batch_size=50))
    ids: list[str | None] = []

    def stream(n: int, start: int) -> None:
        for i in range(start, start + n):
            ids.append(
                logger.log_prediction(
                    workload_id="w",
                    request_id=f"r{i}",
                    features={"i": i},
                    outputs={"s": i / 10},
                    model={"name": "m", "version": "1", "transform_hash": "h"},
                )  # fmt: skip
            )
            time.sleep(0.001)

    stream(300, 0)
    assert logger.flush(30)
    run_script("scripts/es.sh", "stop", "aux")
    stream(500, 300)  # Elasticsearch is down: these go to the spool
    assert logger.flush(60)
    assert logger.stats.spooled > 0
    run_script("scripts/es.sh", "start", "aux")
    stream(200, 800)
    assert logger.close(timeout=120)

    assert None not in ids and len(set(ids)) == 1000
    stats = logger.stats
    assert (stats.dropped, stats.rejected, stats.errors) == (0, 0, 0)
    assert stats.sent + stats.replayed == 1000
    with Elasticsearch(aux_es) as client:
        docs = _all_docs(client, index)
        assert client.count(index=index)["count"] == 1000
    assert set(docs) == set(ids)
    assert sorted(d["features"]["i"] for d in docs.values()) == list(range(1000))


def test_loader_derives_workload_ids_from_tool_names(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    def tool(name: str) -> dict[str, Any]:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}

    records = [
        {
            "request": {"tools": [tool("search"), tool("book")]},
            "response": {"id": "a"},
            "timestamp": 1,
            "workload_id": "x",
        },
        {"request": {"tools": [tool("book"), tool("search"), tool("book")]}, "response": {"id": "b"}, "timestamp": 2},
        {"request": {"messages": []}, "response": {"id": "c"}, "timestamp": 3, "workload_id": "x"},
    ]
    settings = load_settings()
    result = load_records(settings, records, tmp_path / "aiva.jsonl", workload_from_tools=True)
    assert (result.indexed, result.rejected) == (3, 0)
    with Elasticsearch(local_es) as client:
        docs = _all_docs(client, es_index)
    by_response = {d["response"]["id"]: d["workload_id"] for d in docs.values()}
    assert by_response == {"a": "tools-book+search", "b": "tools-book+search", "c": "generic"}


def _log_many(logger: ServingLogger, n: int, prefix: str) -> list[str | None]:
    return [
        logger.log_prediction(
            workload_id="w",
            request_id=f"{prefix}{i}",
            features={"i": i, "pad": "x" * 500},
            outputs={"s": 0.5},
            model={"name": "m", "version": "1", "transform_hash": "h"},
        )  # fmt: skip
        for i in range(n)
    ]


def test_a_spool_left_behind_is_replayed_by_the_next_logger(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    down = ServingLogger(logger_settings(tmp_path, "http://127.0.0.1:9299", es_index, batch_size=20))
    ids = _log_many(down, 100, "left-")
    assert not down.close(timeout=3)  # nothing reachable: it all stays on disk
    assert (down.stats.spooled, down.stats.sent, down.stats.dropped) == (100, 0, 0)

    with ServingLogger(logger_settings(tmp_path, local_es, es_index)) as up:
        pass
    assert up.stats.replayed == 100
    with Elasticsearch(local_es) as client:
        assert set(_all_docs(client, es_index)) == set(ids)


def test_records_are_dropped_only_past_the_spool_cap_and_loudly(tmp_path, caplog):  # type: ignore[no-untyped-def]
    settings = logger_settings(tmp_path, "http://127.0.0.1:9299", "nowhere", batch_size=10, spool_max_bytes=1 << 16)
    logger = ServingLogger(settings)
    with caplog.at_level("ERROR", logger="serving.logger"):
        _log_many(logger, 400, "cap-")
        logger.close(timeout=3)
    stats = logger.stats
    assert stats.accepted == 400 and stats.spooled + stats.dropped == 400
    assert stats.spooled > 0 and stats.dropped > 0
    assert sum(len(logger._spool.read(p)) for p in logger._spool.pending()) == stats.spooled
    assert any("DROPPED" in r.getMessage() and "cap" in r.getMessage() for r in caplog.records)
