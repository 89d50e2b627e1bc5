"""A secured cluster (scripts/es.sh secure): HTTPS with a CA made offline, and file-realm users of
three least-privilege roles. The writer creates log documents and nothing else, the reader
reads them (and the ingest job reads as the reader) and nothing else, the admin makes the index.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch, helpers

from ops import cli
from ops.loader import load_jsonl
from schemas.records import SKEWGUARD_INDEX_MAPPING
from serving.logger import ServingLogger
from skewguard.config import ConfigError, Settings, load_settings, repo_root
from skewguard.es import client_for, ensure_index
from tests.conftest import run_script
from tests.helpers import load_records, table, write_jsonl

pytestmark = [pytest.mark.es, pytest.mark.spark, pytest.mark.secure]

DAY = dt.date(2024, 11, 20)
NOON = int(dt.datetime(2024, 11, 20, 12, tzinfo=dt.UTC).timestamp())
ROLES = ("WRITER", "READER", "ADMIN")


def _exports(text: str) -> dict[str, str]:
    """The ``export NAME=value`` lines of ``scripts/es.sh env`` (values need no shell unquoting)."""
    return dict(line.removeprefix("export ").split("=", 1) for line in text.splitlines() if line.startswith("export "))


@pytest.fixture(scope="module")
def secure_env() -> Iterator[dict[str, str]]:
    """What ``eval "$(scripts/es.sh env secure)"`` exports: URL, CA, each role's user and password."""
    was_running = "stopped" not in run_script("scripts/es.sh", "status", "secure")
    run_script("scripts/es.sh", "start", "secure")
    yield _exports(run_script("scripts/es.sh", "env", "secure"))
    if not was_running:
        run_script("scripts/es.sh", "stop", "secure")


def _as(env: dict[str, str], *roles: str) -> dict[str, str]:
    """``env`` with only the credentials of ``roles``."""
    dropped = {f"ES_{r}_{part}" for r in ROLES if r not in roles for part in ("USERNAME", "PASSWORD")}
    return {k: v for k, v in env.items() if k not in dropped}


def _settings(env: dict[str, str], index: str, tmp_path: Path) -> Settings:
    return load_settings(env={**os.environ, **env, "ES_COLLECTION_NAME": index, "SKEWGUARD_SPOOL_DIR": str(tmp_path)})


def _client(env: dict[str, str], role: str) -> Elasticsearch:
    es = load_settings(env={**os.environ, **env}).es_for(role)  # type: ignore[arg-type]
    return client_for(es)


def _refused(call: Callable[[], Any]) -> bool:
    """True when Elasticsearch answers ``call`` with 403 (authenticated, not authorised)."""
    try:
        call()
    except ApiError as exc:
        return exc.meta.status == 403
    return False


def _bulk_refused(client: Elasticsearch, actions: list[dict[str, Any]]) -> bool:
    """True when every action of a bulk request is refused with 403, item by item or the request
    as a whole. (``_delete_by_query`` is in the reindex module, which the minimal distribution
    lacks: bulk deletes stand for it.)"""
    try:
        _, errors = helpers.bulk(client, actions, raise_on_error=False, stats_only=False)
    except ApiError as exc:
        return exc.meta.status == 403
    statuses = [next(iter(e.values()))["status"] for e in errors]  # type: ignore[union-attr]
    return len(statuses) == len(actions) and set(statuses) == {403}


@pytest.fixture(scope="module")
def log_index(secure_env: dict[str, str]) -> Iterator[str]:
    """A log index made by ``skewguard create-index`` as the admin (with its ``-*`` template)."""
    index = f"skewguard-roles-{os.getpid()}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _as(secure_env, "ADMIN").items():
            mp.setenv(key, value)
        assert cli.main(["create-index", "--index", index]) == 0
    yield index
    with _client(secure_env, "admin") as admin:
        admin.indices.delete(index=f"{index}*", ignore_unavailable=True)
        admin.indices.delete_index_template(name=f"skewguard-{index}")


