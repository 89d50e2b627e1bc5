"""The rows an evaluation scores: labelled served predictions, each recomputed by every bundle
from its logged inputs through the bundle's own shipped transforms (Arrow batches in Spark,
as the serving-skew check recomputes them), then one row per scope it counts in.

A scope is the whole workload, or one value of an ``evaluation.slice_columns`` column (and,
with ``--by day``, one day of either). A row a bundle refuses (its transforms reject the
logged inputs) is scored by no bundle — every bundle is compared on the very same rows — and
counted apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jobs.gold.training_set import TIME_COLUMN
from jobs.parity.replay_client import request_from_logged
from serving.bundle import Bundle

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["KEY_SEPARATOR", "LoadedBundle", "scoped_rows", "score_column", "scored_rows"]

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


def _score_batches(bundles: Sequence[tuple[str, str, Mapping[str, str]]]) -> Any:
    """Per partition: load each bundle (the folder the driver checked, same content hash) and
    add its score of every row; ``_refused`` names the first bundle that refused a row."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        loaded = [Bundle.load(path, content_hash=content_hash) for path, content_hash, _ in bundles]
        for batch in batches:
            features = batch.column("features").to_pylist()
            times = batch.column("event_ts").to_pylist()
            refused: list[str | None] = [None] * batch.num_rows
            columns = []
            for bundle, (_, _, contract) in zip(loaded, bundles, strict=True):
                requests = [
                    request_from_logged(dict(f or []), contract, ts, TIME_COLUMN)
                    for f, ts in zip(features, times, strict=True)
                ]
                scores: list[float | None] = [None] * len(requests)
                try:
                    scores = [float(s) for s in bundle.evaluate(requests)[1]]
                except (ValueError, TypeError, KeyError):
                    for i, request in enumerate(requests):  # find the rows this bundle refuses
                        try:
                            scores[i] = float(bundle.evaluate([request])[1][0])
                        except (ValueError, TypeError, KeyError) as exc:
                            refused[i] = (
                                refused[i] or f"{bundle.name} {bundle.version}: {type(exc).__name__}: {exc}"[:300]
                            )
                columns.append(pa.array(scores, pa.float64()))
            keep = [batch.column(name) for name in batch.schema.names if name not in ("features", "event_ts")]
            names = [name for name in batch.schema.names if name not in ("features", "event_ts")]
            yield pa.RecordBatch.from_arrays(
                [*keep, *columns, pa.array(refused, pa.string())],
                names=[*names, *[score_column(i) for i in range(len(loaded))], "_refused"],
            )

    return run


def scored_rows(rows_df: DataFrame, bundles: Sequence[LoadedBundle], slice_columns: Sequence[str]) -> DataFrame:
    """``event_id``, ``_hash`` (the bootstrap's row key), ``label``, ``workload_id``,
    ``event_date``, the slice columns as text, one score per bundle and ``_refused``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    picked_df = rows_df.select(
        "event_id",
        F.xxhash64("event_id").alias("_hash"),
        F.col("label").cast("double").alias("label"),
        "workload_id",
        "event_date",
        *[F.coalesce(F.col(c).cast("string"), F.lit("")).alias(f"_s{j}") for j, c in enumerate(slice_columns)],
        "features",
        "event_ts",
    )
    fields = [f for f in picked_df.schema.fields if f.name not in ("features", "event_ts")]
    schema = StructType(
        [
            *fields,
            *[StructField(score_column(i), DoubleType()) for i in range(len(bundles))],
            StructField("_refused", StringType()),
        ]
    )
    specs = [(str(b.bundle.path), b.bundle.content_hash, b.bundle.inputs) for b in bundles]
    return picked_df.mapInArrow(_score_batches(specs), schema)


def scoped_rows(scored_df: DataFrame, slice_columns: Sequence[str], by_day: bool) -> DataFrame:
    """One row per scored row × scope it counts in, keyed by ``_key``: day (empty for the
    whole window; ``by_day`` adds each row's day too), workload, slice column and value joined
    by :data:`KEY_SEPARATOR`."""
    from pyspark.sql import functions as F

    days = [F.lit(""), F.col("event_date").cast("string")] if by_day else [F.lit("")]
    scopes = []
    for day in days:
        scopes.append(F.array(day, F.col("workload_id"), F.lit(""), F.lit("")))
        scopes += [F.array(day, F.col("workload_id"), F.lit(c), F.col(f"_s{j}")) for j, c in enumerate(slice_columns)]
    return scored_df.where(F.col("_refused").isNull()).select(
        F.explode(F.array(*[F.array_join(s, KEY_SEPARATOR) for s in scopes])).alias("_key"),
        "_hash",
        "label",
        *[c for c in scored_df.columns if c.startswith("_score")],
    )
