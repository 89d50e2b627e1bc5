"""The drift job's report: one self-contained HTML page per run (inline CSS and SVG, no script,
no external resource), so it opens from a file, a CI artifact or an e-mail alike.

The drift job builds a :class:`RunReport` of :class:`FeatureReport` (one per workload, feature
and slice) and calls :func:`write_report`. The page lists every feature worst first
(:func:`severity_key`), then one section per feature with its metrics, a histogram of the
reference against the current window and the trend of its headline metric.

The page is the Jinja2 template ``templates/drift_report.html.j2`` (its feature sections in
``drift_feature.html.j2``, its stylesheet in ``drift_report.css``; see
:mod:`jobs.lib.report_pages`); the charts are Matplotlib's SVG (:mod:`jobs.drift.drift_charts`).
This module orders the features and works out what each section shows."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from jobs.drift.drift_charts import CUR_COLOUR, REF_COLOUR, STATUS_COLOURS, Trend, histogram_chart, trend_chart
from jobs.lib.report_pages import page_environment

__all__ = [
    "FeatureReport",
    "MetricValue",
    "RunReport",
    "histogram_svg",
    "render_report",
    "severity_key",
    "trend_svg",
    "write_report",
]

log = logging.getLogger(__name__)

_STATUS_RANK = {"alert": 0, "warn": 1, "ok": 2, "empty": 3}
_METRIC_LABELS = {
    "psi": "PSI",
    "ks": "KS",
    "js_divergence": "JS divergence",
    "js_distance": "JS distance",
    "hellinger_distance": "Hellinger distance",
    "tv_distance": "total variation",
    "l_infinity_distance": "L∞ distance",
    "chi_squared_test": "χ² statistic",
    "null_rate_delta": "null-rate delta",
    "count_delta": "count delta",
}


@dataclass(frozen=True)
class MetricValue:
    """One drift metric of one feature, with the thresholds it was judged against."""

    metric: str
    value: float | None
    warn: float | None
    alert: float | None
    status: str
    lower: float | None = None
    upper: float | None = None
    note: str | None = None
    noise_floor: float | None = None
    """The value sampling noise alone exceeds with probability ``alpha`` at these counts."""
    p_value: float | None = None
    alpha: float | None = None
    reason: str | None = None
    """``material``, ``below noise`` or ``below threshold`` (None: informational or empty)."""


@dataclass(frozen=True)
class FeatureReport:
    """One feature (of one workload and slice): counts, binned proportions and metrics."""

    workload_id: str
    feature: str
    feature_type: str
    slice: str
    status: str
    ref_count: int
    cur_count: int
    ref_null_rate: float | None
    cur_null_rate: float | None
    bin_labels: tuple[str, ...]
    ref_props: tuple[float, ...]
    cur_props: tuple[float, ...]
    metrics: tuple[MetricValue, ...]

    def __post_init__(self) -> None:
        # An empty tuple stands for "no rows"; any other length must match the bins.
        for name in ("ref_props", "cur_props"):
            props = getattr(self, name)
            if props and len(props) != len(self.bin_labels):
                raise ValueError(
                    f"{self.workload_id}/{self.feature}: {name} has {len(props)} values for {len(self.bin_labels)} bins"
                )


@dataclass(frozen=True)
class RunReport:
    """One drift run: which window was compared with which reference, and every feature."""

    run_id: str
    computed_at: str
    window: str
    reference: str
    ks_mode: str
    features: tuple[FeatureReport, ...]
    datasets: tuple[dict[str, Any], ...] = ()
    """The dataset verdicts: ``metrics.drift``'s ``dataset_drift`` rows of the run."""
    drift_type: str = "baseline"
    """``baseline`` (against the stored profile) or ``consecutive`` (against the previous window)."""
    trends: dict[tuple[str, str, str], Trend] = field(default_factory=dict)
    """(workload, slice, feature) → its headline metric over the last windows (``metrics.drift``)."""


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _point(m: MetricValue) -> float | None:
    """The metric's value; in KS bounded mode without a point value, the upper bound (worst case)."""
    return _finite(m.value) if _finite(m.value) is not None else _finite(m.upper)


def _ratio(m: MetricValue) -> float:
    """How far past its alert threshold a metric is (1.0 = at the threshold)."""
    v = _point(m)
    if v is None or m.alert is None:
        return 0.0
    if m.alert == 0:
        return math.inf if v != 0 else 0.0
    return abs(v) / abs(m.alert)


def severity_key(f: FeatureReport) -> tuple[int, float, str, str, str]:
    """Sort key, worst first: alert, warn, ok, empty; within a status the feature whose worst
    thresholded metric is furthest past its alert threshold; then workload, feature, slice."""
    thresholded = [m for m in f.metrics if m.alert is not None]
    worst = min(thresholded, key=lambda m: (_STATUS_RANK.get(m.status, 9), -_ratio(m)), default=None)
    ratio = _ratio(worst) if worst is not None else 0.0
    return (_STATUS_RANK.get(f.status, len(_STATUS_RANK)), -ratio, f.workload_id, f.feature, f.slice)


