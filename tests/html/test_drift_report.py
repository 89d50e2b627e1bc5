"""The drift report as a browser shows it: written by write_report, loaded in headless Chromium,
and checked in the DOM Chromium built (order, bars, counts, escaping), plus a screenshot."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jobs.drift.drift_charts import Trend
from jobs.drift.drift_report import FeatureReport, MetricValue, RunReport, severity_key, write_report
from tests.html.chromium import dump_dom, screenshot

pytestmark = pytest.mark.browser

HOSTILE = 'amount<script>alert("x")</script>'


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
    bin_labels=("DE", "FR", "US", "__other__", "__null__", "__unseen__"),
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


@dataclass
class _Section:
    attrs: dict[str, str]
    bars: dict[str, list[dict[str, str]]] = field(default_factory=lambda: {"ref": [], "cur": []})
    svgs: int = 0
    trend_points: list[dict[str, str]] = field(default_factory=list)
    trend_lines: int = 0
    thresholds: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    """What the test needs from Chromium's DOM: rows, sections with their bars, header counts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.datasets: list[dict[str, str]] = []
        self.sections: list[_Section] = []
        self.counts: dict[str, int] = {}
        self.start_tags: list[str] = []
        self._section: _Section | None = None
        self._count_status: str | None = None
        self._in_count_n = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        self.start_tags.append(tag)
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
        if self._section is not None:
            if tag == "svg" and "hist" in classes:
                self._section.svgs += 1
            elif tag == "circle" and "point" in classes:
                self._section.trend_points.append(a)
            elif tag == "polyline":
                self._section.trend_lines += 1
            elif tag == "line" and "threshold" in classes:
                self._section.thresholds.append(a["data-threshold"])
            elif tag == "rect" and "bar" in classes:
                self._section.bars["ref" if "ref" in classes else "cur"].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag == "span" and self._in_count_n:
            self._in_count_n, self._count_status = False, None

    def handle_data(self, data: str) -> None:
        if self._in_count_n and self._count_status:
            self.counts[self._count_status] = int(data)
        if self._section is not None:
            self._section.text.append(data)


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


def test_each_section_has_one_bar_per_bin_and_each_kind(page: _Page) -> None:
    by_feature = {f.feature: f for f in RUN.features}
    for section in page.sections:
        feature = by_feature[section.attrs["data-feature"]]
        assert section.svgs == 1, feature.feature
        assert len(section.bars["ref"]) == len(feature.bin_labels), feature.feature
        assert len(section.bars["cur"]) == len(feature.bin_labels), feature.feature


def test_trend_chart_has_a_point_per_window_with_a_value_and_the_thresholds(page: _Page) -> None:
    trend = RUN.trends[("fraud", "", "f003")]
    section = next(s for s in page.sections if s.attrs["data-feature"] == ALERT.feature)
    shown = [(p["data-window"], float(p["data-value"]), p["data-status"]) for p in section.trend_points]
    expected = [(w, v, s) for w, v, s in zip(trend.windows, trend.values, trend.statuses, strict=True) if v is not None]
    assert shown == expected
    assert section.trend_lines == 2 and section.thresholds == ["0.1", "0.2"]
    # higher values are drawn higher (smaller y)
    ys = [float(p["cy"]) for p in section.trend_points]
    assert ys == sorted(ys, reverse=True)
    others = [s for s in page.sections if s.attrs["data-feature"] != ALERT.feature]
    assert all(not s.trend_points for s in others)


def test_bar_heights_are_proportional_to_the_proportions(page: _Page) -> None:
    section = next(s for s in page.sections if s.attrs["data-feature"] == ALERT.feature)
    ref_h = [float(r["height"]) for r in section.bars["ref"]]
    cur_h = [float(r["height"]) for r in section.bars["cur"]]
    assert math.isclose(ref_h[0] / cur_h[1], ALERT.ref_props[0] / ALERT.cur_props[1], rel_tol=1e-6)
    assert math.isclose(cur_h[0] / cur_h[1], ALERT.cur_props[0] / ALERT.cur_props[1], rel_tol=1e-6)
    # One scale for the whole chart: height / proportion is the same for every bar.
    scale = ref_h[0] / ALERT.ref_props[0]
    for h, p in zip(ref_h + cur_h, ALERT.ref_props + ALERT.cur_props, strict=True):
        assert math.isclose(h, p * scale, rel_tol=1e-6)


def test_empty_window_renders_a_note_and_flat_current_bars(page: _Page) -> None:
    section = next(s for s in page.sections if s.attrs["data-feature"] == EMPTY.feature)
    assert "Empty window" in "".join(section.text)
    assert [float(r["height"]) for r in section.bars["cur"]] == [0.0] * len(EMPTY.bin_labels)
    assert any(float(r["height"]) > 0 for r in section.bars["ref"])


def test_markup_in_a_feature_name_is_text(page: _Page) -> None:
    assert "script" not in page.start_tags
    section = next(s for s in page.sections if s.attrs["data-feature"] == HOSTILE)
    assert HOSTILE in "".join(section.text)


def test_screenshot(report: Path, tmp_path: Path) -> None:
    png = screenshot(report, tmp_path / "report.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_severity_key_orders_by_how_far_past_the_alert_threshold() -> None:
    mild = replace(ALERT, feature="a_mild", metrics=(_psi(0.21, "alert"),))
    severe = replace(ALERT, feature="z_severe", metrics=(_psi(0.8, "alert"),))
    assert sorted([EMPTY, mild, OK, WARN, severe], key=severity_key) == [severe, mild, WARN, OK, EMPTY]
