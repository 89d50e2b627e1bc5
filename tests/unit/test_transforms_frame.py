"""Column conversions: the dtype contract of a pipeline's inputs, from Arrow batches and from
requests as serving receives them."""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from transforms import as_float, as_strings, coerce, records_to_batch, to_batch

NAN = math.nan
UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")


# -- as_float / as_strings -------------------------------------------------------------


def test_as_float_nulls_become_nan() -> None:
    out = as_float(pa.array([1.5, None, -0.0, NAN], pa.float64()))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.5, NAN, -0.0, NAN])
    assert math.copysign(1.0, out[2]) == -1.0


@pytest.mark.parametrize("typ", [pa.int8(), pa.int32(), pa.int64(), pa.uint16(), pa.float32()])
def test_as_float_of_other_numeric_types(typ: pa.DataType) -> None:
    out = as_float(pa.array([1, None, 100], typ))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, NAN, 100.0])


def test_as_float_of_int64_beyond_2_53_rounds_like_python() -> None:
    rng = random.Random(0)
    ints = [
        2**53 + 1,
        2**53 + 3,
        -(2**53) - 1,
        2**63 - 1,
        -(2**63),
        *(rng.randrange(-(2**63), 2**63) for _ in range(500)),
    ]
    out = as_float(pa.array([*ints, None], pa.int64()))
    np.testing.assert_array_equal(out, [*(float(i) for i in ints), NAN])
    big = [2**64 - 1, 2**63 + 1025]
    np.testing.assert_array_equal(as_float(pa.array(big, pa.uint64())), [float(i) for i in big])


def test_as_float_of_chunked_numpy_and_numeric_strings() -> None:
    chunked = pa.chunked_array([[1.0, None], [], [3.0]], pa.float64())
    np.testing.assert_array_equal(as_float(chunked), [1.0, NAN, 3.0])
    arr = np.array([1.0, NAN])
    assert as_float(arr) is arr  # already float64: no copy
    np.testing.assert_array_equal(as_float(np.array([1, 2], np.int64)), [1.0, 2.0])
    np.testing.assert_array_equal(as_float(pa.array(["1.5", None, "-2e3"])), [1.5, NAN, -2000.0])
    with pytest.raises(pa.ArrowInvalid):
        as_float(pa.array(["abc"]))


def test_as_strings() -> None:
    assert as_strings(pa.array(["a", None])).to_pylist() == ["a", None]
    assert as_strings(pa.array([1, None, -7], pa.int64())).to_pylist() == ["1", None, "-7"]
    assert as_strings(pa.chunked_array([["a"], ["b", None]])).to_pylist() == ["a", "b", None]
    assert as_strings(pa.array(["x"], pa.large_string())).type == pa.string()
    with pytest.raises(TypeError, match="numeric column"):
        as_strings(np.array([1.0]))


# -- coerce / to_batch -----------------------------------------------------------------


def test_coerce_types_contract_columns_and_passes_others_through() -> None:
    table = pa.table(
        {
            "x": pa.chunked_array([[1, None], [3]], pa.int64()),
            "s": pa.array([1, 2, None], pa.int32()),
            "t": pa.array([0, 3_600, None], pa.timestamp("s", tz="Asia/Kolkata")),
            "other": pa.array(["p", "q", "r"]),
        }
    )
    frame = coerce(table, {"x": "double", "s": "string", "t": "timestamp"})
    assert list(frame) == ["x", "s", "t", "other"]
    np.testing.assert_array_equal(frame["x"], [1.0, NAN, 3.0])
    assert frame["s"].to_pylist() == ["1", "2", None]
    assert frame["t"].type == TS
    assert frame["t"].to_pylist() == [dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(1970, 1, 1, 1, tzinfo=UTC), None]
    assert frame["other"].equals(pa.array(["p", "q", "r"]))


def test_coerce_names_missing_columns() -> None:
    with pytest.raises(KeyError, match=r"input columns missing from the batch: \['b', 'c'\]"):
        coerce(pa.table({"a": [1.0]}), {"a": "double", "b": "double", "c": "string"})


def test_to_batch_keeps_nan_as_nan() -> None:
    frame = {"x": np.array([1.0, NAN]), "s": pa.array(["a", None])}
    batch = to_batch(frame)
    assert batch.schema == pa.schema([("x", pa.float64()), ("s", pa.string())])
    assert batch.column("x").null_count == 0
    np.testing.assert_array_equal(batch.column("x").to_numpy(), [1.0, NAN])
    assert to_batch(frame, ["s"]).schema.names == ["s"]


