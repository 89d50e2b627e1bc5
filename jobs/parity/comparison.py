"""Offline-vs-serving parity, the part that needs no Spark: compare the outputs a bundle
served with the offline ones, and — when they differ — compare both paths step by step to find
the first stage and the features where they part."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Comparison", "Divergence", "OfflineExample", "bisect", "compare"]


@dataclass(frozen=True)
class OfflineExample:
    """One example: its request as serving receives it and the outputs the offline path computed."""

    id: str
    request: Mapping[str, Any]
    vector: Sequence[float]
    score: float
    label: int
    stratum: str = ""


def _abs_diff(offline: np.ndarray, serving: np.ndarray) -> np.ndarray:
    """|offline − serving|; both missing (NaN) is no difference, one missing is infinite."""
    diff = np.abs(offline - serving)
    off_nan, srv_nan = np.isnan(offline), np.isnan(serving)
    diff[off_nan & srv_nan] = 0.0
    diff[off_nan ^ srv_nan] = np.inf
    return diff


@dataclass
class Comparison:
    """Offline vs serving outputs for one way of sending requests (``single`` or ``batch``)."""

    mode: str
    names: list[str]
    examples: int
    tolerance: float
    max_abs_diff: float
    max_by_output: dict[str, float]
    over_by_output: dict[str, int]
    failing_ids: list[str]
    worst: list[dict[str, Any]]
    errors: dict[str, str]
    latencies_us: list[float] = field(repr=False, default_factory=list)

    @property
    def passed(self) -> bool:
        return self.max_abs_diff < self.tolerance and not self.errors

    def latency_ms(self, q: float) -> float | None:
        if not self.latencies_us:
            return None
        return float(np.percentile(np.asarray(self.latencies_us), q)) / 1000.0


def compare(
    mode: str,
    examples: Sequence[OfflineExample],
    served: Mapping[str, Mapping[str, Any]],
    feature_names: Sequence[str],
    tolerance: float,
    worst: int = 10,
) -> Comparison:
    """Per example and per output (the feature vector's entries, ``score``, ``label``)."""
    names = [*feature_names, "score", "label"]
    errors = {e.id: str(served.get(e.id, {}).get("error", "no output")) for e in examples if _failed(served, e.id)}
    ok = [e for e in examples if e.id not in errors]
    width = len(names)
    offline = np.array([[*e.vector, e.score, e.label] for e in ok], dtype=np.float64).reshape(len(ok), width)
    serving = np.array(
        [[*served[e.id]["features"], served[e.id]["score"], served[e.id]["label"]] for e in ok], dtype=np.float64
    ).reshape(len(ok), width)
    diff = _abs_diff(offline, serving)
    per_example = diff.max(axis=1) if width and len(ok) else np.zeros(len(ok))
    over = diff >= tolerance
    order = np.argsort(-per_example, kind="stable")[:worst]
    failing = [i for i in np.argsort(-per_example, kind="stable") if over[i].any()]
    worst_rows = []
    for i in order:
        if per_example[i] == 0:
            break
        j = int(np.argmax(diff[i]))
        worst_rows.append(
            {
                "id": ok[i].id,
                "output": names[j],
                "offline": float(offline[i, j]),
                "serving": float(serving[i, j]),
                "abs_diff": float(diff[i, j]),
                "outputs_over_tolerance": int(over[i].sum()),
            }
        )
    max_by = diff.max(axis=0) if len(ok) else np.zeros(width)
    return Comparison(
        mode=mode,
        names=names,
        examples=len(examples),
        tolerance=tolerance,
        max_abs_diff=float(per_example.max()) if len(ok) else 0.0,
        max_by_output={n: float(v) for n, v in zip(names, max_by, strict=True)},
        over_by_output={n: int(v) for n, v in zip(names, over.sum(axis=0), strict=True) if v},
        failing_ids=[ok[i].id for i in failing] if width else [],
        worst=worst_rows,
        errors=errors,
        latencies_us=[float(served[e.id]["latency_us"]) for e in ok],
    )


def _failed(served: Mapping[str, Mapping[str, Any]], ident: str) -> bool:
    record = served.get(ident)
    return record is None or "error" in record


@dataclass
class Divergence:
    """Where two traces of the same examples first part."""

    step: str
    step_index: int
    features: list[str]
    examples: list[dict[str, Any]]
    offline_steps: list[str]
    serving_steps: list[str]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _differs(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) != math.isnan(b)
        return abs(float(a) - float(b)) >= tolerance
    return bool(a != b)


_ABSENT = object()


def bisect(
    offline: Mapping[str, list[list[Any]]],
    serving: Mapping[str, list[list[Any]]],
    tolerance: float,
    examples_per_feature: int = 3,
) -> Divergence | None:
    """The first step (``<inputs>`` or a stage) at which any example's columns differ, the
    columns that differ there (most examples first) and example values from both paths.
    Traces are ``[[step, {column: value}], ...]`` per example id."""
    ids = [i for i in offline if i in serving]
    if not ids:
        return None
    off_steps = [s for s, _ in offline[ids[0]]]
    srv_steps = [s for s, _ in serving[ids[0]]]
    for index in range(max(len(off_steps), len(srv_steps))):
        if index >= len(off_steps) or index >= len(srv_steps) or off_steps[index] != srv_steps[index]:
            step = off_steps[index] if index < len(off_steps) else srv_steps[index]
            note = f"the stage lists differ from here: offline {off_steps[index:]} vs serving {srv_steps[index:]}"
            return Divergence(step, index, [], [], off_steps, srv_steps, note)
        counts: dict[str, int] = {}
        samples: list[dict[str, Any]] = []
        for ident in ids:
            off_cols, srv_cols = offline[ident][index][1], serving[ident][index][1]
            for column in sorted(set(off_cols) | set(srv_cols)):
                a, b = off_cols.get(column, _ABSENT), srv_cols.get(column, _ABSENT)
                if a is _ABSENT or b is _ABSENT or _differs(a, b, tolerance):
                    counts[column] = counts.get(column, 0) + 1
                    if counts[column] <= examples_per_feature:
                        samples.append(
                            {
                                "id": ident,
                                "feature": column,
                                "offline": "(no such column)" if a is _ABSENT else a,
                                "serving": "(no such column)" if b is _ABSENT else b,
                            }
                        )
        if counts:
            features = sorted(counts, key=lambda c: (-counts[c], c))
            order = {c: k for k, c in enumerate(features)}
            samples.sort(key=lambda s: order[s["feature"]])
            note = f"{len(ids)} failing examples traced; examples per feature: " + ", ".join(
                f"{c} {counts[c]}" for c in features
            )
            return Divergence(off_steps[index], index, features, samples, off_steps, srv_steps, note)
    return None
