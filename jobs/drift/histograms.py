"""The two distributed passes of drift: histograms of every feature in one scan, and the
exact KS walk of the fine bins that can still hold the largest gap.

Histograms: one ``mapInArrow`` pass bins each batch (numeric features in one compiled loop
per column, :mod:`jobs.drift.binning_kernel`, on the reference's fine edges; Arrow's hash
lookup for categories), sums per partition, and the partitions' counts are added up by key
(``reduceByKey``); only counts reach the driver.

Exact KS: each side emits ``(comparison, value, side)`` for the values strictly inside the
candidate bins; rows are hash-partitioned by comparison (one fine bin of one feature and
scope), sorted within partitions, and walked from the bin's starting counts known from the
histograms. No global sort, and no task holds more than its share of bins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.drift.binning_kernel import count_numeric
from jobs.drift.sources import FeatureSpec
from skewguard.drift_stats import bin_numeric, walk_runs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["BinPlan", "Comparison", "HistKey", "combine", "exact_gaps", "extremes_key", "feature_frame", "histograms"]

HistKey = tuple[str, tuple[str, ...], int]
"""(workload, slice values, feature index); feature index −1 holds the row count, and
:func:`extremes_key` of a numeric feature its smallest and largest value."""
ROWS = -1


def extremes_key(feature: int) -> int:
    """The key (below −1) under which a numeric feature's [min, max] (float64) is kept."""
    return -2 - feature


def combine(feature: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two partial results of one key: counts add up, extremes take the min and the max."""
    if feature < ROWS:
        return np.array([min(a[0], b[0]), max(a[1], b[1])])
    return a + b


_BATCH_CONF, _BATCH_ROWS = "spark.sql.execution.arrow.maxRecordsPerBatch", 65_536


@dataclass
class BinPlan:
    """Per workload and feature, the bins: fine edges (numeric) or categories (categorical)."""

    specs: Sequence[FeatureSpec]
    edges: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    categories: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    others: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def width(self, workload: str, index: int) -> int:
        """Length of a feature's count vector (numeric: k+1 bins, k on-edge counts, nulls;
        categorical: top K, ``__other__``, ``__null__``, ``__unseen__``)."""
        if self.specs[index].kind == "numeric":
            return 2 * self.edges[(workload, index)].size + 2
        return len(self.categories[(workload, index)]) + 3


def _read(spec: FeatureSpec) -> Any:
    from pyspark.sql import functions as F

    if spec.kind == "numeric":  # NaN counts as missing, like null
        return F.nanvl(F.expr(spec.expression), F.lit(None).cast("double"))
    return F.expr(spec.expression)


def feature_frame(rows_df: DataFrame, specs: Sequence[FeatureSpec], slice_columns: Sequence[str] = ()) -> DataFrame:
    """``workload_id``, one column ``_f<i>`` per feature, one ``_s<j>`` per slice column."""
    from pyspark.sql import functions as F

    missing = [c for c in ("workload_id", *slice_columns) if c not in rows_df.columns]
    if missing:
        raise ValueError(f"the rows have no column(s) {missing}")
    return rows_df.select(
        F.col("workload_id").cast("string").alias("workload_id"),
        *[_read(s).alias(f"_f{i}") for i, s in enumerate(specs)],
        *[F.coalesce(F.col(c).cast("string"), F.lit("")).alias(f"_s{j}") for j, c in enumerate(slice_columns)],
    )


def _groups(batch: pa.RecordBatch, n_slices: int) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per row the index of its slice-value combination, and the combinations."""
    if n_slices == 0:
        return np.zeros(batch.num_rows, dtype=np.int64), [()]
    cols = [batch.column(f"_s{j}") for j in range(n_slices)]
    joined = cols[0] if n_slices == 1 else pc.binary_join_element_wise(*cols, "\x1f")
    encoded = pc.dictionary_encode(joined)
    combos = [tuple(str(v).split("\x1f")) if n_slices > 1 else (str(v),) for v in encoded.dictionary.to_pylist()]
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), combos


def _category_codes(values: pa.Array, top: list[str], others: list[str]) -> np.ndarray:
    k = len(top)
    idx = pc.index_in(values, value_set=pa.array(top, pa.string())).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(idx), k + 2, idx).astype(np.int64) if idx.dtype.kind == "f" else idx.astype(np.int64)
    if others:
        known = pc.is_in(values, value_set=pa.array(others, pa.string())).to_numpy(zero_copy_only=False)
        codes = np.where((codes == k + 2) & known, k, codes)
    is_null = pc.is_null(values).to_numpy(zero_copy_only=False)
    return np.where(is_null, k + 1, codes)


