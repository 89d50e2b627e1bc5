"""Ingest under real faults: the driver killed with SIGKILL at each stage, Elasticsearch
killed mid-read, and several ingests running at once. Each ends with bronze holding every
indexed record of the window exactly once (ids and a checksum of the source JSON per
day × workload) and quarantine holding each malformed record once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs import ingest_logs
from ops.synthetic import GeneratorConfig
from skewguard.config import Settings, load_settings
from tests.conftest import run_script
from tests.faults.harness import (
    Indexed,
    act_when,
    bronze_state,
    data_files,
    delta_versions,
    index_generated,
    job_command,
    kill_when,
    quarantine_ids,
    scrolls_open,
    start_job,
)
from tests.helpers import table

pytestmark = [pytest.mark.es, pytest.mark.spark, pytest.mark.faults]

DAY0, DAY = dt.date(2024, 11, 19), dt.date(2024, 11, 20)
WORKLOADS = ("customer-support-tools", "summarize-generic", "fraud-scoring", "ranking-v2")
AUX_URL = "http://127.0.0.1:9202"


def _config(days: int = 2, records_per_day: int = 3000) -> GeneratorConfig:
    return GeneratorConfig(
        seed=31, start_date=DAY0, days=days, records_per_day=records_per_day, malformed_fraction=0.01
    )


def _runs(spark: SparkSession, settings: Settings) -> list[tuple[str, str]]:
    rows = table(spark, settings, "metrics.job_runs").orderBy("started_at").collect()
    return [(r["status"], (r["error"] or "").split(":")[0]) for r in rows]


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _assert_exactly_once(spark: SparkSession, settings: Settings, indexed: Indexed) -> None:
    assert bronze_state(spark, settings) == indexed.partitions
    quarantined = quarantine_ids(spark, settings)
    assert Counter(quarantined) == Counter(indexed.malformed)


def _kill_condition(settings: Settings, point: str) -> Callable[[], bool]:
    bronze = settings.lakehouse.table_path("bronze.serving_logs")
    versions, files = delta_versions(bronze), data_files(bronze)
    if point == "reading":  # ES-Hadoop holds scrolls open on the index only while tasks read it
        return scrolls_open(settings)
    if point == "writing_before_commit":  # the new version's data files are being written, no commit yet
        return lambda: bool(data_files(bronze) - files) and not delta_versions(bronze) - versions
    assert point == "committed_before_recorded"  # bronze committed; quarantine and the run's record to come
    return lambda: bool(delta_versions(bronze) - versions)


def test_driver_killed_at_each_stage_then_rerun_lands_each_record_once(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    """One window, three attempts each killed with SIGKILL (driver, JVM and workers) at a
    later stage, then a re-run: bronze and quarantine hold each record once, and
    ``metrics.job_runs`` shows the three dead attempts and the good one."""
    indexed = index_generated(settings, tmp_path, _config())
    assert ingest_logs.main(["--date", str(DAY0)]) == 0  # bronze already holds the day before
    bronze = settings.lakehouse.table_path("bronze.serving_logs")
    versions_before, files_before = delta_versions(bronze), data_files(bronze)

    for point in ("reading", "writing_before_commit"):
        log = tmp_path / f"killed-{point}.log"
        proc = start_job(job_command("jobs.ingest_logs", "--date", str(DAY)), log)
        assert kill_when(proc, _kill_condition(settings, point)), f"ended before {point}:\n{_tail(log)}"
        assert delta_versions(bronze) == versions_before, f"killed {point}: a new bronze version"
        days = table(spark, settings, "bronze.serving_logs").select("event_date").distinct().collect()
        assert days == [(DAY0,)], f"killed {point}: bronze changed"
    assert data_files(bronze) - files_before  # the dead writer's files are in the folder, unreferenced

    log = tmp_path / "killed-committed.log"
    proc = start_job(job_command("jobs.ingest_logs", "--date", str(DAY)), log)
    assert kill_when(proc, _kill_condition(settings, "committed_before_recorded")), _tail(log)
    assert len(delta_versions(bronze) - versions_before) == 1
    # no killed attempt recorded itself; each later attempt recorded the dead ones before it
    assert _runs(spark, settings) == [("succeeded", "")] + [("failed", "abandoned")] * 2

    assert ingest_logs.main(["--date", str(DAY)]) == 0
    _assert_exactly_once(spark, settings, indexed)
    # the re-run found the dead attempts' markers and recorded them
    assert _runs(spark, settings) == [("succeeded", "")] + [("failed", "abandoned")] * 3 + [("succeeded", "")]


@pytest.fixture()
def aux_settings(es_index: str, lakehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a node of its own (scripts/es.sh aux), which the test kills."""
    run_script("scripts/es.sh", "start", "aux")
    monkeypatch.setenv("ELASTICSEARCH_URL", AUX_URL)
    yield load_settings()
    run_script("scripts/es.sh", "start", "aux")  # leave it running if the test failed mid-way
    from elasticsearch import Elasticsearch

    with Elasticsearch(AUX_URL) as client:
        client.options(ignore_status=404).indices.delete(index=es_index)
    run_script("scripts/es.sh", "stop", "aux")


