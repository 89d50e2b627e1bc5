"""The retry around Delta commits: conflicts are re-run, anything else is not.

The real conflicts (processes committing to one table at once) are in
``tests/faults/test_ingest_faults.py``; this pins the policy itself."""

from __future__ import annotations

import pytest
from delta.exceptions import ConcurrentAppendException, ConcurrentDeleteReadException, MetadataChangedException

from jobs.lib.delta_io import retry_on_conflict

pytestmark = pytest.mark.spark  # PySpark builds its exceptions with the JVM up


def _flaky(failures: list[Exception], result: str = "done"):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return action, calls


def test_conflicts_are_retried_until_the_transaction_commits(spark) -> None:  # type: ignore[no-untyped-def]
    action, calls = _flaky([ConcurrentAppendException("a", ""), ConcurrentDeleteReadException("b", "")])
    assert retry_on_conflict(action, "merge", base_delay_s=0.0) == "done"
    assert len(calls) == 3


def test_the_last_conflict_is_raised_after_the_attempts(spark) -> None:  # type: ignore[no-untyped-def]
    action, calls = _flaky([MetadataChangedException(str(i), "") for i in range(5)])
    with pytest.raises(MetadataChangedException, match="3"):
        retry_on_conflict(action, "merge", attempts=4, base_delay_s=0.0)
    assert len(calls) == 4


def test_other_errors_are_not_retried() -> None:
    action, calls = _flaky([ValueError("bad predicate")])
    with pytest.raises(ValueError, match="bad predicate"):
        retry_on_conflict(action, "merge", base_delay_s=0.0)
    assert len(calls) == 1


def test_a_table_another_process_created_meanwhile_is_found(spark, lakehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """This JVM looked first (no table; Delta caches that view), then another writer
    committed version 0 — here a table made elsewhere and moved into place, as another
    process would leave it. Creating the table must find it, not fail on the stale view."""
    import shutil
    from pathlib import Path

    from delta.tables import DeltaTable

    from jobs.lib.delta_io import ensure_table
    from schemas.tables import JOB_RUNS
    from skewguard.config import load_settings

    settings = load_settings()
    path = settings.lakehouse.table_path(JOB_RUNS.name)
    log_dir = Path(path) / "_delta_log"
    log_dir.mkdir(parents=True)  # the other writer has started: its log folder, no commit yet
    assert not DeltaTable.isDeltaTable(spark, path)
    elsewhere = settings.model_copy(
        update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path / "elsewhere")})}
    )
    shutil.copytree(Path(ensure_table(spark, elsewhere, JOB_RUNS)) / "_delta_log", log_dir, dirs_exist_ok=True)

    assert ensure_table(spark, settings, JOB_RUNS) == path
    assert DeltaTable.forPath(spark, path).history().count() == 1  # found, not re-created
