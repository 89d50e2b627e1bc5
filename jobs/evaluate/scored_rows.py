"""The rows an evaluation scores: labelled served predictions, each recomputed by every bundle
from its logged inputs through the bundle's own shipped transforms (Arrow batches in Spark,
as the serving-skew check recomputes them), then one row per scope it counts in.

A scope is the whole workload, or one value of an ``evaluation.slice_columns`` column (and,
with ``--by day``, one day of either). A row a bundle refuses (its transforms reject the
logged inputs) is scored by no bundle — every bundle is compared on the very same rows — and
counted apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.parity.replay_client import request_from_logged
from serving.bundle import Bundle

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "KEY_SEPARATOR",
    "LoadedBundle",
    "Scope",
    "scope_rows",
    "scopes_of",
    "score_column",
    "scored_rows",
    "typed_inputs",
]

KEY_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle taking part in an evaluation, checked on the driver before any row is scored."""

    role: str
    """``production`` or ``candidate``."""
    bundle: Bundle
    spec: str
    """How it was named: a folder, or ``<name>/<version>`` of a built bundle."""

    @property
    def identity(self) -> dict[str, Any]:
        b = self.bundle
        return {
            "bundle_role": self.role,
            "bundle_name": b.name,
            "bundle_version": b.version,
            "bundle_path": str(b.path),
            "bundle_content_hash": b.content_hash,
            "threshold": b.threshold,
        }


def score_column(index: int) -> str:
    return f"_score{index}"


_TIMESTAMP = pa.timestamp("us", tz="UTC")
_INT_LITERAL = re.compile(r"-?[0-9]+")


def _plain_numbers(text: pa.Array) -> pa.Array | None:
    """float64 of every logged text of a double input, as ``request_from_logged`` then
    ``records_to_batch`` type it (null stays null), or None when a text needs that per-row
    path: one Arrow's cast refuses, or one that reads as NaN or ±inf. What Arrow's cast
    accepts besides ``nan``/``inf`` (sign, digits, a point, an exponent) Python's ``float``
    reads the same, both correctly rounded; an integer literal reads as ``float(int(text))``,
    which differs from ``float(text)`` only for ``-0`` (+0.0) and past 1.8e308 (inf here)."""
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    v = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)  # nulls as NaN
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not np.isfinite(v[valid]).all():
        return None
    negative_zero = valid & (v == 0.0) & np.signbit(v)
    if not negative_zero.any():
        return values
    for i in np.flatnonzero(negative_zero):
        if _INT_LITERAL.fullmatch(text[int(i)].as_py()):
            v[i] = 0.0
    return pa.array(v, pa.float64(), mask=~valid)


def typed_inputs(
    texts: Mapping[str, pa.Array], times: pa.Array, contract: Mapping[str, str], time_column: str
) -> pa.RecordBatch | None:
    """The batch ``records_to_batch`` makes of the requests ``request_from_logged`` rebuilds
    (``texts``: each input's logged text, null where absent; ``times``: the events' times, the
    input ``time_column``),
    built column by column; None where a row needs the per-row path: a text that is no plain
    finite number, a missing time, a timestamp input other than the event's time."""
    arrays = []
    for name, dtype in contract.items():
        if name == time_column:
            if dtype != "timestamp" or times.null_count:
                return None
            arrays.append(pc.cast(times, _TIMESTAMP))
        elif dtype == "string":
            arrays.append(pc.cast(texts[name], pa.string()))
        elif dtype == "double":
            numbers = _plain_numbers(texts[name])
            if numbers is None:
                return None
            arrays.append(numbers)
        else:
            return None
    return pa.RecordBatch.from_arrays(arrays, names=list(contract))


def _logged_names(bundles: Sequence[Mapping[str, str]], time_column: str) -> list[str]:
    """The feature names any bundle reads from the logged ``features`` map."""
    return list(dict.fromkeys(n for contract in bundles for n in contract if n != time_column))


