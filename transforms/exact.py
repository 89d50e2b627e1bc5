"""Exact, order-independent sums of float64 values, so that means and variances fitted in
Spark (from per-partition partial sums) equal the ones fitted in plain Python bit for bit.

Every finite double is ``M * 2**(e - 53)`` with an integer ``|M| < 2**53`` and
``e >= -1073``, so ``x * 2**SCALE_BITS`` is an integer. Partial sums are such integers
(Python ints: exact, mergeable in any order); the final mean or variance is rounded once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SCALE_BITS", "Moments", "exact_sum", "exact_sum_of_squares"]

SCALE_BITS = 1126
_CHUNK = 1 << 24  # bincount sums stay exact in float64 below 2**53 = 2**27 (|hi|) * 2**26 rows
_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitter for float64
_TINY = 2.0**-450  # below this a square's rounding error could fall under the smallest double


def exact_sum(values: NDArray[Any]) -> int:
    """``sum(values) * 2**SCALE_BITS`` exactly, for finite float64 ``values``."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.size and not np.isfinite(v).all():
        raise ValueError("exact_sum takes finite values only")
    total = 0
    for start in range(0, v.size, _CHUNK):
        total += _chunk_sum(v[start : start + _CHUNK])
    return total


def _chunk_sum(v: NDArray[Any]) -> int:
    if v.size == 0:
        return 0
    mant, expo = np.frexp(v)
    m = (mant * 9007199254740992.0).astype(np.int64)  # mant * 2**53: exact
    shift = expo.astype(np.int64) + (SCALE_BITS - 53)  # 0 .. 2097: a small, dense range to bin by
    hi = np.bincount(shift, weights=(m >> 26).astype(np.float64))
    lo = np.bincount(shift, weights=(m & 0x3FFFFFF).astype(np.float64))
    total = 0
    for s in np.flatnonzero(np.bincount(shift)).tolist():
        total += ((int(hi[s]) << 26) + int(lo[s])) << s
    return total


def exact_sum_of_squares(values: NDArray[Any]) -> int:
    """``sum(values**2) * 2**(2 * SCALE_BITS)`` exactly.

    Each square is split into the rounded product and its exact rounding error (Dekker's
    two-product), both summed exactly; values so small that their square would underflow
    are squared as integers instead.
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.size and np.abs(v).max() >= 1e150:
        raise ValueError("exact_sum_of_squares: |value| >= 1e150 would overflow")
    tiny = np.abs(v) < _TINY
    total = 0
    if tiny.any():
        mant, expo = np.frexp(v[tiny])
        for m, e in zip((mant * 9007199254740992.0).astype(np.int64).tolist(), expo.tolist(), strict=True):
            total += (m * m) << (2 * (e - 53 + SCALE_BITS))
        v = v[~tiny]
    c = _SPLIT * v
    hi = c - (c - v)
    lo = v - hi
    p = v * v
    err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
    return total + ((exact_sum(p) + exact_sum(err)) << SCALE_BITS)


@dataclass(frozen=True)
class Moments:
    """Count, missing count and exact first and second power sums of a numeric column
    (``sum * 2**SCALE_BITS`` and ``sum of squares * 2**(2 * SCALE_BITS)``, as integers)."""

    count: int = 0
    missing: int = 0
    sum_scaled: int = 0
    sumsq_scaled: int = 0

    @classmethod
    def of(cls, values: NDArray[Any]) -> Moments:
        """Moments of a float64 array in which NaN means missing."""
        v = np.asarray(values, dtype=np.float64)
        present = v[~np.isnan(v)]
        return cls(int(present.size), int(v.size - present.size), exact_sum(present), exact_sum_of_squares(present))

    def merge(self, other: Moments) -> Moments:
        return Moments(
            self.count + other.count,
            self.missing + other.missing,
            self.sum_scaled + other.sum_scaled,
            self.sumsq_scaled + other.sumsq_scaled,
        )

    def mean(self) -> float | None:
        """Correctly rounded mean, or None when there are no values."""
        if self.count == 0:
            return None
        return float(Fraction(self.sum_scaled, self.count << SCALE_BITS))

    def std(self) -> float | None:
        """Population standard deviation: the square root of the correctly rounded variance."""
        if self.count == 0:
            return None
        n = self.count
        # both sums carry 2**(2*SCALE_BITS) here: var = (n*S2 - S1**2) / n**2, exactly
        var = Fraction(n * self.sumsq_scaled - self.sum_scaled**2, (n * n) << (2 * SCALE_BITS))
        return math.sqrt(float(var))

    def to_json(self) -> dict[str, int | str]:
        """Plain JSON (the big sums as decimal strings)."""
        return {
            "count": self.count,
            "missing": self.missing,
            "sum_scaled": str(self.sum_scaled),
            "sumsq_scaled": str(self.sumsq_scaled),
        }

    @classmethod
    def from_json(cls, data: dict[str, int | str]) -> Moments:
        return cls(int(data["count"]), int(data["missing"]), int(data["sum_scaled"]), int(data["sumsq_scaled"]))
