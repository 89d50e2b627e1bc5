"""The histogram pass of drift: counts of every feature in one scan.

Histograms: one ``mapInArrow`` pass bins each batch (numeric features in one compiled loop
per column, :mod:`jobs.drift.binning_kernel`, on the reference's fine edges; Arrow's hash
lookup for categories), sums per partition, and the partitions' counts are added up by key
(``reduceByKey``); only counts reach the driver.

The exact KS walk of the candidate bins is :mod:`jobs.drift.ks_walk`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.drift.binning_kernel import count_numeric
from jobs.drift.sources import FeatureSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ArrowRows", "BinPlan", "HistKey", "by_workload", "combine", "extremes_key", "feature_frame", "histograms"]


class ArrowRows(Protocol):
    """What the binning passes read: a :func:`feature_frame` DataFrame, or the same batches
    read from a snapshot's files (:class:`jobs.drift.feature_rows.FeatureRows`)."""

    @property
    def sparkSession(self) -> SparkSession: ...

    def mapInArrow(self, func: Any, schema: Any) -> DataFrame: ...


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


def by_workload(batches: Iterator[pa.RecordBatch], workloads: set[str]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Each batch's rows of each workload in ``workloads`` (a batch of one workload as it is)."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        encoded = pc.dictionary_encode(batch.column("workload_id"))
        names = encoded.dictionary.to_pylist()
        if len(names) == 1:
            if names[0] in workloads:
                yield names[0], batch
            continue
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        for code, name in enumerate(names):
            if name in workloads:
                yield name, batch.filter(pa.array(codes == code))


def histograms(features_df: ArrowRows, plan: BinPlan, n_slices: int) -> dict[HistKey, np.ndarray]:
    """Counts per (workload, slice values, feature) over the rows of ``features_df``
    (:func:`feature_frame` or :class:`~jobs.drift.feature_rows.FeatureRows`), and each
    numeric feature's extremes (:func:`extremes_key`); workloads without a plan are skipped."""
    from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

    workloads = {w for w, _ in (*plan.edges, *plan.categories)}

    def bin_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc: dict[HistKey, np.ndarray] = {}
        for name, batch in by_workload(batches, workloads):
            _bin_batch(acc, batch, name, plan, n_slices)
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
