"""Declarations from which Spark, Arrow and documentation forms of a table are derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = ["Column", "TableSchema", "spark_type"]

# Logical types: the scalars below, ``array<T>``, ``map<string,T>`` and
# ``struct<name:T,...>`` (nested freely). Arrow and Spark forms derive from the same parse.
_ARROW_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_SPARK_SCALARS = {
    "string": "StringType",
    "long": "LongType",
    "double": "DoubleType",
    "boolean": "BooleanType",
    "date": "DateType",
    "timestamp": "TimestampType",
}


def _split_top(text: str, sep: str = ",") -> list[str]:
    """``text`` split on ``sep`` where it is not inside ``<…>``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_type(logical: str) -> tuple[str, Any]:
    """``(kind, args)``: ``("scalar", name)``, ``("array", element)``, ``("map", (key, value))``
    or ``("struct", ((name, type), ...))``; ``ValueError`` for anything else."""
    if logical in _SPARK_SCALARS:
        return "scalar", logical
    for kind in ("array", "map", "struct"):
        if logical.startswith(f"{kind}<") and logical.endswith(">"):
            inner = logical[len(kind) + 1 : -1]
            if kind == "array":
                _parse_type(inner)
                return kind, inner
            if kind == "map":
                parts = _split_top(inner)
                if len(parts) != 2 or parts[0] != "string":
                    break
                _parse_type(parts[1])
                return kind, (parts[0], parts[1])
            fields = []
            for part in _split_top(inner):
                name, colon, typ = part.partition(":")
                if not colon or not name.isidentifier():
                    raise ValueError(f"bad struct field {part!r} in {logical!r}")
                _parse_type(typ)
                fields.append((name, typ))
            if len({n for n, _ in fields}) != len(fields):
                raise ValueError(f"duplicate struct field in {logical!r}")
            return kind, tuple(fields)
    raise ValueError(f"unknown type {logical!r}")


def _arrow_type(logical: str) -> pa.DataType:
    kind, args = _parse_type(logical)
    if kind == "scalar":
        return _ARROW_SCALARS[args]
    if kind == "array":
        return pa.list_(_arrow_type(args))
    if kind == "map":
        return pa.map_(_arrow_type(args[0]), _arrow_type(args[1]))
    return pa.struct([pa.field(name, _arrow_type(typ)) for name, typ in args])


def spark_type(logical: str) -> Any:
    """The Spark type of a logical type (pyspark is imported here only)."""
    from pyspark.sql import types as T

    kind, args = _parse_type(logical)
    if kind == "scalar":
        return getattr(T, _SPARK_SCALARS[args])()
    if kind == "array":
        return T.ArrayType(spark_type(args), containsNull=True)
    if kind == "map":
        return T.MapType(spark_type(args[0]), spark_type(args[1]), valueContainsNull=True)
    return T.StructType([T.StructField(name, spark_type(typ), True) for name, typ in args])


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
        try:
            _parse_type(self.type)
        except ValueError as exc:
            raise ValueError(
                f"column {self.name}: {exc} (known: {sorted(_SPARK_SCALARS)}, array<T>, map<string,T>, "
                "struct<name:T,...>)"
            ) from None


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

        return T.StructType([T.StructField(c.name, spark_type(c.type), c.nullable) for c in self.columns])

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _arrow_type(c.type), nullable=c.nullable) for c in self.columns])

    def markdown(self) -> str:
        """A Markdown section documenting the table (used for the README)."""
        lines = [f"### `{self.name}`", "", self.doc, ""]
        if self.partition_by:
            lines += [f"Partitioned by {', '.join(f'`{p}`' for p in self.partition_by)}.", ""]
        lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
        for c in self.columns:
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |")
        return "\n".join(lines) + "\n"
