"""Exact power sums: equal to sums of ``Fraction``s, mergeable in any order, correctly
rounded mean and variance, refused on non-finite input."""

from __future__ import annotations

import math
import random
import sys
from fractions import Fraction

import numpy as np
import pytest

from transforms import exact
from transforms.exact import SCALE_BITS, Moments, exact_sum, exact_sum_of_squares

SMALLEST_SUBNORMAL = 5e-324
SMALLEST_NORMAL = sys.float_info.min
TINY_LIMIT = 2.0**-450  # exact_sum_of_squares squares values below this as integers


def fraction_sum(values: np.ndarray) -> Fraction:
    return sum((Fraction(float(x)) for x in values), Fraction(0))


def fraction_sum_of_squares(values: np.ndarray) -> Fraction:
    return sum((Fraction(float(x)) ** 2 for x in values), Fraction(0))


def wide_values(rng: np.random.Generator, n: int, max_exp: int) -> np.ndarray:
    """Random signs and full 53-bit mantissas over exponents from the subnormal range up to
    ``2**max_exp``, plus subnormals, zeros of both signs and values around the tiny limit."""
    mant = rng.uniform(0.5, 1.0, n) * rng.choice([-1.0, 1.0], n)
    normal = np.ldexp(mant, rng.integers(-1074, max_exp, n))
    subnormal = rng.integers(1, 2**52, n // 8).astype(np.float64) * SMALLEST_SUBNORMAL
    around_tiny = TINY_LIMIT * rng.uniform(0.5, 2.0, n // 8) * rng.choice([-1.0, 1.0], n // 8)
    specials = np.array(
        [0.0, -0.0, SMALLEST_SUBNORMAL, -SMALLEST_SUBNORMAL, SMALLEST_NORMAL, 1.0, -1.0, 0.1, 1e-310, TINY_LIMIT]
    )
    values = np.concatenate([normal, subnormal, -subnormal, around_tiny, specials])
    rng.shuffle(values)
    return values


# -- exact_sum -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_exact_sum_equals_fraction_sum_over_wide_magnitudes(seed: int) -> None:
    values = wide_values(np.random.default_rng(seed), 600, 1023)
    assert Fraction(exact_sum(values)) == fraction_sum(values) * 2**SCALE_BITS


def test_exact_sum_of_cancelling_values_keeps_the_tiny_remainder() -> None:
    values = np.array([1e308, 5e-324, -1e308, 1e-310, 2.0**-1060, -(2.0**-1060)])
    assert exact_sum(values) == (Fraction(5e-324) + Fraction(1e-310)) * 2**SCALE_BITS
    assert float(Fraction(exact_sum(values), 2**SCALE_BITS)) == 5e-324 + 1e-310  # both exact here


def test_exact_sum_of_small_inputs() -> None:
    assert exact_sum(np.array([], dtype=np.float64)) == 0
    assert exact_sum(np.array([0.0, -0.0])) == 0
    assert exact_sum(np.array([SMALLEST_SUBNORMAL])) == 2 ** (SCALE_BITS - 1074)
    assert exact_sum(np.array([1.0])) == 2**SCALE_BITS
    assert exact_sum(np.array([-0.5, 0.25])) == -(2 ** (SCALE_BITS - 2))
    # the point of it: 0.1 + 0.2 + 0.3 summed exactly is not the float sum
    assert (
        Fraction(exact_sum(np.array([0.1, 0.2, 0.3])))
        == (Fraction(0.1) + Fraction(0.2) + Fraction(0.3)) * 2**SCALE_BITS
    )


def test_exact_sum_is_independent_of_order() -> None:
    rng = np.random.default_rng(7)
    values = wide_values(rng, 2000, 1000)
    expected = exact_sum(values)
    for _ in range(3):
        assert exact_sum(rng.permutation(values)) == expected


def test_exact_sum_of_many_full_mantissas_with_one_exponent() -> None:
    # stresses the per-exponent float64 bincounts: 200k rows of the largest mantissa
    top = float(2**53 - 1)
    values = np.concatenate([np.full(100_000, top), np.full(100_000, -top / 2**40), np.full(5, top)])
    expected = Fraction(100_005 * (2**53 - 1)) - Fraction(100_000 * (2**53 - 1), 2**40)
    assert exact_sum(values) == expected * 2**SCALE_BITS


def test_exact_sum_in_chunks_equals_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    values = wide_values(np.random.default_rng(3), 500, 1000)
    whole = exact_sum(values)
    monkeypatch.setattr(exact, "_CHUNK", 7)
    assert exact_sum(values) == whole


def test_exact_sum_accepts_int_and_float32_input() -> None:
    assert exact_sum(np.array([1, 2, 3], dtype=np.int64)) == 6 * 2**SCALE_BITS
    assert exact_sum(np.array([0.1], dtype=np.float32)) == Fraction(float(np.float32(0.1))) * 2**SCALE_BITS


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_exact_sum_refuses_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        exact_sum(np.array([1.0, bad, 2.0]))


# -- exact_sum_of_squares --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_exact_sum_of_squares_equals_fraction_sum(seed: int) -> None:
    values = wide_values(np.random.default_rng(100 + seed), 600, 490)  # |x| < 2**490 < 1e150
    assert Fraction(exact_sum_of_squares(values)) == fraction_sum_of_squares(values) * 2 ** (2 * SCALE_BITS)


def test_exact_sum_of_squares_at_the_edges_of_its_branches() -> None:
    # either side of the integer branch, the smallest subnormal and the largest accepted value
    below = np.nextafter(TINY_LIMIT, 0.0)
    edges = np.array([below, -below, TINY_LIMIT, -TINY_LIMIT, SMALLEST_SUBNORMAL, 9.99e149, -9.99e149, 0.0])
    for x in edges:
        one = np.array([x])
        assert Fraction(exact_sum_of_squares(one)) == Fraction(float(x)) ** 2 * 2 ** (2 * SCALE_BITS), x
    assert Fraction(exact_sum_of_squares(edges)) == fraction_sum_of_squares(edges) * 2 ** (2 * SCALE_BITS)


def test_exact_sum_of_squares_of_values_with_inexact_float_squares() -> None:
    values = np.array([0.1, 1 / 3, math.pi, 1e100 / 3, 2.0**-449 * 1.1])
    for x in values:
        assert float(x) * float(x) != Fraction(float(x)) ** 2  # the float square rounds
    assert Fraction(exact_sum_of_squares(values)) == fraction_sum_of_squares(values) * 2 ** (2 * SCALE_BITS)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e150, -1e200])
