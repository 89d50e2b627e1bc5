"""The exact part of the KS statistic: the largest ECDF gap strictly inside the fine bins that
can still hold it, walked on the raw values of both sides.

The histograms bound the gap inside each fine bin. When many values lie inside the candidate
bins, one pass first counts them on ``SUB_BINS`` equal-width sub-bins of each bin (of its
value range; the outer bins span to the smallest or largest value either side holds). The
sub-bin index is a monotone function of the value, computed the same way on both sides, so
the counts at a sub-bin boundary are both ECDFs at one point. They give exact gaps, which
raise the lower bound, and a tighter upper bound inside each sub-bin. Only the sub-bins whose
upper bound still exceeds the feature's lower bound are walked. A window piled into one
reference bin (beyond the reference's range, say) is spread over its sub-bins rather than
sorted by one task.

The walk: each side emits ``(cell, value, side)`` for the values inside the cells to walk;
rows are hash-partitioned by cell, sorted within partitions and walked from the cell's
starting counts. No global sort.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jobs.drift.binning_kernel import cells
from jobs.drift.histograms import by_workload
from skewguard.drift_stats import walk_runs

if TYPE_CHECKING:
    from jobs.drift.histograms import ArrowRows, BinPlan

__all__ = ["SUB_BINS", "Comparison", "WalkStats", "exact_gaps"]

log = logging.getLogger("skewguard.drift")

SUB_BINS = 32
"""Values inside the candidate bins (both sides) past which they are counted on sub-bins
before any is walked: below it one pass (the walk) costs less than two."""


@dataclass(frozen=True)
class Comparison:
    """One fine bin of one feature in one scope, to walk exactly."""

    workload: str
    feature: int
    bin: int
    scope: tuple[int, str] | None
    """None: the whole workload; else (slice column index, value)."""
    start_ref: int
    start_cur: int
    n_ref: int
    n_cur: int
    low: float = 0.0
    """The bin's value range (its edges; the outer bins' far end: the smallest or largest
    value of either side), which the sub-bins split evenly."""
    high: float = 0.0
    inside: int = 0
    """Values of both sides strictly inside the bin (from the histograms)."""
    floor: float = 0.0
    """The feature's KS lower bound from the histograms: a gap at or below it changes nothing."""


@dataclass
class WalkStats:
    """What the exact part did: comparisons, whether sub-bins were counted, cells and values walked."""

    comparisons: int = 0
    refined: bool = False
    cells_walked: int = 0
    values_walked: int = 0


