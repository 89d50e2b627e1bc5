"""Synthetic delayed labels for generated prediction logs, deterministic from a seed.

Each landable prediction record with a ``request_id`` gets a true outcome drawn from a
hidden logistic model of its logged features: ``label ~ Bernoulli(sigmoid(bias + Σ w·x))``.
The weights are seeded per workload × feature; a numeric feature enters as its value
divided by its scale (from :func:`ops.synthetic.feature_schema`), centred and scaled to
unit variance (null: 0); each value of a categorical feature has its own weight. The
weights are rescaled so that the hidden logit has the standard deviation
``LabelConfig.logit_std``, which is what makes the labels learnable (a logistic regression
on standardised and one-hot features reaches a validation AUC of about 0.85).

Then each prediction meets one fate, with the configured shares:

* ``on_time`` — one label within ``[event, event + window]`` (log-normal delay, hours);
* ``duplicate`` — two labels for the request, the newer one within the window always
  carrying the true outcome: either a first label (sometimes the other value) corrected
  later within the window, or a first label followed by a second one past the window
  (which must lose);
* ``missing`` — no label; ``late`` — one label past the window; ``before_event`` — one
  label dated before the prediction (invalid).

Label lines are ``{"request_id", "label", "label_ts"}`` with ``label_ts`` ISO-8601 UTC.
:class:`LabelSummary` holds the counts a correct join must reproduce exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.synthetic_predictions import feature_schema
from schemas.records import PREDICTION, classify_record, parse_timestamp
from skewguard.progress import progress

__all__ = [
    "FATES",
    "HiddenModel",
    "LabelConfig",
    "LabelOutcome",
    "LabelSummary",
    "read_records",
    "synthesize_labels",
    "write_labels",
]

log = logging.getLogger(__name__)

ON_TIME, DUPLICATE, MISSING, LATE, BEFORE_EVENT = "on_time", "duplicate", "missing", "late", "before_event"
FATES = (ON_TIME, DUPLICATE, MISSING, LATE, BEFORE_EVENT)
#: the join's cause (schemas.records.UNLABELED_CAUSES) for each fate that leaves a prediction unlabeled
_CAUSE = {MISSING: "no_label", LATE: "only_late", BEFORE_EVENT: "only_before_event"}
_DAY_S = 86_400.0


@dataclass(frozen=True)
class LabelConfig:
    """Label generator settings; validated on construction (``ValueError`` when invalid)."""

    seed: int = 7
    window_days: float = 7.0
    missing_share: float = 0.1
    late_share: float = 0.05
    duplicate_share: float = 0.05
    before_event_share: float = 0.01
    median_delay_hours: float = 6.0
    """Median delay of an on-time label; delays are log-normal with ``delay_sigma``."""
    delay_sigma: float = 1.0
    logit_std: float = 2.0
    """Standard deviation of the hidden logit over the feature distribution: label signal strength."""
    bias: float = -0.5

    def __post_init__(self) -> None:
        shares = (self.missing_share, self.late_share, self.duplicate_share, self.before_event_share)
        if any(isinstance(s, bool) or not 0 <= s <= 1 for s in shares) or sum(shares) > 1:
            raise ValueError(f"label shares must each be in [0, 1] and sum to at most 1, got {shares}")
        if self.window_days <= 0 or self.median_delay_hours <= 0 or self.delay_sigma < 0 or self.logit_std < 0:
            raise ValueError("window_days and median_delay_hours must be > 0; delay_sigma and logit_std >= 0")


@dataclass(frozen=True)
class LabelOutcome:
    """One prediction's fate, its true outcome, the label a join must give it, and its label lines."""

    request_id: str
    workload_id: str
    day: dt.date
    fate: str
    outcome: int
    joined_label: int | None
    rows: tuple[dict[str, Any], ...]


@dataclass
class LabelSummary:
    """Ground truth for the join: counts by fate, joined per day × workload, unlabeled by cause."""

    predictions: int = 0
    skipped_records: int = 0
    label_rows: int = 0
    by_fate: dict[str, int] = field(default_factory=dict)
    joined: int = 0
    joined_positive: int = 0
    joined_by_day_workload: dict[str, int] = field(default_factory=dict)
    unlabeled_by_cause: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: LabelOutcome) -> None:
        self.predictions += 1
        self.label_rows += len(outcome.rows)
        self.by_fate[outcome.fate] = self.by_fate.get(outcome.fate, 0) + 1
        if outcome.joined_label is None:
            cause = _CAUSE[outcome.fate]
            self.unlabeled_by_cause[cause] = self.unlabeled_by_cause.get(cause, 0) + 1
            return
        self.joined += 1
        self.joined_positive += outcome.joined_label
        key = f"{outcome.day.isoformat()}|{outcome.workload_id}"
        self.joined_by_day_workload[key] = self.joined_by_day_workload.get(key, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "skipped_records": self.skipped_records,
            "label_rows": self.label_rows,
            "by_fate": dict(sorted(self.by_fate.items())),
            "joined": self.joined,
            "joined_positive": self.joined_positive,
            "joined_by_day_workload": dict(sorted(self.joined_by_day_workload.items())),
            "unlabeled_by_cause": dict(sorted(self.unlabeled_by_cause.items())),
        }


