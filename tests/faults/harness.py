"""What the fault tests share: a window of generated logs with its ground truth, the exact
state of bronze, and a job run in its own process group that is killed with SIGKILL the
moment a condition on the real system (Elasticsearch's open scrolls, files in the table
folder) becomes true."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ops.loader import document_id, load_jsonl
from ops.synthetic import GeneratorConfig, generate, write_jsonl
from skewguard.config import Settings, repo_root
from skewguard.es import connect
from tests.helpers import table

Partition = tuple[dt.date, str]


def _canonical_digest(record: dict[str, Any]) -> int:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class PartitionState:
    """Ids and an order-free checksum (sum of SHA-256 prefixes of the canonical JSON)."""

    ids: frozenset[str]
    checksum: int
    rows: int


def _states(pairs: Iterable[tuple[Partition, str, dict[str, Any]]]) -> dict[Partition, PartitionState]:
    ids: dict[Partition, list[str]] = defaultdict(list)
    sums: dict[Partition, int] = defaultdict(int)
    for key, event_id, record in pairs:
        ids[key].append(event_id)
        sums[key] = (sums[key] + _canonical_digest(record)) % 2**64
    return {k: PartitionState(frozenset(v), sums[k], len(v)) for k, v in ids.items()}


@dataclass(frozen=True)
class Indexed:
    """What was indexed: per (day, workload) the landable records, and the malformed ids."""

    partitions: dict[Partition, PartitionState]
    malformed: frozenset[str]


def index_generated(settings: Settings, tmp_path: Path, config: GeneratorConfig) -> Indexed:
    records = list(generate(config))
    path = tmp_path / f"logs-{config.start_date}-{config.seed}.jsonl"
    write_jsonl(records, path)
    client = connect(settings.elasticsearch)
    try:
        loaded = load_jsonl(client, path, settings.elasticsearch.index)
    finally:
        client.close()
    assert (loaded.indexed, loaded.rejected) == (len(records), 0)
    good = [g for g in records if g.expected_reason is None]
    return Indexed(
        partitions=_states(((g.day, g.workload_id), document_id(g.record), g.record) for g in good),
        malformed=frozenset(document_id(g.record) for g in records if g.expected_reason is not None),
    )


def merge_indexed(*parts: Indexed) -> Indexed:
    partitions: dict[Partition, PartitionState] = {}
    for part in parts:
        partitions.update(part.partitions)
    return Indexed(partitions, frozenset().union(*(p.malformed for p in parts)))


def bronze_state(spark: SparkSession, settings: Settings) -> dict[Partition, PartitionState]:
    rows = table(spark, settings, "bronze.serving_logs").select("event_date", "workload_id", "event_id", "source_json")
    return _states(((r[0], r[1]), r[2], json.loads(r[3])) for r in rows.toLocalIterator())


def quarantine_ids(spark: SparkSession, settings: Settings) -> list[str]:
    return [r[0] for r in table(spark, settings, "bronze.quarantine").select("event_id").collect()]


def delta_versions(table_path: str) -> set[str]:
    log_dir = Path(table_path) / "_delta_log"
    return {p.name for p in log_dir.glob("*.json")} if log_dir.is_dir() else set()


def data_files(table_path: str) -> set[Path]:
    return set(Path(table_path).rglob("*.parquet")) - set((Path(table_path) / "_delta_log").rglob("*"))


def job_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start_job(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a job as its own process group (driver Python, its JVM and workers)."""
    log = log_path.open("wb")
    return subprocess.Popen(
        command,
        cwd=repo_root(),
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _group_gone(pgid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def act_when(
    proc: subprocess.Popen[bytes], condition: Callable[[], bool], action: Callable[[], Any], timeout_s: float = 300.0
) -> bool:
    """Run ``action`` (e.g. kill a server) once ``condition()`` holds while the job runs on."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            action()
            return True
        time.sleep(0.01)
    return False


def kill_when(proc: subprocess.Popen[bytes], condition: Callable[[], bool], timeout_s: float = 300.0) -> bool:
    """SIGKILL the job's whole process group as soon as ``condition()`` holds (polled every
    10 ms); False when the job ended (or timed out) first."""

    def kill() -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _group_gone(proc.pid), "processes of the killed job are still running"

    killed = act_when(proc, condition, kill, timeout_s)
    if proc.poll() is None:  # timed out
        kill()
    return killed


def scrolls_open(settings: Settings) -> Callable[[], bool]:
    """True while a scroll (ES-Hadoop's read) is open on the configured index."""
    client = connect(settings.elasticsearch)
    index = settings.elasticsearch.index

    def check() -> bool:
        stats = client.indices.stats(index=index, metric="search")
        return int(stats["_all"]["total"]["search"]["scroll_current"]) > 0

    return check