def _num(v: float | None) -> str:
    v = _finite(v)
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _pct(v: float | None) -> str:
    v = _finite(v)
    return "—" if v is None else f"{v:.2%}"


def _p(v: float | None) -> str:
    v = _finite(v)
    return "—" if v is None else (f"{v:.2g}" if v < 1e-3 else f"{v:.3f}")


def _value_text(m: MetricValue) -> str:
    lo, hi = _finite(m.lower), _finite(m.upper)
    if lo is not None and hi is not None and lo != hi:
        return f"{_num(lo)}–{_num(hi)}"
    return _num(m.value if _finite(m.value) is not None else lo)


def _anchor(f: FeatureReport) -> str:
    key = "\x1f".join((f.workload_id, f.feature, f.slice))
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{f.workload_id}-{f.feature}-{f.slice}").strip("-")[:60]
    return f"feature-{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _metric(f: FeatureReport, *names: str) -> MetricValue | None:
    by_name = {m.metric: m for m in f.metrics}
    return next((by_name[n] for n in names if n in by_name), None)


_ENV = page_environment(
    "jobs.drift",
    {
        "num": _num,
        "pct": _pct,
        "p_value": _p,
        "value_text": _value_text,
        "metric_label": lambda metric: _METRIC_LABELS.get(metric, metric),
        "count": lambda n: f"{n:,}",
        "exact": lambda v: "" if v is None else repr(v),  # data-* attributes: every digit, for a reader
    },
)
_ENV.globals["colours"] = {"ref": REF_COLOUR, "cur": CUR_COLOUR, **STATUS_COLOURS}


@dataclass(frozen=True)
class _Section:
    """What the page shows of one feature, beyond the feature itself: its anchor, the summary's
    two metrics and its charts (SVG from :mod:`jobs.drift.drift_charts`, None: nothing to draw)."""

    f: FeatureReport
    anchor: str
    psi: MetricValue | None
    shape: MetricValue | None
    shape_prefix: str
    cur_empty: bool
    histogram: Markup | None
    trend: Trend | None
    trend_svg: Markup | None


def _section(f: FeatureReport, trend: Trend | None) -> _Section:
    anchor = _anchor(f)
    shape = _metric(f, "ks") if f.feature_type == "numeric" else None
    shape = shape or _metric(f, "ks", "js_distance", "js_divergence")
    prefix = {"ks": "KS ", "js_distance": "JS dist ", "js_divergence": "JS div "}.get(shape.metric, "") if shape else ""
    return _Section(
        f=f,
        anchor=anchor,
        psi=_metric(f, "psi"),
        shape=shape,
        shape_prefix=prefix,
        cur_empty=f.cur_count == 0 or not any((_finite(p) or 0.0) > 0 for p in f.cur_props),
        histogram=histogram_chart(f"{anchor}-hist", f.bin_labels, f.ref_props, f.cur_props),
        trend=trend,
        trend_svg=trend_chart(f"{anchor}-trend", trend) if trend is not None else None,
    )


def _macro(name: str) -> Any:
    return getattr(_ENV.get_template("drift_feature.html.j2").module, name)


def histogram_svg(feature: FeatureReport) -> str:
    """The feature's histogram as the report draws it, for a notebook or another page: an
    inline ``<svg>`` of the reference against the current proportions per bin with its data
    table, preceded by a ``<p>`` note when the current window is empty (only the note when
    nothing can be drawn)."""
    return str(_macro("histogram")(_section(feature, None)))


def trend_svg(name: str, trend: Trend) -> str:
    """A feature's trend as the report draws it, for a notebook: an inline ``<svg>`` (its ids
    under ``name``) with its data table, or a note when no window has a value."""
    return str(_macro("trend")(trend, trend_chart(f"{name}-trend", trend)))


def _counts(features: Iterable[FeatureReport]) -> dict[str, int]:
    counts = dict.fromkeys(_STATUS_RANK, 0)
    for f in features:
        counts[f.status] = counts.get(f.status, 0) + 1
    return counts


def render_report(run: RunReport) -> str:
    """The whole report as one HTML page (no script, no external resource)."""
    features = sorted(run.features, key=severity_key)
    sections = [_section(f, run.trends.get((f.workload_id, f.slice, f.feature))) for f in features]
    return _ENV.get_template("drift_report.html.j2").render(run=run, sections=sections, counts=_counts(features))


def write_report(run: RunReport, path: Path) -> Path:
    """Render ``run`` and write it to ``path`` (UTF-8, parent folders created); returns ``path``."""
    text = render_report(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    counts = _counts(run.features)
    log.info(
        "drift report %s written to %s (%d alert, %d warn, %d ok, %d empty)",
        run.run_id,
        path,
        counts["alert"],
        counts["warn"],
        counts["ok"],
        counts["empty"],
    )
    return path
