"""The statistics stages fit from, and their reference computation on one machine.

A stage declares what it needs (:class:`Need`); :func:`local_stats` computes those from a
frame, and ``jobs/gold/spark_transforms.py`` computes the same with distributed aggregations.
Definitions (both sides):

* ``moments`` — count and missing count (null or NaN), exact sums (:mod:`.exact`).
* ``quantiles`` — for sorted non-missing values ``x[0..n-1]`` the edge at ``p`` is
  ``x[max(ceil(p*n), 1) - 1]`` (a value of the data). Spark's ``percentile_approx`` gives
  an edge whose rank is within ``n / accuracy`` of that one.
* ``top_k`` — non-null string values by count descending, then value ascending; the
  first ``k``, with the total and missing counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from .exact import Moments
from .frame import Frame, as_float, as_strings

__all__ = ["Need", "TopK", "local_stats", "quantile_edges", "top_k_of"]


@dataclass(frozen=True)
class Need:
    """One statistic of one column that a stage needs to fit."""

    kind: str
    column: str
    probs: tuple[float, ...] = ()
    k: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("moments", "quantiles", "top_k"):
            raise ValueError(f"unknown statistic {self.kind!r}")


@dataclass(frozen=True)
class TopK:
    """The most frequent values of a string column."""

    values: tuple[str, ...]
    counts: tuple[int, ...]
    total: int
    missing: int


def quantile_edges(values: NDArray[Any], probs: Iterable[float]) -> tuple[float, ...] | None:
    """Exact quantiles by the definition above; None when there are no values."""
    v = np.sort(values[~np.isnan(values)])
    n = v.size
    if n == 0:
        return None
    return tuple(float(v[max(math.ceil(p * n), 1) - 1]) for p in probs)


def top_k_of(values: pa.Array, k: int) -> TopK:
    present = values.drop_null()
    counted = pc.value_counts(present)
    vals = counted.field("values").to_pylist()
    cnts = counted.field("counts").to_pylist()
    ranked = sorted(zip(vals, cnts, strict=True), key=lambda vc: (-vc[1], vc[0].encode("utf-8")))[:k]
    return TopK(
        tuple(v for v, _ in ranked),
        tuple(int(c) for _, c in ranked),
        total=len(values),
        missing=len(values) - len(present),
    )


def local_stats(frame: Frame, needs: Iterable[Need]) -> dict[Need, Any]:
    """Each needed statistic computed from the whole frame in this process."""
    out: dict[Need, Any] = {}
    for need in needs:
        if need.column not in frame:
            raise KeyError(f"column {need.column!r} is not in the data")
        col = frame[need.column]
        if need.kind == "moments":
            out[need] = Moments.of(as_float(col))
        elif need.kind == "quantiles":
            out[need] = quantile_edges(as_float(col), need.probs)
        else:
            out[need] = top_k_of(as_strings(col), need.k)
    return out
