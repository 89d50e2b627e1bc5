"""The drift job's report: one self-contained HTML page per run (inline CSS and SVG, no script,
no external resource), so it opens from a file, a CI artifact or an e-mail alike.

The drift job builds a :class:`RunReport` of :class:`FeatureReport` (one per workload, feature
and slice) and calls :func:`write_report`. The page lists every feature worst first
(:func:`severity_key`), then one section per feature with its metrics and a histogram of the
reference against the current window."""

from __future__ import annotations

import hashlib
import html
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.drift.drift_charts import Trend, histogram_chart, trend_chart
from jobs.drift.report_style import HELP_HTML as _HELP
from jobs.drift.report_style import REPORT_CSS as _CSS

__all__ = [
    "FeatureReport",
    "MetricValue",
    "RunReport",
    "histogram_svg",
    "render_report",
    "severity_key",
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


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


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


def _metric_cell(m: MetricValue | None, prefix: str = "") -> str:
    if m is None:
        return '<td class="metric">—</td>'
    return (
        f'<td class="metric st-{_e(m.status)}" data-metric="{_e(m.metric)}" data-status="{_e(m.status)}" '
        f'title="{_e(_METRIC_LABELS.get(m.metric, m.metric))}: {_e(m.status)}">{_e(prefix)}{_e(_value_text(m))}</td>'
    )


def _badge(status: str) -> str:
    return f'<span class="badge st-{_e(status)}">{_e(status)}</span>'


def _summary_row(f: FeatureReport) -> str:
    shape = _metric(f, "ks") if f.feature_type == "numeric" else None
    shape = shape or _metric(f, "ks", "js_distance", "js_divergence")
    prefix = {"ks": "KS ", "js_distance": "JS dist ", "js_divergence": "JS div "}.get(shape.metric, "") if shape else ""
    return (
        f'<tr class="feature-row" data-status="{_e(f.status)}" data-workload="{_e(f.workload_id)}" '
        f'data-feature="{_e(f.feature)}" data-slice="{_e(f.slice)}">'
        f"<td>{_badge(f.status)}</td><td>{_e(f.workload_id)}</td>"
        f'<td><a href="#{_anchor(f)}">{_e(f.feature)}</a></td><td>{_e(f.slice or "—")}</td>'
        f'<td>{_e(f.feature_type)}</td><td class="num">{f.ref_count:,}</td><td class="num">{f.cur_count:,}</td>'
        f'<td class="num">{_pct(f.ref_null_rate)} → {_pct(f.cur_null_rate)}</td>'
        f"{_metric_cell(_metric(f, 'psi'))}{_metric_cell(shape, prefix)}</tr>"
    )


def _metric_table(f: FeatureReport) -> str:
    if not f.metrics:
        return '<p class="facts">No metrics were computed for this feature.</p>'
    rows = "".join(
        f'<tr data-metric="{_e(m.metric)}" data-status="{_e(m.status)}">'
        f"<td>{_e(_METRIC_LABELS.get(m.metric, m.metric))}</td>"
        f'<td class="num st-{_e(m.status)}">{_e(_value_text(m))}</td>'
        f'<td class="num">{_e(_num(m.warn))}</td><td class="num">{_e(_num(m.alert))}</td>'
        f'<td class="num noise-floor">{_e(_num(m.noise_floor))}</td><td class="num p-value">{_e(_p(m.p_value))}</td>'
        f"<td>{_badge(m.status)}</td><td class=\"reason\">{_e(m.reason or '')}</td><td>{_e(m.note or '')}</td></tr>"
        for m in f.metrics
    )
    return (
        '<table class="metrics"><thead><tr><th>metric</th><th>value</th><th>warn</th><th>alert</th>'
        "<th>noise floor</th><th>p-value</th><th>status</th><th>reason</th><th>note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _p(v: float | None) -> str:
    v = _finite(v)
    return "—" if v is None else (f"{v:.2g}" if v < 1e-3 else f"{v:.3f}")


def _histogram(f: FeatureReport) -> str:
    return histogram_chart(f.feature, f.bin_labels, f.ref_props, f.cur_props, f.cur_count)


def histogram_svg(feature: FeatureReport) -> str:
    """The feature's histogram as the report draws it, for a notebook or another page: an
    inline ``<svg>`` of the reference against the current proportions per bin, preceded by a
    ``<p>`` note when the current window is empty (only the note when nothing can be drawn).
    Its grid and axis lines take their colour from the report's stylesheet."""
    return _histogram(feature)


def _trend(f: FeatureReport, trend: Trend | None) -> str:
    if trend is None:
        return ""
    label = _METRIC_LABELS.get(trend.metric, trend.metric)
    return (
        f'<div class="chart trend-chart"><p class="facts">{_e(label)} over the last {len(trend.windows)} '
        f"window(s) against this reference</p>{trend_chart(f.feature, trend)}</div>"
    )


def _section(f: FeatureReport, trend: Trend | None = None) -> str:
    where = f" · {f.slice}" if f.slice else ""
    return (
        f'<section class="feature" id="{_anchor(f)}" data-status="{_e(f.status)}" data-feature="{_e(f.feature)}" '
        f'data-workload="{_e(f.workload_id)}" data-slice="{_e(f.slice)}">'
        f"<h2>{_badge(f.status)} {_e(f.workload_id)} · {_e(f.feature)}{_e(where)}</h2>"
        f'<p class="facts">{_e(f.feature_type)} · reference {f.ref_count:,} rows, current {f.cur_count:,} rows · '
        f"null rate {_pct(f.ref_null_rate)} → {_pct(f.cur_null_rate)} · {len(f.bin_labels)} bins</p>"
        f'{_metric_table(f)}<div class="chart">{_histogram(f)}</div>{_trend(f, trend)}'
        '<p><a href="#summary">back to summary</a></p>'
        "</section>"
    )


def _counts(features: Iterable[FeatureReport]) -> dict[str, int]:
    counts = dict.fromkeys(_STATUS_RANK, 0)
    for f in features:
        counts[f.status] = counts.get(f.status, 0) + 1
    return counts


def _slice_of(row: dict[str, Any]) -> str:
    return f"{row['slice_column']}={row['slice_value']}" if row["slice_column"] else "—"


def _verdicts(datasets: tuple[dict[str, Any], ...]) -> str:
    """The dataset verdict per workload (and slice): the share of its features in alert."""
    if not datasets:
        return ""
    rows = "".join(
        f'<tr class="dataset-row" data-status="{_e(d["status"])}" data-workload="{_e(d["workload_id"])}">'
        f"<td>{_badge(d['status'])}</td><td>{_e(d['workload_id'])}</td>"
        f"<td>{_e(_slice_of(d))}</td>"
        f'<td class="num">{d["cur_count"]} of {d["ref_count"]}</td><td class="num">{_pct(d["value"])}</td>'
        f'<td class="num">{_pct(d["alert_threshold"])}</td></tr>'
        for d in datasets
    )
    return (
        '<table class="datasets" id="datasets"><thead><tr><th>dataset</th><th>workload</th><th>slice</th>'
        "<th>features in alert</th><th>share</th><th>drift share</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_report(run: RunReport) -> str:
    """The whole report as one HTML page (no script, no external resource)."""
    features = sorted(run.features, key=severity_key)
    counts = _counts(features)
    count_html = "".join(
        f'<span class="count" data-status="{_e(s)}">{_badge(s)} <span class="n">{counts[s]}</span></span>'
        for s in ("alert", "warn", "ok", "empty")
    )
    header = (
        f'<header><h1>Drift report · {_e(run.run_id)}</h1><dl class="run">'
        f'<dt>run</dt><dd id="run-id">{_e(run.run_id)}</dd><dt>computed at</dt><dd>{_e(run.computed_at)}</dd>'
        f'<dt>window</dt><dd id="window">{_e(run.window)}</dd>'
        f'<dt>reference</dt><dd id="reference">{_e(run.reference)}</dd>'
        f'<dt>compared with</dt><dd id="drift-type">{_e(run.drift_type)}</dd>'
        f'<dt>KS mode</dt><dd id="ks-mode">{_e(run.ks_mode)}</dd>'
        f"<dt>features</dt><dd>{len(features)}</dd></dl>"
        f'<div class="counts" id="counts">{count_html}</div>{_verdicts(run.datasets)}</header>'
    )
    summary = (
        '<h2 id="summary">Features, worst first</h2><table class="summary"><thead><tr><th>status</th><th>workload</th>'
        "<th>feature</th><th>slice</th><th>type</th><th>ref count</th><th>cur count</th><th>null rate ref → cur</th>"
        f"<th>PSI</th><th>KS / JS</th></tr></thead><tbody>{''.join(_summary_row(f) for f in features)}</tbody></table>"
    )
    body = header + f'<div class="help">{_HELP}</div>' + summary
    body += "".join(_section(f, run.trends.get((f.workload_id, f.slice, f.feature))) for f in features)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Drift report · {_e(run.run_id)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


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
