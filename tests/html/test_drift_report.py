"""The drift report as a browser shows it: written by write_report, loaded in headless Chromium,
and checked in the DOM Chromium built (order, counts, escaping, and the charts' geometry as
Matplotlib drew it: bars, trend points and thresholds), plus a screenshot."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jobs.drift.drift_charts import STATUS_COLOURS, Trend
from jobs.drift.drift_report import FeatureReport, MetricValue, RunReport, severity_key, write_report
from tests.html.chromium import dump_dom, screenshot

pytestmark = pytest.mark.browser

HOSTILE = 'amount<script>alert("x")</script>'
HOSTILE_CATEGORY = "<u>US</u> & $1$"  # markup, an entity and mathtext: all shown as typed


def _psi(value: float | None, status: str) -> MetricValue:
    return MetricValue("psi", value, 0.1, 0.2, status)


ALERT = FeatureReport(
    workload_id="fraud",
    feature="f003",
    feature_type="numeric",
    slice="",
    status="alert",
    ref_count=10_000,
    cur_count=9_500,
    ref_null_rate=0.01,
    cur_null_rate=0.012,
    bin_labels=("(-inf, 0.12]", "(0.12, 0.5]", "(0.5, 1.7]", "(1.7, 3.1]", "(3.1, +inf)", "null"),
    ref_props=(0.2468013579, 0.2469, 0.2462986421, 0.15, 0.1, 0.01),
    cur_props=(0.0312345678, 0.1234567891, 0.3, 0.2929086431, 0.2404, 0.012),
    metrics=(
        _psi(0.35, "alert"),
        MetricValue("ks", 0.225, 0.1, 0.2, "alert", lower=0.21, upper=0.24, note="bounded, refined 3 bins"),
        MetricValue("ks_pvalue", 1e-30, None, None, "info", note="not an alarm at this N"),
        MetricValue("null_rate_delta", 0.002, 0.02, 0.05, "ok"),
        MetricValue("count_delta", -0.05, 0.5, 0.8, "ok"),
    ),
)
WARN = FeatureReport(
    workload_id="fraud",
    feature="country",
    feature_type="categorical",
    slice="model_version=v2",
    status="warn",
    ref_count=4_000,
    cur_count=4_200,
    ref_null_rate=0.0,
    cur_null_rate=0.0,
    bin_labels=("DE", "FR", HOSTILE_CATEGORY, "__other__", "__null__", "__unseen__"),
    ref_props=(0.4, 0.3, 0.2, 0.1, 0.0, 0.0),
    cur_props=(0.35, 0.25, 0.2, 0.1, 0.0, 0.1),
    metrics=(
        _psi(0.15, "warn"),
        MetricValue("js_divergence", 0.06, 0.04, 0.09, "warn"),
        MetricValue("js_distance", 0.2449, 0.2, 0.3, "warn"),
    ),
)
OK = FeatureReport(
    workload_id="fraud",
    feature=HOSTILE,
    feature_type="numeric",
    slice="",
    status="ok",
    ref_count=10_000,
    cur_count=10_100,
    ref_null_rate=None,
    cur_null_rate=None,
    bin_labels=("(-inf, 10]", "(10, 100]", "(100, +inf)"),
    ref_props=(0.3, 0.5, 0.2),
    cur_props=(0.31, 0.49, 0.2),
    metrics=(_psi(0.002, "ok"), MetricValue("ks", 0.01, 0.1, 0.2, "ok", note="exact")),
)
EMPTY = FeatureReport(
    workload_id="churn",
    feature="tenure_days",
    feature_type="numeric",
    slice="",
    status="empty",
    ref_count=5_000,
    cur_count=0,
    ref_null_rate=0.0,
    cur_null_rate=None,
    bin_labels=("(-inf, 30]", "(30, 365]", "(365, +inf)", "null"),
    ref_props=(0.25, 0.5, 0.25, 0.0),
    cur_props=(0.0, 0.0, 0.0, 0.0),
    metrics=(_psi(None, "empty"), MetricValue("ks", None, 0.1, 0.2, "empty")),
)
RUN = RunReport(
    run_id="drift-20241121-001",
    computed_at="2024-11-22T03:00:00+00:00",
    window="2024-11-21",
    reference="silver.labeled_examples@v3 (training set fraud_20241120_20241120)",
    ks_mode="bounded",
    # Deliberately not in severity order: the page sorts.
    features=(OK, EMPTY, WARN, ALERT),
    datasets=(
        {
            "workload_id": "fraud",
            "slice_column": "",
            "slice_value": "",
            "status": "alert",
            "value": 0.5,
            "alert_threshold": 0.5,
            "ref_count": 4,
            "cur_count": 2,
        },
        {
            "workload_id": "churn",
            "slice_column": "",
            "slice_value": "",
            "status": "empty",
            "value": None,
            "alert_threshold": 0.5,
            "ref_count": 0,
            "cur_count": 0,
        },
    ),  # fmt: skip
    # one gap (a window without a value): two line pieces, four points
    trends={
        ("fraud", "", "f003"): Trend(
            "ks",
            ("2024-11-17", "2024-11-18", "2024-11-19", "2024-11-20", "2024-11-21"),
            (0.02, 0.04, None, 0.12, 0.225),
            ("ok", "ok", "empty", "alert", "alert"),
            warn=0.1,
            alert=0.2,
        )
    },
)


# The ids the charts give the elements a reader looks for (jobs/drift/drift_charts.py).
_CHART_ELEMENT = re.compile(
    r"^(?P<chart>.+-(?:hist|trend))-(?P<kind>bar-ref|bar-cur|point|line|threshold-warn|threshold-alert|zero)(?:-(?P<i>\d+))?$"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _path_points(d: str) -> list[tuple[float, float]]:
    """The vertices of an SVG path as Matplotlib writes it (``M x y L x y … z``)."""
    numbers = [float(n) for n in _NUMBER.findall(d)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


@dataclass
class _Chart:
    """One chart as Chromium built it: its elements' geometry, keyed by (kind, index)."""

    svg: dict[str, str]
    paths: dict[tuple[str, int | None], list[tuple[float, float]]] = field(default_factory=dict)
    marks: dict[int, dict[str, str]] = field(default_factory=dict)  # trend points: the <use> of their marker
    texts: list[str] = field(default_factory=list)

    def bar_heights(self, kind: str, n: int) -> list[float]:
        ys = [[y for _, y in self.paths[(f"bar-{kind}", i)]] for i in range(n)]
        return [max(y) - min(y) for y in ys]

    def zero_y(self) -> float:
        (_, y0), (_, y1) = self.paths[("zero", None)]
        assert y0 == y1
        return y0


