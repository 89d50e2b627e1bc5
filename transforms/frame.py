"""Column conversions shared by every stage: the dtype contract of a pipeline's inputs.

Inside a pipeline, numeric columns are float64 numpy arrays in which NaN means missing,
categorical columns are Arrow string arrays (null means missing) and time columns are
Arrow timestamps. A request as serving receives it (a JSON object per example) becomes the
same columns through :func:`records_to_batch`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["DTYPES", "Frame", "as_float", "as_strings", "coerce", "records_to_batch", "snapshot", "to_batch"]

#: contract dtype -> Arrow type of the input column
DTYPES: dict[str, pa.DataType] = {
    "double": pa.float64(),
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

Frame = dict[str, Any]
"""Column name -> float64 ndarray (numeric) or Arrow array (strings, timestamps, pass-through)."""


def as_float(column: Any) -> NDArray[Any]:
    """A float64 array with NaN for missing values."""
    if isinstance(column, np.ndarray):
        return column.astype(np.float64, copy=False)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    # integers beyond 2**53 round to the nearest double, as float(int) does for a request's
    # numbers (a safe cast would refuse them)
    if not pa.types.is_float64(column.type):
        column = pc.cast(column, pa.float64(), safe=not pa.types.is_integer(column.type))
    # a float64 Arrow array converts its nulls to NaN
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def as_strings(column: Any) -> pa.Array:
    """An Arrow string array (null for missing)."""
    if isinstance(column, np.ndarray):
        raise TypeError("a numeric column cannot be used where a string column is expected")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def coerce(batch: pa.RecordBatch | pa.Table, contract: Mapping[str, str]) -> Frame:
    """The batch's columns typed by ``contract`` (other columns pass through unchanged)."""
    names = batch.schema.names
    present = set(names)
    missing = [name for name in contract if name not in present]
    if missing:
        raise KeyError(f"input columns missing from the batch: {missing}")
    frame: Frame = {}
    for name in names:
        column = batch.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        dtype = contract.get(name)
        if dtype == "double":
            frame[name] = as_float(column)
        elif dtype == "string":
            frame[name] = as_strings(column)
        elif dtype == "timestamp":
            frame[name] = pc.cast(column, DTYPES["timestamp"])
        else:
            frame[name] = column
    return frame


def to_batch(frame: Frame, names: Sequence[str] | None = None) -> pa.RecordBatch:
    """A record batch of ``names`` (default: all) from a frame."""
    names = list(frame) if names is None else list(names)
    arrays = [pa.array(frame[n], type=pa.float64()) if isinstance(frame[n], np.ndarray) else frame[n] for n in names]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _to_instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 100_000_000_000 else value
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    # in UTC: with PYARROW_IGNORE_TIMEZONE set (as for pandas-on-Spark), pyarrow keeps the
    # wall-clock fields of an aware datetime and drops its offset
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _scalar(value: Any, dtype: str, name: str) -> Any:
    if value is None:
        return None
    if dtype == "double":
        if isinstance(value, str):
            return float(value)
        if not isinstance(value, int | float):
            raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
        return float(value)
    if dtype == "string":
        return value if isinstance(value, str) else str(value)
    return _to_instant(value)


def records_to_batch(records: Sequence[Mapping[str, Any]], contract: Mapping[str, str]) -> pa.RecordBatch:
    """Examples as serving receives them (one mapping per example; absent keys are missing)
    converted to the contract's columns."""
    arrays = []
    for name, dtype in contract.items():
        if dtype not in DTYPES:
            raise ValueError(f"{name}: unknown dtype {dtype!r} (known: {sorted(DTYPES)})")
        arrays.append(pa.array([_scalar(r.get(name), dtype, name) for r in records], type=DTYPES[dtype]))
    return pa.RecordBatch.from_arrays(arrays, names=list(contract))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def snapshot(frame: Frame) -> dict[str, list[Any]]:
    """The frame as JSON-ready Python values, column by column: numbers as floats (a missing
    value, NaN inside a pipeline, as ``None``), strings as they are, timestamps as ISO-8601.
    Two processes can compare what a pipeline holds after each stage this way."""
    out: dict[str, list[Any]] = {}
    for name, column in frame.items():
        if isinstance(column, np.ndarray):
            values = column.astype(np.float64, copy=False).tolist()
        else:
            values = (column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column).to_pylist()
        out[name] = [_plain(v) for v in values]
    return out
