"""The drift report's charts, inline SVG (no script, no external resource): the histogram of a
feature's reference against its current proportions per bin, and the trend of a metric over
the last windows measured against the same reference, with its thresholds."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

__all__ = ["Trend", "histogram_chart", "trend_chart"]

_REF_COLOUR, _CUR_COLOUR = "#4c78a8", "#f58518"
_LABEL_CHARS = 22  # longer bin labels are cut under the chart (the full label is the tooltip)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _tick_step(top: float) -> float:
    for step in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if top / step <= 5:
            return step
    return 0.25


def _props(props: tuple[float, ...], n: int) -> list[float]:
    return [max(_finite(p) or 0.0, 0.0) for p in props] if props else [0.0] * n


def histogram_chart(
    name: str, labels: tuple[str, ...], ref_props: tuple[float, ...], cur_props: tuple[float, ...], cur_count: int
) -> str:
    """Grouped bars, reference against current, one group per bin; y axis in percent."""
    n = len(labels)
    ref, cur = _props(ref_props, n), _props(cur_props, n)
    cur_empty = cur_count == 0 or not any(cur)
    note = '<p class="empty-note">Empty window: the current window has no rows for this feature.</p>'
    peak = max([*ref, *cur], default=0.0)
    if n == 0 or peak == 0:
        return note if cur_empty else '<p class="empty-note">No binned data for this feature.</p>'
    step = _tick_step(peak)
    top = math.ceil(peak / step - 1e-9) * step
    group = max(14.0, min(64.0, 960.0 / n))
    bar = group * 0.38
    # Labels turn 45° while there is room between them, else stand upright (many bins).
    angle = -45 if group >= 28 else -90
    label_px = 6.0 * min(max(len(label) for label in labels), _LABEL_CHARS)
    reach = label_px * (0.71 if angle == -45 else 1.0)
    left, right, head, plot_h = max(56.0, reach - group / 2 + 6), 16.0, 30.0, 220.0
    width, height = left + n * group + right, head + plot_h + reach + 20
    base = head + plot_h
    parts = [
        f'<svg class="hist" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(name)}: reference vs current">',
        f'<rect class="swatch" x="{left}" y="8" width="12" height="12" fill="{_REF_COLOUR}"/>'
        f'<text x="{left + 16}" y="18">reference</text>'
        f'<rect class="swatch" x="{left + 96}" y="8" width="12" height="12" fill="{_CUR_COLOUR}"/>'
        f'<text x="{left + 112}" y="18">current</text>',
    ]
    tick_format = ".0%" if step >= 0.01 else ".1%"
    for i in range(round(top / step) + 1):
        y = base - plot_h * (i * step) / top
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.2f}" y2="{y:.2f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.2f}" text-anchor="end">{i * step:{tick_format}}</text>'
        )
    for i, label in enumerate(labels):
        x0 = left + i * group + (group - 2 * bar) / 2
        for cls, props, x in (("ref", ref, x0), ("cur", cur, x0 + bar)):
            h = props[i] / top * plot_h  # full precision: heights stay proportional to the proportions
            colour = _REF_COLOUR if cls == "ref" else _CUR_COLOUR
            parts.append(
                f'<rect class="bar {cls}" x="{x:.2f}" y="{base - h!r}" width="{bar:.2f}" height="{h!r}" '
                f'fill="{colour}" data-prop="{props[i]!r}"><title>{_e(label)} · '
                f"{'reference' if cls == 'ref' else 'current'} {props[i]:.2%}</title></rect>"
            )
        shown = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        lx, ly = left + i * group + group / 2 + (4 if angle == -90 else 0), base + 10
        parts.append(
            f'<text class="bin" x="{lx:.2f}" y="{ly:.2f}" text-anchor="end" '
            f'transform="rotate({angle} {lx:.2f} {ly:.2f})"><title>{_e(label)}</title>{_e(shown)}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/></svg>')
    return (note if cur_empty else "") + "".join(parts)


@dataclass(frozen=True)
class Trend:
    """One metric of one feature over the last windows measured against the same reference
    (oldest first), as ``metrics.drift`` holds it, with the thresholds of the latest window."""

    metric: str
    windows: tuple[str, ...]
    values: tuple[float | None, ...]
    statuses: tuple[str, ...]
    warn: float | None = None
    alert: float | None = None


def trend_chart(name: str, trend: Trend) -> str:
    """A small line chart of ``trend``: one point per window (its status as its class, a gap
    where a window has no value), dashed lines at the warn and alert thresholds."""
    points = [(i, v) for i, v in enumerate(map(_finite, trend.values)) if v is not None]
    if not points:
        return '<p class="empty-note">No earlier value of this metric.</p>'
    limits = [t for t in (trend.warn, trend.alert) if t is not None]
    top = max([abs(v) for _, v in points] + limits) * 1.15 or 1.0
    left, right, head, plot_h, step = 52.0, 70.0, 10.0, 90.0, 44.0
    width, height = left + max(len(trend.windows) - 1, 1) * step + right, head + plot_h + 34
    base = head + plot_h

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return base - abs(v) / top * plot_h

    parts = [
        f'<svg class="trend" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{_e(name)}: {_e(trend.metric)} over the last {len(trend.windows)} window(s)" '
        f'data-metric="{_e(trend.metric)}">',
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>',
        f'<text class="tick" x="{left - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    for cls, t in (("warn", trend.warn), ("alert", trend.alert)):
        if t is not None:
            parts.append(
                f'<line class="threshold {cls}" x1="{left}" x2="{width - right}" y1="{y(t):.2f}" y2="{y(t):.2f}" '
                f'data-threshold="{t!r}"/><text class="tick" x="{width - right + 4}" y="{y(t) + 4:.2f}">'
                f"{cls} {t:.3g}</text>"
            )
    # a gap where a window has no value: one polyline per run of consecutive points
    runs: list[list[tuple[int, float]]] = []
    for i, v in points:
        if runs and runs[-1][-1][0] == i - 1:
            runs[-1].append((i, v))
        else:
            runs.append([(i, v)])
    for run in runs:
        coords = " ".join(f"{x(i):.2f},{y(v):.2f}" for i, v in run)
        parts.append(f'<polyline class="line" points="{coords}"/>')
    for i, v in points:
        window, status = trend.windows[i], trend.statuses[i]
        parts.append(
            f'<circle class="point st-{_e(status)}" cx="{x(i):.2f}" cy="{y(v):.2f}" r="3.5" '
            f'data-window="{_e(window)}" data-value="{v!r}" data-status="{_e(status)}">'
            f"<title>{_e(window)}: {v:.4g} ({_e(status)})</title></circle>"
        )
    for i in sorted({0, len(trend.windows) - 1}):
        anchor = "start" if i == 0 and len(trend.windows) > 1 else "end"
        parts.append(
            f'<text class="tick" x="{x(i):.2f}" y="{base + 16}" text-anchor="{anchor}">{_e(trend.windows[i])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
