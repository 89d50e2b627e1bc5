"""The README documents every table, column, record kind and quarantine reason as declared."""

from __future__ import annotations

from schemas.docs import BEGIN, END, render_reference
from schemas.records import LABEL_RECORD_FIELDS, SILVER_QUARANTINE_REASONS, UNLABELED_CAUSES
from skewguard.config import repo_root

README = (repo_root() / "README.md").read_text()


def test_generated_reference_is_current() -> None:
    assert f"{BEGIN}\n{render_reference()}{END}" in README, "README's reference is stale: run `make docs`"


def test_reference_covers_every_table_column_and_reason() -> None:
    reference = render_reference()
    for name in ("bronze.serving_logs", "bronze.quarantine", "metrics.job_runs"):
        assert f"### `{name}`" in reference
    for column in ("source_json", "ingest_run_id", "reason", "window_start", "source_count", "out_of_window_count"):
        assert f"| `{column}` |" in reference
    for reason in ("missing_timestamp", "bad_timestamp", "missing_workload_id", "unknown_record_kind"):
        assert f"| `{reason}` |" in reference
    for name in ("silver.predictions", "silver.quarantine", "silver.labeled_examples"):
        assert f"### `{name}`" in reference
    for code in (*SILVER_QUARANTINE_REASONS, *UNLABELED_CAUSES, *LABEL_RECORD_FIELDS, "label_delay_s", "features"):
        assert f"| `{code}` |" in reference


def test_both_commands_are_documented() -> None:
    assert "make demo" in README and "make test" in README
    assert "spark-submit --master spark://" in README
