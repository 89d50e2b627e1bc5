"""The shared transforms in Spark: fit with distributed aggregations, apply through Arrow.

``fit_pipeline`` computes what each stage needs with Spark (exact per-partition partial
sums merged on the driver, ``percentile_approx``, a grouped top-K) and hands it to the
stage's own ``fit_from_stats`` — the code the plain-Python fit runs — so both give the same
params (exactly for counts, vocabularies and means; quantile edges within
``n / quantile_accuracy`` ranks). ``apply_pipeline`` runs the stages' numpy code on Arrow
batches with ``mapInArrow``: the very function serving calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from jobs.lib.steps import require_columns
from transforms import FittedPipeline, Moments, Need, Pipeline, TopK, coerce

__all__ = ["apply_pipeline", "fit_pipeline", "spark_stats", "with_feature_vector"]

log = logging.getLogger("skewguard.transforms")

_MOMENTS_SCHEMA = "column string, count long, missing long, sum_scaled string, sumsq_scaled string"


def _output_schema(df_schema: StructType, fitted: FittedPipeline, keep: Sequence[str], names: Sequence[str]) -> Any:
    """Spark schema of what ``fitted`` makes of a batch: found by applying it to no rows."""
    empty = to_arrow_schema(df_schema).empty_table()
    out = fitted.apply(empty)
    fields = [empty.schema.field(n) for n in keep] + [out.schema.field(n) for n in names]
    return from_arrow_schema(pa.schema(fields))


def apply_pipeline(
    df: DataFrame, fitted: FittedPipeline, keep: Sequence[str] = (), outputs: Sequence[str] | None = None
) -> DataFrame:
    """``keep`` columns as they are plus the pipeline's ``outputs`` (default: the feature
    vector's columns), computed batch by batch through Arrow."""
    require_columns(df, [*fitted.pipeline.inputs, *keep], f"pipeline {fitted.pipeline.name!r}")
    names = list(fitted.output_names() if outputs is None else outputs)
    clash = sorted(set(keep) & set(names))
    if clash:
        raise ValueError(f"columns {clash} are both kept as they are and produced by the pipeline")
    input_df = df.select(*dict.fromkeys([*keep, *fitted.pipeline.inputs]))
    schema = _output_schema(input_df.schema, fitted, keep, names)
    selected = [*keep, *names]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out = fitted.apply(batch)
            yield pa.RecordBatch.from_arrays(
                [batch.column(k) for k in keep] + [out.column(n) for n in names], names=selected
            )

    return input_df.mapInArrow(run, schema)


def with_feature_vector(df: DataFrame, fitted: FittedPipeline, name: str = "features_vector") -> DataFrame:
    """Pack the feature-vector columns into one ``array<double>`` column (in order)."""
    cols = fitted.output_names()
    return df.withColumn(name, F.array(*[F.col(f"`{c}`") for c in cols])).drop(*cols)


