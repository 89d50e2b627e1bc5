"""Pipelines: exact JSON round trip, fitting groups, the feature matrix from Arrow batches,
from requests and row by row (all bit for bit), errors, the default pipeline and the
source hash."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import transforms
from transforms import (
    FittedPipeline,
    Pipeline,
    canonical_json,
    coerce,
    default_pipeline,
    local_stats,
    source_hash,
)

NAN = math.nan
UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")


def assert_bits_equal(got: np.ndarray, want: np.ndarray) -> None:
    """Same shape and the same 64 bits in every cell (tells -0.0 from 0.0)."""
    assert got.dtype == np.float64 and want.dtype == np.float64
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def float_leaves(data: Any) -> list[float]:
    if isinstance(data, float):
        return [data]
    if isinstance(data, dict):
        return [f for k in sorted(data) for f in float_leaves(data[k])]
    if isinstance(data, list | tuple):
        return [f for v in data for f in float_leaves(v)]
    return []


SPEC: dict[str, Any] = {
    "name": "rich",
    "inputs": {
        "amount": "double",
        "count": "double",
        "age": "double",
        "country": "string",
        "device": "string",
        "text": "string",
        "ts": "timestamp",
    },
    "stages": [
        {"kind": "impute", "name": "impute_numeric", "columns": ["amount", "count"]},
        {"kind": "clip", "name": "clip_amount", "columns": ["amount"], "options": {"quantiles": [0.1, 0.9]}},
        {"kind": "log1p", "name": "log_count", "columns": ["count"]},
        {"kind": "standardize", "name": "standardize", "columns": ["amount", "count"]},
        {"kind": "impute", "name": "impute_age", "columns": ["age"], "options": {"strategy": "median"}},
        {"kind": "bucketize", "name": "age_buckets", "columns": ["age"], "options": {"num_buckets": 4}},
        {"kind": "impute_category", "name": "impute_country", "columns": ["country"]},
        {
            "kind": "vocabulary",
            "name": "country_1h",
            "columns": ["country"],
            "options": {"one_hot": True, "min_count": 2},
        },
        {"kind": "vocabulary", "name": "device_idx", "columns": ["device"], "options": {"max_size": 2}},
        {"kind": "hash_bucket", "name": "text_hash", "columns": ["text"], "options": {"num_buckets": 16, "seed": 7}},
        {"kind": "time_features", "name": "when", "columns": ["ts"]},
        {"kind": "standardize", "name": "standardize_hour", "columns": ["ts_hour"]},
    ],
    "outputs": ["amount", "count", "age", "country", "device", "text", "ts"],
}

NEW_YEAR = dt.datetime(2024, 1, 1, tzinfo=UTC)
# one example per row; the Arrow table and the request records below hold the same values
ROWS: list[dict[str, Any]] = [
    {"amount": 10.5, "count": 3, "age": 31.0, "country": "fr", "device": "ios", "text": "hello", "ts": 0},
    {"amount": None, "count": 0, "age": None, "country": "de", "device": "web", "text": "", "ts": 3_600},
    {"amount": 1e6, "count": None, "age": 45.5, "country": None, "device": "ios", "text": None, "ts": None},
    {"amount": -3.25, "count": 12, "age": 18.0, "country": "fr", "device": None, "text": "été", "ts": 86_400 * 3},
    {"amount": 0.1, "count": 1, "age": 62.0, "country": "de", "device": "android", "text": "hello", "ts": 7_200},
    {"amount": 0.2, "count": 2**40, "age": 27.0, "country": "es", "device": "ios", "text": "x" * 50, "ts": 50_000},
    {"amount": NAN, "count": 5, "age": NAN, "country": "fr", "device": "web", "text": "日本", "ts": -60},
    {"amount": 7.0, "count": 7, "age": 33.0, "country": "it", "device": "tv", "text": "hello", "ts": 1_000_000},
]


def instant(offset: int | None) -> dt.datetime | None:
    return None if offset is None else NEW_YEAR + dt.timedelta(seconds=offset)


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
            "count": pa.array([r["count"] for r in rows], pa.int64()),
            "age": pa.array([r["age"] for r in rows], pa.float64()),
            "country": pa.array([r["country"] for r in rows], pa.string()),
            "device": pa.array([r["device"] for r in rows], pa.string()),
            "text": pa.array([r["text"] for r in rows], pa.string()),
            "ts": pa.array([instant(r["ts"]) for r in rows], TS),
            "label": pa.array(range(len(rows)), pa.int64()),
        }
    )


def rows_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same examples as serving receives them: JSON-like values, absent keys for some
    missing ones, instants as ISO strings (with and without offsets) or epoch numbers."""
    records = []
    for i, row in enumerate(rows):
        rec: dict[str, Any] = {}
        for key, value in row.items():
            if value is None and i % 2:
                continue  # absent rather than null
            rec[key] = value
        when = instant(row["ts"])
        if when is not None:
            rec["ts"] = [
                when.isoformat().replace("+00:00", "Z"),
                when.astimezone(dt.timezone(dt.timedelta(hours=-3, minutes=-30))).isoformat(),
                int(when.timestamp()),
                int(when.timestamp()) * 1000,
                when.replace(tzinfo=None).isoformat(),
                float(when.timestamp()),
            ][i % 6]
        records.append(rec)
    return records


