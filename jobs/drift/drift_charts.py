"""The drift report's charts, drawn with Matplotlib and written as inline SVG (no script, no
external resource, text kept as text): the histogram of a feature's reference against its
current proportions per bin, and the trend of a metric over the last windows measured against
the same reference, with its thresholds.

Charts are drawn on a :class:`matplotlib.figure.Figure` without pyplot (no GUI backend, no
global current figure), one figure per kind of chart reused from chart to chart (see
:class:`_Canvas`), under a lock. The SVG is deterministic (a fixed ``svg.hashsalt`` for the
hashed ids of clip paths and markers, no date) and every id in it is under the chart's id, so
that many charts in one page share none. The elements a reader (or a test) looks for have
stable ids, set with Matplotlib's ``gid``:

* histogram ``<chart>``: ``<chart>-bar-ref-<i>`` and ``<chart>-bar-cur-<i>`` per bin ``i``,
  ``<chart>-zero`` the axis at 0;
* trend ``<chart>``: ``<chart>-point-<i>`` per window ``i`` with a value (coloured by its
  status), ``<chart>-line-<k>`` per run of consecutive points (a gap where a window has no
  value), ``<chart>-threshold-warn`` / ``-alert``, ``<chart>-zero`` the axis at 0."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import matplotlib as mpl
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from jobs.lib.report_pages import inline_svg

__all__ = ["CUR_COLOUR", "REF_COLOUR", "STATUS_COLOURS", "Trend", "histogram_chart", "trend_chart"]

REF_COLOUR, CUR_COLOUR = "#4c78a8", "#f58518"
STATUS_COLOURS = {"ok": "#4c78a8", "warn": "#e0a000", "alert": "#c62828"}
_NO_STATUS_COLOUR = "#9e9e9e"
_LABEL_CHARS = 22  # longer bin labels are cut under the chart (the full label is in the chart's data table)
_CHAR_PT = 4.9  # about 0.6 em a character of DejaVu Sans at 8 pt: room left for the labels
_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # <text> elements: no glyph outlines, nothing to fetch, readable by tests
    "svg.hashsalt": "skewguard",  # the ids of clip paths and markers are hashes: the same every run
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "text.parse_math": False,  # a "$" in a category is a dollar sign, not mathtext
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "ytick.major.size": 3,
}
_LOCK = threading.Lock()  # rcParams and the reused figures are per process: one chart at a time


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _chart_id(text: str) -> str:
    """``text`` as an id (letters, digits, ``_`` and ``-``), for the svg and its elements."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "chart"


class _Canvas:
    """One figure and axes reused for every chart of a kind, its artists pooled (hidden when a
    chart needs fewer): a fresh figure per chart costs about as much again as drawing it.
    Built and drawn only under :data:`_LOCK` and the charts' rcParams."""

    def __init__(self) -> None:
        self.fig = Figure(dpi=72)
        self.ax = self.fig.add_axes((0, 0, 1, 1))

    def place(self, width: float, height: float, left: float, bottom: float, plot_w: float, plot_h: float) -> None:
        """Figure and plot area in points (1/72 in, the SVG's user unit)."""
        self.fig.set_size_inches(width / 72, height / 72)
        self.ax.set_position((left / width, bottom / height, plot_w / width, plot_h / height))

    def svg(self, ident: str) -> Markup:
        """The figure as an inline ``<svg>``: no XML prolog, no doctype, no metadata, every id
        under ``ident``. Matplotlib escapes the text it writes, so the result is safe markup."""
        return inline_svg(self.fig, ident)


def _pool(items: list[Any], n: int, make: Callable[[], Any]) -> list[Any]:
    """The first ``n`` of ``items`` (made as needed), shown; the others hidden."""
    while len(items) < n:
        items.append(make())
    for k, item in enumerate(items):
        item.set_visible(k < n)
    return items[:n]


_C = TypeVar("_C", bound=_Canvas)
_CANVASES: dict[str, Any] = {}


@contextmanager
def _canvas(kind: type[_C]) -> Iterator[_C]:
    with _LOCK, mpl.rc_context(_RC):
        canvas = _CANVASES.get(kind.__name__)
        if canvas is None:
            canvas = _CANVASES[kind.__name__] = kind()
        yield canvas


def _tick_step(top: float) -> float:
    for step in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if top / step <= 5:
            return step
    return 0.25


def _props(props: tuple[float, ...], n: int) -> list[float]:
    return [max(_finite(p) or 0.0, 0.0) for p in props] if props else [0.0] * n


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


