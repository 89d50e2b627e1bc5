"""Lineage columns shared by the tables one job writes."""

from __future__ import annotations

from schemas.core import Column

__all__ = ["PARSE_LINEAGE"]

#: the ``parse_logs`` run that wrote a silver row
PARSE_LINEAGE = (
    Column("parse_run_id", "string", "id of the `parse_logs` run that wrote the row (see `metrics.job_runs`)", False),
    Column("parsed_at", "timestamp", "when that run started (UTC)", False),
)