def _sub_scales(comparisons: Sequence[Comparison], sub_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per comparison the (low, scale) of its sub-bins (:func:`~jobs.drift.binning_kernel.cells`):
    ``sub_bins`` even steps of its range."""
    low = np.array([c.low for c in comparisons])
    span = np.array([c.high - c.low for c in comparisons])
    return low, np.where(span > 0, sub_bins / np.where(span > 0, span, 1.0), 0.0)


def _batch_cells(
    batches: Iterator[pa.RecordBatch],
    plan: BinPlan,
    luts: dict[tuple[str, int], list[Any]],
    side: int,
    low: np.ndarray,
    scale: np.ndarray,
    sub_bins: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per batch and workload, every value strictly inside a compared bin (all features together): its
    cell (comparison × ``sub_bins`` + sub-bin, :func:`~jobs.drift.binning_kernel.cells`) and
    the value."""
    by_feature: dict[str, list[tuple[int, list[Any]]]] = {}
    for (workload, feature), scoped in luts.items():
        by_feature.setdefault(workload, []).append((feature, scoped))
    for workload, batch in by_workload(batches, set(by_feature)):
        got_cells: list[np.ndarray] = []
        got_values: list[np.ndarray] = []
        for feature, scoped in by_feature[workload]:
            column = batch.column(f"_f{feature}").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            for scope, lut in scoped:
                allowed = None
                if side == 1 and scope is not None:  # a slice's comparison: only its current rows
                    allowed = batch.column(f"_s{scope[0]}").to_numpy(zero_copy_only=False) == scope[1]
                found = cells(column, plan.edges[(workload, feature)], lut, low, scale, sub_bins, allowed)
                keep = found >= 0
                got_cells.append(found[keep])
                got_values.append(column[keep])
        if got_cells:
            yield np.concatenate(got_cells), np.concatenate(got_values)


def _luts(plan: BinPlan, comparisons: Sequence[Comparison]) -> dict[tuple[str, int], list[Any]]:
    """Per (workload, feature): per scope, fine bin → comparison index (−1: not compared)."""
    luts: dict[tuple[str, int], dict[Any, np.ndarray]] = {}
    for cid, c in enumerate(comparisons):
        scoped = luts.setdefault((c.workload, c.feature), {})
        lut = scoped.get(c.scope)
        if lut is None:
            lut = scoped[c.scope] = np.full(plan.edges[(c.workload, c.feature)].size + 1, -1, dtype=np.int64)
        lut[c.bin] = cid
    return {key: list(scoped.items()) for key, scoped in luts.items()}


def _sub_counts(
    ref_df: ArrowRows, cur_df: ArrowRows, plan: BinPlan, comparisons: Sequence[Comparison], sub_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' counts of the values inside each compared bin, per sub-bin (comparisons ×
    sub_bins each): one pass; a partition's nonzero cells leave it as one row (their indices
    and counts), and Spark adds the partitions' counts up per side."""
    luts = _luts(plan, comparisons)
    low, scale = _sub_scales(comparisons, sub_bins)
    n_cells = len(comparisons) * sub_bins

    def counter(side: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            acc = np.zeros(n_cells, dtype=np.int64)

            for found, _ in _batch_cells(batches, plan, luts, side, low, scale, sub_bins):
                acc[:] += np.bincount(found, minlength=n_cells)
            nonzero = np.flatnonzero(acc)
            if nonzero.size:
                sparse = np.concatenate([nonzero, acc[nonzero]]).tobytes()
                yield pa.RecordBatch.from_arrays([pa.array([side], pa.int8()), pa.array([sparse])], ["side", "cells"])

        return run

    def dense(cells_bytes: bytes) -> np.ndarray:
        pairs = np.frombuffer(cells_bytes, dtype=np.int64).reshape(2, -1)
        out = np.zeros(n_cells, dtype=np.int64)
        out[pairs[0]] = pairs[1]
        return out

    schema = "side byte, cells binary"
    counted = (
        ref_df.mapInArrow(counter(0), schema)
        .unionByName(cur_df.mapInArrow(counter(1), schema))
        .rdd.map(lambda r: (int(r[0]), dense(r[1])))
        .reduceByKey(np.add)
        .collect()
    )
    out = np.zeros((2, n_cells), dtype=np.int64)
    for side, counts in counted:
        out[side] = counts
    return out[0].reshape(-1, sub_bins), out[1].reshape(-1, sub_bins)


def _refine(
    comparisons: Sequence[Comparison], ref_sub: np.ndarray, cur_sub: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gap at the sub-bin boundaries per comparison, then the cells left to walk as indices into
    comparisons × sub-bins, and their starting reference and current counts)."""
    start_ref = np.array([c.start_ref for c in comparisons], dtype=np.int64)[:, None]
    start_cur = np.array([c.start_cur for c in comparisons], dtype=np.int64)[:, None]
    n_ref = np.array([c.n_ref for c in comparisons], dtype=np.float64)[:, None]
    n_cur = np.array([c.n_cur for c in comparisons], dtype=np.float64)[:, None]
    r_end = start_ref + np.cumsum(ref_sub, axis=1)  # counts after each sub-bin's values
    c_end = start_cur + np.cumsum(cur_sub, axis=1)
    r_start, c_start = r_end - ref_sub, c_end - cur_sub
    boundary = np.abs(r_end / n_ref - c_end / n_cur).max(axis=1)
    upper = np.maximum(r_end / n_ref - c_start / n_cur, c_end / n_cur - r_start / n_ref)
    # a feature's lower bound: its histograms' and every boundary gap of its compared bins
    floors: dict[tuple[str, int, Any], float] = {}
    for c, gap in zip(comparisons, boundary, strict=True):
        key = (c.workload, c.feature, c.scope)
        floors[key] = max(floors.get(key, c.floor), float(gap))
    floor = np.array([floors[(c.workload, c.feature, c.scope)] for c in comparisons])[:, None]
    walk = np.flatnonzero(((upper > floor) & ((ref_sub + cur_sub) > 0)).ravel())
    return boundary, walk, r_start.ravel()[walk], c_start.ravel()[walk]


def exact_gaps(
    ref_df: ArrowRows,
    cur_df: ArrowRows,
    plan: BinPlan,
    comparisons: Sequence[Comparison],
    partitions: int,
    stats: WalkStats | None = None,
    refine_above: int = 1_000_000,
) -> np.ndarray:
    """Per comparison, a gap inside its bin, computed on the raw values of both sides: the
    largest |F_ref − F_cur| inside it wherever that can exceed its feature's lower bound
    (``floor``), else at most that bound — so the largest over a feature's comparisons and its
    lower bound is its exact KS statistic (0 where a bin holds no value). Sub-bins are counted
    first when more than ``refine_above`` values lie inside the compared bins."""
    stats = stats if stats is not None else WalkStats()
    stats.comparisons = len(comparisons)
    if not comparisons:
        return np.zeros(0)
    stats.refined = sum(c.inside for c in comparisons) > refine_above
    sub_bins = SUB_BINS if stats.refined else 1
    if stats.refined:
        ref_sub, cur_sub = _sub_counts(ref_df, cur_df, plan, comparisons, sub_bins)
        boundary, walk, walk_ref, walk_cur = _refine(comparisons, ref_sub, cur_sub)
        stats.values_walked = int((ref_sub + cur_sub).ravel()[walk].sum())
        log.info("KS: %d of %d sub-bins of %d fine bin(s) left to walk", walk.size, ref_sub.size, len(comparisons))
    else:
        boundary = np.zeros(len(comparisons))
        walk = np.arange(len(comparisons))
        walk_ref = np.array([c.start_ref for c in comparisons], dtype=np.int64)
        walk_cur = np.array([c.start_cur for c in comparisons], dtype=np.int64)
        stats.values_walked = sum(c.inside for c in comparisons)
    stats.cells_walked = int(walk.size)
    gaps = boundary.copy()
    if walk.size:
        walked = _walk(ref_df, cur_df, plan, comparisons, sub_bins, walk, walk_ref, walk_cur, partitions, stats)
        np.maximum.at(gaps, walk // sub_bins, walked)
    return gaps


def _walk(
    ref_df: ArrowRows,
    cur_df: ArrowRows,
    plan: BinPlan,
    comparisons: Sequence[Comparison],
    sub_bins: int,
    walk: np.ndarray,
    walk_ref: np.ndarray,
    walk_cur: np.ndarray,
    partitions: int,
    stats: WalkStats,
) -> np.ndarray:
    """The largest gap inside each cell to walk (``walk``: comparison × sub_bins + sub-bin)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ByteType, DoubleType, LongType, StructField, StructType

    luts = _luts(plan, comparisons)
    low, scale = _sub_scales(comparisons, sub_bins)
    cell_id = np.full(len(comparisons) * sub_bins, -1, dtype=np.int64)
    cell_id[walk] = np.arange(walk.size)
    n_ref = np.array([comparisons[int(w) // sub_bins].n_ref for w in walk], dtype=np.float64)
    n_cur = np.array([comparisons[int(w) // sub_bins].n_cur for w in walk], dtype=np.float64)
    schema = StructType(
        [StructField("cell", LongType()), StructField("value", DoubleType()), StructField("side", ByteType())]
    )

    def emitter(side: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for found, vals in _batch_cells(batches, plan, luts, side, low, scale, sub_bins):
                cell = cell_id[found]
                keep = cell >= 0
                if keep.any():
                    k = cell[keep]
                    yield pa.RecordBatch.from_arrays(
                        [pa.array(k), pa.array(vals[keep]), pa.array(np.full(k.size, side, dtype=np.int8))],
                        names=["cell", "value", "side"],
                    )

        return run

    def walk_cells(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry: list[np.ndarray] = [np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8)]
        prev: tuple[int, int, int] | None = None  # (cell, ref count, cur count) reached so far

        def run(k: np.ndarray, v: np.ndarray, s: np.ndarray) -> Iterator[pa.RecordBatch]:
            nonlocal prev
            r0, c0 = walk_ref[k], walk_cur[k]
            if prev is not None:
                same = k == prev[0]
                r0 = np.where(same, prev[1], r0)
                c0 = np.where(same, prev[2], c0)
            keys, best, r_end, c_end = walk_runs(k, v, s == 1, r0, c0, n_ref[k], n_cur[k])
            if keys.size:
                prev = (int(keys[-1]), int(r_end[-1]), int(c_end[-1]))
                yield pa.RecordBatch.from_arrays([pa.array(keys), pa.array(best)], names=["cell", "gap"])

        for batch in batches:
            k = np.concatenate([carry[0], batch.column("cell").to_numpy()])
            v = np.concatenate([carry[1], batch.column("value").to_numpy()])
            s = np.concatenate([carry[2], batch.column("side").to_numpy()])
            if k.size == 0:
                continue
            # hold back the last run of equal (cell, value): its ties may continue in the next batch
            tail = (k == k[-1]) & (v == v[-1])
            cut = int(k.size - np.argmin(tail[::-1])) if not tail.all() else 0
            carry = [k[cut:], v[cut:], s[cut:]]
            if cut:
                yield from run(k[:cut], v[:cut], s[:cut])
        if carry[0].size:
            yield from run(*carry)

    values_df = ref_df.mapInArrow(emitter(0), schema).unionByName(cur_df.mapInArrow(emitter(1), schema))
    gaps_df = (
        values_df.repartition(partitions, "cell")
        .sortWithinPartitions("cell", "value")
        .mapInArrow(walk_cells, "cell long, gap double")
        .groupBy("cell")
        .agg(F.max("gap").alias("gap"))
    )
    gaps = np.zeros(walk.size)
    for row in gaps_df.collect():
        gaps[int(row["cell"])] = float(row["gap"])
    return gaps