def test_exact_sum_of_squares_refuses_non_finite_and_huge(bad: float) -> None:
    with pytest.raises(ValueError):
        exact_sum_of_squares(np.array([1.0, bad]))


# -- Moments ---------------------------------------------------------------------------


def moments_data(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        [
            rng.normal(1e3, 5.0, 300),
            rng.lognormal(0.0, 8.0, 100) * rng.choice([-1.0, 1.0], 100),
            wide_values(rng, 80, 300),
            np.full(7, np.nan),
        ]
    )
    rng.shuffle(values)
    return values


def random_parts(values: np.ndarray, rng: random.Random) -> list[np.ndarray]:
    cuts = sorted(rng.sample(range(1, values.size), 9))
    parts = np.split(values, cuts)
    return [*parts, values[:0]]  # an empty partition too


@pytest.mark.parametrize("seed", range(3))
def test_moments_merge_is_order_independent(seed: int) -> None:
    values = moments_data(seed)
    whole = Moments.of(values)
    parts = [Moments.of(p) for p in random_parts(values, random.Random(seed))]
    orders = [parts, parts[::-1], random.Random(seed + 1).sample(parts, len(parts))]
    results = []
    for order in orders:
        acc = Moments()
        for m in order:
            acc = acc.merge(m)
        results.append(acc)
    # a tree of merges, as partial aggregates combine in Spark
    pairwise = parts
    while len(pairwise) > 1:
        pairwise = [a.merge(b) for a, b in zip(pairwise[0::2], pairwise[1::2], strict=False)] + (
            [pairwise[-1]] if len(pairwise) % 2 else []
        )
    results.append(pairwise[0])
    for merged in results:
        assert merged == whole
        assert merged.mean() == whole.mean()
        assert merged.std() == whole.std()
    assert whole.count == values.size - 7 and whole.missing == 7


@pytest.mark.parametrize("seed", range(3))
def test_moments_mean_and_std_are_correctly_rounded(seed: int) -> None:
    values = moments_data(seed)
    present = [Fraction(float(x)) for x in values if not math.isnan(x)]
    n = len(present)
    mean = sum(present, Fraction(0)) / n
    var = sum(((x - mean) ** 2 for x in present), Fraction(0)) / n
    m = Moments.of(values)
    assert m.mean() == float(mean)
    assert m.std() == math.sqrt(float(var))


def test_moments_mean_is_exact_where_float_summation_is_not() -> None:
    values = np.array([1e16, 1.0, -1e16, 1.0, 3.0])
    assert float(np.sum(values)) / values.size != 1.0  # naive summation loses the ones
    m = Moments.of(values)
    assert m.mean() == 1.0
    # variance ((1e16 - 1)**2 + (1e16 + 1)**2 + 2**2) / 5, with 1e16 == 10**16 exactly
    assert m.std() == math.sqrt(float(Fraction(2 * 10**32 + 6, 5)))


def test_moments_of_a_constant_column_has_std_exactly_zero() -> None:
    values = np.full(7, 0.1)
    assert float(np.std(values)) != 0.0  # float arithmetic leaves a residue
    m = Moments.of(values)
    assert m.mean() == 0.1
    assert m.std() == 0.0


def test_moments_of_nothing() -> None:
    for m in (Moments(), Moments.of(np.array([])), Moments.of(np.array([np.nan, np.nan]))):
        assert m.mean() is None
        assert m.std() is None
    assert Moments.of(np.array([np.nan, np.nan])) == Moments(count=0, missing=2)


def test_moments_of_small_hand_checked_values() -> None:
    m = Moments.of(np.array([1.0, np.nan, 2.0, 3.0, 4.0]))
    assert (m.count, m.missing) == (4, 1)
    assert m.sum_scaled == 10 * 2**SCALE_BITS
    assert m.sumsq_scaled == 30 * 2 ** (2 * SCALE_BITS)
    assert m.mean() == 2.5
    assert m.std() == math.sqrt(1.25)


def test_moments_json_round_trip() -> None:
    m = Moments.of(moments_data(11))
    data = m.to_json()
    assert isinstance(data["sum_scaled"], str) and isinstance(data["sumsq_scaled"], str)
    assert Moments.from_json(data) == m


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_moments_refuse_infinities(bad: float) -> None:
    with pytest.raises(ValueError):
        Moments.of(np.array([1.0, bad]))