@pytest.fixture(scope="module")
def fitted() -> FittedPipeline:
    return Pipeline.from_spec(SPEC).fit(rows_table(ROWS))


# -- fitted values -----------------------------------------------------------------------


def test_fitted_params_hand_checked(fitted: FittedPipeline) -> None:
    p = dict(zip([s.name for s in fitted.pipeline.stages], fitted.params, strict=True))
    # mean of the 6 present amounts, exactly rounded once
    present = [10.5, 1e6, -3.25, 0.1, 0.2, 7.0]
    from fractions import Fraction

    assert p["impute_numeric"]["values"]["amount"] == float(sum(map(Fraction, present)) / 6)
    assert p["impute_numeric"]["values"]["count"] == float(Fraction(3 + 0 + 12 + 1 + 2**40 + 5 + 7, 7))
    # amounts after imputing (8 values): sorted [-3.25, .1, .2, 7, 10.5, m, m, 1e6] with m the mean;
    # ranks ceil(0.8) = 1 and ceil(7.2) = 8
    assert p["clip_amount"]["bounds"]["amount"] == [-3.25, 1e6]
    # median of 31, 45.5, 18, 62, 27, 33: sorted [18, 27, 31, 33, 45.5, 62], rank 3 → 31
    assert p["impute_age"]["values"]["age"] == 31.0
    # ages after imputing: [31, 31, 45.5, 18, 62, 27, 31, 33] sorted [18, 27, 31, 31, 31, 33, 45.5, 62],
    # ranks 2, 4, 6 → 27, 31, 33
    assert p["age_buckets"]["edges"]["age"] == [27.0, 31.0, 33.0]
    # countries fr 3, de 2, es 1, it 1 → fill "fr"; then fr 4, de 2 kept with min_count 2
    assert p["impute_country"]["values"]["country"] == "fr"
    assert p["country_1h"]["vocab"]["country"] == ["fr", "de"]
    # ios 3, web 2, android 1, tv 1 → the first 2
    assert p["device_idx"]["vocab"]["device"] == ["ios", "web"]
    assert p["text_hash"] == {} and p["when"] == {}
    # hours of the 7 instants: 0, 1, 0, 2, 13 (50 000 s), 23 (-60 s), 13 (1e6 s = 11 d 13:46:40)
    hours = [0, 1, 0, 2, 13, 23, 13]
    mean = Fraction(sum(hours), 7)
    var = sum((Fraction(h) - mean) ** 2 for h in hours) / 7
    assert p["standardize_hour"]["stats"]["ts_hour"] == {"mean": float(mean), "std": math.sqrt(float(var))}


def test_output_names_expand_one_hot_and_time_features(fitted: FittedPipeline) -> None:
    assert fitted.output_names() == [
        "amount",
        "count",
        "age",
        "country#0",
        "country#1",
        "country#2",
        "device",
        "text",
        "ts_hour",
        "ts_day_of_week",
        "ts_hour_sin",
        "ts_hour_cos",
    ]


