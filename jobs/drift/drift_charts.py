"""The drift report's charts, inline SVG (no script, no external resource): the histogram of a
feature's reference against its current proportions per bin."""

from __future__ import annotations

import html
import math

__all__ = ["histogram_chart"]

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
