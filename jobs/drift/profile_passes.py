"""The reference profile's first two passes over the feature batches (the third is the
histogram pass, :mod:`jobs.drift.histograms`), each one ``mapInArrow`` over every feature of
every workload at once — so they read the snapshot's files directly where drift does
(:mod:`jobs.drift.feature_rows`):

1. :func:`moments_and_categories` — per workload its rows; per numeric feature its count,
   extremes, mean and sum of squared deviations (merged across batches and tasks with Chan's
   formulas: ``std`` is ``stddev_pop``); per categorical feature the count of every value,
   added up and ranked in Spark (only the ranks kept reach the driver);
2. :func:`sampled_values` — per workload a Bernoulli sample of its rows at the fraction that
   gives about the wanted number of values (from pass 1's row counts), seeded per task, so a
   profile of the same snapshot is the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.drift.histograms import ROWS, by_workload
from jobs.drift.sources import FeatureSpec

if TYPE_CHECKING:
    from jobs.drift.histograms import ArrowRows

__all__ = ["Moments", "moments_and_categories", "sampled_values"]

Moments = np.ndarray
"""float64 [count, min, max, mean, sum of squared deviations from the mean]."""
_SEED = 0


def _moments(values: np.ndarray) -> Moments | None:
    x = values[~np.isnan(values)]
    if x.size == 0:
        return None
    mean = x.mean()
    return np.array([x.size, x.min(), x.max(), mean, np.square(x - mean).sum()])


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Chan et al.'s pairwise update of count, mean and squared deviations; extremes take min/max."""
    n = a[0] + b[0]
    delta = b[3] - a[3]
    mean = a[3] + delta * b[0] / n
    return np.array([n, min(a[1], b[1]), max(a[2], b[2]), mean, a[4] + b[4] + delta * delta * a[0] * b[0] / n])


def _values(column: pa.Array, spec: FeatureSpec) -> pa.Array:
    values = pc.list_flatten(column) if spec.is_array else column
    return values.filter(pc.is_valid(values))


_PASS1_SCHEMA = "workload_id string, feature int, value string, count long, stats binary"


def moments_and_categories(
    rows: ArrowRows, specs: Sequence[FeatureSpec], used: dict[str, set[int]], limit: int
) -> tuple[dict[str, int], dict[tuple[str, int], Moments], dict[tuple[str, int], list[str]]]:
    """(rows per workload, moments per numeric (workload, feature), per categorical (workload,
    feature) its values most frequent first — ties by value — at most ``limit`` + 1 of them)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def measure(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        counts: dict[str, int] = {}
        moments: dict[tuple[str, int], Moments] = {}
        categories: dict[tuple[str, int], list[pa.Array]] = {}
        for workload, batch in by_workload(batches, set(used)):
            counts[workload] = counts.get(workload, 0) + batch.num_rows
            for i in sorted(used[workload]):
                column = batch.column(f"_f{i}")
                if specs[i].kind == "numeric":
                    got = _moments(column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
                    if got is not None:
                        key = (workload, i)
                        moments[key] = got if key not in moments else merge_moments(moments[key], got)
                else:
                    categories.setdefault((workload, i), []).append(pc.value_counts(_values(column, specs[i])))
        out: list[tuple[str, int, str | None, int, bytes | None]] = [
            (w, ROWS, None, n, None) for w, n in counts.items()
        ]
        out += [(w, i, None, int(m[0]), m.tobytes()) for (w, i), m in moments.items()]
        for (w, i), parts in categories.items():
            merged = (
                pa.Table.from_struct_array(pa.concat_arrays(parts)).group_by("values").aggregate([("counts", "sum")])
            )
            values, totals = merged.column("values").to_pylist(), merged.column("counts_sum").to_pylist()
            out += [(w, i, v, int(c), None) for v, c in zip(values, totals, strict=True)]
        if out:
            columns = list(zip(*out, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(columns[0], pa.string()), pa.array(columns[1], pa.int32()), pa.array(columns[2], pa.string()),
                 pa.array(columns[3], pa.int64()), pa.array(columns[4], pa.binary())],
                names=["workload_id", "feature", "value", "count", "stats"],
            )  # fmt: skip

    measured = rows.mapInArrow(measure, _PASS1_SCHEMA).persist()
    try:
        row_counts: dict[str, int] = {}
        moments: dict[tuple[str, int], Moments] = {}
        for r in measured.where(F.col("value").isNull()).collect():
            if r["feature"] == ROWS:
                row_counts[r["workload_id"]] = row_counts.get(r["workload_id"], 0) + int(r["count"])
                continue
            key, got = (r["workload_id"], int(r["feature"])), np.frombuffer(r["stats"], dtype=np.float64)
            moments[key] = got if key not in moments else merge_moments(moments[key], got)
        rank = F.row_number().over(Window.partitionBy("workload_id", "feature").orderBy(F.desc("count"), "value"))
        ranked = (
            measured.where(F.col("value").isNotNull())
            .groupBy("workload_id", "feature", "value")
            .agg(F.sum("count").alias("count"))
            .withColumn("rank", rank)
            .where(F.col("rank") <= limit + 1)
        )
        found: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for r in ranked.collect():
            found.setdefault((r["workload_id"], int(r["feature"])), []).append((int(r["rank"]), r["value"]))
    finally:
        measured.unpersist()
    ordered = {key: [v for _, v in sorted(values)] for key, values in found.items()}
    return row_counts, moments, ordered


def sampled_values(
    rows: ArrowRows, numeric: dict[str, list[int]], fractions: dict[str, float]
) -> dict[tuple[str, int], np.ndarray]:
    """Per numeric (workload, feature) the non-null values of a Bernoulli sample of the
    workload's rows at ``fractions[workload]`` (the same rows for every feature)."""

    def sample(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        rng = np.random.default_rng([_SEED, context.partitionId() if context else 0])
        kept: dict[tuple[str, int], list[np.ndarray]] = {}
        for workload, batch in by_workload(batches, set(numeric)):
            take = rng.random(batch.num_rows) < fractions[workload]
            for i in numeric[workload]:
                values = batch.column(f"_f{i}").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)[take]
                kept.setdefault((workload, i), []).append(values[~np.isnan(values)])
        if kept:
            keys = list(kept)
            yield pa.RecordBatch.from_arrays(
                [pa.array([k[0] for k in keys], pa.string()), pa.array([k[1] for k in keys], pa.int32()),
                 pa.array([np.concatenate(kept[k]).tobytes() for k in keys], pa.binary())],
                names=["workload_id", "feature", "values"],
            )  # fmt: skip

    parts: dict[tuple[str, int], list[np.ndarray]] = {}
    for r in rows.mapInArrow(sample, "workload_id string, feature int, values binary").collect():
        parts.setdefault((r["workload_id"], int(r["feature"])), []).append(np.frombuffer(r["values"], np.float64))
    return {key: np.concatenate(values) for key, values in parts.items()}