def _score_batches(
    bundles: Sequence[tuple[str, str, Mapping[str, str]]], names: Sequence[str], time_column: str
) -> Any:
    """Per partition: load each bundle (the folder the driver checked, same content hash) and
    add its score of every row; ``_refused`` names the first bundle that refused a row.

    A bundle's inputs are typed column by column (:func:`typed_inputs`) and scored in one
    call; a batch with a text that needs the per-row typing, or that the bundle's transforms
    refuse as a whole, goes through the requests ``request_from_logged`` rebuilds, row by row
    where the bundle refuses some."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = [Bundle.load(path, content_hash=content_hash) for path, content_hash, _ in bundles]
        inputs = [f"_in{j}" for j in range(len(names))]
        for batch in batches:
            texts = {name: batch.column(c) for name, c in zip(names, inputs, strict=True)}
            times = batch.column("event_ts")
            refused: list[str | None] = [None] * batch.num_rows
            typed: dict[tuple[tuple[str, str], ...], pa.RecordBatch | None] = {}
            logged: list[tuple[dict[str, str], Any]] | None = None
            columns = []
            for bundle, (_, _, contract) in zip(loaded, bundles, strict=True):
                shape = tuple(contract.items())
                if shape not in typed:
                    typed[shape] = typed_inputs(texts, times, contract, time_column)
                fast = typed[shape]
                scores: Any = None
                if fast is not None:
                    try:
                        scores = bundle.evaluate_batch(fast)[1]
                    except Exception:  # the per-row path below decides, as it always did
                        scores = None
                if scores is None:
                    if logged is None:
                        values = [(n, c.to_pylist()) for n, c in texts.items()]
                        logged = [
                            ({n: column[i] for n, column in values if column[i] is not None}, ts)
                            for i, ts in enumerate(times.to_pylist())
                        ]
                    scores = _score_requests(bundle, contract, logged, refused, time_column)
                columns.append(pa.array(scores, pa.float64()))
            keep = [name for name in batch.schema.names if name not in ("event_ts", *inputs)]
            yield pa.RecordBatch.from_arrays(
                [*[batch.column(name) for name in keep], *columns, pa.array(refused, pa.string())],
                names=[*keep, *[score_column(i) for i in range(len(loaded))], "_refused"],
            )

    return run


def _score_requests(
    bundle: Bundle,
    contract: Mapping[str, str],
    logged: Sequence[tuple[dict[str, str], Any]],
    refused: list[str | None],
    time_column: str,
) -> list[float | None]:
    """The per-row path: each row's request rebuilt from its logged texts, scored in one call,
    or one by one when the bundle refuses some (noted in ``refused``)."""
    requests = [request_from_logged(f, contract, ts, time_column) for f, ts in logged]
    scores, errors = bundle.scores_or_refusals(requests)
    for i, error in enumerate(errors):
        if error is not None:
            refused[i] = refused[i] or f"{bundle.name} {bundle.version}: {error}"[:300]
    return scores


def scored_rows(rows_df: DataFrame, bundles: Sequence[LoadedBundle], slice_columns: Sequence[str]) -> DataFrame:
    """``_hash`` (the bootstrap's row key: ``xxhash64(event_id)``), ``label``,
    ``workload_id``, ``event_date``, the slice columns as text, one score per bundle and
    ``_refused``. Only the logged features some bundle reads cross to Python."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from jobs.gold.training_set import TIME_COLUMN

    contracts = [b.bundle.inputs for b in bundles]
    names = _logged_names(contracts, TIME_COLUMN)
    picked_df = rows_df.select(
        F.xxhash64("event_id").alias("_hash"),
        F.col("label").cast("double").alias("label"),
        "workload_id",
        "event_date",
        *[F.coalesce(F.col(c).cast("string"), F.lit("")).alias(f"_s{j}") for j, c in enumerate(slice_columns)],
        F.col("event_ts"),
        *[F.col("features").getItem(name).alias(f"_in{j}") for j, name in enumerate(names)],
    )
    fields = [f for f in picked_df.schema.fields if f.name != "event_ts" and not f.name.startswith("_in")]
    schema = StructType(
        [
            *fields,
            *[StructField(score_column(i), DoubleType()) for i in range(len(bundles))],
            StructField("_refused", StringType()),
        ]
    )
    specs = [(str(b.bundle.path), b.bundle.content_hash, b.bundle.inputs) for b in bundles]
    return picked_df.mapInArrow(_score_batches(specs, names, TIME_COLUMN), schema)


@dataclass(frozen=True)
class Scope:
    """A kind of scope every row counts in once: the whole window or the row's day (``by_day``),
    its workload, and the whole workload or the row's value of one slice column."""

    by_day: bool
    slice_column: str = ""
    slice_index: int = -1
    """The slice column's position in ``evaluation.slice_columns`` (its text is ``_s<i>``)."""

    @property
    def columns(self) -> list[str]:
        """The columns of :func:`scope_rows` that tell a row's scope of this kind."""
        day = ["_day"] if self.by_day else []
        return ["workload_id", *day, *([f"_s{self.slice_index}"] if self.slice_column else [])]

    def key(self, values: Mapping[str, str]) -> str:
        """The scope key of a row with these :attr:`columns` values: day (empty for the whole
        window), workload, slice column and value joined by :data:`KEY_SEPARATOR`."""
        day = values["_day"] if self.by_day else ""
        value = values[f"_s{self.slice_index}"] if self.slice_column else ""
        return KEY_SEPARATOR.join([day, values["workload_id"], self.slice_column, value])


def scopes_of(slice_columns: Sequence[str], by_day: bool) -> list[Scope]:
    """Every kind of scope: the workload and each slice column, over the window (and each day)."""
    days = [False, True] if by_day else [False]
    return [Scope(day, column, j) for day in days for j, column in [(-1, ""), *enumerate(slice_columns)]]


def scope_rows(scored_df: DataFrame, by_day: bool) -> DataFrame:
    """The rows every bundle scored: ``workload_id``, ``_day`` (with ``by_day``), the slice
    columns' text ``_s<i>``, ``_hash``, ``label`` and the scores — what :class:`Scope` keys read."""
    from pyspark.sql import functions as F

    return scored_df.where(F.col("_refused").isNull()).select(
        "workload_id",
        *([F.col("event_date").cast("string").alias("_day")] if by_day else []),
        *[c for c in scored_df.columns if c.startswith("_s") and c[2:].isdigit()],
        "_hash",
        "label",
        *[c for c in scored_df.columns if c.startswith("_score")],
    )
