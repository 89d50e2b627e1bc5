"""The LLM evaluation report as a browser shows it: rendered from its Jinja2 template for
hand-made outcomes, loaded in headless Chromium, checked in the DOM Chromium built (the
per-tool table, the confusion cells, the worst records in order, markup shown as text), plus
a screenshot; and, without a browser, that the page needs nothing but itself."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from jobs.evaluate.llm_aggregates import aggregate
from jobs.evaluate.llm_candidates import CandidateAnswer
from jobs.evaluate.llm_report import write_report
from jobs.evaluate.llm_scoring import EvalRecord, score_record
from tests.html.chromium import dump_dom, screenshot

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {"model": "cand", "choices": [{"index": 0, "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}  # fmt: skip


def _call(name: str, args: str) -> dict[str, Any]:
    return {"tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": args}}]}


def _outcomes() -> list[Any]:
    weather, flight = _call("get_weather", '{"city": "Paris"}'), _call("book_flight", '{"to": "Oslo"}')
    cases = [
        # workload, type, event id, reference message, candidate message (None: no answer)
        ("tools", "tool_calling", "t1", weather, weather),
        ("tools", "tool_calling", "t2", weather, _call("get_weather", '{"city": "Lyon"}')),
        ("tools", "tool_calling", "t3", flight, {"content": HOSTILE}),
        ("tools", "tool_calling", "t4", flight, None),
        ("sums", "generic", "g1", {"content": "revenue grew"}, {"content": "Revenue grew."}),
        ("sums", "generic", "g2", {"content": "revenue grew fast"}, {"content": "revenue fell"}),
    ]
    out = []
    for workload, kind, eid, ref, cand in cases:
        request = {"messages": [{"role": "user", "content": f"{eid}: {HOSTILE}"}]}
        record = EvalRecord(f"{workload}{HOSTILE if workload == 'tools' else ''}", kind, eid, request, _completion(ref))
        answer = (CandidateAnswer(eid, None, "HTTP 503: busy after 3 attempts", "http_503", 3) if cand is None
                  else CandidateAnswer(eid, _completion(cand), latency_ms=12.5))  # fmt: skip
        out.append(score_record(record, answer, scorers={"judge": lambda r, m: 0.5}))
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outcomes = _outcomes()
    return write_report(
        tmp_path_factory.mktemp("llm-report") / "report.html", run_id="evaluate_llm-1", evaluated_at="2024-11-23",
        candidate=f"cand @ http://127.0.0.1:1/v1 {HOSTILE}", model="cand", dataset="gold.llm_datasets@v3",
        argument_mode="name_and_args", aggregates=aggregate(outcomes), outcomes=outcomes, worst=10,
        settings={"concurrency": 8},
    )  # fmt: skip


def test_the_page_needs_nothing_but_itself(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    parsed = _Page()
    parsed.feed(text)
    assert parsed.links == []  # no src, no href but to an anchor of the page
    assert parsed.start_tags.isdisjoint({"script", "link", "img", "iframe", "object"})
    assert "@import" not in text and "url(" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.start_tags: set[str] = set()
        self.workloads: list[str] = []
        self.tool_rows: list[tuple[str, str]] = []
        self.cells: dict[tuple[str, str], str] = {}
        self.records: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self._workload = ""
        self._cell: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.start_tags.add(tag)
        self.links += [v for k, v in a.items() if k in ("src", "href") and not v.startswith("#")]
        if tag == "section" and "workload" in a.get("class", ""):
            self._workload = a["data-workload"]
            self.workloads.append(self._workload)
        if tag == "tr" and "data-tool" in a:
            self.tool_rows.append((self._workload, a["data-tool"]))
        if tag == "td" and "data-cell" in a:
            self._cell = (self._workload, a["data-cell"])
        if tag == "article":
            self.records.append(a["data-event-id"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self.cells[self._cell] = self.cells.get(self._cell, "") + data


@pytest.mark.browser
def test_what_a_browser_shows(report: Path, tmp_path: Path) -> None:
    page = _Page()
    page.feed(dump_dom(report))
    tools = f"tools{HOSTILE}"
    assert page.workloads == ["sums", tools]
    assert page.tool_rows == [("sums", "*"), ("sums", "__none__"), (tools, "*"), (tools, "book_flight"),
                              (tools, "get_weather")]  # fmt: skip
    assert {k: int(v) for k, v in page.cells.items() if k[0] == tools} == {
        (tools, "call-call"): 2, (tools, "call-none"): 1, (tools, "none-call"): 0, (tools, "none-none"): 0,
    }  # fmt: skip
    # no answer, then wrong functions, then the lowest F1 and wrong arguments (0.5 each, by workload); t1, g1 right
    assert page.records == ["t4", "t3", "g2", "t2"]
    assert "script" not in page.start_tags and "img" not in page.start_tags
    assert HOSTILE in "".join(page.text)
    png = screenshot(report, tmp_path / "report.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