def _moments(df: DataFrame, columns: list[str]) -> dict[str, Moments]:
    def partials(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        acc = {c: Moments() for c in columns}
        for batch in batches:
            frame = coerce(batch, dict.fromkeys(columns, "double"))
            for c in columns:
                acc[c] = acc[c].merge(Moments.of(frame[c]))
        rows = [acc[c].to_json() for c in columns]
        yield pa.RecordBatch.from_pylist([{"column": c, **r} for c, r in zip(columns, rows, strict=True)])

    merged = {c: Moments() for c in columns}
    # one small row per partition and column: partial aggregates, not data
    for row in df.select(*columns).mapInArrow(partials, _MOMENTS_SCHEMA).collect():
        merged[row["column"]] = merged[row["column"]].merge(Moments.from_json(row.asDict()))
    return merged


def _quantile_expr(column: str, probs: tuple[float, ...], accuracy: int) -> Column:
    c = F.col(f"`{column}`")
    return F.percentile_approx(F.when(~F.isnan(c), c), F.array(*[F.lit(p) for p in probs]), accuracy)


def _top_k(df: DataFrame, needs: list[Need]) -> dict[Need, TopK]:
    columns = sorted({n.column for n in needs})
    k_max = max(n.k for n in needs)
    pairs = df.select(
        F.explode(
            F.array(
                *[F.struct(F.lit(c).alias("column"), F.col(f"`{c}`").cast("string").alias("value")) for c in columns]
            )
        ).alias("p")
    ).select("p.column", "p.value")
    by_column = Window.partitionBy("column")
    ranked = (
        pairs.groupBy("column", "value")
        .count()
        .withColumns(
            {
                # totals ride along with the ranking: one Spark job, one pass over the data
                "total": F.sum("count").over(by_column),
                "missing": F.sum(F.when(F.col("value").isNull(), F.col("count")).otherwise(0)).over(by_column),
                "rank": F.row_number().over(
                    by_column.orderBy(F.col("value").isNull(), F.col("count").desc(), F.col("value").asc())
                ),
            }
        )
        .where(F.col("rank") <= k_max)  # nulls rank last; every kept row carries its column's totals
    )
    top: dict[str, list[tuple[int, str, int]]] = {c: [] for c in columns}
    total: dict[str, tuple[int, int]] = {}
    for row in ranked.collect():
        total[row["column"]] = (int(row["total"]), int(row["missing"]))
        if row["value"] is not None:
            top[row["column"]].append((row["rank"], row["value"], row["count"]))
    out: dict[Need, TopK] = {}
    for need in needs:
        entries = sorted(top[need.column])[: need.k]
        n_total, n_present = total.get(need.column, (0, 0))
        out[need] = TopK(
            tuple(v for _, v, _ in entries),
            tuple(int(n) for _, _, n in entries),
            int(n_total),
            int(n_total - n_present),
        )
    return out


def spark_stats(df: DataFrame, needs: Sequence[Need], accuracy: int) -> dict[Need, Any]:
    """Every needed statistic, with at most three Spark jobs (moments, quantiles, top-K)."""
    require_columns(df, sorted({n.column for n in needs}), "fitting")
    out: dict[Need, Any] = {}
    moment_cols = sorted({n.column for n in needs if n.kind == "moments"})
    if moment_cols:
        moments = _moments(df, moment_cols)
        out.update({n: moments[n.column] for n in needs if n.kind == "moments"})
    quantile_needs = list(dict.fromkeys(n for n in needs if n.kind == "quantiles"))
    if quantile_needs:
        row = df.agg(
            *[_quantile_expr(n.column, n.probs, accuracy).alias(f"q{i}") for i, n in enumerate(quantile_needs)]
        ).first()
        for i, n in enumerate(quantile_needs):
            edges = row[f"q{i}"] if row is not None else None
            out[n] = None if edges is None else tuple(float(e) for e in edges)
    top_needs = [n for n in needs if n.kind == "top_k"]
    if top_needs:
        out.update(_top_k(df, top_needs))
    return out


def fit_pipeline(df: DataFrame, pipeline: Pipeline, accuracy: int = 10_000) -> FittedPipeline:
    """Fit ``pipeline`` on ``df`` (inputs typed per the contract) with Spark aggregations:
    one pass per group of independent stages (``Pipeline.fit_groups``)."""
    require_columns(df, list(pipeline.inputs), f"pipeline {pipeline.name!r}")
    base = df.select(*pipeline.inputs)
    params: list[dict[str, Any]] = []
    for group in pipeline.fit_groups():
        needs = [need for i in group for need in pipeline.stages[i].needs()]
        stats: dict[Need, Any] = {}
        if needs:
            first = group[0]
            prefix = FittedPipeline(
                Pipeline(pipeline.name, pipeline.inputs, pipeline.stages[:first], ()), tuple(params[:first])
            )
            columns = sorted({n.column for n in needs})
            data = apply_pipeline(base, prefix, outputs=columns) if first else base
            log.info("fitting stages %s on %s", [pipeline.stages[i].name for i in group], columns)
            stats = spark_stats(data, needs, accuracy)
        params.extend(pipeline.stages[i].fit_from_stats(stats) for i in group)
    return FittedPipeline(pipeline, tuple(params))
