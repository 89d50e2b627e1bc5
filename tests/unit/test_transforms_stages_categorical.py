"""Categorical stages (impute_category, vocabulary, hash_bucket) and the statistics they fit
from (top-K with ties broken by value, exact quantiles)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from transforms import Need, Stage, local_stats, murmur3_32, quantile_edges, stage_from_spec, top_k_of

NAN = math.nan


def make(kind: str, columns: tuple[str, ...] = ("c",), **options: Any) -> Stage:
    return stage_from_spec({"kind": kind, "name": f"{kind}_test", "columns": list(columns), "options": options})


def table_of(values: list[str | None]) -> pa.Table:
    return pa.table({"c": pa.array(values, pa.string()), "n": pa.array(range(len(values)), pa.int64())})


# -- top-K and quantiles ---------------------------------------------------------------


def test_top_k_ties_broken_by_value_ascending() -> None:
    values = pa.array(["b", "a", None, "c", "b", "a", "d", None, "é", "z", "é", "Z"], pa.string())
    top = top_k_of(values, 10)
    # a, b, é: 2 each; then the singletons in code-point (= UTF-8 byte) order
    assert top.values == ("a", "b", "é", "Z", "c", "d", "z")
    assert top.counts == (2, 2, 2, 1, 1, 1, 1)
    assert (top.total, top.missing) == (12, 2)
    assert top_k_of(values, 2).values == ("a", "b")
    assert top_k_of(values, 0).values == ()


def test_top_k_of_all_null_and_empty() -> None:
    top = top_k_of(pa.array([None, None], pa.string()), 3)
    assert (top.values, top.counts, top.total, top.missing) == ((), (), 2, 2)
    top = top_k_of(pa.array([], pa.string()), 3)
    assert (top.values, top.counts, top.total, top.missing) == ((), (), 0, 0)


def brute_quantile(values: list[float], p: float) -> float:
    xs = sorted(v for v in values if not math.isnan(v))
    return xs[max(math.ceil(p * len(xs)), 1) - 1]


def test_quantile_edges_follow_the_definition() -> None:
    rng = random.Random(1)
    probs = (0.0, 0.005, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 0.995, 1.0)
    for n in [1, 2, 3, 4, 5, 7, 10, 99, 100, 101, 1000]:
        values = [rng.choice([rng.uniform(-1e3, 1e3), float(rng.randint(0, 5))]) for _ in range(n)]
        with_missing = [*values, NAN, NAN]
        rng.shuffle(with_missing)
        edges = quantile_edges(np.array(with_missing), probs)
        assert edges == tuple(brute_quantile(values, p) for p in probs), n
    assert quantile_edges(np.array([NAN]), (0.5,)) is None
    assert quantile_edges(np.array([]), (0.5,)) is None


def test_quantile_edges_hand_checked() -> None:
    # sorted [10, 20, 30, 40, 50]: p=0 → x[0]; 0.2 → ceil(1) = 1 → 10; 0.21 → ceil(1.05) = 2 → 20;
    # 0.5 → ceil(2.5) = 3 → 30; 0.8 → ceil(4) = 4 → 40; 1 → 50
    edges = quantile_edges(np.array([50.0, NAN, 10.0, 40.0, 20.0, 30.0]), (0.0, 0.2, 0.21, 0.5, 0.8, 1.0))
    assert edges == (10.0, 10.0, 20.0, 30.0, 40.0, 50.0)


def test_local_stats() -> None:
    frame = {"x": np.array([1.0, NAN, 3.0]), "c": pa.array(["u", None, "u"])}
    needs = [Need("moments", "x"), Need("quantiles", "x", probs=(0.5,)), Need("top_k", "c", k=1)]
    stats = local_stats(frame, needs)
    assert stats[needs[0]].mean() == 2.0 and stats[needs[0]].missing == 1
    assert stats[needs[1]] == (1.0,)
    assert stats[needs[2]].values == ("u",) and stats[needs[2]].missing == 1
    with pytest.raises(KeyError, match="'y' is not in the data"):
        local_stats(frame, [Need("moments", "y")])
    with pytest.raises(ValueError, match="unknown statistic"):
        Need("median", "x")


# -- impute_category -------------------------------------------------------------------


def test_impute_category_most_frequent_with_tie_broken_by_value() -> None:
    rows = [("b", "b"), ("a", "a"), (None, "a"), ("b", "b"), ("a", "a"), ("c", "c"), (None, "a"), ("", "")]
    table = table_of([i for i, _ in rows])
    stage = make("impute_category")
    params = stage.fit(table)
    assert params == {"values": {"c": "a"}}
    out = stage.apply(table, params)
    assert out.column("c").type == pa.string()
    assert out.column("c").to_pylist() == [e for _, e in rows]
    assert out.column("n").to_pylist() == list(range(len(rows)))


def test_impute_category_constant() -> None:
    table = table_of(["x", None, "x"])
    params = make("impute_category", strategy="constant").fit(table)
    assert params == {"values": {"c": "__missing__"}}
    out = make("impute_category", strategy="constant").apply(table, params)
    assert out.column("c").to_pylist() == ["x", "__missing__", "x"]
    params = make("impute_category", strategy="constant", fill_value="?").fit(table)
    assert params == {"values": {"c": "?"}}


def test_impute_category_all_null_falls_back_to_fill_value() -> None:
    table = table_of([None, None])
    stage = make("impute_category", fill_value="none")
    params = stage.fit(table)
    assert params == {"values": {"c": "none"}}
    assert stage.apply(table, params).column("c").to_pylist() == ["none", "none"]


def test_impute_category_non_string_column_becomes_strings() -> None:
    table = pa.table({"c": pa.array([3, None, 3, 1], pa.int64())})
    stage = make("impute_category")
    params = stage.fit(table)
    assert params == {"values": {"c": "3"}}
    assert stage.apply(table, params).column("c").to_pylist() == ["3", "3", "3", "1"]


def test_impute_category_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="strategy"):
        make("impute_category", strategy="mean").needs()


# -- vocabulary ------------------------------------------------------------------------

FIT = ["b", "a", "c", "b", None, "a", "d", "b"]  # b: 3, a: 2, c: 1, d: 1


def test_vocabulary_index_most_frequent_first_oov_and_null_last() -> None:
    stage = make("vocabulary")
    params = stage.fit(table_of(FIT))
    assert params == {"vocab": {"c": ["b", "a", "c", "d"]}}
    rows = [("b", 0.0), ("a", 1.0), ("c", 2.0), ("d", 3.0), (None, 4.0), ("zzz", 4.0), ("", 4.0), ("B", 4.0)]
    out = stage.apply(table_of([i for i, _ in rows]), params)
    assert out.schema.names == ["c", "n"]
    assert out.column("c").type == pa.float64()
    np.testing.assert_array_equal(out.column("c").to_numpy(), [e for _, e in rows])
    assert stage.output_names(params) == {}


def test_vocabulary_min_count() -> None:
    stage = make("vocabulary", min_count=2)
    params = stage.fit(table_of(FIT))
    assert params == {"vocab": {"c": ["b", "a"]}}
    out = stage.apply(table_of(["a", "c", "d", None, "b"]), params)
    np.testing.assert_array_equal(out.column("c").to_numpy(), [1.0, 2.0, 2.0, 2.0, 0.0])


def test_vocabulary_max_size_keeps_the_smaller_value_of_a_tie() -> None:
    stage = make("vocabulary", max_size=3)
    params = stage.fit(table_of(FIT))
    assert params == {"vocab": {"c": ["b", "a", "c"]}}
    out = stage.apply(table_of(["d", "c", None]), params)
    np.testing.assert_array_equal(out.column("c").to_numpy(), [3.0, 2.0, 3.0])


def test_vocabulary_one_hot() -> None:
    stage = make("vocabulary", one_hot=True, min_count=2)
    params = stage.fit(table_of(FIT))
    assert params == {"vocab": {"c": ["b", "a"]}}
    assert stage.output_names(params) == {"c": ["c#0", "c#1", "c#2"]}
    rows = [
        ("b", [1.0, 0.0, 0.0]),
        ("a", [0.0, 1.0, 0.0]),
        ("c", [0.0, 0.0, 1.0]),
        (None, [0.0, 0.0, 1.0]),
        ("other", [0.0, 0.0, 1.0]),
    ]
    out = stage.apply(table_of([i for i, _ in rows]), params)
    assert out.schema.names == ["n", "c#0", "c#1", "c#2"]  # the input column is replaced
    got = np.column_stack([out.column(f"c#{i}").to_numpy() for i in range(3)])
    np.testing.assert_array_equal(got, np.array([e for _, e in rows]))


def test_vocabulary_of_an_all_null_column_is_empty() -> None:
    stage = make("vocabulary", one_hot=True)
    params = stage.fit(table_of([None, None]))
    assert params == {"vocab": {"c": []}}
    assert stage.output_names(params) == {"c": ["c#0"]}
    out = stage.apply(table_of(["a", None]), params)
    np.testing.assert_array_equal(out.column("c#0").to_numpy(), [1.0, 1.0])
    params = make("vocabulary").fit(table_of([None]))
    out = make("vocabulary").apply(table_of(["a", None]), params)
    np.testing.assert_array_equal(out.column("c").to_numpy(), [0.0, 0.0])


def test_vocabulary_of_unicode_values() -> None:
    values = ["é", "e", "é", "日本", "日本", "😀", None, "e"]
    stage = make("vocabulary")
    params = stage.fit(table_of(values))
    assert params == {"vocab": {"c": ["e", "é", "日本", "😀"]}}
    out = stage.apply(table_of(values), params)
    np.testing.assert_array_equal(out.column("c").to_numpy(), [1.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 0.0])


# -- hash_bucket -----------------------------------------------------------------------


def test_hash_bucket() -> None:
    # murmur3_32("hello", 0) = 0x248BFA47 = 613153351; ("", 0) = 0; the fox sentence 0x2E4FF723
    fox = "The quick brown fox jumps over the lazy dog"
    rows = [("hello", 613153351 % 1000), ("", 0), (None, 1000), (fox, 0x2E4FF723 % 1000), ("hello", 351)]
    stage = make("hash_bucket", num_buckets=1000)
    params = stage.fit(table_of([i for i, _ in rows]))
    assert params == {}
    out = stage.apply(table_of([i for i, _ in rows]), params)
    assert out.column("c").type == pa.float64()
    np.testing.assert_array_equal(out.column("c").to_numpy(), [float(e) for _, e in rows])


def test_hash_bucket_seed_and_default_buckets() -> None:
    # murmur3_32("", 1) = 0x514E28B7 = 1364076727
    stage = make("hash_bucket", seed=1)
    out = stage.apply(table_of(["", None]), {})
    np.testing.assert_array_equal(out.column("c").to_numpy(), [1364076727 % 1024, 1024.0])


def test_hash_bucket_of_a_numeric_column_hashes_its_text() -> None:
    stage = make("hash_bucket", num_buckets=2**31)
    out = stage.apply(pa.table({"c": pa.array([1, None], pa.int64())}), {})

    np.testing.assert_array_equal(out.column("c").to_numpy(), [murmur3_32("1") % 2**31, 2.0**31])


@pytest.mark.parametrize("kind", ["impute_category", "vocabulary", "hash_bucket"])
def test_unknown_option_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match=r"unknown options \['bogus'\]"):
        make(kind, bogus=True)
