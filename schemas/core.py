"""Declarations from which Spark, Arrow and documentation forms of a table are derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = ["Column", "TableSchema"]

# logical type -> Arrow type; the Spark type is derived in ``_spark_type``
_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "map<string,string>": pa.map_(pa.string(), pa.string()),
    "map<string,double>": pa.map_(pa.string(), pa.float64()),
    "array<double>": pa.list_(pa.float64()),
    "array<string>": pa.list_(pa.string()),
}
_SPARK_SCALARS = {
    "string": "StringType",
    "long": "LongType",
    "double": "DoubleType",
    "boolean": "BooleanType",
    "date": "DateType",
    "timestamp": "TimestampType",
}


def _spark_type(logical: str) -> Any:
    from pyspark.sql import types as T

    if logical in _SPARK_SCALARS:
        return getattr(T, _SPARK_SCALARS[logical])()
    inner = logical[logical.index("<") + 1 : -1]
    if logical.startswith("map<"):
        key, value = inner.split(",")
        return T.MapType(_spark_type(key), _spark_type(value), valueContainsNull=True)
    return T.ArrayType(_spark_type(inner), containsNull=True)


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
        stats = [
            c.name
            for c in self.columns
            if not c.payload and c.name not in self.partition_by and c.type in _SPARK_SCALARS and c.type != "boolean"
        ]
        return {"delta.dataSkippingStatsColumns": ",".join(stats)}

    def spark_schema(self) -> StructType:
        """The Spark ``StructType`` (pyspark is imported here only: serving never calls it)."""
        from pyspark.sql import types as T

        return T.StructType([T.StructField(c.name, _spark_type(c.type), c.nullable) for c in self.columns])

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _TYPES[c.type], nullable=c.nullable) for c in self.columns])

    def markdown(self) -> str:
        """A Markdown section documenting the table (used for the README)."""
        lines = [f"### `{self.name}`", "", self.doc, ""]
        if self.partition_by:
            lines += [f"Partitioned by {', '.join(f'`{p}`' for p in self.partition_by)}.", ""]
        lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
        for c in self.columns:
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |")
        return "\n".join(lines) + "\n"
