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
