"""Shared fixtures: the real local Elasticsearch (started by the project's script), one
local-mode Spark session with Delta, and a fresh index and lakehouse per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skewguard.config import Settings, load_settings, repo_root

ROOT = repo_root()
os.environ["SKEWGUARD_PROFILE"] = "test"
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
for var in ("ELASTICSEARCH_URL", "ES_COLLECTION_NAME", "ES_USERNAME", "ES_PASSWORD", "ES_API_KEY", "ES_CA_CERTS"):
    os.environ.pop(var, None)
for var in [v for v in os.environ if v.startswith(("ES_WRITER_", "ES_READER_", "ES_ADMIN_"))]:
    os.environ.pop(var, None)  # what `eval "$(scripts/es.sh env secure)"` set in the shell
os.environ.pop("SKEWGUARD_ES_ROLES_REQUIRED", None)


#: test files that stop, kill or restart the auxiliary Elasticsearch node (scripts/es.sh aux):
#: with ``-n 2`` they run on one worker, one after the other
AUX_NODE_USERS = {"tests/faults/test_ingest_faults.py", "tests/integration/test_serving_logger.py"}


#: the files that take longest (``--durations``), in that order
LONGEST_FIRST = [
    "tests/faults/test_ingest_faults.py",
    "tests/integration/test_serving_logger.py",
    "tests/e2e/test_notebooks.py",
    "tests/e2e/test_spark_submit_cluster.py",
    "tests/spark/test_drift.py",
    "tests/integration/test_closed_loop.py",
    "tests/spark/test_evaluate_models.py",
    "tests/spark/test_parse_predictions.py",
    "tests/spark/test_parity.py",
    "tests/integration/test_ingest.py",
    "tests/integration/test_secure_cluster.py",
    "tests/spark/test_llm_datasets.py",
    "tests/spark/test_evaluate_llm.py",
    "tests/integration/test_logger_pii_corpus.py",
]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` (``make test`` runs two workers), a file's tests stay on one
    worker, so its module fixtures are built once; files sharing a server that a test stops
    form one group."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            path = _path(item)
            item.add_marker(pytest.mark.xdist_group("aux-es" if path in AUX_NODE_USERS else path))
    # the longest groups first, so that neither worker is left with one at the end
    items.sort(key=lambda item: LONGEST_FIRST.index(p) if (p := _path(item)) in LONGEST_FIRST else len(LONGEST_FIRST))


def _path(item: pytest.Item) -> str:
    return item.path.relative_to(ROOT).as_posix()


def run_script(*args: str) -> str:
    """Run a set-up script; fail the test run with its own message if it fails."""
    proc = subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed: {proc.stderr.strip()[-2000:]}", pytrace=False)
    return proc.stdout


@pytest.fixture(scope="session")
def local_es() -> str:
    """URL of the local Elasticsearch, started (or reused) by scripts/es.sh."""
    run_script("scripts/es.sh", "start", "local")
    return "http://127.0.0.1:9200"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from jobs.lib.session import get_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    settings = load_settings("test", env={})
    spark = get_session(
        settings.model_copy(
            update={
                "spark": settings.spark.model_copy(
                    update={"extra_conf": {**settings.spark.extra_conf, "spark.sql.warehouse.dir": str(warehouse)}}
                )
            }
        ),
        app_name="skewguard-tests",
    )
    yield spark
    spark.stop()


@pytest.fixture()
def lakehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty lakehouse root for this test (SKEWGUARD_LAKEHOUSE)."""
    root = tmp_path / "lakehouse"
    monkeypatch.setenv("SKEWGUARD_LAKEHOUSE", str(root))
    return root


@pytest.fixture()
def es_index(local_es: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh index name (ES_COLLECTION_NAME) on the local server; deleted afterwards."""
    from elasticsearch import Elasticsearch

    name = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("ES_COLLECTION_NAME", name)
    yield name
    with Elasticsearch(local_es) as client:
        client.options(ignore_status=404).indices.delete(index=name)


@pytest.fixture()
def settings(es_index: str, lakehouse: Path) -> Settings:
    return load_settings()