class HiddenModel:
    """The hidden logistic model of one workload's labels (weights seeded per workload × feature)."""

    def __init__(self, workload: str, seed: int, logit_std: float, bias: float) -> None:
        self.bias = bias
        self.numeric: dict[str, tuple[float, float]] = {}  # id -> (weight, scale)
        self.categorical: dict[str, dict[str, float]] = {}  # id -> value -> weight
        variance = 0.0
        for fid, kind, param, null_rate in feature_schema(workload):
            rng = random.Random(f"{seed}|{workload}|{fid}")
            if kind == 2:
                raw = {value: rng.gauss(0.0, 1.0) for value in param}
                mean = sum(raw.values()) / len(raw)
                self.categorical[fid] = {v: w - mean for v, w in raw.items()}
                variance += sum(w * w for w in self.categorical[fid].values()) / len(raw)
            else:
                weight = rng.gauss(0.0, 1.0) if rng.random() < 0.7 else 0.0
                self.numeric[fid] = (weight, float(param))
                variance += weight * weight * (1.0 - null_rate)
        scale = logit_std / math.sqrt(variance) if variance > 0 else 0.0
        self.numeric = {fid: (w * scale, s) for fid, (w, s) in self.numeric.items()}
        self.categorical = {fid: {v: w * scale for v, w in ws.items()} for fid, ws in self.categorical.items()}

    def logit(self, features: dict[str, Any]) -> float:
        z = self.bias
        for fid, (weight, scale) in self.numeric.items():
            value = features.get(fid)
            if isinstance(value, int | float) and not isinstance(value, bool):
                z += weight * (value / scale - 0.5) * math.sqrt(12.0)  # uniform on [0, 1) → unit variance
        for fid, weights in self.categorical.items():
            z += weights.get(str(features.get(fid)), 0.0)
        return z

    def probability(self, features: dict[str, Any]) -> float:
        z = self.logit(features)
        return 1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Labeller:
    def __init__(self, config: LabelConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.models: dict[str, HiddenModel] = {}
        self.window_s = config.window_days * _DAY_S
        c = config
        edges, total = [], 0.0
        for fate, share in ((MISSING, c.missing_share), (LATE, c.late_share), (DUPLICATE, c.duplicate_share),
                            (BEFORE_EVENT, c.before_event_share)):  # fmt: skip
            total += share
            edges.append((total, fate))
        self.edges = edges

    def _fate(self) -> str:
        roll = self.rng.random()
        return next((fate for edge, fate in self.edges if roll < edge), ON_TIME)

    def _on_time_delay(self, cap_share: float = 0.9) -> float:
        c = self.config
        delay = math.exp(self.rng.gauss(math.log(c.median_delay_hours * 3600.0), c.delay_sigma))
        return min(max(delay, 1.0), cap_share * self.window_s)

    def _late_delay(self) -> float:
        return self.window_s + self.rng.uniform(600.0, 3 * _DAY_S)

    def outcome(self, record: dict[str, Any], event: dt.datetime) -> LabelOutcome:
        workload = str(record["workload_id"])
        model = self.models.get(workload)
        if model is None:
            model = self.models[workload] = HiddenModel(
                workload, self.config.seed, self.config.logit_std, self.config.bias
            )
        rng = self.rng
        y = int(rng.random() < model.probability(record["features"]))
        request_id = str(record["request_id"])
        fate = self._fate()

        def row(label: int, delay_s: float) -> dict[str, Any]:
            return {"request_id": request_id, "label": label, "label_ts": _iso(event + dt.timedelta(seconds=delay_s))}

        rows: list[dict[str, Any]]
        if fate == ON_TIME:
            rows = [row(y, self._on_time_delay())]
        elif fate == LATE:
            rows = [row(y, self._late_delay())]
        elif fate == BEFORE_EVENT:
            rows = [row(y, -rng.uniform(60.0, 6 * 3600.0))]
        elif fate == DUPLICATE:
            first = self._on_time_delay(cap_share=0.6)
            other = 1 - y if rng.random() < 0.5 else y
            if rng.random() < 0.7:  # corrected later, within the window
                rows = [row(other, first), row(y, first + rng.uniform(60.0, 0.3 * self.window_s))]
            else:  # a second label past the window, which must lose
                rows = [row(y, first), row(other, self._late_delay())]
            if rng.random() < 0.5:
                rows.reverse()  # file order must not matter
        else:
            rows = []
        joined = y if fate in (ON_TIME, DUPLICATE) else None
        return LabelOutcome(request_id, workload, event.date(), fate, y, joined, tuple(rows))


def synthesize_labels(
    records: Iterable[Any], config: LabelConfig, summary: LabelSummary | None = None
) -> Iterator[LabelOutcome]:
    """One :class:`LabelOutcome` per landable prediction record with a ``request_id``, in input order.

    Other records (LLM interactions, malformed ones) are skipped and counted in ``summary``.
    """
    labeller = _Labeller(config)
    for record in records:
        kind, _reason = classify_record(record)
        request_id = record.get("request_id") if kind == PREDICTION.kind else None
        if not isinstance(request_id, str) or not request_id:
            if summary is not None:
                summary.skipped_records += 1
            continue
        event = parse_timestamp(record["timestamp"])
        if event is None:  # classify_record has checked it; keeps the type checker honest
            continue
        yield labeller.outcome(record, event)


def read_records(path: Path) -> Iterator[Any]:
    """Log records from a JSONL file; a line that is not JSON yields ``None`` (then skipped)."""
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    yield None


def write_labels(records: Iterable[Any], path: Path, config: LabelConfig) -> LabelSummary:
    """Write the label lines for ``records`` to ``path`` (JSONL, overwritten); return the ground truth."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = LabelSummary()
    with path.open("w", encoding="utf-8") as fh:
        shown = progress(records, desc=f"labelling into {path.name}", unit="rec")
        for outcome in synthesize_labels(shown, config, summary):
            summary.add(outcome)
            for row in outcome.rows:
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    log.info(
        "wrote %d labels for %d predictions to %s (%d should join; %s)",
        summary.label_rows, summary.predictions, path, summary.joined,
        ", ".join(f"{k} {v}" for k, v in sorted(summary.by_fate.items())),
    )  # fmt: skip
    return summary
