"""PII where the README promises it: every planted value, in every field a serving app
fills (top-level ids included, dict keys, card numbers sent as numbers), is absent in clear
from Elasticsearch, the spool, the dead-letter file and bronze."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from pydantic import SecretStr
from pyspark.sql import functions as F

from jobs import ingest_logs, parse_logs
from serving.logger import ServingLogger
from serving.spool import DEAD_LETTER
from skewguard.config import Settings
from tests.helpers import table

pytestmark = [pytest.mark.es, pytest.mark.spark]

DAY = dt.date(2024, 11, 23)
TEXT_PII = [
    "jane.doe@example.com",
    "j.smith+orders@mail.example.org",
    "+33 6 12 34 56 78",
    "(555) 123-4567",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "123-45-6789",
    "QQ 12 34 56 C",
    "1 84 12 76 451 089 46",
]
CARD_AS_NUMBER = 4111111111111111
KEY_PII = "kim.lee@example.net"
HASHED = ("client-jane-0042", "req-jane-0042", "cust-jane-0042")  # client_id, request_id, customer_id


def _logger(settings: Settings, tmp_path: Path, url: str | None = None) -> ServingLogger:
    es = settings.elasticsearch.model_copy(update={"url": url}) if url else settings.elasticsearch
    serving = settings.serving.model_copy(
        update={"spool_dir": tmp_path / "spool", "flush_interval_s": 0.05, "retry_max_s": 0.5,
                "pii_hash_fields": ("client_id", "request_id", "customer_id"), "pii_key": SecretStr("k3y")}
    )  # fmt: skip
    return ServingLogger(settings.model_copy(update={"elasticsearch": es, "serving": serving}))


def _log_corpus(logger: ServingLogger, tag: str) -> None:
    ts = f"{DAY}T10:00:00Z"
    for i, pii in enumerate(TEXT_PII):
        request = {"messages": [{"role": "user", "content": f"Hi, reach me at {pii} about order {i}."}],
                   "metadata": {"customer_id": HASHED[2]}}  # fmt: skip
        response = {"id": f"{tag}-c{i}", "choices": [{"message": {"role": "assistant", "content": f"Noted: {pii}"}}]}
        logger.log_chat("support", request, response, client_id=HASHED[0],
                        timestamp=dt.datetime(2024, 11, 23, 10, tzinfo=dt.UTC).timestamp())  # fmt: skip
        logger.log_prediction(
            workload_id="fraud", event_id=f"{tag}-p{i}", request_id=HASHED[1], client_id=HASHED[0], timestamp=ts,
            features={"email": pii, "card": CARD_AS_NUMBER, KEY_PII: 1, "f_nan": math.nan, "f1": 0.5},
            outputs={"score": 0.1}, model={"name": "m", "version": "1", "transform_hash": "h"},
        )  # fmt: skip
    # refused at the call (a set cannot be written) and refused by Elasticsearch (a keyword
    # over its 32 KB term limit): both kept in the dead-letter file, redacted like the rest
    for reason, workload, extra in (("call", "fraud", {"bad": {1, 2}}), ("es", "w" * 40_000, {})):
        logger.log_prediction(
            workload_id=workload, event_id=f"{tag}-dead-{reason}", client_id=HASHED[0], request_id=HASHED[1],
            timestamp=ts, features={"email": TEXT_PII[0], "card": CARD_AS_NUMBER, KEY_PII: 2, **extra},
            outputs={"score": 0.2}, model={"name": "m", "version": "1", "transform_hash": "h"},
        )  # fmt: skip


def _leaks(text: str) -> list[str]:
    planted = [*TEXT_PII, str(CARD_AS_NUMBER), KEY_PII, *HASHED]
    return [p for p in planted if p in text]


def test_planted_pii_is_nowhere_in_clear(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    down = _logger(settings, tmp_path, url="http://127.0.0.1:9299")  # nothing listens: all to the spool
    _log_corpus(down, "spooled")
    assert not down.close(timeout=2)
    spool = down._spool.directory
    spooled_text = "".join(p.read_text() for p in spool.glob("*.jsonl") if p.name != DEAD_LETTER)
    assert spooled_text and _leaks(spooled_text) == []

    up = _logger(settings, tmp_path)  # same spool: replays it, then logs the corpus again
    _log_corpus(up, "direct")
    assert not up.close(timeout=60)  # not clean: two records of each corpus were refused
    dead_text = (spool / DEAD_LETTER).read_text()
    assert dead_text.count('"stage":"call"') == 2 and dead_text.count('"stage":"elasticsearch"') == 2
    assert (down.stats.rejected, up.stats.rejected) == (1, 3)  # the spooled "es" one is refused when replayed
    # every accepted record of both loggers was indexed once (sent, or spooled and replayed), or
    # refused by Elasticsearch (the two immense keywords)
    assert up.stats.sent + up.stats.replayed + 2 == down.stats.spooled + up.stats.accepted
    assert up.stats.dropped == up.stats.errors == 0
    assert _leaks(dead_text) == [] and "[REDACTED:email]" in dead_text and "hmac-sha256:" in dead_text

    with Elasticsearch(settings.elasticsearch.url) as client:  # what a second of real time would do
        client.indices.refresh(index=settings.elasticsearch.index)
    assert ingest_logs.main(["--date", str(DAY)]) == 0
    bronze = table(spark, settings, "bronze.serving_logs")
    rows = bronze.select("event_id", "client_id", "source_json").collect()
    assert len(rows) == 4 * len(TEXT_PII)  # both corpora: chats and predictions
    bronze_text = "\n".join(f"{r['event_id']} {r['client_id']} {r['source_json']}" for r in rows)
    assert _leaks(bronze_text) == []
    assert "[REDACTED:card]" in bronze_text and "[REDACTED:email]" in bronze_text

    # the non-finite feature reads back as the value serving used
    assert parse_logs.main(["--date", str(DAY), "--kind", "predictions"]) == 0
    values = table(spark, settings, "silver.predictions").select(F.col("features")["f_nan"].cast("double")).collect()
    assert len(values) == 2 * len(TEXT_PII) and all(math.isnan(v[0]) for v in values)
