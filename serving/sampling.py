"""Deterministic per-request sampling.

The decision depends only on ``(salt, request_id)`` through BLAKE2b — never on Python's per-process randomised
``hash()`` — so a request id is either fully logged or not at all, in every process and on every retry, and labels
that arrive later for the same id can be joined because they get the same decision.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["SamplingPolicy", "sample_fraction", "should_log", "validate_rate"]


def validate_rate(rate: float, what: str = "rate") -> float:
    """Return ``rate`` as a float, or raise ValueError when it is not a finite number in [0, 1]."""
    # bool is an int subclass; True as a "rate" is almost certainly a config mistake.
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ValueError(f"{what} must be a number in [0, 1], got {rate!r}")
    value = float(rate)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {rate!r}")
    return value


def sample_fraction(request_id: str, salt: str = "") -> float:
    """Uniform value in [0, 1) derived from ``blake2b(salt + "\\0" + request_id, digest_size=8)``.

    The 64-bit digest is read big-endian; its top 53 bits are used so the float is exact and always < 1 (a plain
    ``n / 2**64`` rounds the largest digests up to 1.0). This equals ``n / 2**64`` rounded down to 53 bits.
    """
    digest = hashlib.blake2b(f"{salt}\0{request_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


def should_log(request_id: str, rate: float, salt: str = "") -> bool:
    """True when the request falls in the sampled share ``rate`` (0 → never, 1 → always)."""
    rate = validate_rate(rate)
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return sample_fraction(request_id, salt) < rate


@dataclass(frozen=True)
class SamplingPolicy:
    """Per-workload sampling rates with a default; ``salt`` lets a deployment re-draw its sample deliberately."""

    default_rate: float = 1.0
    # hash=False: a mapping is unhashable, and policies are compared, not used as dict keys.
    rates: Mapping[str, float] = field(default_factory=dict, hash=False)
    salt: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_rate", validate_rate(self.default_rate, "SamplingPolicy.default_rate"))
        checked = {
            workload: validate_rate(rate, f"SamplingPolicy rate for workload {workload!r}")
            for workload, rate in dict(self.rates).items()
        }
        # Read-only copy: a caller mutating its dict later must not change a policy already in use.
        object.__setattr__(self, "rates", MappingProxyType(checked))

    def rate_for(self, workload_id: str) -> float:
        """Sampling rate for ``workload_id`` (its own rate when configured, else the default)."""
        return self.rates.get(workload_id, self.default_rate)

    def decide(self, workload_id: str, request_id: str) -> bool:
        """Whether to log ``request_id`` of ``workload_id``; the same inputs always give the same answer."""
        return should_log(request_id, self.rate_for(workload_id), self.salt)
