"""The shared pipeline's transforms written as native Spark Column expressions, for bench-transforms.

:func:`apply_native` turns a fitted pipeline's params into the same output columns as
``apply_pipeline``, without Arrow or Python; a stage it has no translation for raises
:class:`UnsupportedStage`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms import FittedPipeline

__all__ = ["UnsupportedStage", "apply_native", "clipped", "imputed", "one_hot", "standardized", "time_feature"]


class UnsupportedStage(ValueError):
    """A stage kind (or option) that the native translation does not cover."""


def imputed(c: Column, value: float) -> Column:
    return F.coalesce(F.nanvl(c, F.lit(value)), F.lit(value))


def clipped(c: Column, lower: float | None, upper: float | None) -> Column:
    # greatest/least would send NaN and null elsewhere than numpy does; imputation ran first
    c = c if lower is None else F.greatest(c, F.lit(lower))
    return c if upper is None else F.least(c, F.lit(upper))


def standardized(c: Column, mean: float, std: float) -> Column:
    return (c - F.lit(mean)) / F.lit(std)


def one_hot(c: Column, vocab: Sequence[str]) -> list[Column]:
    """One 0/1 column per vocabulary entry, then the out-of-vocabulary (or missing) one."""
    return [F.when(c == F.lit(v), 1.0).otherwise(0.0) for v in vocab] + [F.when(c.isin(*vocab), 0.0).otherwise(1.0)]


def time_feature(ts: Column, feature: str) -> Column:
    """UTC calendar feature (the session time zone is UTC); NaN for a missing timestamp."""
    hour = F.hour(ts).cast("double")
    values = {
        "hour": hour,
        "day_of_week": F.weekday(ts).cast("double"),  # Monday 0, as the shared stage
        "hour_sin": F.sin(hour * F.lit(2 * math.pi / 24)),
        "hour_cos": F.cos(hour * F.lit(2 * math.pi / 24)),
    }
    if feature not in values:
        raise UnsupportedStage(f"time feature {feature!r}")
    return F.when(ts.isNull(), F.lit(float("nan"))).otherwise(values[feature])


def apply_native(df: DataFrame, fitted: FittedPipeline, keep: Sequence[str] = ()) -> DataFrame:
    """``keep`` plus the feature-vector columns, from ``fitted``'s params as Spark expressions."""
    tz = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if tz != "UTC":
        raise UnsupportedStage(f"time features are UTC; the session time zone is {tz}")
    cols = {name: F.col(f"`{name}`").cast(dtype) for name, dtype in fitted.pipeline.inputs.items()}
    for stage, params in zip(fitted.pipeline.stages, fitted.params, strict=True):
        for c in stage.columns:
            if stage.kind == "impute":
                cols[c] = imputed(cols[c], params["values"][c])
            elif stage.kind == "impute_category":
                cols[c] = F.coalesce(cols[c], F.lit(params["values"][c]))
            elif stage.kind == "clip":
                cols[c] = clipped(cols[c], *params["bounds"][c])
            elif stage.kind == "standardize":
                cols[c] = standardized(cols[c], params["stats"][c]["mean"], params["stats"][c]["std"])
            elif stage.kind == "vocabulary" and stage.opt("one_hot"):
                names = stage.output_names(params)[c]
                cols.update(zip(names, one_hot(cols.pop(c), params["vocab"][c]), strict=True))
            elif stage.kind == "time_features":
                names = stage.output_names(params)[c]
                cols.update({n: time_feature(cols[c], f) for f, n in zip(stage.opt("features"), names, strict=True)})
            else:
                raise UnsupportedStage(f"stage {stage.name!r} ({stage.kind}) has no native translation here")
    return df.select(*[F.col(k) for k in keep], *[cols[n].alias(n) for n in fitted.output_names()])
