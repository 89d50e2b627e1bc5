"""The serving logger never loses a record silently, against a real Elasticsearch: any
value a Python serving app passes is logged or refused with a reason (a property over
arbitrary nested values), and several processes share one spool."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from serving.logger import ServingLogger
from serving.spool import CORRUPT, DEAD_LETTER
from tests.conftest import ROOT
from tests.helpers import logger_settings

pytestmark = pytest.mark.es

MODEL = {"name": "m", "version": "1", "transform_hash": "h"}


def _docs(url: str, index: str) -> dict[str, dict[str, Any]]:
    with Elasticsearch(url) as client:
        client.indices.refresh(index=index)
        hits = client.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def _dead_letters(logger: ServingLogger) -> list[dict[str, Any]]:
    path = logger._spool.directory / DEAD_LETTER
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line] if path.exists() else []


def test_the_values_serving_apps_pass_are_all_indexed(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    odd = [np.float32(0.25), np.int64(7), np.array([1.5, 2.5]), decimal.Decimal("12.50"),
           dt.datetime(2024, 11, 23, 10, 0, tzinfo=dt.UTC), math.nan, np.bool_(True), -math.inf, dt.date(2024, 11, 23),
           np.float64("nan")]  # fmt: skip
    logger = ServingLogger(logger_settings(tmp_path, local_es, es_index))
    ids = []
    for i in range(300):
        value = odd[(i // 10) % len(odd)] if i % 10 == 0 else i / 7
        ids.append(logger.log_prediction(workload_id="w", event_id=f"e{i}", features={"f": value, "g": i},
                                         outputs={"score": np.float32(0.5)}, model=MODEL))  # fmt: skip
    assert logger.close(timeout=60)
    assert (logger.stats.accepted, logger.stats.sent, logger.stats.rejected, logger.stats.errors) == (300, 300, 0, 0)
    docs = _docs(local_es, es_index)
    assert set(docs) == set(ids) == {f"e{i}" for i in range(300)}
    written = {i: docs[f"e{i}"]["features"]["f"] for i in range(0, 300, 10)}
    assert written[0] == 0.25 and written[10] == 7 and written[20] == [1.5, 2.5] and written[30] == 12.5
    assert written[40] == "2024-11-23T10:00:00Z" and written[50] == "NaN" and written[60] is True
    assert written[70] == "-Infinity" and written[80] == "2024-11-23" and written[90] == "NaN"
    # the way non-finite numbers are written reads back as the value serving used
    assert math.isnan(float(written[50])) and float(written[70]) == -math.inf


_UNENCODABLE = st.sampled_from([{1, 2}, b"raw", object(), 2**70, "lone \ud800 surrogate"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.dates(),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.booleans().map(np.bool_),
    st.lists(st.floats(allow_nan=True), max_size=4).map(np.array),
    _UNENCODABLE,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.integers(0, 3), inner, max_size=3),
    max_leaves=8,
)
_CALLS = st.tuples(
    st.booleans(),  # a chat completion, else a prediction
    st.dictionaries(st.text(min_size=1, max_size=6), _VALUES, max_size=4),
    _VALUES,
)


def test_every_call_is_indexed_or_dead_lettered_exactly_once(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    logger = ServingLogger(logger_settings(tmp_path, local_es, es_index, batch_size=50))
    predictions: dict[str, str | None] = {}  # event_id -> what the call returned
    chats: dict[str, str | None] = {}  # response id -> what the call returned

    @hsettings(max_examples=250, deadline=None, database=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(_CALLS)
    def call(args: tuple[bool, dict[Any, Any], Any]) -> None:
        is_chat, features, other = args
        n = len(predictions) + len(chats)
        if is_chat:  # the call must never raise, whatever it is given
            request = {"messages": [{"role": "user", "content": other}], "metadata": features}
            response = {"id": f"c{n}", "choices": [{"message": {"role": "assistant", "content": other}}]}
            chats[f"c{n}"] = logger.log_chat("chat", request, response)
        else:
            predictions[f"p{n}"] = logger.log_prediction(
                workload_id="w", event_id=f"p{n}", features=features, outputs={"score": other}, model=MODEL
            )

    call()
    closed_clean = logger.close(timeout=60)
    docs = _docs(local_es, es_index)
    dead = _dead_letters(logger)
    dead_ids = Counter(d["_id"] for d in dead)
    refused = [d["record"] for d in dead if d["stage"] == "call"]
    refused_chats = Counter(r["response"]["id"] for r in refused if "request" in r)

    for event_id, returned in predictions.items():
        if returned is None:  # refused at the call: in the dead-letter file with its reason
            assert dead_ids[event_id] == 1 and event_id not in docs, event_id
        else:
            assert returned == event_id and (event_id in docs) + dead_ids[event_id] == 1, event_id
    for response_id, doc_id in chats.items():
        if doc_id is None:
            assert refused_chats[response_id] == 1, response_id
        else:
            assert (doc_id in docs) + dead_ids[doc_id] == 1, response_id
    stats = logger.stats
    assert stats.accepted == sum(r is not None for r in [*predictions.values(), *chats.values()])
    assert stats.rejected == len(dead) and stats.dropped == stats.errors == 0
    assert stats.sent == len(docs) == stats.accepted - sum(d["stage"] == "elasticsearch" for d in dead)
    assert all(d["reason"] for d in dead) and 0 < stats.rejected < len(predictions) + len(chats)
    assert closed_clean is (stats.rejected == 0)


def _workers(url: str, index: str, spool: Path, phase: str, count: int, close_s: float) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.logger_worker",
                url,
                index,
                str(spool),
                f"{phase}{w}",
                str(count),
                str(close_s),
            ],  # fmt: skip
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.splitlines()[-1]))
    return results


def test_four_processes_share_one_spool_through_an_outage(local_es, es_index, tmp_path):  # type: ignore[no-untyped-def]
    spool = tmp_path / "spool"
    # Elasticsearch down (nothing listens there): four processes spool 250 records each.
    down = _workers("http://127.0.0.1:9299", es_index, spool, "down", 250, 2)
    assert [r["spooled"] for r in down] == [250] * 4 and not any(r["closed_clean"] for r in down)
    folder = spool / es_index
    batches = list(folder.glob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in batches) == 1000  # no process overwrote another's file
    (folder / f"{'0' * 19}1-1-deadbeef.jsonl").write_text('{"_id": "x", "_source": "{\\"trunc')  # a damaged file

    # Elasticsearch up: four new processes log 50 records each and replay the spool together.
    up = _workers(local_es, es_index, spool, "up", 50, 90)
    docs = _docs(local_es, es_index)
    expected = {f"{phase}{w}-{i}" for phase, n in (("down", 250), ("up", 50)) for w in range(4) for i in range(n)}
    assert set(docs) == expected
    # every record reached Elasticsearch once: sent directly, or spooled and replayed by one process
    assert sum(r["sent"] + r["replayed"] for r in up) == len(expected)
    assert sum(r["replayed"] for r in up) == 1000 + sum(r["spooled"] for r in up)
    assert sum(r["corrupt_files"] for r in up) == 1 and len(list((folder / CORRUPT).iterdir())) == 1
    assert [p.name for p in folder.iterdir() if p.is_file()] == []  # nothing left, claimed or not
