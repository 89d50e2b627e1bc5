"""The transform stages. Each is ``fit(table) -> params`` (JSON-ready, floats exact) and
``apply(batch, params) -> batch``, vectorised over a whole batch in float64.

A stage works on its ``columns``, in place (the output keeps the input's name), except
``vocabulary`` with ``one_hot`` and ``time_features``, which add named columns (see
:meth:`Stage.output_names`). Fitting goes through :meth:`Stage.needs` and
:meth:`Stage.fit_from_stats`, so a distributed engine can compute the statistics instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .exact import Moments
from .frame import Frame, as_float, as_strings, coerce, to_batch
from .hashing import murmur3_32_array
from .stats import Need, TopK, local_stats

__all__ = ["STAGES", "Stage", "stage_from_spec"]

Params = dict[str, Any]


@dataclass(frozen=True)
class Stage:
    """A named step over some columns, with its options."""

    name: str
    columns: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        unknown = set(self.options) - set(self.defaults)
        if unknown:
            raise ValueError(f"stage {self.name!r} ({self.kind}): unknown options {sorted(unknown)}")
        if not self.columns:
            raise ValueError(f"stage {self.name!r} ({self.kind}): no columns")

    def opt(self, key: str) -> Any:
        return self.options.get(key, self.defaults[key])

    # -- fitting ---------------------------------------------------------------------
    def needs(self) -> list[Need]:
        return []

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        return {}

    def fit(self, table: pa.Table | pa.RecordBatch) -> Params:
        frame = coerce(table, {})
        return self.fit_from_stats(local_stats(frame, self.needs()))

    # -- applying --------------------------------------------------------------------
    def apply_frame(self, frame: Frame, params: Params) -> None:
        raise NotImplementedError

    def apply(self, batch: pa.RecordBatch | pa.Table, params: Params) -> pa.RecordBatch:
        frame = coerce(batch, {})
        self.apply_frame(frame, params)
        return to_batch(frame)

    def output_names(self, params: Params) -> dict[str, list[str]]:
        """Columns that this stage expands into several named ones."""
        return {}

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "columns": list(self.columns), "options": dict(self.options)}


class Impute(Stage):
    """Numeric missing values (null or NaN) → the mean, the median or a constant."""

    kind = "impute"
    defaults: ClassVar[dict[str, Any]] = {"strategy": "mean", "fill_value": 0.0}

    def needs(self) -> list[Need]:
        strategy = self.opt("strategy")
        if strategy == "mean":
            return [Need("moments", c) for c in self.columns]
        if strategy == "median":
            return [Need("quantiles", c, probs=(0.5,)) for c in self.columns]
        if strategy != "constant":
            raise ValueError(f"stage {self.name!r}: strategy must be mean, median or constant")
        return []

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        fill = float(self.opt("fill_value"))
        values: dict[str, float] = {}
        for c in self.columns:
            if self.opt("strategy") == "mean":
                mean = stats[Need("moments", c)].mean()
                values[c] = fill if mean is None else mean
            elif self.opt("strategy") == "median":
                edges = stats[Need("quantiles", c, probs=(0.5,))]
                values[c] = fill if edges is None else edges[0]
            else:
                values[c] = fill
        return {"values": values}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            x = as_float(frame[c])
            frame[c] = np.where(np.isnan(x), params["values"][c], x)


class ImputeCategory(Stage):
    """Categorical missing values (null) → the most frequent value or a constant."""

    kind = "impute_category"
    defaults: ClassVar[dict[str, Any]] = {"strategy": "most_frequent", "fill_value": "__missing__"}

    def needs(self) -> list[Need]:
        if self.opt("strategy") == "most_frequent":
            return [Need("top_k", c, k=1) for c in self.columns]
        if self.opt("strategy") != "constant":
            raise ValueError(f"stage {self.name!r}: strategy must be most_frequent or constant")
        return []

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        values: dict[str, str] = {}
        for c in self.columns:
            top: TopK | None = stats.get(Need("top_k", c, k=1))
            values[c] = top.values[0] if top is not None and top.values else str(self.opt("fill_value"))
        return {"values": values}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            frame[c] = pc.fill_null(as_strings(frame[c]), params["values"][c])


class Clip(Stage):
    """Values limited to [lower, upper]: fixed bounds, or quantiles fitted on the data."""

    kind = "clip"
    defaults: ClassVar[dict[str, Any]] = {"lower": None, "upper": None, "quantiles": None}

    def needs(self) -> list[Need]:
        q = self.opt("quantiles")
        if q is None:
            return []
        if len(q) != 2 or not 0 <= q[0] < q[1] <= 1:
            raise ValueError(f"stage {self.name!r}: quantiles must be [low, high] within [0, 1]")
        return [Need("quantiles", c, probs=(float(q[0]), float(q[1]))) for c in self.columns]

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        lo, hi = self.opt("lower"), self.opt("upper")
        bounds: dict[str, list[float | None]] = {}
        for c in self.columns:
            if self.opt("quantiles") is not None:
                edges = stats[self.needs()[self.columns.index(c)]]
                bounds[c] = [None, None] if edges is None else [edges[0], edges[1]]
            else:
                bounds[c] = [None if lo is None else float(lo), None if hi is None else float(hi)]
        return {"bounds": bounds}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            lo, hi = params["bounds"][c]
            x = as_float(frame[c])
            if lo is not None:
                x = np.where(x < lo, lo, x)
            if hi is not None:
                x = np.where(x > hi, hi, x)
            frame[c] = x


class Log1p(Stage):
    """``sign(x) * log1p(|x|)``: compresses long tails, defined for negative values too."""

    kind = "log1p"

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            x = as_float(frame[c])
            frame[c] = np.sign(x) * np.log1p(np.abs(x))


class Standardize(Stage):
    """``(x - mean) / std`` with the population std (1 when the std is 0 or unknown)."""

    kind = "standardize"

    def needs(self) -> list[Need]:
        return [Need("moments", c) for c in self.columns]

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        out: dict[str, dict[str, float]] = {}
        for c in self.columns:
            m: Moments = stats[Need("moments", c)]
            mean, std = m.mean(), m.std()
            out[c] = {"mean": 0.0 if mean is None else mean, "std": std if std else 1.0}
        return {"stats": out}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            s = params["stats"][c]
            frame[c] = (as_float(frame[c]) - s["mean"]) / s["std"]


class Bucketize(Stage):
    """Quantile buckets: the index of the bucket (0..len(edges)); missing → len(edges) + 1."""

    kind = "bucketize"
    defaults: ClassVar[dict[str, Any]] = {"num_buckets": 10}

    def _probs(self) -> tuple[float, ...]:
        n = int(self.opt("num_buckets"))
        if n < 2:
            raise ValueError(f"stage {self.name!r}: num_buckets must be >= 2")
        return tuple(i / n for i in range(1, n))

    def needs(self) -> list[Need]:
        return [Need("quantiles", c, probs=self._probs()) for c in self.columns]

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        edges = {c: sorted(set(stats[Need("quantiles", c, probs=self._probs())] or ())) for c in self.columns}
        return {"edges": edges}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            edges = np.asarray(params["edges"][c], dtype=np.float64)
            x = as_float(frame[c])
            idx = np.searchsorted(edges, x, side="right").astype(np.float64)
            frame[c] = np.where(np.isnan(x), float(edges.size + 1), idx)


class Vocabulary(Stage):
    """Index in a fitted vocabulary (most frequent first); out-of-vocabulary and missing
    values → ``len(vocab)``. With ``one_hot`` the column becomes ``<col>#0 … <col>#len``."""

    kind = "vocabulary"
    defaults: ClassVar[dict[str, Any]] = {"max_size": 100, "min_count": 1, "one_hot": False}

    def needs(self) -> list[Need]:
        return [Need("top_k", c, k=int(self.opt("max_size"))) for c in self.columns]

    def fit_from_stats(self, stats: Mapping[Need, Any]) -> Params:
        vocab: dict[str, list[str]] = {}
        for c in self.columns:
            top: TopK = stats[Need("top_k", c, k=int(self.opt("max_size")))]
            vocab[c] = [v for v, n in zip(top.values, top.counts, strict=True) if n >= int(self.opt("min_count"))]
        return {"vocab": vocab}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            vocab = params["vocab"][c]
            found = pc.index_in(as_strings(frame[c]), value_set=pa.array(vocab, type=pa.string()))
            idx = np.asarray(found.fill_null(len(vocab)).to_numpy(zero_copy_only=False), dtype=np.float64)
            if not self.opt("one_hot"):
                frame[c] = idx
                continue
            del frame[c]
            for i, name in enumerate(self.output_names(params)[c]):
                frame[name] = (idx == i).astype(np.float64)

    def output_names(self, params: Params) -> dict[str, list[str]]:
        if not self.opt("one_hot"):
            return {}
        return {c: [f"{c}#{i}" for i in range(len(params["vocab"][c]) + 1)] for c in self.columns}