def _count(
    acc: dict[HistKey, np.ndarray],
    workload: str,
    combos: list[tuple[str, ...]],
    feature: int,
    group: np.ndarray,
    codes: np.ndarray,
    width: int,
) -> None:
    if len(combos) == 1:  # no slices (or one value): no group offsets to add
        flat = np.bincount(codes, minlength=width).reshape(1, width)
    else:
        flat = np.bincount(group * width + codes, minlength=len(combos) * width).reshape(len(combos), width)
    for g, combo in enumerate(combos):
        key = (workload, combo, feature)
        if key in acc:
            acc[key] += flat[g]
        else:
            acc[key] = flat[g].astype(np.int64)


def _bin_batch(
    acc: dict[HistKey, np.ndarray], batch: pa.RecordBatch, workload: str, plan: BinPlan, n_slices: int
) -> None:
    group, combos = _groups(batch, n_slices)
    _count(acc, workload, combos, ROWS, group, np.zeros(batch.num_rows, dtype=np.int64), 1)
    for i, spec in enumerate(plan.specs):
        if (workload, i) not in plan.edges and (workload, i) not in plan.categories:
            continue
        column = batch.column(f"_f{i}")
        if spec.kind == "numeric":
            edges = plan.edges[(workload, i)]
            values = column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            # layout: k+1 bin counts, then k on-edge counts, then the null count
            counts, lows, highs = count_numeric(values, edges, group, len(combos))
            for g, combo in enumerate(combos):
                key = (workload, combo, i)
                acc[key] = acc[key] + counts[g] if key in acc else counts[g]
                if lows[g] <= highs[g]:
                    ext = (workload, combo, extremes_key(i))
                    got = np.array([lows[g], highs[g]])
                    acc[ext] = combine(ext[2], acc[ext], got) if ext in acc else got
        else:
            top, others = plan.categories[(workload, i)], plan.others.get((workload, i), [])
            if spec.is_array:
                lists = column
                lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
                flat = pc.list_flatten(lists)
                parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
                codes = _category_codes(flat, top, others)
                empty = np.flatnonzero(lengths == 0)
                codes = np.concatenate([codes, np.full(empty.size, len(top) + 1)])
                rows = np.concatenate([parents, empty]).astype(np.int64)
                _count(acc, workload, combos, i, group[rows], codes, len(top) + 3)
            else:
                _count(acc, workload, combos, i, group, _category_codes(column, top, others), len(top) + 3)


def histograms(features_df: DataFrame, plan: BinPlan, n_slices: int) -> dict[HistKey, np.ndarray]:
    """Counts per (workload, slice values, feature) over the rows of ``features_df``
    (:func:`feature_frame`), and each numeric feature's extremes (:func:`extremes_key`);
    workloads without a plan are skipped."""
    from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

    workloads = sorted({w for w, _ in (*plan.edges, *plan.categories)})

    def bin_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc: dict[HistKey, np.ndarray] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            wl = batch.column("workload_id")
            encoded = pc.dictionary_encode(wl)
            names = encoded.dictionary.to_pylist()
            if len(names) == 1:
                if names[0] in workloads:
                    _bin_batch(acc, batch, names[0], plan, n_slices)
                continue
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            for code, name in enumerate(names):
                if name in workloads:
                    _bin_batch(acc, batch.filter(pa.array(codes == code)), name, plan, n_slices)
        if acc:
            keys = list(acc)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([k[0] for k in keys], pa.string()),
                    pa.array(["\x1f".join(k[1]) for k in keys], pa.string()),
                    pa.array([k[2] for k in keys], pa.int32()),
                    pa.array([acc[k].tobytes() for k in keys], pa.binary()),
                ],
                names=["workload_id", "combo", "feature", "counts"],
            )

    schema = StructType(
        [
            StructField("workload_id", StringType()),
            StructField("combo", StringType()),
            StructField("feature", IntegerType()),
            StructField("counts", BinaryType()),
        ]
    )
    counts_df = features_df.mapInArrow(bin_partition, schema)
    spark = features_df.sparkSession
    before = spark.conf.get(_BATCH_CONF)
    spark.conf.set(_BATCH_CONF, str(_BATCH_ROWS))  # fewer, larger batches: less per-batch Python overhead
    try:
        pairs = (
            counts_df.rdd.map(
                lambda r: (
                    (r[0], r[1], r[2]),
                    (r[2], np.frombuffer(r[3], dtype=np.float64 if r[2] < ROWS else np.int64)),
                )
            )
            .reduceByKey(lambda a, b: (a[0], combine(a[0], a[1], b[1])))
            .collect()
        )
    finally:
        spark.conf.set(_BATCH_CONF, before)
    out: dict[HistKey, np.ndarray] = {}
    for (workload, combo, feature), (_, counts) in pairs:
        slices = tuple(combo.split("\x1f")) if n_slices else ()
        out[(workload, slices, feature)] = np.asarray(counts, dtype=np.float64 if feature < ROWS else np.int64)
    return out


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


