"""A secured cluster: file-realm user, HTTPS with a CA made offline (scripts/es.sh secure)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skewguard.config import load_settings, repo_root
from tests.conftest import run_script
from tests.helpers import load_records, table

pytestmark = [pytest.mark.es, pytest.mark.spark, pytest.mark.secure]

DAY = dt.date(2024, 11, 20)
NOON = int(dt.datetime(2024, 11, 20, 12, tzinfo=dt.UTC).timestamp())


@pytest.fixture(scope="module")
def secure_env() -> Iterator[dict[str, str]]:
    """ELASTICSEARCH_URL, ES_USERNAME, ES_PASSWORD and ES_CA_CERTS of the secured server."""
    was_running = "stopped" not in run_script("scripts/es.sh", "status", "secure")
    run_script("scripts/es.sh", "start", "secure")
    env = dict(line.split("=", 1) for line in run_script("scripts/es.sh", "env", "secure").split())
    yield env
    if not was_running:
        run_script("scripts/es.sh", "stop", "secure")


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


def test_ingest_from_a_secured_cluster(secure_env, spark, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    index = f"secure-{os.getpid()}"
    for key, value in {**secure_env, "ES_COLLECTION_NAME": index, "SKEWGUARD_LAKEHOUSE": str(tmp_path / "lh")}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    records = [
        {"event_id": f"s{i}", "timestamp": NOON + i, "workload_id": "secure-wl", "features": {"f": i}}
        for i in range(25)
    ]
    assert load_records(settings, records, tmp_path / "s.jsonl").indexed == 25
    password = secure_env["ES_PASSWORD"]

    ok = _ingest(secure_env, tmp_path / "lh", index)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert table(spark, settings, "bronze.serving_logs").count() == 25
    assert password not in ok.stdout + ok.stderr  # not even at DEBUG
    runs_text = " ".join(str(r) for r in table(spark, settings, "metrics.job_runs").collect())
    assert password not in runs_text

    wrong = _ingest({**secure_env, "ES_PASSWORD": "not-the-password"}, tmp_path / "lh", index)
    assert wrong.returncode == 1
    assert "authentication failed (HTTP 401)" in wrong.stderr
    assert "not-the-password" not in wrong.stdout + wrong.stderr

    no_ca = _ingest({**secure_env, "ES_CA_CERTS": ""}, tmp_path / "lh", index)
    assert no_ca.returncode == 1
    assert "TLS certificate not trusted: set ES_CA_CERTS" in no_ca.stderr
    assert password not in no_ca.stdout + no_ca.stderr
    assert table(spark, settings, "bronze.serving_logs").count() == 25
