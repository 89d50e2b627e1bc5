"""Numeric stages fitted and applied on small inline columns: the expected value of every
row written next to its input, nulls and NaN included."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from transforms import Stage, stage_from_spec

NAN = math.nan
FLOAT64 = pa.float64()


def make(kind: str, columns: tuple[str, ...] = ("x",), **options: Any) -> Stage:
    return stage_from_spec({"kind": kind, "name": f"{kind}_test", "columns": list(columns), "options": options})


def split(rows: list[tuple[Any, float]]) -> tuple[list[Any], np.ndarray]:
    return [i for i, _ in rows], np.array([e for _, e in rows], dtype=np.float64)


def fit_apply(stage: Stage, values: list[Any], typ: pa.DataType = FLOAT64) -> tuple[dict[str, Any], np.ndarray]:
    table = pa.table({"x": pa.array(values, type=typ), "other": pa.array(range(len(values)), pa.int64())})
    params = stage.fit(table)
    out = stage.apply(table, params)
    assert out.schema.names == ["x", "other"]
    assert out.column("other").equals(table.column("other").combine_chunks())  # passes through
    col = out.column("x")
    assert col.type == pa.float64()
    assert col.null_count == 0  # missing stays NaN, never null
    return params, col.to_numpy()


# -- impute ----------------------------------------------------------------------------


def test_impute_mean() -> None:
    # mean of 1, 2, 4.5 and -0 is 7.5 / 4 = 1.875
    inputs, expected = split([(1.0, 1.0), (None, 1.875), (2.0, 2.0), (NAN, 1.875), (4.5, 4.5), (-0.0, -0.0)])
    params, out = fit_apply(make("impute"), inputs)
    assert params == {"values": {"x": 1.875}}
    np.testing.assert_array_equal(out, expected)


def test_impute_mean_hand_checked() -> None:
    inputs, expected = split([(1.0, 1.0), (None, 2.5), (2.0, 2.0), (NAN, 2.5), (4.5, 4.5)])
    params, out = fit_apply(make("impute", strategy="mean"), inputs)
    assert params == {"values": {"x": 2.5}}
    np.testing.assert_array_equal(out, expected)


def test_impute_mean_is_the_correctly_rounded_mean() -> None:
    values = [0.1, 0.2, 0.4, None, 1e-3]
    params, _ = fit_apply(make("impute"), values)
    exact = sum((Fraction(v) for v in values if v is not None), Fraction(0)) / 4
    assert params["values"]["x"] == float(exact)


def test_impute_median_even_and_odd_counts() -> None:
    # sorted non-missing [1, 3, 4, 5]: n = 4, rank ceil(0.5 * 4) = 2 → 3
    inputs, expected = split([(5.0, 5.0), (None, 3.0), (1.0, 1.0), (3.0, 3.0), (NAN, 3.0), (4.0, 4.0)])
    params, out = fit_apply(make("impute", strategy="median"), inputs)
    assert params == {"values": {"x": 3.0}}
    np.testing.assert_array_equal(out, expected)
    # [1, 2, 10]: rank ceil(1.5) = 2 → 2 (a value of the data, not an average)
    params, out = fit_apply(make("impute", strategy="median"), [10.0, None, 1.0, 2.0])
    assert params == {"values": {"x": 2.0}}
    np.testing.assert_array_equal(out, [10.0, 2.0, 1.0, 2.0])


def test_impute_constant() -> None:
    inputs, expected = split([(None, 7.0), (NAN, 7.0), (1.5, 1.5), (0.0, 0.0)])
    params, out = fit_apply(make("impute", strategy="constant", fill_value=7), inputs)
    assert params == {"values": {"x": 7.0}}
    assert isinstance(params["values"]["x"], float)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_impute_all_missing_falls_back_to_fill_value(strategy: str) -> None:
    params, out = fit_apply(make("impute", strategy=strategy), [None, NAN, None])
    assert params == {"values": {"x": 0.0}}
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0])
    params, out = fit_apply(make("impute", strategy=strategy, fill_value=-1.0), [None, NAN])
    assert params == {"values": {"x": -1.0}}
    np.testing.assert_array_equal(out, [-1.0, -1.0])


def test_impute_int64_column_is_coerced_to_float64() -> None:
    params, out = fit_apply(make("impute"), [1, None, 4], pa.int64())
    assert params == {"values": {"x": 2.5}}
    np.testing.assert_array_equal(out, [1.0, 2.5, 4.0])
    params, out = fit_apply(make("impute", strategy="median"), [7, None, 1, 3], pa.int32())
    assert params == {"values": {"x": 3.0}}
    np.testing.assert_array_equal(out, [7.0, 3.0, 1.0, 3.0])


def test_impute_several_columns_each_with_its_own_value() -> None:
    stage = make("impute", ("a", "b"))
    table = pa.table({"a": [1.0, None, 3.0], "b": pa.array([None, 10, 20], pa.int64())})
    params = stage.fit(table)
    assert params == {"values": {"a": 2.0, "b": 15.0}}
    out = stage.apply(table, params)
    np.testing.assert_array_equal(out.column("a").to_numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out.column("b").to_numpy(), [15.0, 10.0, 20.0])


def test_impute_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="strategy"):
        make("impute", strategy="mode").needs()


# -- clip ------------------------------------------------------------------------------


def test_clip_fixed_bounds() -> None:
    inputs, expected = split([(-5.0, 0.0), (3.0, 3.0), (11.0, 10.0), (None, NAN), (NAN, NAN), (10.0, 10.0), (0.0, 0.0)])
    params, out = fit_apply(make("clip", lower=0, upper=10), inputs)
    assert params == {"bounds": {"x": [0.0, 10.0]}}
    np.testing.assert_array_equal(out, expected)


def test_clip_one_sided() -> None:
    params, out = fit_apply(make("clip", lower=-1.5), [-3.0, 100.0, None])
    assert params == {"bounds": {"x": [-1.5, None]}}
    np.testing.assert_array_equal(out, [-1.5, 100.0, NAN])
    params, out = fit_apply(make("clip", upper=2), [-3.0, 100.0, None])
    assert params == {"bounds": {"x": [None, 2.0]}}
    np.testing.assert_array_equal(out, [-3.0, 2.0, NAN])
    params, out = fit_apply(make("clip"), [-3.0, 100.0, None])
    assert params == {"bounds": {"x": [None, None]}}
    np.testing.assert_array_equal(out, [-3.0, 100.0, NAN])


def test_clip_fitted_quantiles() -> None:
    # 20 values 1..20 shuffled among missing ones: rank ceil(0.1*20) = 2 → 2.0, ceil(0.9*20) = 18 → 18.0
    values: list[float | None] = [
        float(v) for v in (7, 20, 1, 13, 2, 19, 18, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 15, 16, 17)
    ]
    values[3:3] = [None, NAN]
    params, out = fit_apply(make("clip", quantiles=[0.1, 0.9]), values)
    assert params == {"bounds": {"x": [2.0, 18.0]}}
    expected = [NAN if v is None or math.isnan(v) else min(max(v, 2.0), 18.0) for v in values]
    np.testing.assert_array_equal(out, expected)


def test_clip_fitted_quantiles_ignore_fixed_bounds_and_use_data_values() -> None:
    # n = 3: rank max(ceil(0 * 3), 1) = 1 → the minimum; ceil(0.5 * 3) = 2 → the middle value
    params, out = fit_apply(make("clip", quantiles=[0.0, 0.5], lower=-100, upper=100), [0.3, -7.25, 1e9, None])
    assert params == {"bounds": {"x": [-7.25, 0.3]}}
    np.testing.assert_array_equal(out, [0.3, -7.25, 0.3, NAN])


def test_clip_fitted_quantiles_on_all_missing_column_leave_values_alone() -> None:
    params, out = fit_apply(make("clip", quantiles=[0.01, 0.99]), [None, NAN])
    assert params == {"bounds": {"x": [None, None]}}
    np.testing.assert_array_equal(out, [NAN, NAN])


def test_clip_int64_column() -> None:
    params, out = fit_apply(make("clip", lower=0, upper=5), [-1, 3, 9, None], pa.int64())
    np.testing.assert_array_equal(out, [0.0, 3.0, 5.0, NAN])


@pytest.mark.parametrize("quantiles", [[0.9, 0.1], [0.5, 0.5], [-0.1, 0.5], [0.5, 1.5], [0.5]])
def test_clip_bad_quantiles(quantiles: list[float]) -> None:
    with pytest.raises(ValueError, match="quantiles"):
        make("clip", quantiles=quantiles).needs()


# -- log1p -----------------------------------------------------------------------------


def test_log1p_is_signed() -> None:
    inputs = [0.0, 1.0, -1.0, math.e - 1, -(math.e**2 - 1), None, NAN, 1e300, -1e-20]
    params, out = fit_apply(make("log1p"), inputs)
    assert params == {}
    assert out[0] == 0.0
    assert out[1] == pytest.approx(math.log(2), rel=1e-15)
    assert out[2] == pytest.approx(-math.log(2), rel=1e-15)
    assert out[3] == pytest.approx(1.0, rel=1e-15)
    assert out[4] == pytest.approx(-2.0, rel=1e-15)
    assert math.isnan(out[5]) and math.isnan(out[6])
    assert out[7] == pytest.approx(300 * math.log(10), rel=1e-15)
    assert out[8] == pytest.approx(-1e-20, rel=1e-15)  # log1p keeps tiny values' precision


def test_log1p_int64_column() -> None:
    _, out = fit_apply(make("log1p"), [0, 3, -3, None], pa.int64())
    np.testing.assert_array_equal(out[[0, 3]], [0.0, NAN])
    assert out[1] == pytest.approx(math.log(4), rel=1e-15)
    assert out[2] == -out[1]


# -- standardize -----------------------------------------------------------------------


def test_standardize() -> None:
    # mean 2, population std sqrt(2/3)
    std = math.sqrt(2 / 3)
    inputs, expected = split([(1.0, -1 / std), (2.0, 0.0), (None, NAN), (3.0, 1 / std), (NAN, NAN)])
    params, out = fit_apply(make("standardize"), inputs)
    assert params == {"stats": {"x": {"mean": 2.0, "std": std}}}
    np.testing.assert_array_equal(out, expected)
    assert out[3] == pytest.approx(1.224744871391589, rel=1e-15)


def test_standardize_constant_column_uses_std_one() -> None:
    # float arithmetic would give a std of about 1e-17 here; the exact one is 0
    params, out = fit_apply(make("standardize"), [0.1, 0.1, None, 0.1])
    assert params == {"stats": {"x": {"mean": 0.1, "std": 1.0}}}
    np.testing.assert_array_equal(out, [0.0, 0.0, NAN, 0.0])


def test_standardize_all_missing_is_identity() -> None:
    params, out = fit_apply(make("standardize"), [None, NAN])
    assert params == {"stats": {"x": {"mean": 0.0, "std": 1.0}}}
    np.testing.assert_array_equal(out, [NAN, NAN])
    # a single value: std 0 → 1
    params, out = fit_apply(make("standardize"), [4.0, None])
    assert params == {"stats": {"x": {"mean": 4.0, "std": 1.0}}}
    np.testing.assert_array_equal(out, [0.0, NAN])


def test_standardize_int64_column() -> None:
    params, out = fit_apply(make("standardize"), [2, 4, 4, 4, 5, 5, 7, 9, None], pa.int64())
    assert params == {"stats": {"x": {"mean": 5.0, "std": 2.0}}}  # the textbook example
    np.testing.assert_array_equal(out, [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0, NAN])


# -- bucketize -------------------------------------------------------------------------


def test_bucketize() -> None:
    # n = 8, probs 1/4, 2/4, 3/4 → ranks 2, 4, 6 → edges [2, 4, 6]; a value equal to an
    # edge goes to the bucket above it; missing → len(edges) + 1 = 4
    fit_values: list[float | None] = [5.0, 1.0, None, 8.0, 3.0, 2.0, NAN, 7.0, 6.0, 4.0]
    stage = make("bucketize", num_buckets=4)
    params = stage.fit(pa.table({"x": pa.array(fit_values, pa.float64())}))
    assert params == {"edges": {"x": [2.0, 4.0, 6.0]}}
    inputs, expected = split(
        [
            (-100.0, 0.0),
            (1.0, 0.0),
            (1.999, 0.0),
            (2.0, 1.0),
            (3.0, 1.0),
            (4.0, 2.0),
            (5.5, 2.0),
            (6.0, 3.0),
            (100.0, 3.0),
            (None, 4.0),
            (NAN, 4.0),
            (-math.inf, 0.0),
            (math.inf, 3.0),
        ]
    )
    out = stage.apply(pa.table({"x": pa.array(inputs, pa.float64())}), params).column("x").to_numpy()
    np.testing.assert_array_equal(out, expected)


def test_bucketize_merges_equal_edges() -> None:
    # n = 6: ranks ceil(1.5) = 2, ceil(3) = 3, ceil(4.5) = 5 → edges 1, 1, 1 → [1]
    params, out = fit_apply(make("bucketize", num_buckets=4), [1.0, 1.0, None, 1.0, 1.0, 2.0, 1.0])
    assert params == {"edges": {"x": [1.0]}}
    np.testing.assert_array_equal(out, [1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0])


def test_bucketize_all_missing() -> None:
    params, out = fit_apply(make("bucketize", num_buckets=3), [None, NAN])
    assert params == {"edges": {"x": []}}
    np.testing.assert_array_equal(out, [1.0, 1.0])
    stage = make("bucketize", num_buckets=3)
    out = stage.apply(pa.table({"x": [5.0, None]}), params).column("x").to_numpy()
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_bucketize_int64_column() -> None:
    # n = 4, num_buckets 2: rank ceil(2) = 2 → edge 20
    params, out = fit_apply(make("bucketize", num_buckets=2), [40, 10, None, 20, 30], pa.int64())
    assert params == {"edges": {"x": [20.0]}}
    np.testing.assert_array_equal(out, [1.0, 0.0, 2.0, 1.0, 1.0])


def test_bucketize_needs_two_buckets() -> None:
    with pytest.raises(ValueError, match="num_buckets"):
        make("bucketize", num_buckets=1).needs()


# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["impute", "clip", "log1p", "standardize", "bucketize"])
def test_unknown_option_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match=r"unknown options \['bogus'\]"):
        make(kind, bogus=1)


def test_missing_column_is_named() -> None:
    with pytest.raises(KeyError, match="'x' is not in the data"):
        make("standardize").fit(pa.table({"y": [1.0]}))
