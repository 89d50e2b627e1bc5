"""Plumbing shared by the jobs' DataFrame steps: column checks, rows shaped like a declared
table, and releasing a materialised intermediate result."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.core import TableSchema

__all__ = ["MissingColumnsError", "release", "require_columns", "table_rows"]

log = logging.getLogger(__name__)


class MissingColumnsError(ValueError):
    """A DataFrame given to a step lacks columns the step needs."""


def require_columns(df: DataFrame, needed: Iterable[str], step: str) -> None:
    """Raise :class:`MissingColumnsError` naming ``step`` unless ``df`` has every column in ``needed``."""
    missing = set(needed) - set(df.columns)
    if missing:
        raise MissingColumnsError(f"{step} needs columns {sorted(missing)}; got {df.columns}")


def table_rows(df: DataFrame, schema: TableSchema, **constants: Any) -> DataFrame:
    """``df``'s rows as ``schema``'s columns, in its declared order, with run constants added."""
    types = {f.name: f.dataType for f in schema.spark_schema().fields}
    added = {
        name: F.lit(value).cast(types[name]) if name in types else F.lit(value) for name, value in constants.items()
    }
    return df.withColumns(added).select(*schema.column_names)


def release(materialised_df: DataFrame) -> None:
    """Free a checkpoint's (or cache's) blocks now rather than when the driver's GC finds them."""
    try:
        materialised_df._jdf.queryExecution().analyzed().rdd().unpersist(False)
    except Exception:  # best effort: Spark's cleaner frees them later anyway
        log.debug("could not release the materialised DataFrame", exc_info=True)