class _Histogram(_Canvas):
    def __init__(self) -> None:
        super().__init__()
        ax = self.ax
        self.bars: dict[str, list[Rectangle]] = {"ref": [], "cur": []}
        ax.yaxis.grid(True, color="#e6e8eb", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", bottom=False, pad=3)

    def bar(self, kind: str) -> Rectangle:
        colour = REF_COLOUR if kind == "ref" else CUR_COLOUR
        return self.ax.add_patch(Rectangle((0, 0), 0, 0, facecolor=colour, linewidth=0))


def histogram_chart(
    ident: str, labels: tuple[str, ...], ref_props: tuple[float, ...], cur_props: tuple[float, ...]
) -> Markup | None:
    """Grouped bars, reference (:data:`REF_COLOUR`) against current (:data:`CUR_COLOUR`), one group
    per bin; y axis in percent. No legend: the page has one per chart, in HTML (the same for
    every chart, so drawing it in each SVG would be a fifth of the chart's time). None when
    there is nothing to draw (no bins, or every proportion 0)."""
    n = len(labels)
    ref, cur = _props(ref_props, n), _props(cur_props, n)
    peak = max([*ref, *cur], default=0.0)
    if n == 0 or peak == 0:
        return None
    ident = _chart_id(ident)
    step = _tick_step(peak)
    top = math.ceil(peak / step - 1e-9) * step
    ticks = [i * step for i in range(round(top / step) + 1)]
    shown = [_short(label) for label in labels]
    group = max(11.0, min(48.0, 720.0 / n))  # points per bin
    # Labels turn 45° while there is room between them, else stand upright (many bins).
    angle = 45 if group >= 21 else 90
    reach = _CHAR_PT * max(len(s) for s in shown) * (0.71 if angle == 45 else 1.0) + 10
    left, right, head, plot_h = 40.0, 12.0, 8.0, 165.0
    with _canvas(_Histogram) as canvas:
        canvas.place(left + n * group + right, head + plot_h + reach, left, reach, n * group, plot_h)
        ax = canvas.ax
        for kind, props, x0 in (("ref", ref, -0.38), ("cur", cur, 0.0)):
            for i, bar in enumerate(_pool(canvas.bars[kind], n, lambda k=kind: canvas.bar(k))):
                bar.set_bounds(i + x0, 0, 0.38, props[i])
                bar.set_gid(f"{ident}-bar-{kind}-{i}")
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(0, top)
        ax.set_yticks(ticks, [f"{t:{'.0%' if step >= 0.01 else '.1%'}}" for t in ticks])
        va = "top" if angle == 45 else "center"
        ax.set_xticks(range(n), shown, rotation=angle, ha="right", va=va, rotation_mode="anchor")
        ax.spines["bottom"].set_gid(f"{ident}-zero")
        return canvas.svg(ident)


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


def _runs(indexes: list[int]) -> list[list[int]]:
    """Consecutive indexes together: a gap where a window has no value."""
    runs: list[list[int]] = []
    for i in indexes:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


class _TrendChart(_Canvas):
    def __init__(self) -> None:
        super().__init__()
        ax = self.ax
        self.points: list[Line2D] = []
        self.lines: list[Line2D] = []
        self.thresholds = {
            cls: (
                ax.axhline(0, color=STATUS_COLOURS[cls], linewidth=1, linestyle=(0, (4, 3))),
                ax.text(1.02, 0, "", transform=ax.get_yaxis_transform(), va="center", color="#333333"),
            )
            for cls in ("warn", "alert")
        }
        ax.set_yticks([0], ["0"])

    def point(self) -> Line2D:
        return self.ax.plot([0], [0], linestyle="none", marker="o", markersize=5, clip_on=False)[0]

    def line(self) -> Line2D:
        return self.ax.plot([0], [0], color=REF_COLOUR, linewidth=1.5)[0]


def trend_chart(ident: str, trend: Trend) -> Markup | None:
    """A small line chart of ``trend``: one point per window with a value (coloured by its
    status), a line through consecutive points, dashed lines at the warn and alert thresholds.
    The y axis is the metric's magnitude from 0. None when no window has a value."""
    values = {i: abs(v) for i, v in enumerate(map(_finite, trend.values)) if v is not None}
    if not values:
        return None
    ident = _chart_id(ident)
    limits = {"warn": _finite(trend.warn), "alert": _finite(trend.alert)}
    top = max([*values.values(), *(abs(t) for t in limits.values() if t is not None)]) * 1.15 or 1.0
    n = len(trend.windows)
    plot_w = max((n - 1) * 32.0, 120.0)
    with _canvas(_TrendChart) as canvas:
        canvas.place(28 + plot_w + 58, 8 + 80 + 22, 28, 22, plot_w, 80)
        ax = canvas.ax
        ax.set_xlim(-0.3, max(n - 1, 1) + 0.3)
        ax.set_ylim(0, top)
        for cls, (line, label) in canvas.thresholds.items():
            t = limits[cls]
            line.set_visible(t is not None)
            label.set_visible(t is not None)
            if t is not None:
                line.set_ydata([abs(t), abs(t)])
                line.set_gid(f"{ident}-threshold-{cls}")
                label.set_y(abs(t))
                label.set_text(f"{cls} {t:.3g}")
        runs = _runs(sorted(values))
        for k, (line, run) in enumerate(zip(_pool(canvas.lines, len(runs), canvas.line), runs, strict=True)):
            line.set_data(run, [values[i] for i in run])
            line.set_gid(f"{ident}-line-{k}")
        for point, (i, v) in zip(_pool(canvas.points, len(values), canvas.point), values.items(), strict=True):
            point.set_data([i], [v])
            point.set_color(STATUS_COLOURS.get(trend.statuses[i], _NO_STATUS_COLOUR))
            point.set_gid(f"{ident}-point-{i}")
        ends = sorted({0, n - 1})
        ax.set_xticks(ends, [trend.windows[i] for i in ends])
        for label, i in zip(ax.get_xticklabels(), ends, strict=True):
            label.set_horizontalalignment("center" if n == 1 else "left" if i == 0 else "right")
        ax.spines["bottom"].set_gid(f"{ident}-zero")
        return canvas.svg(ident)