@dataclass
class _Section:
    attrs: dict[str, str]
    charts: dict[str, _Chart] = field(default_factory=dict)  # "hist", "trend"
    trend_figure: dict[str, str] | None = None
    trend_rows: list[dict[str, str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    """What the test needs from Chromium's DOM: rows, sections with their charts, header counts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.datasets: list[dict[str, str]] = []
        self.sections: list[_Section] = []
        self.counts: dict[str, int] = {}
        self.start_tags: list[str] = []
        self.ids: list[str] = []
        self._section: _Section | None = None
        self._chart: _Chart | None = None
        self._groups: list[tuple[str, int | None] | None] = []  # the chart elements the open <g>s are
        self._in_defs = False
        self._count_status: str | None = None
        self._in_count_n = False

    def _element(self) -> tuple[str, int | None] | None:
        return next((g for g in reversed(self._groups) if g is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        self.start_tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "tr" and "feature-row" in classes:
            self.rows.append(a)
        elif tag == "tr" and "dataset-row" in classes:
            self.datasets.append(a)
        elif tag == "section" and "feature" in classes:
            self._section = _Section(a)
            self.sections.append(self._section)
        elif tag == "span" and "count" in classes:
            self._count_status = a["data-status"]
        elif tag == "span" and "n" in classes and self._count_status:
            self._in_count_n = True
        if self._section is None:
            return
        if tag == "figure" and "trend-chart" in classes:
            self._section.trend_figure = a
        elif tag == "tr" and "trend-value" in classes:
            self._section.trend_rows.append(a)
        elif tag == "svg":
            kind = a["id"].rsplit("-", 1)[-1]
            assert kind not in self._section.charts, a["id"]
            self._chart = self._section.charts[kind] = _Chart(a)
        elif self._chart is not None:
            self._chart_tag(tag, a)

    def _chart_tag(self, tag: str, a: dict[str, str]) -> None:
        assert self._chart is not None
        if tag == "g":
            m = _CHART_ELEMENT.match(a.get("id", ""))
            if m:
                assert m["chart"] == self._chart.svg["id"], a["id"]
                self._groups.append((m["kind"], int(m["i"]) if m["i"] else None))
            else:
                self._groups.append(None)
        elif tag == "defs":
            self._in_defs = True
        elif (element := self._element()) is not None and not self._in_defs:
            if tag == "path" and element[0] != "point":
                assert element not in self._chart.paths, element
                self._chart.paths[element] = _path_points(a["d"])
            elif tag == "use" and element[0] == "point":
                assert element[1] is not None and element[1] not in self._chart.marks, element
                self._chart.marks[element[1]] = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag == "svg":
            self._chart = None
            assert self._groups == []
        elif tag == "g" and self._chart is not None:
            self._groups.pop()
        elif tag == "defs":
            self._in_defs = False
        elif tag == "span" and self._in_count_n:
            self._in_count_n, self._count_status = False, None

    def handle_data(self, data: str) -> None:
        if self._in_count_n and self._count_status:
            self.counts[self._count_status] = int(data)
        if self._section is not None:
            self._section.text.append(data)
        if self._chart is not None:
            self._chart.texts.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(RUN, tmp_path_factory.mktemp("drift") / "nested" / "report.html")


@pytest.fixture(scope="module")
def page(report: Path) -> _Page:
    parsed = _Page()
    parsed.feed(dump_dom(report))
    parsed.close()
    return parsed


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert re.findall(r"""src\s*=\s*["']?(?!data:)""", text, flags=re.IGNORECASE) == []
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text  # the charts' SVG is inline, not a document


def test_ids_are_unique_across_the_page(page: _Page) -> None:
    """Many charts in one page: each one's ids (Matplotlib's clip paths and markers too) are its own."""
    assert [i for i, n in Counter(page.ids).items() if n > 1] == []


def test_rows_in_severity_order(page: _Page) -> None:
    expected = [ALERT, WARN, OK, EMPTY]
    assert [(r["data-workload"], r["data-feature"], r["data-status"]) for r in page.rows] == [
        (f.workload_id, f.feature, f.status) for f in expected
    ]
    assert [s.attrs["data-feature"] for s in page.sections] == [f.feature for f in expected]
    assert all(s.attrs["id"] for s in page.sections)
    assert len({s.attrs["id"] for s in page.sections}) == len(expected)


def test_header_counts(page: _Page) -> None:
    assert page.counts == {"alert": 1, "warn": 1, "ok": 1, "empty": 1}


def test_header_has_the_dataset_verdict_per_workload(page: _Page) -> None:
    assert [(d["data-workload"], d["data-status"]) for d in page.datasets] == [("fraud", "alert"), ("churn", "empty")]


def _section(page: _Page, feature: FeatureReport) -> _Section:
    return next(s for s in page.sections if s.attrs["data-feature"] == feature.feature)


def test_each_section_has_one_bar_per_bin_and_each_kind(page: _Page) -> None:
    by_feature = {f.feature: f for f in RUN.features}
    for section in page.sections:
        feature = by_feature[section.attrs["data-feature"]]
        hist = section.charts["hist"]
        n = len(feature.bin_labels)
        for kind in ("bar-ref", "bar-cur"):
            assert sorted(i for k, i in hist.paths if k == kind) == list(range(n)), (feature.feature, kind)


def test_bar_heights_are_proportional_to_the_proportions(page: _Page) -> None:
    hist = _section(page, ALERT).charts["hist"]
    n = len(ALERT.bin_labels)
    ref_h, cur_h = hist.bar_heights("ref", n), hist.bar_heights("cur", n)
    # Matplotlib writes coordinates to 6 decimals: 1e-5 of a bar of a few points
    assert math.isclose(ref_h[0] / cur_h[1], ALERT.ref_props[0] / ALERT.cur_props[1], rel_tol=1e-5)
    assert math.isclose(cur_h[0] / cur_h[1], ALERT.cur_props[0] / ALERT.cur_props[1], rel_tol=1e-5)
    # One scale for the whole chart: height / proportion is the same for every bar.
    scale = ref_h[0] / ALERT.ref_props[0]
    for h, p in zip(ref_h + cur_h, ALERT.ref_props + ALERT.cur_props, strict=True):
        assert math.isclose(h, p * scale, rel_tol=1e-5, abs_tol=1e-5)
    # every bar stands on the axis; the reference bar of a bin is left of its current bar
    zero = hist.zero_y()
    for i in range(n):
        ref, cur = hist.paths[("bar-ref", i)], hist.paths[("bar-cur", i)]
        assert max(y for _, y in ref) == max(y for _, y in cur) == zero
        assert max(x for x, _ in ref) <= min(x for x, _ in cur)


def test_trend_chart_has_a_point_per_window_with_a_value_and_the_thresholds(page: _Page) -> None:
    trend = RUN.trends[("fraud", "", "f003")]
    section = _section(page, ALERT)
    chart = section.charts["trend"]
    assert section.trend_figure is not None and section.trend_figure["data-metric"] == "ks"
    assert float(section.trend_figure["data-warn"]) == trend.warn
    assert float(section.trend_figure["data-alert"]) == trend.alert
    # the values table under the chart: every window, a value or none, its status
    shown = [(r["data-window"], r["data-value"], r["data-status"]) for r in section.trend_rows]
    values = [
        (w, "" if v is None else repr(v), s)
        for w, v, s in zip(trend.windows, trend.values, trend.statuses, strict=True)
    ]
    assert shown == values
    # one point per window with a value (the gap: two line pieces), coloured by its status
    with_value = [i for i, v in enumerate(trend.values) if v is not None]
    assert sorted(chart.marks) == with_value
    assert sorted(i for k, i in chart.paths if k == "line") == [0, 1]
    for i in with_value:
        assert STATUS_COLOURS[trend.statuses[i]] in chart.marks[i]["style"], i
    # x: one step per window, the gap kept; y: the value on the same scale as the thresholds
    xs = {i: float(chart.marks[i]["x"]) for i in with_value}
    step = xs[1] - xs[0]
    assert step > 0 and all(math.isclose(xs[i] - xs[0], i * step, rel_tol=1e-6) for i in with_value)
    zero = chart.zero_y()
    scales = [(zero - float(chart.marks[i]["y"])) / trend.values[i] for i in with_value]  # type: ignore[operator]
    for cls, t in (("warn", trend.warn), ("alert", trend.alert)):
        assert t is not None
        (x0, y0), (x1, y1) = chart.paths[(f"threshold-{cls}", None)]
        assert y0 == y1 and x1 > x0, cls  # a horizontal line across the plot
        assert x0 <= xs[0] and x1 >= xs[with_value[-1]], cls
        scales.append((zero - y0) / t)
    assert scales[0] > 0 and all(math.isclose(k, scales[0], rel_tol=1e-5) for k in scales), scales
    others = [s for s in page.sections if s.attrs["data-feature"] != ALERT.feature]
    assert all("trend" not in s.charts and s.trend_figure is None for s in others)


def test_empty_window_renders_a_note_and_flat_current_bars(page: _Page) -> None:
    section = _section(page, EMPTY)
    assert "Empty window" in "".join(section.text)
    n = len(EMPTY.bin_labels)
    assert section.charts["hist"].bar_heights("cur", n) == [0.0] * n
    assert any(h > 0 for h in section.charts["hist"].bar_heights("ref", n))


def test_markup_in_a_feature_name_or_a_category_is_text(page: _Page) -> None:
    assert "script" not in page.start_tags and "u" not in page.start_tags
    section = next(s for s in page.sections if s.attrs["data-feature"] == HOSTILE)
    assert HOSTILE in "".join(section.text)
    assert HOSTILE_CATEGORY in _section(page, WARN).charts["hist"].texts  # the bin's label under the chart


def test_screenshot(report: Path, tmp_path: Path) -> None:
    png = screenshot(report, tmp_path / "report.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_severity_key_orders_by_how_far_past_the_alert_threshold() -> None:
    mild = replace(ALERT, feature="a_mild", metrics=(_psi(0.21, "alert"),))
    severe = replace(ALERT, feature="z_severe", metrics=(_psi(0.8, "alert"),))
    assert sorted([EMPTY, mild, OK, WARN, severe], key=severity_key) == [severe, mild, WARN, OK, EMPTY]