def test_elasticsearch_killed_mid_read_fails_cleanly_and_rerun_lands_all(spark, aux_settings, tmp_path):  # type: ignore[no-untyped-def]
    settings = aux_settings
    indexed = index_generated(settings, tmp_path, _config())
    assert ingest_logs.main(["--date", str(DAY0)]) == 0
    bronze = settings.lakehouse.table_path("bronze.serving_logs")
    versions_before = delta_versions(bronze)

    log = tmp_path / "es-killed.log"
    proc = start_job(job_command("jobs.ingest_logs", "--date", str(DAY)), log)
    reading = scrolls_open(settings)
    assert act_when(
        proc, reading, lambda: run_script("scripts/es.sh", "kill", "aux")
    ), f"the job ended before it read:\n{_tail(log)}"
    assert proc.wait(timeout=300) == 1
    errors = [line for line in log.read_text().splitlines() if " ERROR skewguard" in line]
    assert len(errors) == 1, _tail(log, 60)
    assert "ingest_logs failed:" in errors[0] and "127.0.0.1:9202" in errors[0]
    assert delta_versions(bronze) == versions_before  # no new version of bronze

    run_script("scripts/es.sh", "start", "aux")
    assert ingest_logs.main(["--date", str(DAY)]) == 0
    _assert_exactly_once(spark, settings, indexed)
    runs = table(spark, settings, "metrics.job_runs").orderBy("started_at").collect()
    assert [r["status"] for r in runs] == ["succeeded", "failed", "succeeded"]
    assert runs[1]["error"] == errors[0].split("ingest_logs failed: ", 1)[1]


def test_concurrent_ingests_all_commit_without_loss_or_duplicates(spark, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Three ingests at once, each its own process, on fresh tables (which they race to
    create): two workloads of one day, and one of those windows twice."""
    indexed = index_generated(settings, tmp_path, _config(records_per_day=1000))
    jobs = {
        "workload-a": ["--date", str(DAY), "--workload", WORKLOADS[0]],
        "workload-b": ["--date", str(DAY), "--workload", WORKLOADS[2]],
        "workload-b-again": ["--date", str(DAY), "--workload", WORKLOADS[2]],
    }
    procs = {
        name: start_job(job_command("jobs.ingest_logs", *args), tmp_path / f"{name}.log") for name, args in jobs.items()
    }
    for name, proc in procs.items():
        assert proc.wait(timeout=600) == 0, _tail(tmp_path / f"{name}.log", 60)

    wanted = {k: v for k, v in indexed.partitions.items() if k[0] == DAY and k[1] in (WORKLOADS[0], WORKLOADS[2])}
    assert bronze_state(spark, settings) == wanted
    quarantined = quarantine_ids(spark, settings)
    assert len(quarantined) == len(set(quarantined)) and set(quarantined) <= indexed.malformed
    assert _runs(spark, settings) == [("succeeded", "")] * 3
