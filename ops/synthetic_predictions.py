"""The prediction side of the synthetic serving logs: feature schemas, model identities, outputs.

Each workload's features are fixed by its name (:func:`feature_schema`, seed-independent); the
values are drawn from the one ``random.Random`` of :func:`ops.synthetic.generate`.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from typing import Any

__all__ = ["PredictionBuilder", "feature_schema"]

_COUNTRIES = ("US", "DE", "FR", "IN", "BR", "JP", "GB", "NG", "MX", "CA")
_DEVICES = ("mobile", "desktop", "tablet", "smart-tv")


class PredictionBuilder:
    """Builds the prediction-specific fields of records from the shared RNG and per-workload
    tables precomputed once."""

    def __init__(self, rng: random.Random, workloads: tuple[str, ...], drifted_features: tuple[str, ...]) -> None:
        self.rng = rng
        self.schemas = {w: feature_schema(w) for w in workloads}
        self.drifted = frozenset(drifted_features)
        self.models: dict[str, tuple[tuple[str, str, str], ...]] = {}
        self.rates: dict[str, float] = {}
        for w in workloads:
            h = zlib.crc32(w.encode("utf-8"))
            self.models[w] = tuple(
                (f"{w}-model", v, hashlib.sha256(f"{w}|{v}|transforms".encode()).hexdigest()[:16])
                for v in (f"2024.{10 + h % 3}.{h % 7}", f"2024.{11 + h % 3}.0")
            )
            self.rates[w] = (0.01, 0.05, 0.1)[h % 3]

    def prediction(self, workload: str) -> dict[str, Any]:
        """Return the prediction-specific fields (model, features, outputs, sampling_rate)."""
        rnd = self.rng.random
        features: dict[str, Any] = {}
        for fid, kind, param, null_rate in self.schemas[workload]:
            if fid in self.drifted:
                features[fid] = _drifted(kind, param, rnd)
            elif kind == 0:
                features[fid] = None if rnd() < null_rate else round(rnd() * param, 4)
            elif kind == 1:
                features[fid] = int(rnd() * param)
            else:
                features[fid] = param[int(rnd() * len(param))]
        name, version, thash = self.models[workload][0 if rnd() < 0.9 else 1]
        score = round(rnd(), 6)
        return {
            "model": {"name": name, "version": version, "transform_hash": thash},
            "features": features,
            "outputs": {"score": score, "label": int(score >= 0.5)},
            "sampling_rate": self.rates[workload],
        }


def _drifted(kind: int, param: Any, rnd: Any) -> Any:
    if kind == 0:
        return round((0.5 + 0.5 * rnd()) * param, 4)
    if kind == 1:
        return int((0.5 + 0.5 * rnd()) * param)
    return param[0] if rnd() < 0.6 else param[int(rnd() * len(param))]


def feature_schema(workload: str) -> list[tuple[str, int, Any, float]]:
    """Seed-independent schema rows ``(id, kind 0=float/1=int/2=categorical, param, null rate)``.

    ``param`` is the scale of a float (values in ``[0, scale)``, 4 decimals), the bound of an
    int (values in ``[0, bound)``) or the tuple of a categorical feature's values.
    """
    srng = random.Random(zlib.crc32(workload.encode("utf-8")))
    n = 30 - srng.randrange(0, 5)
    rows: list[tuple[str, int, Any, float]] = []
    for i in range(1, n + 1):
        if i > n - 2:
            rows.append((f"f{i:03d}", 2, _COUNTRIES if i == n else _DEVICES, 0.0))
        elif i > n - 6:
            rows.append((f"f{i:03d}", 1, srng.choice((5, 50, 1000)), 0.0))
        else:
            scale = srng.choice((1.0, 10.0, 250.0, 5000.0))
            rows.append((f"f{i:03d}", 0, scale, srng.choice((0.0, 0.02, 0.08))))
    return rows
