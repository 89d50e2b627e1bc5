"""A drift source's feature batches read straight from its Delta snapshot's Parquet files.

The rows' trip from Spark's JVM to Python (Arrow batches of a ``mapInArrow``) costs about three
bare scans; a task that opens the snapshot's files itself with pyarrow skips it. This module
is that task's half (no Spark): which feature expressions it can read (:func:`recipe` — the
shapes :mod:`jobs.drift.sources` writes, on columns of the types it can read as Spark does),
and the batches of one file, in the shape of :func:`jobs.drift.histograms.feature_frame`
(``workload_id``, ``_f<i>``, ``_s<j>``). The driver's half (the snapshot's files, the choice
of path) is :mod:`jobs.drift.feature_rows`.

Values read as Spark reads them: integers and floats widened to float64, NaN as null; a
string cast to a number by Spark's rules (:func:`spark_doubles`: Java's number grammar, with
surrounding whitespace, a ``d``/``f`` suffix, hexadecimal, ``Infinity``, ``inf``, ``NaN``;
anything else null); booleans as ``true``/``false``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DirectFile", "DirectPlan", "Recipe", "file_batches", "recipe", "spark_doubles"]

_COLUMN = r"`((?:[^`]|``)+)`"
_MAP_KEY = r"([A-Za-z_][A-Za-z0-9_]*)\['((?:[^'\\]|\\.)*)'\]"
_SHAPES = (
    (re.compile(rf"CAST\({_COLUMN} AS DOUBLE\)"), "numeric", False),
    (re.compile(rf"CAST\({_COLUMN} AS STRING\)"), "categorical", False),
    (re.compile(rf"{_COLUMN}"), "categorical", True),
    (re.compile(rf"CAST\({_MAP_KEY} AS DOUBLE\)"), "numeric", None),
    (re.compile(rf"{_MAP_KEY}"), "categorical", None),
)
_NUMBER_TYPES = {"double", "float", "bigint", "int", "smallint", "tinyint"}
_READABLE = {"numeric": _NUMBER_TYPES | {"string"}, "categorical": {"string", "boolean"}}
_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Recipe:
    """How a task reads one feature: a column, or one key of a map column."""

    column: str
    key: str | None = None


def recipe(expression: str, kind: str, is_array: bool, columns: dict[str, str]) -> Recipe | None:
    """The recipe of a feature expression on a table whose columns (name → Spark type string)
    are ``columns``; None when only Spark can read it (any other expression or type)."""
    for pattern, shape_kind, shape_array in _SHAPES:
        match = pattern.fullmatch(expression)
        if match is None or shape_kind != kind:
            continue
        if shape_array is None:  # a map's key: the map's value type must be readable
            column, key = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
            value = re.fullmatch(r"map<string,([a-z]+)>", columns.get(column, ""))
            return Recipe(column, key) if value and value.group(1) in _READABLE[kind] and not is_array else None
        column = match.group(1).replace("``", "`")
        spark_type = columns.get(column, "")
        if shape_array:
            return Recipe(column) if is_array and spark_type == "array<string>" else None
        return Recipe(column) if not is_array and spark_type in _READABLE[kind] else None
    return None


# Java's Double.parseDouble (what Spark's cast calls), after trimming: decimal with an
# optional float/double suffix, hexadecimal with a binary exponent, Infinity, NaN
_JAVA_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?")
_JAVA_HEX = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?")
_SPECIAL = {"inf": np.inf, "+inf": np.inf, "infinity": np.inf, "+infinity": np.inf, "-inf": -np.inf,
            "-infinity": -np.inf, "nan": np.nan}  # fmt: skip
_PLAIN = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"  # JSON numbers: both parsers agree


_JAVA_TRIM = "".join(map(chr, range(33)))  # String.trim: every char up to U+0020


def _java_double(text: str) -> float | None:
    s = text.strip(_JAVA_TRIM)
    if _JAVA_DECIMAL.fullmatch(s):
        return float(s.rstrip("fFdD"))
    if s in ("NaN", "+NaN", "-NaN"):
        return float("nan")
    if s in ("Infinity", "+Infinity", "-Infinity"):
        return float(s)
    hexa = _JAVA_HEX.fullmatch(s)
    if hexa:
        return float.fromhex(hexa.group(1) + "0x" + hexa.group(2))
    special = _SPECIAL.get(s.lower())  # Spark's own literals, after Java refused
    return None if special is None else float(special)


def spark_doubles(values: pa.Array) -> np.ndarray:
    """Strings cast to float64 as Spark's ``CAST(… AS DOUBLE)`` does (NaN for null and for
    what it cannot read): Arrow's cast for plain JSON numbers, Java's grammar for the rest."""
    values = values.cast(pa.string())
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN), False)
    out = pc.cast(pc.if_else(plain, values, pa.scalar(None, pa.string())), pa.float64())
    result = out.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False) & ~pc.is_null(values).to_numpy(zero_copy_only=False))
    if rest.size:
        texts = values.take(pa.array(rest)).to_pylist()
        result[rest] = [np.nan if (x := _java_double(t)) is None else x for t in texts]
    return result


@dataclass(frozen=True)
class DirectFile:
    """One task's share of a data file: its row groups ``part``, ``part + parts``, …"""

    path: str
    partition: dict[str, str | None]
    part: int = 0
    parts: int = 1