def test_matrix_hand_checked_columns(fitted: FittedPipeline) -> None:
    m = fitted.matrix(rows_table(ROWS))
    assert m.shape == (8, 12) and m.dtype == np.float64
    # ages after imputing [31, 31, 45.5, 18, 62, 27, 31, 33] against edges [27, 31, 33]
    np.testing.assert_array_equal(m[:, 2], [2.0, 2.0, 3.0, 0.0, 3.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        m[:, 3:6], [[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]
    )
    np.testing.assert_array_equal(m[:, 6], [0.0, 1.0, 0.0, 2.0, 2.0, 0.0, 1.0, 2.0])  # device
    hello = transforms.murmur3_32("hello", 7) % 16
    assert m[0, 7] == m[4, 7] == m[7, 7] == hello
    assert m[2, 7] == 16.0  # missing text
    assert m[1, 7] == transforms.murmur3_32("", 7) % 16
    np.testing.assert_array_equal(m[:, 9], [0.0, 0.0, NAN, 3.0, 0.0, 0.0, 6.0, 4.0])  # 2024-01-01 is a Monday


# -- JSON ----------------------------------------------------------------------------------


def test_json_round_trip_is_exact(fitted: FittedPipeline) -> None:
    text = fitted.dumps()
    again = FittedPipeline.loads(text)
    assert again == fitted
    assert again.dumps() == text
    assert again.params_hash() == fitted.params_hash()
    want, got = float_leaves(fitted.to_json()), float_leaves(again.to_json())
    assert [struct.pack("<d", f) for f in got] == [struct.pack("<d", f) for f in want]
    assert_bits_equal(again.matrix(rows_table(ROWS)), fitted.matrix(rows_table(ROWS)))


def test_json_round_trip_of_awkward_floats() -> None:
    awkward = [0.1 + 0.2, 1e-310, float(2**53 + 1), 5e-324, -0.0, 1.7976931348623157e308, 1 / 3, 2.0**-1022]
    spec = {
        "name": "floats",
        "inputs": {"x": "double"},
        "stages": [
            {
                "kind": "impute",
                "name": f"fill_{i}",
                "columns": ["x"],
                "options": {"strategy": "constant", "fill_value": v},
            }
            for i, v in enumerate(awkward)
        ]
        + [{"kind": "clip", "name": "clip", "columns": ["x"], "options": {"lower": 0.1 + 0.2, "upper": 1e-310}}],
        "outputs": ["x"],
    }
    fitted = Pipeline.from_spec(spec).fit(pa.table({"x": pa.array([None, 1.0], pa.float64())}))
    again = FittedPipeline.loads(fitted.dumps())
    assert again == fitted and again.params_hash() == fitted.params_hash()
    got = [p["values"]["x"] for p in again.params[:-1]]
    assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in awkward]
    assert again.params[-1] == {"bounds": {"x": [0.30000000000000004, 1e-310]}}
    assert struct.pack("<d", again.pipeline.stages[-1].options["lower"]) == struct.pack("<d", 0.1 + 0.2)


def test_params_hash_changes_with_any_param(fitted: FittedPipeline) -> None:
    data = json.loads(fitted.dumps())
    data["params"][0]["values"]["amount"] = math.nextafter(data["params"][0]["values"]["amount"], math.inf)
    assert FittedPipeline.from_json(data).params_hash() != fitted.params_hash()


def test_canonical_json() -> None:
    assert (
        canonical_json({"b": [1.0, None], "a": {"y": 0.1, "x": "é"}}) == '{"a":{"x":"\\u00e9","y":0.1},"b":[1.0,null]}'
    )
    for bad in (NAN, math.inf, -math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": [bad]})


def test_dumps_refuses_a_nan_param() -> None:
    spec = {
        "name": "nan",
        "inputs": {"x": "double"},
        "stages": [
            {"kind": "impute", "name": "fill", "columns": ["x"], "options": {"strategy": "constant", "fill_value": NAN}}
        ],
        "outputs": ["x"],
    }
    fitted = Pipeline.from_spec(spec).fit(pa.table({"x": [1.0]}))
    with pytest.raises(ValueError):
        fitted.dumps()


def test_unsupported_format() -> None:
    with pytest.raises(ValueError, match="unsupported fitted-pipeline format 2"):
        FittedPipeline.from_json({"format": 2, "pipeline": SPEC, "params": []})


# -- fitting in groups -------------------------------------------------------------------


def fit_by_groups(pipeline: Pipeline, table: pa.Table) -> tuple[dict[str, Any], ...]:
    """How a distributed engine fits: for each group, the statistics of every stage in it
    computed from the data as the stages before the group leave it."""
    params: list[dict[str, Any]] = []
    for group in pipeline.fit_groups():
        first = group[0]
        prefix = FittedPipeline(Pipeline(pipeline.name, pipeline.inputs, pipeline.stages[:first], ()), tuple(params))
        frame = prefix.apply_frame(coerce(table, pipeline.inputs))
        for i in group:
            stage = pipeline.stages[i]
            params.append(stage.fit_from_stats(local_stats(frame, stage.needs())))
    return tuple(params)


def test_fit_groups_of_the_rich_pipeline() -> None:
    pipeline = Pipeline.from_spec(SPEC)
    groups = pipeline.fit_groups()
    assert sorted(i for g in groups for i in g) == list(range(len(SPEC["stages"])))
    assert all(g == list(range(g[0], g[-1] + 1)) for g in groups)  # consecutive stages
    names = [[pipeline.stages[i].name for i in g] for g in groups]
    assert names[0] == ["impute_numeric"]
    assert names[1][:2] == ["clip_amount", "log_count"]
    # the time features' new column is read by the last stage: it cannot share their pass
    assert names[-1] == ["standardize_hour"]


def test_fitting_group_by_group_equals_fitting_stage_by_stage() -> None:
    pipeline = Pipeline.from_spec(SPEC)
    table = rows_table(ROWS)
    assert fit_by_groups(pipeline, table) == pipeline.fit(table).params


def test_fit_groups_hand_checked() -> None:
    def pipeline(*stages: tuple[str, list[str]], **inputs: str) -> Pipeline:
        return Pipeline.from_spec(
            {
                "name": "g",
                "inputs": inputs or {"a": "double", "b": "double", "c": "string", "t": "timestamp"},
                "stages": [{"kind": k, "name": f"s{i}", "columns": cols} for i, (k, cols) in enumerate(stages)],
                "outputs": [],
            }
        )

    assert pipeline().fit_groups() == []
    # independent columns share a pass; a column written in the group starts a new one
    p = pipeline(("impute", ["a"]), ("impute_category", ["c"]), ("standardize", ["b"]), ("standardize", ["a"]))
    assert p.fit_groups() == [[0, 1, 2], [3]]
    p = pipeline(("log1p", ["a"]), ("log1p", ["a"]), ("log1p", ["a"]))
    assert p.fit_groups() == [[0], [1], [2]]
    p = pipeline(("impute", ["a", "b"]), ("standardize", ["b"]), ("hash_bucket", ["c"]), ("clip", ["a"]))
    assert p.fit_groups() == [[0], [1, 2, 3]]  # a was written by an earlier group: fine
    # columns added by time features are new: the stage reading them cannot share the pass
    p = pipeline(("time_features", ["t"]), ("impute", ["a"]), ("standardize", ["t_hour"]))
    assert p.fit_groups() == [[0, 1], [2]]


# -- matrix ------------------------------------------------------------------------------


def test_matrix_equals_stage_by_stage_application(fitted: FittedPipeline) -> None:
    table = rows_table(ROWS)
    batch = fitted.apply(table, upto=0)  # the inputs typed by the contract
    assert batch.column("count").type == pa.float64()
    for k, (stage, params) in enumerate(zip(fitted.pipeline.stages, fitted.params, strict=True), start=1):
        batch = stage.apply(batch, params)
        prefix = fitted.apply(table, upto=k)
        assert prefix.schema == batch.schema
        for name in batch.schema.names:
            if batch.column(name).type == pa.float64():
                assert_bits_equal(prefix.column(name).to_numpy(), batch.column(name).to_numpy())
            else:
                assert prefix.column(name).equals(batch.column(name))
    expected = np.column_stack([batch.column(n).to_numpy() for n in fitted.output_names()])
    assert_bits_equal(fitted.matrix(table), expected)
    assert batch.column("label").equals(table.column("label").combine_chunks())  # passed through


def test_matrix_from_records_equals_matrix_of_the_table(fitted: FittedPipeline) -> None:
    records = rows_records(ROWS)
    assert any("amount" not in r for r in records) and any(r.get("country", 0) is None for r in records)
    assert {type(r["ts"]) for r in records if "ts" in r and r["ts"] is not None} == {str, int, float}
    assert_bits_equal(fitted.matrix_from_records(records), fitted.matrix(rows_table(ROWS)))


def test_batch_equals_row_by_row(fitted: FittedPipeline) -> None:
    table = rows_table(ROWS)
    whole = fitted.matrix(table)
    one_by_one = np.vstack([fitted.matrix(table.slice(i, 1)) for i in range(table.num_rows)])
    assert_bits_equal(one_by_one, whole)
    records = rows_records(ROWS)
    from_records = np.vstack([fitted.matrix_from_records([r]) for r in records])
    assert_bits_equal(from_records, whole)


def test_batch_equals_row_by_row_on_many_random_rows(fitted: FittedPipeline) -> None:
    rng = np.random.default_rng(4)
    n = 300
    amounts = rng.lognormal(3, 4, n) * rng.choice([-1, 1], n)
    rows = [
        {
            "amount": None if i % 11 == 0 else float(amounts[i]),
            "count": None if i % 7 == 0 else int(rng.integers(0, 10**9)),
            "age": None if i % 5 == 0 else float(rng.uniform(0, 100)),
            "country": [None, "fr", "de", "es", "xx"][i % 5],
            "device": ["ios", "web", None, "tv"][i % 4],
            "text": None if i % 9 == 0 else f"text {i} " * (i % 13),
            "ts": None if i % 10 == 0 else int(rng.integers(-(10**9), 10**9)),
        }
        for i in range(n)
    ]
    table = rows_table(rows)
    whole = fitted.matrix(table)
    assert_bits_equal(np.vstack([fitted.matrix(table.slice(i, 1)) for i in range(n)]), whole)
    assert_bits_equal(np.vstack([fitted.matrix(b) for b in table.to_batches(max_chunksize=17)]), whole)
    assert_bits_equal(fitted.matrix_from_records(rows_records(rows)), whole)


def test_matrix_of_no_rows_and_no_outputs(fitted: FittedPipeline) -> None:
    assert fitted.matrix(rows_table(ROWS).slice(0, 0)).shape == (0, 12)
    assert fitted.matrix_from_records([]).shape == (0, 12)
    none = FittedPipeline(Pipeline("none", {"x": "double"}, (), ()), ())
    assert none.matrix(pa.table({"x": [1.0, 2.0]})).shape == (2, 0)


# -- errors ------------------------------------------------------------------------------


def test_unknown_stage_kind() -> None:
    spec = {**SPEC, "stages": [{"kind": "pca", "name": "p", "columns": ["amount"]}]}
    with pytest.raises(ValueError, match="unknown stage kind 'pca'"):
        Pipeline.from_spec(spec)


def test_unknown_option() -> None:
    spec = {**SPEC, "stages": [{"kind": "clip", "name": "c", "columns": ["amount"], "options": {"upper_bound": 1}}]}
    with pytest.raises(ValueError, match=r"stage 'c' \(clip\): unknown options \['upper_bound'\]"):
        Pipeline.from_spec(spec)


def test_stage_without_columns() -> None:
    with pytest.raises(ValueError, match="no columns"):
        Pipeline.from_spec({**SPEC, "stages": [{"kind": "log1p", "name": "l", "columns": []}]})


def test_unknown_input_dtype_and_duplicate_stage_names() -> None:
    with pytest.raises(ValueError, match="unknown input dtypes"):
        Pipeline.from_spec({**SPEC, "inputs": {"x": "int"}})
    stages = [{"kind": "log1p", "name": "same", "columns": ["amount"]}] * 2
    with pytest.raises(ValueError, match="stage names must be unique"):
        Pipeline.from_spec({**SPEC, "stages": stages})


def test_missing_input_column(fitted: FittedPipeline) -> None:
    table = rows_table(ROWS).drop(["device"])
    with pytest.raises(KeyError, match=r"input columns missing from the batch: \['device'\]"):
        Pipeline.from_spec(SPEC).fit(table)
    with pytest.raises(KeyError, match=r"\['device'\]"):
        fitted.matrix(table)
    with pytest.raises(KeyError, match=r"\['device'\]"):
        fitted.apply(table)


def test_output_not_produced() -> None:
    spec = {"name": "o", "inputs": {"x": "double"}, "stages": [], "outputs": ["x", "y"]}
    fitted = Pipeline.from_spec(spec).fit(pa.table({"x": [1.0]}))
    with pytest.raises(KeyError, match=r"outputs not produced: \['y'\]"):
        fitted.matrix(pa.table({"x": [1.0]}))


# -- default pipeline --------------------------------------------------------------------


def test_default_pipeline_on_a_small_contract() -> None:
    contract = {"price": "double", "shop": "string", "at": "timestamp", "other_time": "timestamp"}
    pipeline = default_pipeline("shop_model", contract, time_column="at")
    assert pipeline.inputs == contract
    assert sorted(s.kind for s in pipeline.stages) == sorted(
        ["impute", "clip", "standardize", "impute_category", "vocabulary", "time_features"]
    )
    assert pipeline.outputs == ("price", "shop", "at")
    assert Pipeline.from_spec(json.loads(canonical_json(pipeline.spec()))) == pipeline
    table = pa.table(
        {
            "price": pa.array([1.0, None, 3.0, 2.0, 100.0], pa.float64()),
            "shop": pa.array(["a", "b", None, "a", "c"], pa.string()),
            "at": pa.array([instant(None if h is None else h * 3600) for h in (0, 6, 12, 18, None)], TS),
            "other_time": pa.array([None] * 5, TS),
        }
    )
    fitted = pipeline.fit(table)
    names = ["price", "shop#0", "shop#1", "shop#2", "shop#3", "at_hour_sin", "at_hour_cos", "at_day_of_week"]
    assert fitted.output_names() == names
    m = fitted.matrix(table)
    # price: mean 26.5 imputed; clip ranks ceil(0.025) = 1 and ceil(4.975) = 5 keep all;
    # mean 26.5, std of [1, 26.5, 3, 2, 100]
    values = np.array([1.0, 26.5, 3.0, 2.0, 100.0])
    std = math.sqrt(float(np.sum((values - 26.5) ** 2) / 5))
    np.testing.assert_allclose(m[:, 0], (values - 26.5) / std, rtol=1e-15)
    # shop: "a" imputed into the third row → a 3, b 1, c 1 → vocabulary [a, b, c]
    np.testing.assert_array_equal(m[:, 1:5], [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    # 00:00, 06:00, 12:00 and 18:00 on a Monday, then a missing instant
    np.testing.assert_allclose(m[:4, 5], [0.0, 1.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_allclose(m[:4, 6], [1.0, 0.0, -1.0, 0.0], atol=1e-15)
    np.testing.assert_array_equal(m[:, 7], [0.0, 0.0, 0.0, 0.0, NAN])
    assert np.isnan(m[4, 5]) and np.isnan(m[4, 6])


def test_default_pipeline_without_numbers_or_time() -> None:
    p = default_pipeline("cat", {"c": "string"})
    assert [s.kind for s in p.stages] == ["impute_category", "vocabulary"] and p.outputs == ("c",)
    p = default_pipeline("num", {"x": "double"})
    assert [s.kind for s in p.stages] == ["impute", "clip", "standardize"] and p.outputs == ("x",)
    with pytest.raises(ValueError, match="must be a timestamp input"):
        default_pipeline("bad", {"x": "double"}, time_column="x")


# -- source hash -------------------------------------------------------------------------


def test_source_hash_is_stable_and_follows_the_sources(tmp_path: Path) -> None:
    package = Path(transforms.__file__).resolve().parent
    here = source_hash()
    assert here == source_hash(package) and len(here) == 64
    copy = tmp_path / "copy"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_hash(copy) == here
    (copy / "notes.txt").write_text("not a source")
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.py").write_text("neither")
    assert source_hash(copy) == here
    target = copy / "stages.py"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    changed = source_hash(copy)
    assert changed != here
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert source_hash(copy) == here
    target.rename(copy / "stages2.py")  # same bytes, another name
    assert source_hash(copy) != here


def test_source_hash_rule_is_the_one_bundles_check(tmp_path: Path) -> None:
    from serving.bundle import source_files_hash

    package = Path(transforms.__file__).resolve().parent
    assert source_files_hash(package) == source_hash(package)
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    (tmp_path / "b.py").write_bytes(b"")
    assert source_files_hash(tmp_path) == source_hash(tmp_path)
