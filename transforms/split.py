"""Deterministic train / validation / eval split by a seeded hash of an example's id: the
same id always lands in the same split, on any machine, in Spark or in plain Python."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .hashing import murmur3_32_array

__all__ = ["SPLITS", "assign_split", "split_of"]

SPLITS = ("train", "validation", "eval")


def _bounds(validation_fraction: float, eval_fraction: float) -> tuple[float, float]:
    if not (validation_fraction >= 0 and eval_fraction >= 0 and validation_fraction + eval_fraction < 1):
        raise ValueError("validation and eval fractions must be >= 0 and leave some examples for train")
    return eval_fraction, eval_fraction + validation_fraction


def assign_split(ids: pa.Array, validation_fraction: float, eval_fraction: float, seed: int = 0) -> pa.Array:
    """``eval`` when ``murmur3(id, seed) / 2**32 < eval_fraction``, then ``validation`` up to
    both fractions, else ``train``. Null ids are refused."""
    if ids.null_count:
        raise ValueError("split ids must not be null")
    eval_hi, val_hi = _bounds(validation_fraction, eval_fraction)
    hashes, _ = murmur3_32_array(ids, seed)
    u = hashes.astype(np.float64) / 4294967296.0
    codes = np.where(u < eval_hi, 2, np.where(u < val_hi, 1, 0))
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(SPLITS)).cast(pa.string())


def split_of(example_id: str, validation_fraction: float, eval_fraction: float, seed: int = 0) -> str:
    """The split of one id (same rule as :func:`assign_split`)."""
    return str(assign_split(pa.array([example_id]), validation_fraction, eval_fraction, seed)[0])