def _emit_side(
    batches: Iterator[pa.RecordBatch], plan: BinPlan, luts: dict[tuple[str, int], list[Any]], side: int
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        encoded = pc.dictionary_encode(batch.column("workload_id"))
        names = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        keys: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for (workload, feature), scoped in luts.items():
            if workload not in names:
                continue
            rows = np.flatnonzero(codes == names.index(workload)) if len(names) > 1 else None
            column = batch.column(f"_f{feature}").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            column = column if rows is None else column[rows]
            idx, on_edge, valid, _ = bin_numeric(column, plan.edges[(workload, feature)])
            vals = column[valid]
            for scope, lut in scoped:
                cmp = lut[idx]
                keep = (cmp >= 0) & ~on_edge
                if side == 1 and scope is not None:
                    labels = batch.column(f"_s{scope[0]}").to_numpy(zero_copy_only=False)
                    labels = labels if rows is None else labels[rows]
                    keep &= labels[valid] == scope[1]
                if keep.any():
                    keys.append(cmp[keep])
                    values.append(vals[keep])
        if keys:
            k, v = np.concatenate(keys), np.concatenate(values)
            yield pa.RecordBatch.from_arrays(
                [pa.array(k.astype(np.int64)), pa.array(v), pa.array(np.full(k.size, side, dtype=np.int8))],
                names=["cmp", "value", "side"],
            )


def exact_gaps(
    ref_df: DataFrame, cur_df: DataFrame, plan: BinPlan, comparisons: Sequence[Comparison], partitions: int
) -> np.ndarray:
    """The largest |F_ref − F_cur| strictly inside each comparison's bin (0 where it holds
    no value), computed on the raw values of both sides."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ByteType, DoubleType, LongType, StructField, StructType

    if not comparisons:
        return np.zeros(0)
    luts: dict[tuple[str, int], dict[Any, np.ndarray]] = {}
    for cid, c in enumerate(comparisons):
        scoped = luts.setdefault((c.workload, c.feature), {})
        lut = scoped.get(c.scope)
        if lut is None:
            lut = scoped[c.scope] = np.full(plan.edges[(c.workload, c.feature)].size + 1, -1, dtype=np.int64)
        lut[c.bin] = cid
    lut_items = {key: list(scoped.items()) for key, scoped in luts.items()}
    start_ref = np.array([c.start_ref for c in comparisons], dtype=np.int64)
    start_cur = np.array([c.start_cur for c in comparisons], dtype=np.int64)
    n_ref = np.array([c.n_ref for c in comparisons], dtype=np.float64)
    n_cur = np.array([c.n_cur for c in comparisons], dtype=np.float64)
    schema = StructType(
        [StructField("cmp", LongType()), StructField("value", DoubleType()), StructField("side", ByteType())]
    )

    def walk(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry: list[np.ndarray] = [np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8)]
        prev: tuple[int, int, int] | None = None  # (key, ref count, cur count) reached so far

        def run(k: np.ndarray, v: np.ndarray, s: np.ndarray) -> Iterator[pa.RecordBatch]:
            nonlocal prev
            r0, c0 = start_ref[k], start_cur[k]
            if prev is not None:
                same = k == prev[0]
                r0 = np.where(same, prev[1], r0)
                c0 = np.where(same, prev[2], c0)
            keys, best, r_end, c_end = walk_runs(k, v, s == 1, r0, c0, n_ref[k], n_cur[k])
            if keys.size:
                prev = (int(keys[-1]), int(r_end[-1]), int(c_end[-1]))
                yield pa.RecordBatch.from_arrays([pa.array(keys), pa.array(best)], names=["cmp", "gap"])

        for batch in batches:
            k = np.concatenate([carry[0], batch.column("cmp").to_numpy()])
            v = np.concatenate([carry[1], batch.column("value").to_numpy()])
            s = np.concatenate([carry[2], batch.column("side").to_numpy()])
            if k.size == 0:
                continue
            # hold back the last run of equal (key, value): its ties may continue in the next batch
            tail = (k == k[-1]) & (v == v[-1])
            cut = int(k.size - np.argmin(tail[::-1])) if not tail.all() else 0
            carry = [k[cut:], v[cut:], s[cut:]]
            if cut:
                yield from run(k[:cut], v[:cut], s[:cut])
        if carry[0].size:
            yield from run(*carry)

    def ref_side(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _emit_side(batches, plan, lut_items, 0)

    def cur_side(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _emit_side(batches, plan, lut_items, 1)

    values_df = ref_df.mapInArrow(ref_side, schema).unionByName(cur_df.mapInArrow(cur_side, schema))
    gaps_df = (
        values_df.repartition(partitions, "cmp")
        .sortWithinPartitions("cmp", "value")
        .mapInArrow(walk, "cmp long, gap double")
        .groupBy("cmp")
        .agg(F.max("gap").alias("gap"))
    )
    gaps = np.zeros(len(comparisons))
    for row in gaps_df.collect():
        gaps[int(row["cmp"])] = float(row["gap"])
    return gaps