class HashBucket(Stage):
    """``murmur3_32(utf8(value), seed) % num_buckets``; missing → ``num_buckets``."""

    kind = "hash_bucket"
    defaults: ClassVar[dict[str, Any]] = {"num_buckets": 1024, "seed": 0}

    def apply_frame(self, frame: Frame, params: Params) -> None:
        n = int(self.opt("num_buckets"))
        for c in self.columns:
            hashes, is_null = murmur3_32_array(as_strings(frame[c]), int(self.opt("seed")))
            frame[c] = np.where(is_null, float(n), (hashes % np.uint32(n)).astype(np.float64))


# 24 values from the C library, looked up rather than computed per row with numpy's SIMD
# kernels, whose last bit can differ between CPUs: serving and training get the same floats.
_HOUR_SIN = np.array([math.sin(h * (2 * math.pi / 24)) for h in range(24)], dtype=np.float64)
_HOUR_COS = np.array([math.cos(h * (2 * math.pi / 24)) for h in range(24)], dtype=np.float64)


class TimeFeatures(Stage):
    """Calendar features of a timestamp, always in UTC: ``<col>_hour`` (0–23),
    ``<col>_day_of_week`` (Monday 0), ``<col>_hour_sin``/``_hour_cos`` (hour on a circle)."""

    kind = "time_features"
    defaults: ClassVar[dict[str, Any]] = {"features": ["hour", "day_of_week", "hour_sin", "hour_cos"]}
    _known: ClassVar[tuple[str, ...]] = ("hour", "day_of_week", "hour_sin", "hour_cos")

    def apply_frame(self, frame: Frame, params: Params) -> None:
        for c in self.columns:
            ts = frame[c]
            if isinstance(ts, pa.ChunkedArray):
                ts = ts.combine_chunks()
            micros = pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.int64())
            missing = micros.is_null().to_numpy(zero_copy_only=False)
            us = np.asarray(micros.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            hour = np.floor_divide(us, 3_600_000_000) % 24
            dow = ((np.floor_divide(us, 86_400_000_000) + 3) % 7).astype(np.float64)  # 1970-01-01: Thu
            values = {
                "hour": hour.astype(np.float64),
                "day_of_week": dow,
                "hour_sin": _HOUR_SIN[hour],
                "hour_cos": _HOUR_COS[hour],
            }
            for feat, name in zip(self.opt("features"), self.output_names(params)[c], strict=True):
                if feat not in self._known:
                    raise ValueError(f"stage {self.name!r}: unknown time feature {feat!r}")
                frame[name] = np.where(missing, np.nan, values[feat])

    def output_names(self, params: Params) -> dict[str, list[str]]:
        return {c: [f"{c}_{f}" for f in self.opt("features")] for c in self.columns}


STAGES: dict[str, type[Stage]] = {
    cls.kind: cls
    for cls in (Impute, ImputeCategory, Clip, Log1p, Standardize, Bucketize, Vocabulary, HashBucket, TimeFeatures)
}


def stage_from_spec(spec: Mapping[str, Any]) -> Stage:
    """A stage from ``{"kind", "name", "columns", "options"}``."""
    kind = spec.get("kind")
    if kind not in STAGES:
        raise ValueError(f"unknown stage kind {kind!r} (known: {sorted(STAGES)})")
    return STAGES[kind](
        name=str(spec.get("name") or kind), columns=tuple(spec["columns"]), options=dict(spec.get("options") or {})
    )
