"""Drift's direct read (tasks open the Delta snapshot's Parquet files themselves) gives the
very batches Spark's read gives — every row once, each value as Spark casts it — on typed
columns, string numbers, maps, lists, booleans, slices, a column added later, windows by
partition and by column, and files shared by several tasks; and tables it cannot read as
Spark does (deletion vectors, column mapping, expressions only Spark evaluates) are read
through Spark."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from jobs.drift.direct_read import spark_doubles
from jobs.drift.feature_rows import FeatureRows, feature_rows
from jobs.drift.histograms import feature_frame
from jobs.drift.sources import FeatureSpec, RowSource, declared_features, table_source
from skewguard.config import load_settings

pytestmark = pytest.mark.spark

DAY1, DAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
NASTY = ["1", "-0", "0.25", "1e3", " 7 ", "1.5d", "2f", "0x1.8p1", "Infinity", "-inf", "+INF", "NaN", "nan",
         "1e400", "1e-400", ".5", "5.", "+3", "abc", "", "1_0", "\u0663", "\t9\n", "1,5", None]  # fmt: skip
GIVEN = {"x": "numeric", "n": "numeric", "i": "numeric", "s": "numeric", "flag": "categorical",
         "tags": "categorical", "late": "numeric", "k_num": "numeric", "k_cat": "categorical",
         "model_version": "categorical"}  # fmt: skip


def _rows(seed: int, n: int, late: bool) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    out = []
    for j in range(n):
        x = [float(rng.normal()), None, float("nan"), float("inf")][j % 4 if j % 7 == 0 else 0]
        features = {"k_num": NASTY[j % len(NASTY)], "k_cat": ["a", "b", None][j % 3]}
        if j % 11 == 0:
            features.pop("k_num")
        row = (
            [DAY1, DAY2][j % 2],
            ["w1", "w2"][j % 3 == 0],
            x,
            int(rng.integers(-(2**62), 2**62)) if j % 5 else None,
            int(rng.integers(-1000, 1000)),
            NASTY[(j * 7) % len(NASTY)],
            [True, False, None][j % 3],
            [["a", "b"], [], None, ["c", None]][j % 4],
            features,
            {"score": float(rng.random())},
            ["v1", "v2", None][j % 3],
        )
        out.append((*row, float(j) if late else None))
    return out


SCHEMA = (
    "event_date date, workload_id string, x double, n bigint, i int, s string, flag boolean, tags array<string>, "
    "features map<string,string>, outputs map<string,double>, model_version string, late double"
)


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("direct")
    partitioned, flat = str(root / "partitioned"), str(root / "flat")
    first = spark.createDataFrame(_rows(1, 600, False), SCHEMA).drop("late")
    second = spark.createDataFrame(_rows(2, 400, True), SCHEMA)
    for path, parts in ((partitioned, ["event_date", "workload_id"]), (flat, [])):
        # small row groups: a file is several shares when a task reads a few kilobytes
        first.repartition(3).write.format("delta").partitionBy(*parts).option("parquet.block.size", 4096).save(path)
        second.repartition(2).write.format("delta").mode("append").option("mergeSchema", "true").partitionBy(
            *parts
        ).save(path)
    return {"partitioned": partitioned, "flat": flat}


def _specs(spark, source: RowSource) -> list[FeatureSpec]:  # type: ignore[no-untyped-def]
    columns = dict(spark.read.format("delta").load(source.path).dtypes)
    return declared_features(load_settings("test", env={}), columns, "w1", source.table, given=GIVEN)


def _batches(rows: FeatureRows) -> Counter[tuple[Any, ...]]:
    schema = rows.frame().schema

    def identity(batches):  # type: ignore[no-untyped-def]
        yield from batches

    return _counted(rows.mapInArrow(identity, schema).collect())


def _counted(collected: list[Any]) -> Counter[tuple[Any, ...]]:
    def plain(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(v)
        return "NaN" if isinstance(v, float) and math.isnan(v) else v

    return Counter(tuple(plain(v) for v in row) for row in collected)


@pytest.mark.parametrize(
    ("layout", "window"),
    [("partitioned", "all"), ("partitioned", "day-and-workload"), ("flat", "day"), ("flat", "day-and-workload")],
)
def test_direct_batches_equal_sparks_row_for_row(spark, tables, layout: str, window: str) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings("test", env={})
    start = end = DAY2 if window != "all" else None
    source = table_source(spark, settings, tables[layout], start, end, "w1" if window == "day-and-workload" else None)
    specs = _specs(spark, source)
    assert {s.name for s in specs} == {*GIVEN, "output.score"}
    spark_rows = _counted(feature_frame(source.read(spark), specs, ["model_version"]).collect())
    assert sum(spark_rows.values()) > 100
    for task_bytes in (128 << 20, 4096):  # whole files; row groups of a file shared by tasks
        direct = feature_rows(spark, source, specs, ["model_version"], task_bytes=task_bytes)
        assert direct.direct, direct.why_spark
        assert _batches(direct) == spark_rows
    shared = feature_rows(spark, source, specs, ["model_version"], task_bytes=4096)
    assert shared.tasks is not None and any(f.parts > 1 for group in shared.tasks for f in group)


def test_strings_become_numbers_as_sparks_cast_makes_them(spark) -> None:  # type: ignore[no-untyped-def]
    texts = [*NASTY, "0x10p0", "-0x.8p1d", "1e", "e1", "- 1", "1 2", "٣", "1E+2", "  -Infinity ", "infinity"]
    cast = spark.createDataFrame([(t,) for t in texts], "s string").selectExpr("CAST(s AS DOUBLE)").collect()
    expected = np.array([np.nan if r[0] is None else r[0] for r in cast], dtype=np.float64)
    np.testing.assert_array_equal(spark_doubles(pa.array(texts, pa.string())), expected)


def test_tables_tasks_cannot_read_as_spark_does_are_read_through_spark(spark, tables, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings("test", env={})
    source = table_source(spark, settings, tables["flat"])
    specs = _specs(spark, source)
    sized = [*specs, FeatureSpec("tag_count", "numeric", "CAST(size(tags) AS DOUBLE)")]
    assert "only Spark reads" in feature_rows(spark, source, sized).why_spark
    assert "is off" in feature_rows(spark, source, specs, direct=False).why_spark

    deleted = str(tmp_path / "deleted")
    spark.read.format("delta").load(tables["flat"]).write.format("delta").option(
        "delta.enableDeletionVectors", "true"
    ).save(deleted)
    spark.sql(f"DELETE FROM delta.`{deleted}` WHERE i < 0")
    rows = feature_rows(spark, table_source(spark, settings, deleted), specs)
    assert not rows.direct and "deletion vectors" in rows.why_spark
    kept = _batches(rows)
    expected = spark.read.format("delta").load(deleted).where("i >= 0").count()
    assert sum(kept.values()) == expected == spark.read.format("delta").load(deleted).count()

    mapped = str(tmp_path / "mapped")
    spark.read.format("delta").load(tables["flat"]).write.format("delta").option(
        "delta.columnMapping.mode", "name"
    ).option("delta.minReaderVersion", "2").option("delta.minWriterVersion", "5").save(mapped)
    rows = feature_rows(spark, table_source(spark, settings, mapped), specs)
    assert not rows.direct and "column mapping" in rows.why_spark