# -- records_to_batch ------------------------------------------------------------------

CONTRACT = {"x": "double", "c": "string", "t": "timestamp"}


def test_records_to_batch_values_and_missing() -> None:
    records: list[dict[str, Any]] = [
        {"x": 1, "c": "a", "t": "2024-01-01T00:00:00Z"},
        {"x": 2.5, "c": 7, "t": 1704067200},
        {"x": None, "c": None, "t": None},
        {},
        {"x": "3.25", "c": "", "t": 1704067200123, "extra": [1, 2]},
        {"x": -(2**53) - 1, "c": 1.5, "t": 1704067200.25},
    ]
    batch = records_to_batch(records, CONTRACT)
    assert batch.schema == pa.schema([("x", pa.float64()), ("c", pa.string()), ("t", TS)])
    assert batch.column("x").to_pylist() == [1.0, 2.5, None, None, 3.25, float(-(2**53) - 1)]
    assert batch.column("c").to_pylist() == ["a", "7", None, None, "", "1.5"]
    new_year = dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert batch.column("t").to_pylist() == [
        new_year,
        new_year,
        None,
        None,
        new_year + dt.timedelta(milliseconds=123),
        new_year + dt.timedelta(microseconds=250_000),
    ]


def test_records_epoch_seconds_and_millis_threshold() -> None:
    records = [{"t": 99_999_999_999}, {"t": 100_000_000_000}, {"t": -100_000_000_000}, {"t": 0}, {"t": -1.5}]
    got = records_to_batch(records, {"t": "timestamp"}).column("t").to_pylist()
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert got == [
        epoch + dt.timedelta(seconds=99_999_999_999),  # year 5138, as seconds
        epoch + dt.timedelta(milliseconds=100_000_000_000),  # 1973, as millis
        epoch - dt.timedelta(milliseconds=100_000_000_000),
        epoch,
        epoch - dt.timedelta(seconds=1.5),
    ]


@pytest.mark.parametrize("ignore_timezone", [None, "1"])
def test_records_instants_with_offsets_are_read_as_instants(
    monkeypatch: pytest.MonkeyPatch, ignore_timezone: str | None
) -> None:
    # pyarrow keeps only the wall clock of an aware datetime when PYARROW_IGNORE_TIMEZONE is
    # set (pandas-on-Spark wants it, tests/conftest.py sets it): both must give UTC instants
    if ignore_timezone is None:
        monkeypatch.delenv("PYARROW_IGNORE_TIMEZONE", raising=False)
    else:
        monkeypatch.setenv("PYARROW_IGNORE_TIMEZONE", ignore_timezone)
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    new_york = zoneinfo.ZoneInfo("America/New_York")
    records = [
        {"t": "2024-01-01T05:30:00+05:30"},
        {"t": "2023-12-31T19:00:00-05:00"},
        {"t": dt.datetime(2024, 1, 1, 5, 30, tzinfo=kolkata)},
        {"t": dt.datetime(2023, 12, 31, 19, 0, tzinfo=new_york)},
        {"t": dt.datetime(2024, 1, 1, 0, 0)},  # naive: UTC
        {"t": "2024-01-01T00:00:00"},
        {"t": "2024-01-01"},
        {"t": "2024-01-01T00:00:00.000Z"},
    ]
    got = records_to_batch(records, {"t": "timestamp"}).column("t").to_pylist()
    assert got == [dt.datetime(2024, 1, 1, tzinfo=UTC)] * len(records)


def test_records_bad_values() -> None:
    with pytest.raises(TypeError, match="x: expected a number, got list"):
        records_to_batch([{"x": [1]}], {"x": "double"})
    with pytest.raises(ValueError):
        records_to_batch([{"x": "abc"}], {"x": "double"})
    with pytest.raises(TypeError, match="not a timestamp"):
        records_to_batch([{"t": True}], {"t": "timestamp"})
    with pytest.raises(TypeError, match="not a timestamp"):
        records_to_batch([{"t": dt.date(2024, 1, 1)}], {"t": "timestamp"})
    with pytest.raises(ValueError, match="unknown dtype 'int'"):
        records_to_batch([{"x": 1}], {"x": "int"})


def test_records_to_batch_of_no_records() -> None:
    batch = records_to_batch([], CONTRACT)
    assert batch.num_rows == 0
    assert batch.schema.names == ["x", "c", "t"]
