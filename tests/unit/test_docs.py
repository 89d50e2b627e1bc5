"""The README documents every table, column, record kind and quarantine reason as declared."""

from __future__ import annotations

from schemas import QUARANTINE_REASONS, RECORD_KINDS, TABLES
from skewguard.config import repo_root

README = (repo_root() / "README.md").read_text()


def test_every_table_and_column_is_documented_as_declared() -> None:
    for table in TABLES:
        assert table.markdown() in README, f"README's section for {table.name} is out of date"


def test_record_kinds_and_reasons_are_documented() -> None:
    for kind in RECORD_KINDS:
        assert kind.markdown() in README, f"README's section for {kind.kind} is out of date"
    for reason, meaning in QUARANTINE_REASONS.items():
        assert f"| `{reason}` | {meaning} |" in README


def test_both_commands_are_documented() -> None:
    assert "make demo" in README and "make test" in README
    assert "spark-submit --master spark://" in README