def test_env_exports_reach_the_commands_after_it(secure_env):  # type: ignore[no-untyped-def]
    probe = (
        "from skewguard.config import load_settings; from skewguard.es import connect; s = load_settings(); "
        "c = connect(s.es_for('reader')); print(s.elasticsearch.url, c.security.authenticate()['username'], "
        "s.elasticsearch.roles.required)"
    )
    script = f"""
        eval "$(scripts/es.sh env secure)"
        {sys.executable} -c "{probe}"
        eval "$(scripts/es.sh env local)"
        echo "after local: $ELASTICSEARCH_URL ca=${{ES_CA_CERTS:-unset}} reader=${{ES_READER_USERNAME:-unset}}"
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "ELASTICSEARCH_", "SKEWGUARD_ES_"))}
    proc = subprocess.run(
        ["bash", "-c", script], cwd=repo_root(), env=clean, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "https://127.0.0.1:9201 skewguard-reader True",
        "after local: http://127.0.0.1:9200 ca=unset reader=unset",
    ]


def test_writer_creates_log_documents_and_nothing_else(secure_env, log_index, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    writer_env = _as(secure_env, "WRITER")
    with ServingLogger(_settings(writer_env, log_index, tmp_path)) as logger:
        event_id = logger.log_prediction(
            workload_id="w", request_id="r1", features={"f": 1.5}, outputs={"score": 0.25}, model={"name": "m"}
        )
    assert (logger.stats.sent, logger.stats.spooled, logger.stats.rejected) == (1, 0, 0)

    records = [{"event_id": f"l{i}", "timestamp": NOON + i, "workload_id": "w", "features": {"f": i}} for i in range(3)]
    path = write_jsonl(records, tmp_path / "l.jsonl")
    for key, value in {**writer_env, "ES_COLLECTION_NAME": log_index}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["load", str(path)]) == 0  # `skewguard load` as the writer
    reader_only = {**_as(secure_env, "READER"), "ES_COLLECTION_NAME": log_index}
    for key in ("ES_WRITER_USERNAME", "ES_WRITER_PASSWORD"):
        monkeypatch.delenv(key)
    assert cli.main(["load", str(path)]) == 2  # no writer credentials: refused at start-up, not sent as another role
    with pytest.raises(ConfigError, match=r"^elasticsearch\.roles\.writer: no credentials for the writer role"):
        ServingLogger(_settings(reader_only, log_index, tmp_path))
    with _client(secure_env, "writer") as writer:
        again = load_jsonl(writer, path, log_index)  # documents are created, never overwritten
        assert (again.indexed, again.already_present, again.rejected) == (0, 3, 0)
        # a missing index matching the template is auto-created, with the template's mapping
        day = load_jsonl(writer, path, f"{log_index}-2024.11.20")
        assert (day.indexed, day.index_created) == (3, False)

        assert _refused(lambda: writer.search(index=log_index))
        assert _refused(lambda: writer.count(index=log_index))
        assert _refused(lambda: writer.get(index=log_index, id="l0"))
        assert _refused(lambda: writer.index(index=log_index, id="l0", document={"workload_id": "x"}))
        assert _refused(lambda: writer.delete(index=log_index, id="l0"))
        assert _bulk_refused(writer, [{"_op_type": "delete", "_index": log_index, "_id": f"l{i}"} for i in range(3)])
        assert _refused(lambda: writer.indices.delete(index=log_index))
        assert _refused(lambda: writer.create(index="other-logs", id="x", document={"workload_id": "w"}))

    with _client(secure_env, "admin") as admin:
        admin.indices.refresh(index=f"{log_index}*")
        mapping = admin.indices.get_mapping(index=f"{log_index}-2024.11.20")[f"{log_index}-2024.11.20"]["mappings"]
    # the template's mapping, not one guessed from the first document (dynamic, timestamp a long)
    assert mapping["dynamic"] == "false"
    assert mapping["properties"]["timestamp"] == SKEWGUARD_INDEX_MAPPING["properties"]["timestamp"]
    with _client(secure_env, "reader") as reader:
        docs = {h["_id"]: h["_source"] for h in reader.search(index=log_index, size=10)["hits"]["hits"]}
    assert set(docs) == {event_id, "l0", "l1", "l2"}
    assert docs["l0"]["workload_id"] == "w" and docs[event_id]["outputs"] == {"score": 0.25}


def test_reader_reads_log_documents_and_nothing_else(secure_env, log_index):  # type: ignore[no-untyped-def]
    with _client(secure_env, "writer") as writer:
        writer.create(index=log_index, id="for-the-reader", document={"workload_id": "w", "timestamp": NOON})
    with _client(secure_env, "admin") as admin:
        admin.indices.refresh(index=log_index)
    with _client(secure_env, "reader") as reader:
        total = reader.count(index=log_index)["count"]
        assert total >= 1
        hits = list(helpers.scan(reader, index=log_index, query={"query": {"match_all": {}}}, size=1))  # scroll
        assert len(hits) == total
        assert reader.get(index=log_index, id=hits[0]["_id"])["_source"] == hits[0]["_source"]

        assert _refused(lambda: reader.index(index=log_index, document={"workload_id": "w"}))
        assert _refused(lambda: reader.create(index=log_index, id="new", document={"workload_id": "w"}))
        assert _refused(lambda: reader.update(index=log_index, id=hits[0]["_id"], doc={"workload_id": "x"}))
        assert _refused(lambda: reader.delete(index=log_index, id=hits[0]["_id"]))
        assert _bulk_refused(reader, [{"_op_type": "delete", "_index": log_index, "_id": h["_id"]} for h in hits])
        assert _bulk_refused(reader, [{"_op_type": "index", "_index": log_index, "_source": {"workload_id": "w"}}])
        assert _refused(lambda: reader.indices.delete(index=log_index))
        assert _refused(lambda: reader.indices.create(index=f"{log_index}-new"))
        assert reader.count(index=log_index)["count"] == total


def _ingest(env: dict[str, str], lakehouse: Path, index: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.ingest_logs", "--date", str(DAY), "--log-level", "DEBUG"],
        cwd=repo_root(),
        env={**os.environ, **env, "SKEWGUARD_LAKEHOUSE": str(lakehouse), "ES_COLLECTION_NAME": index},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ingest_reads_a_secured_cluster_as_the_reader(secure_env, spark, tmp_path):  # type: ignore[no-untyped-def]
    index = f"skewguard-secure-{os.getpid()}"
    settings = _settings(_as(secure_env, "WRITER"), index, tmp_path)
    settings = settings.model_copy(
        update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path / "lh")})}
    )
    records = [
        {"event_id": f"s{i}", "timestamp": NOON + i, "workload_id": "secure-wl", "features": {"f": i}}
        for i in range(25)
    ]
    with _client(secure_env, "admin") as admin:
        assert ensure_index(admin, index, SKEWGUARD_INDEX_MAPPING)
        loaded = load_records(settings, records, tmp_path / "s.jsonl")  # as the writer
        admin.indices.refresh(index=index)
    assert (loaded.indexed, loaded.rejected) == (25, 0)
    reader_env = _as(secure_env, "READER")
    password = secure_env["ES_READER_PASSWORD"]

    ok = _ingest(reader_env, tmp_path / "lh", index)  # ES-Hadoop reads as the reader
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert table(spark, settings, "bronze.serving_logs").count() == 25
    assert password not in ok.stdout + ok.stderr  # not even at DEBUG
    runs_text = " ".join(str(r) for r in table(spark, settings, "metrics.job_runs").collect())
    assert password not in runs_text

    no_reader = _ingest(_as(secure_env, "WRITER"), tmp_path / "lh", index)
    assert no_reader.returncode == 2
    assert "elasticsearch.roles.reader: no credentials for the reader role" in no_reader.stderr

    wrong = _ingest({**reader_env, "ES_READER_PASSWORD": "not-the-password"}, tmp_path / "lh", index)
    assert wrong.returncode == 1
    assert "authentication failed (HTTP 401)" in wrong.stderr
    assert "not-the-password" not in wrong.stdout + wrong.stderr

    no_ca = _ingest({**reader_env, "ES_CA_CERTS": ""}, tmp_path / "lh", index)
    assert no_ca.returncode == 1
    assert "TLS certificate not trusted: set ES_CA_CERTS" in no_ca.stderr
    assert password not in no_ca.stdout + no_ca.stderr
    assert table(spark, settings, "bronze.serving_logs").count() == 25
    with _client(secure_env, "admin") as admin:
        admin.indices.delete(index=index)
