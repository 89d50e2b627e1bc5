"""The parity gate's report.html as a browser shows it: a failed gate's report (comparisons and
bisection from the gate's own functions), loaded in headless Chromium and checked in the DOM
Chromium built: self-contained, the verdict, the tables' rows, and markup in every value that
comes from the data (bundle, source, example ids, output and feature names) shown as text."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jobs.parity.comparison import OfflineExample, bisect, compare
from jobs.parity.parity_report import build_report, write_report
from tests.html.chromium import dump_dom

pytestmark = pytest.mark.browser

BUNDLE = 'fraud<script>alert("b")</script>'
SOURCE = "gold.training_set:<i>fraud</i>@v1"
FEATURE = "amount<img src=x>"
EXAMPLE = 'ex-1"><b>'
TOLERANCE = 1e-6


def _report(tmp_path: Path) -> dict[str, Any]:
    names = ["f001", FEATURE]
    examples = [
        OfflineExample(EXAMPLE, {}, [0.5, 1.0], 0.7, 1, "fraud"),
        OfflineExample("ex-2", {}, [0.25, 2.0], 0.2, 0, "fraud"),
        OfflineExample("ex-3", {}, [0.0, 3.0], 0.1, 0, "fraud"),
    ]
    served = {
        EXAMPLE: {"features": [0.5, 1.5], "score": 0.75, "label": 1, "latency_us": 900.0},
        "ex-2": {"features": [0.25, 2.0], "score": 0.2, "label": 0, "latency_us": 800.0},
        "ex-3": {"features": [0.0, 3.0], "score": 0.1, "label": 0, "latency_us": 700.0},
    }
    comparisons = {mode: compare(mode, examples, served, names, TOLERANCE) for mode in ("single", "batch")}
    traces = {
        EXAMPLE: [["<inputs>", {"amount": 1.0}], ["scale", {FEATURE: 1.0}]],
    }
    divergence = bisect(traces, {EXAMPLE: [["<inputs>", {"amount": 1.0}], ["scale", {FEATURE: 1.5}]]}, TOLERANCE)
    assert divergence is not None
    bundle = SimpleNamespace(
        name=BUNDLE,
        version="v1",
        path=tmp_path / "bundle",
        manifest={"pipeline_hash": "p" * 64},
        transform_hash="t" * 64,
    )
    return build_report(
        run_id="check_parity-20241122T090000",
        checked_at=dt.datetime(2024, 11, 22, 9, tzinfo=dt.UTC),
        bundle=bundle,  # type: ignore[arg-type]  # the report reads the bundle's name, version, path and hashes
        offline_source=SOURCE,
        offline_pipeline_hash="q" * 64,  # not the bundle's: an identity note
        offline_transform_hash=None,
        strata={"fraud": 3},
        comparisons=comparisons,
        divergence={"examples_traced": 1, **divergence.to_json()},
        tolerance=TOLERANCE,
        report_dir=tmp_path / "report",
    )


class _Page(HTMLParser):
    """Start tags, the heading's class and text, and every table's body rows as cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.start_tags: list[str] = []
        self.h1: dict[str, str] = {}
        self.title = ""
        self.tables: list[list[list[str]]] = []
        self.notes: list[str] = []
        self.text: list[str] = []
        self._open: str | None = None
        self._in_tbody = False
        self._in_note = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.start_tags.append(tag)
        if tag == "h1":
            self.h1 = a
        elif tag == "table":
            self.tables.append([])
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.tables[-1].append([])
        elif tag == "td" and self._in_tbody:
            self.tables[-1][-1].append("")
        elif tag == "p" and "note" in a.get("class", "").split():
            self.notes.append("")
            self._in_note = True
        self._open = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_tbody = False
        elif tag == "p":
            self._in_note = False
        self._open = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open == "title":
            self.title += data
        elif self._open == "td" and self._in_tbody:
            self.tables[-1][-1][-1] += data
        if self._in_note:
            self.notes[-1] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("parity")
    data = _report(folder)
    write_report(data, folder / "report")
    return data, folder / "report" / "report.html"


@pytest.fixture(scope="module")
def page(report: tuple[dict[str, Any], Path]) -> _Page:
    parsed = _Page()
    parsed.feed(dump_dom(report[1]))
    parsed.close()
    return parsed


def test_report_is_self_contained(report: tuple[dict[str, Any], Path]) -> None:
    text = report[1].read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert re.findall(r"""<[^>]*\bsrc\s*=""", text, flags=re.IGNORECASE) == []  # no tag loads anything
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text


def test_verdict_and_tables(report: tuple[dict[str, Any], Path], page: _Page) -> None:
    data = report[0]
    assert data["passed"] is False
    assert page.h1["class"] == "failed" and "Parity FAILED" in "".join(page.text)
    assert page.title == f"Parity FAILED: {BUNDLE} v1"
    totals, modes, divergent, largest, worst = page.tables
    assert totals == [
        [
            "3",
            "4",
            "0.5",
            "1e-06",
            "1",
            "0",
            repr(data["serving_latency_ms"]["p50"]),
            repr(data["serving_latency_ms"]["p99"]),
        ]
    ]
    assert modes == [["single", "0.5", "1", "0"], ["batch", "0.5", "1", "0"]]
    assert divergent == [[EXAMPLE, FEATURE, "1.0", "1.5"]]
    largest_by_output = data["modes"]["single"]["largest_by_output"]
    assert list(largest_by_output) == [FEATURE, "score"]  # the largest first; f001 and label did not differ
    assert largest == [[k, repr(v)] for k, v in largest_by_output.items()]
    assert worst == [[EXAMPLE, FEATURE, "1.0", "1.5", "0.5", "2"]]
    assert page.notes == data["identity_notes"] and len(page.notes) == 1


def test_markup_in_the_data_is_text(page: _Page) -> None:
    assert {"script", "img", "i"}.isdisjoint(page.start_tags)
    text = "".join(page.text)
    for value in (BUNDLE, SOURCE, FEATURE, EXAMPLE):
        assert value in text, value
