"""The shared transforms in Spark: distributed fit equals the plain-Python fit, and the
Arrow apply equals the plain-Python apply bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from transforms import FittedPipeline, Pipeline, quantile_edges

pytestmark = pytest.mark.spark

SPEC = {
    "name": "all-stages",
    "inputs": {"a": "double", "i": "double", "b": "string", "id": "string", "ts": "timestamp"},
    "stages": [
        {"kind": "impute", "name": "impute_median", "columns": ["a"], "options": {"strategy": "median"}},
        {"kind": "impute_category", "name": "impute_b", "columns": ["b"]},
        {"kind": "clip", "name": "clip", "columns": ["a"], "options": {"quantiles": [0.01, 0.99]}},
        {"kind": "log1p", "name": "log", "columns": ["a"]},
        {"kind": "standardize", "name": "standardize", "columns": ["a", "i"]},
        {"kind": "bucketize", "name": "buckets", "columns": ["a"], "options": {"num_buckets": 5}},
        {"kind": "vocabulary", "name": "vocab", "columns": ["b"], "options": {"one_hot": True}},
        {"kind": "hash_bucket", "name": "hash_id", "columns": ["id"], "options": {"num_buckets": 7, "seed": 3}},
        {"kind": "time_features", "name": "time", "columns": ["ts"]},
    ],
    "outputs": ["a", "i", "b", "id", "ts"],
}
SCHEMA = "rowid long, id string, a double, i double, b string, ts timestamp"


def _data(n: int, seed: int = 5) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(3, 2, n)
    a[rng.random(n) < 0.1] = np.nan
    a_list: list[float | None] = [None if (k % 97 == 0) else float(v) for k, v in enumerate(a)]  # nulls and NaNs
    b = rng.choice(["x", "y", "z", "w", "é😀", None], n, p=[0.4, 0.3, 0.15, 0.05, 0.05, 0.05])
    ts = 1_732_060_800_000_000 + rng.integers(0, 86_400_000_000 * 7, n)
    return pa.table(
        {
            "rowid": pa.array(range(n), pa.int64()),
            "id": [f"event-{k}" for k in range(n)],
            "a": pa.array(a_list, pa.float64()),
            "i": rng.integers(0, 50, n).astype(np.float64),
            "b": pa.array(list(b), pa.string()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        }
    )


def _df(spark, table: pa.Table):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(table.to_pylist(), schema=SCHEMA).repartition(3)


def test_spark_fit_equals_python_fit_and_apply_is_bit_identical(spark) -> None:  # type: ignore[no-untyped-def]
    from jobs.gold.spark_transforms import apply_pipeline, fit_pipeline

    table = _data(4000)
    pipeline = Pipeline.from_spec(SPEC)
    local = pipeline.fit(table)
    df = _df(spark, table)
    distributed = fit_pipeline(df, pipeline, accuracy=100_000)
    assert distributed.params == local.params  # exact: n < accuracy makes the quantiles exact too
    assert distributed.params_hash() == local.params_hash()

    rows = apply_pipeline(df, local, keep=["rowid"]).collect()
    got = np.array([[r[c] for c in local.output_names()] for r in sorted(rows, key=lambda r: r["rowid"])])
    np.testing.assert_array_equal(got, local.matrix(table))  # float64 equality, NaN where NaN


def test_quantile_edges_within_documented_rank_error(spark) -> None:  # type: ignore[no-untyped-def]
    from jobs.gold.spark_transforms import fit_pipeline

    n, accuracy = 30_000, 200
    table = _data(n, seed=11)
    spec = {
        "name": "q",
        "inputs": {"a": "double"},
        "stages": [{"kind": "bucketize", "name": "b", "columns": ["a"], "options": {"num_buckets": 10}}],
        "outputs": ["a"],
    }
    pipeline = Pipeline.from_spec(spec)
    edges = fit_pipeline(_df(spark, table), pipeline, accuracy=accuracy).params[0]["edges"]["a"]
    values = np.sort(np.array([v for v in table.column("a").to_pylist() if v is not None and not math.isnan(v)]))
    exact = quantile_edges(values, [k / 10 for k in range(1, 10)])
    assert exact is not None and len(edges) == 9
    for p, edge in zip([k / 10 for k in range(1, 10)], edges, strict=True):
        target = max(math.ceil(p * values.size), 1)
        lo, hi = np.searchsorted(values, edge, "left") + 1, np.searchsorted(values, edge, "right")
        slack = values.size / accuracy
        assert lo - slack <= target <= hi + slack, (p, edge, target, lo, hi)


def test_apply_refuses_kept_columns_the_pipeline_rewrites(spark) -> None:  # type: ignore[no-untyped-def]
    from jobs.gold.spark_transforms import apply_pipeline
    from jobs.lib.steps import MissingColumnsError

    table = _data(50)
    fitted = Pipeline.from_spec(SPEC).fit(table)
    with pytest.raises(ValueError, match="both kept"):
        apply_pipeline(_df(spark, table), fitted, keep=["id"])
    with pytest.raises(MissingColumnsError, match="needs columns"):
        apply_pipeline(_df(spark, table).drop("b"), fitted)


def test_fitted_params_survive_json(spark) -> None:  # type: ignore[no-untyped-def]
    from jobs.gold.spark_transforms import fit_pipeline

    table = _data(500)
    fitted = fit_pipeline(_df(spark, table), Pipeline.from_spec(SPEC))
    again = FittedPipeline.loads(fitted.dumps())
    assert again == fitted and again.dumps() == fitted.dumps()