@dataclass(frozen=True)
class DirectPlan:
    """What every task reads: the features' recipes and kinds, the slice and workload columns,
    and the row filters that are not the files' partition values."""

    recipes: Sequence[Recipe]
    kinds: Sequence[str]
    arrays: Sequence[bool]
    slice_columns: Sequence[str] = ()
    workload_column: str = "workload_id"
    date_column: str = "event_date"
    start: str | None = None
    end: str | None = None
    workload: str | None = None
    partition_columns: frozenset[str] = field(default_factory=frozenset)
    only: frozenset[int] | None = None
    """The features a pass reads (None: all); the others' columns are not read."""

    def features(self) -> list[int]:
        return [i for i in range(len(self.recipes)) if self.only is None or i in self.only]

    def columns(self) -> list[str]:
        """The data-file columns a task reads."""
        wanted = [self.recipes[i].column for i in self.features()] + list(self.slice_columns) + [self.workload_column]
        if self.start is not None:
            wanted.append(self.date_column)
        return [c for c in dict.fromkeys(wanted) if c not in self.partition_columns]


def _column(batch: pa.RecordBatch, name: str, file: DirectFile) -> pa.Array:
    """A column of the batch, or a partition column's value repeated (null when the file lacks it)."""
    if name in file.partition:
        return pa.array([file.partition[name]] * batch.num_rows, pa.string())
    index = batch.schema.get_field_index(name)
    return batch.column(index) if index >= 0 else pa.nulls(batch.num_rows)


def _numeric(values: pa.Array) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or pa.types.is_null(values.type):
        floats = spark_doubles(values)
    else:
        floats = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return pa.array(floats, pa.float64(), mask=np.isnan(floats))  # NaN counts as missing, like null


def _categorical(values: pa.Array, is_array: bool) -> pa.Array:
    if is_array:
        return values if not pa.types.is_null(values.type) else pa.nulls(len(values), pa.list_(pa.string()))
    return values.cast(pa.string())  # booleans as Spark writes them: true/false


def _feature(batch: pa.RecordBatch, plan: DirectPlan, i: int, file: DirectFile) -> pa.Array:
    r = plan.recipes[i]
    values = _column(batch, r.column, file)
    if r.key is not None:
        if pa.types.is_null(values.type):
            values = pa.nulls(batch.num_rows, pa.string())
        else:
            values = pc.map_lookup(values, pa.scalar(r.key, values.type.key_type), "first")
    return _numeric(values) if plan.kinds[i] == "numeric" else _categorical(values, plan.arrays[i])


def _kept(batch: pa.RecordBatch, plan: DirectPlan, file: DirectFile) -> pa.RecordBatch:
    """The batch's rows inside the source's window and workload (a partition column's filter
    was applied to the files already)."""
    mask = None
    if plan.start is not None and plan.date_column not in file.partition:
        days = pc.cast(_column(batch, plan.date_column, file), pa.date32())
        start, end = (pa.scalar(dt.date.fromisoformat(d), pa.date32()) for d in (plan.start, plan.end or plan.start))
        mask = pc.and_kleene(pc.greater_equal(days, start), pc.less_equal(days, end))
    if plan.workload is not None and plan.workload_column not in file.partition:
        same = pc.equal(pc.cast(_column(batch, plan.workload_column, file), pa.string()), plan.workload)
        mask = same if mask is None else pc.and_kleene(mask, same)
    return batch if mask is None else batch.filter(pc.fill_null(mask, False))


def file_batches(file: DirectFile, plan: DirectPlan) -> Iterator[pa.RecordBatch]:
    """The feature batches of one task's share of a file."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file.path)
    groups = [g for g in range(parquet.num_row_groups) if g % file.parts == file.part]
    present = [c for c in plan.columns() if parquet.schema_arrow.get_field_index(c) >= 0]
    if not groups:
        return
    for batch in parquet.iter_batches(_BATCH_ROWS, row_groups=groups, columns=present, use_threads=False):
        batch = _kept(batch, plan, file)
        if batch.num_rows == 0:
            continue
        arrays = [pc.cast(_column(batch, plan.workload_column, file), pa.string())]
        names = ["workload_id"]
        for i in plan.features():
            arrays.append(_feature(batch, plan, i, file))
            names.append(f"_f{i}")
        for j, column in enumerate(plan.slice_columns):
            arrays.append(pc.fill_null(pc.cast(_column(batch, column, file), pa.string()), ""))
            names.append(f"_s{j}")
        yield pa.RecordBatch.from_arrays(arrays, names=names)
