"""Declarations from which Spark, Arrow and documentation forms of a table are derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = ["Column", "TableSchema"]

# logical type -> (pyspark.sql.types class name, Arrow type)
_TYPES: dict[str, tuple[str, pa.DataType]] = {
    "string": ("StringType", pa.string()),
    "long": ("LongType", pa.int64()),
    "double": ("DoubleType", pa.float64()),
    "boolean": ("BooleanType", pa.bool_()),
    "date": ("DateType", pa.date32()),
    "timestamp": ("TimestampType", pa.timestamp("us", tz="UTC")),
}


@dataclass(frozen=True)
class Column:
    """One column of a table: name, logical type, nullability and its documentation."""

    name: str
    type: str
    doc: str
    nullable: bool = True
    payload: bool = False
    """Large opaque text (e.g. a whole JSON document): no min/max data-skipping statistics."""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r} (known: {sorted(_TYPES)})")


@dataclass(frozen=True)
class TableSchema:
    """A Delta table: its ``layer.name``, columns, partitioning and documentation."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        missing = set(self.partition_by) - set(names)
        if missing:
            raise ValueError(f"{self.name}: partition columns {sorted(missing)} are not columns")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def table_properties(self) -> dict[str, str]:
        """Delta properties: data-skipping statistics only on the non-payload data columns."""
        stats = [c.name for c in self.columns if not c.payload and c.name not in self.partition_by]
        return {"delta.dataSkippingStatsColumns": ",".join(stats)}

    def spark_schema(self) -> StructType:
        """The Spark ``StructType`` (pyspark is imported here only: serving never calls it)."""
        from pyspark.sql import types as T

        return T.StructType([T.StructField(c.name, getattr(T, _TYPES[c.type][0])(), c.nullable) for c in self.columns])

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _TYPES[c.type][1], nullable=c.nullable) for c in self.columns])

    def markdown(self) -> str:
        """A Markdown section documenting the table (used for the README)."""
        lines = [f"### `{self.name}`", "", self.doc, ""]
        if self.partition_by:
            lines += [f"Partitioned by {', '.join(f'`{p}`' for p in self.partition_by)}.", ""]
        lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
        for c in self.columns:
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |")
        return "\n".join(lines) + "\n"
