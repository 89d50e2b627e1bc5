"""What the logger writes for each value a serving app passes, and what it refuses."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.encoding import UnencodableValue, decode, encode, render_for_report
from transforms.frame import records_to_batch


def _expected(value: Any) -> Any:
    """What decode(encode(value)) must give: the plain JSON value serving meant."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return [_expected(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k).lower()): _expected(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expected(v) for v in value]
    return value


_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=8),
    st.floats(width=32).map(np.float32), st.integers(-(2**31), 2**31).map(np.int64), st.booleans().map(np.bool_),
    st.lists(st.floats(), max_size=3).map(lambda xs: np.array(xs, dtype=np.float64)),
)  # fmt: skip
_TREES = st.recursive(_LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_TREES)
def test_encodable_values_read_back_as_the_value_serving_meant(value: Any) -> None:
    assert decode(encode(value)) == _expected(value)


def test_decimals_dates_and_keys() -> None:
    text = encode({"d": decimal.Decimal("12.50"), "big": decimal.Decimal("1E+400"), "n": decimal.Decimal("-Inf"),
                   "t": dt.datetime(2024, 11, 23, 10), "day": dt.date(2024, 11, 23), 7: True})  # fmt: skip
    assert text == (b'{"d":12.50,"big":1E+400,"n":"-Infinity","t":"2024-11-23T10:00:00Z",'
                    b'"day":"2024-11-23","7":true}')  # fmt: skip


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": {"b": [1, {1, 2}]}}, "a.b[1]"),
        ({"s": "x\ud800"}, "s"),
        ({"i": 2**70}, "i"),
        ({"o": object()}, "o"),
        ({b"k": 1}, "record: key b'k'"),
    ],  # fmt: skip
)
def test_unencodable_values_are_refused_naming_their_path(value: Any, where: str) -> None:
    with pytest.raises(UnencodableValue, match=f"^{re.escape(where)}: "):
        encode(value)
    assert b"<unencodable" in render_for_report(value) or b"b'k'" in render_for_report(value)


def test_the_shared_transforms_read_non_finite_strings_back_as_numbers() -> None:
    features = decode(encode({"a": math.nan, "b": math.inf, "c": -math.inf, "d": np.float32(0.5)}))
    batch = records_to_batch([features], {"a": "double", "b": "double", "c": "double", "d": "double"})
    a, b, c, d = (batch.column(i)[0].as_py() for i in range(4))
    assert math.isnan(a) and b == math.inf and c == -math.inf and d == 0.5
