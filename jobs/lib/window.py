"""The unit of work of every batch job: whole UTC days ``start..end``, optionally one workload;
and, for the runs that cover something else, what ``metrics.job_runs`` records instead.

Kept free of Spark imports at module level so that argument parsing stays light.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["DayWindow", "RunWindow"]


@dataclass(frozen=True)
class DayWindow:
    """Whole UTC days ``start``..``end`` (inclusive), optionally one workload."""

    start: dt.date
    end: dt.date
    workload_id: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    def __str__(self) -> str:
        days = str(self.start) if self.start == self.end else f"{self.start}..{self.end}"
        return days + (f" workload={self.workload_id}" if self.workload_id else "")

    def predicate(self, prefix: str = "", **equal: str) -> str:
        """SQL predicate (for ``replaceWhere``) on ``event_date`` [, ``workload_id``] and ``equal``'s columns."""
        from jobs.lib.delta_io import sql_date, sql_string

        terms = [f"{prefix}event_date >= {sql_date(self.start)}", f"{prefix}event_date <= {sql_date(self.end)}"]
        if self.workload_id is not None:
            equal = {"workload_id": self.workload_id, **equal}
        terms += [f"{prefix}{name} = {sql_string(value)}" for name, value in equal.items()]
        return " AND ".join(terms)

    def contains(self) -> Column:
        """The same rule as :meth:`predicate` (without extras), as a Column on ``event_date``/``workload_id``."""
        from pyspark.sql import functions as F

        inside = F.col("event_date").between(F.lit(self.start), F.lit(self.end))
        if self.workload_id is not None:
            inside &= F.col("workload_id") == F.lit(self.workload_id)
        return inside


@dataclass(frozen=True)
class RunWindow:
    """What a run covers when that is not a :class:`DayWindow`, as ``metrics.job_runs`` records it:
    any of the days and the workload may be open (``maintain_tables`` has only an end, for example)."""

    start: dt.date | None = None
    end: dt.date | None = None
    workload_id: str | None = None
