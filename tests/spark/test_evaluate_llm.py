"""evaluate_llm end to end on real Delta tables: gold.llm_datasets built by the project's own
jobs from Data Flywheel records, a real local OpenAI-compatible endpoint (ops.llm_stub, a
deterministic tool router) answering the real ``openai`` client, and every metric checked
against values computed by hand.

The candidate's behaviour is chosen per eval record after the datasets are built (which
records are in ``eval`` is the split's business): within each tool group, in ``event_id``
order, the first records are answered like production, the next ones with the same calls in
another order, a changed optional argument, one call missing, a text answer, … and some time
out or fail with 5xx, first or always. The strata sizes make the eval counts per tool exact
(largest remainder: 12 of 30/15/10/5 → 6/3/2/1)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from jobs import evaluate_llm, parse_logs
from jobs.gold.llm_datasets import build_llm_datasets as build
from jobs.lib.delta_io import ensure_table
from jobs.lib.runs import RunRecord
from jobs.lib.window import DayWindow
from ops.llm_stub import Reply, StubServer, chat_completion, error_body, last_user_text
from schemas.tables import BRONZE_SERVING_LOGS
from skewguard.config import load_settings
from tests.helpers import bronze_df
from tests.spark.llm_data import NOON, WEATHER_TOOL, bronze_row, completion, record, tool_call

pytestmark = pytest.mark.spark

TOOLS, GENERIC = "support-tools", "summaries"
MODEL = "cand-model"
FLIGHT_TOOL = {"type": "function", "function": {"name": "book_flight", "parameters": {
    "type": "object", "properties": {"to": {"type": "string"}}}}}  # fmt: skip
ORDER_TOOL = {"type": "function", "function": {"name": "lookup_order", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}  # fmt: skip
OFFERED = [WEATHER_TOOL, FLIGHT_TOOL, ORDER_TOOL]
HOSTILE = '<script>alert("x")</script>'


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are the support bot."}, {"role": "user", "content": text}]


def _calls(*calls: tuple[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [tool_call(a, n, f"c{i}") for i, (n, a) in enumerate(calls)],
    }


def _weather(i: int) -> list[tuple[str, Any]]:
    return [("get_weather", f'{{"city": "City{i}", "unit": "c"}}'), ("get_weather", {"city": f"Town{i}"})]


def _records() -> dict[str, tuple[dict[str, Any], str]]:
    """event_id → (Flywheel record, family). Each record asks something of its own (no duplicates)."""
    out: dict[str, tuple[dict[str, Any], str]] = {}
    for i in range(30):  # two parallel calls each
        rec = record(_user(f"weather #{i} in City{i} and Town{i}?"), completion(_calls(*_weather(i)), "tool_calls"),
                     tools=OFFERED, temperature=0.1, max_tokens=128)  # fmt: skip
        out[f"w-{i:02d}"] = (rec, "weather")
    for i in range(15):
        rec = record(_user(f"fly me to T{i}"), completion(_calls(("book_flight", {"to": f"T{i}"})), "tool_calls"),
                     tools=OFFERED)  # fmt: skip
        out[f"f-{i:02d}"] = (rec, "flight")
    for i in range(10):
        rec = record(_user(f"where is order NW-{i}?"), completion(_calls(("lookup_order", f'{{"order_id":"NW-{i}"}}')),
                     "tool_calls"), tools=OFFERED)  # fmt: skip
        out[f"o-{i:02d}"] = (rec, "order")
    for i in range(5):  # production answered in words first, a later choice calls: tool __none__
        later = {
            **completion({"role": "assistant", "content": "Checking."}),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Checking."}, "finish_reason": "stop"},
                {"index": 1, "message": _calls(("get_weather", {"city": f"Lima{i}"})), "finish_reason": "tool_calls"},
            ],
        }
        out[f"n-{i:02d}"] = (record(_user(f"is it warm in Lima{i}?"), later, tools=OFFERED), "none")  # fmt: skip
    for i in range(30):
        answer = {"role": "assistant", "content": f"Report {i}: revenue grew strongly."}
        rec = record(_user(f"<b>summarise</b> report {i} {HOSTILE}"), completion(answer)) | {"workload_id": GENERIC}
        out[f"s-{i:02d}"] = (rec, "summary")
    return out


RECORDS = _records()
#: the candidate's behaviour for the eval records of each family, in event_id order
PLAN = {
    "weather": ["exact", "swapped", "unit_f", "timeout_once", "503_always", "one_call"],
    "flight": ["exact", "twice", "text"],
    "order": ["exact", "500_once"],
    "none": ["calls"],
    "summary": ["exact"] * 4 + ["normalised"] * 2 + ["partial"] * 3 + ["different", "timeout_always", "calls"],
}


def _answer(eid: str, behaviour: str) -> dict[str, Any]:
    rec, family = RECORDS[eid]
    i = int(eid[2:])
    production = rec["response"]["choices"][0]["message"]
    message: dict[str, Any] = {
        "exact": production,
        "swapped": _calls(("get_weather", {"city": f"Town{i}"}), ("get_weather", {"unit": "c", "city": f"City{i}"})),
        "unit_f": _calls(("get_weather", {"city": f"City{i}", "unit": "f"}), ("get_weather", {"city": f"Town{i}"})),
        "one_call": _calls(_weather(i)[0]),
        "twice": _calls(("book_flight", {"to": f"T{i}"}), ("book_flight", {"to": f"T{i}"})),
        "text": {"content": "I cannot book flights."},
        "calls": _calls(("get_weather", {"city": "Lima"})),
        "normalised": {"content": f"the REPORT {i} — revenue grew strongly!"},
        "partial": {"content": f"report {i} revenue"},
        "different": {"content": "Nothing happened."},
    }.get(behaviour, production)
    return chat_completion({k: v for k, v in message.items() if k != "role"}, model=MODEL)


@pytest.fixture(scope="module")
def evaluated(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Bronze → parse → datasets (eval_size 12), then one evaluation against the stub endpoint."""
    tmp = tmp_path_factory.mktemp("evaluate_llm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp / "lakehouse"))
        settings = load_settings()
        rows = [bronze_row(eid, rec, event_ts=NOON + dt.timedelta(seconds=n)) for n, (eid, (rec, _)) in
                enumerate(RECORDS.items())]  # fmt: skip
        bronze_df(spark, rows).write.format("delta").mode("append").save(
            ensure_table(spark, settings, BRONZE_SERVING_LOGS)
        )
        assert parse_logs.main(["--date", "2024-11-20", "--kind", "llm"]) == 0
        small = settings.model_copy(
            update={"llm": settings.llm.model_copy(update={"eval_size": 12, "min_records": 20})}
        )
        build(spark, small, DayWindow(dt.date(2024, 11, 20), dt.date(2024, 11, 20)), RunRecord(job="build"), str(tmp))
        gold = spark.read.format("delta").load(settings.lakehouse.table_path("gold.llm_datasets"))
        eval_ids = sorted(r["event_id"] for r in gold.where(F.col("split") == "eval").select("event_id").collect())
        plan: dict[str, str] = {}
        for family, behaviours in PLAN.items():
            ids = [e for e in eval_ids if RECORDS[e][1] == family]
            assert len(ids) == len(behaviours), (family, ids)
            plan.update(zip(ids, behaviours, strict=True))
        by_text = {last_user_text(RECORDS[e][0]["request"]): e for e in plan}

        def route(body: dict[str, Any], attempt: int) -> Reply:
            eid = by_text[last_user_text(body)]
            behaviour = plan[eid]
            if behaviour == "503_always" or (behaviour == "500_once" and attempt == 1):
                status = 503 if behaviour == "503_always" else 500
                return Reply(error_body(status, "overloaded"), status=status)
            if behaviour == "timeout_always" or (behaviour == "timeout_once" and attempt == 1):
                return Reply(_answer(eid, "exact"), delay_s=2.5)  # beyond the test profile's 1 s timeout
            return Reply(_answer(eid, behaviour))

        report = tmp / "report-endpoint"
        with StubServer(route) as server:
            argv = ["--base-url", server.base_url, "--model", MODEL, "--report-dir", str(report)]
            assert evaluate_llm.main(argv) == 0
        yield {"settings": settings, "plan": plan, "server": server, "report": report, "tmp": tmp}


def _aggregates(spark, settings, report: Path) -> dict[tuple[str, str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.llm_evaluations"))
    rows = df.where(F.col("report_path") == str(report)).collect()
    return {(r["workload_id"], r["tool"]): r.asDict() for r in rows}


def _records_of(spark, settings, report: Path) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    aggregates = _aggregates(spark, settings, report)
    run_id = next(iter(aggregates.values()))["run_id"]
    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.llm_evaluation_records"))
    return {r["event_id"]: r.asDict() for r in df.where(F.col("run_id") == run_id).collect()}


SCORES = ("function_name_accuracy", "function_name_and_args_accuracy", "exact_match", "token_f1")
CONFUSION = ("ref_call_cand_call", "ref_call_cand_none", "ref_none_cand_call", "ref_none_cand_none")


def _metrics(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["records"], row["answered"], row["errors"], row["retried"], *(row[k] for k in SCORES),
            *(row[k] for k in CONFUSION))  # fmt: skip


def test_every_metric_equals_the_hand_computed_value(spark, evaluated) -> None:  # type: ignore[no-untyped-def]
    got = _aggregates(spark, evaluated["settings"], evaluated["report"])
    assert sorted(got) == [(GENERIC, "*"), (GENERIC, "__none__"), (TOOLS, "*"), (TOOLS, "__none__"),
                           (TOOLS, "book_flight"), (TOOLS, "get_weather"), (TOOLS, "lookup_order")]  # fmt: skip
    m = {k: _metrics(v) for k, v in got.items()}
    # records, answered, errors, retried, name, name + args, exact match, F1, call→call, call→none, none→call, none→none
    assert m[(TOOLS, "*")] == (12, 11, 1, 3, 7 / 12, 6 / 12, None, None, 9, 1, 1, 0)
    assert m[(TOOLS, "get_weather")] == (6, 5, 1, 2, 4 / 6, 3 / 6, None, None, 5, 0, 0, 0)
    assert m[(TOOLS, "book_flight")] == (3, 3, 0, 0, 1 / 3, 1 / 3, None, None, 2, 1, 0, 0)
    assert m[(TOOLS, "lookup_order")] == (2, 2, 0, 1, 1.0, 1.0, None, None, 2, 0, 0, 0)
    assert m[(TOOLS, "__none__")] == (1, 1, 0, 0, 0.0, 0.0, None, None, 0, 0, 1, 0)
    # 4 exact + 2 exact once normalised; F1: 6 × 1 + 3 × 0.75 (3 of 5 tokens) + 0 + 0 (timeout) + 0 (a call)
    generic = m[(GENERIC, "*")]
    assert generic[:8] == (12, 11, 1, 1, None, None, 0.5, pytest.approx(8.25 / 12))
    assert generic[8:] == (0, 0, 1, 10) and m[(GENERIC, "__none__")] == generic
    tools = got[(TOOLS, "*")]
    # every answer reports usage 50 + 5
    assert (tools["prompt_tokens"], tools["completion_tokens"], tools["total_tokens"]) == (550, 55, 605)
    assert tools["invalid_argument_calls"] == 0 and json.loads(tools["details_json"])["error_kinds"] == {"http_503": 1}
    assert json.loads(got[(GENERIC, "*")]["details_json"])["error_kinds"] == {"timeout": 1}
    candidate = (tools["candidate_source"], tools["candidate_model"], tools["argument_mode"])
    assert candidate == ("endpoint", MODEL, "name_and_args")
    assert tools["candidate_uri"] == evaluated["server"].base_url and tools["dataset_version"] >= 0


def test_per_record_outcomes_and_latencies(spark, evaluated) -> None:  # type: ignore[no-untyped-def]
    records = _records_of(spark, evaluated["settings"], evaluated["report"])
    plan = evaluated["plan"]
    assert sorted(records) == sorted(plan)
    by = {b: records[e] for e, b in plan.items() if RECORDS[e][1] != "summary"}

    def fields(behaviour: str, *names: str) -> tuple[Any, ...]:
        return tuple(by[behaviour][n] for n in names)

    assert fields("timeout_once", "attempts", "status", "function_name_and_args_match") == (2, "answered", True)
    assert fields("503_always", "attempts", "status", "error_kind", "latency_ms") == (3, "error", "http_503", None)
    assert by["503_always"]["error"] == "HTTP 503: overloaded after 3 attempts"
    assert fields("500_once", "attempts", "function_name_match") == (2, True)
    assert fields("unit_f", "function_name_match", "function_name_and_args_match") == (True, False)
    assert fields("one_call", "function_name_match") == fields("text", "candidate_calls_tool") == (False,)
    swapped = [c["arguments"]["city"] for c in json.loads(by["swapped"]["candidate_calls_json"])]
    assert swapped == [c["arguments"]["city"] for c in json.loads(by["swapped"]["reference_calls_json"])][::-1]
    assert fields("calls", "tool", "reference_calls_tool", "reference_content") == ("__none__", False, "Checking.")
    timeout = next(records[e] for e, b in plan.items() if b == "timeout_always")
    assert (timeout["error_kind"], timeout["attempts"], timeout["exact_match"], timeout["token_f1"]) == (
        "timeout", 3, False, 0.0,
    )  # fmt: skip
    assert [records[e]["token_f1"] for e, b in plan.items() if b == "partial"] == [pytest.approx(0.75)] * 3
    # the latency percentiles are those of the answered records' latencies
    aggregates = _aggregates(spark, evaluated["settings"], evaluated["report"])
    for workload in (TOOLS, GENERIC):
        answered = [r for r in records.values() if r["workload_id"] == workload and r["status"] == "answered"]
        latencies = sorted(r["latency_ms"] for r in answered)
        row = aggregates[(workload, "*")]
        assert len(latencies) == 11 and all(v > 0 for v in latencies)
        assert row["latency_p50_ms"] == pytest.approx(latencies[5]) and row["latency_max_ms"] == latencies[-1]
        assert row["latency_p90_ms"] == pytest.approx(latencies[9])  # rank 10 × 0.9 = 9 exactly


def test_requests_are_sent_as_logged(evaluated) -> None:  # type: ignore[no-untyped-def]
    server, plan = evaluated["server"], evaluated["plan"]
    weather = next(e for e, b in plan.items() if b == "exact" and RECORDS[e][1] == "weather")
    logged = RECORDS[weather][0]["request"]
    sent = [b for b in server.requests if last_user_text(b) == last_user_text(logged)]
    assert sent == [
        {"model": MODEL, "messages": logged["messages"], "tools": OFFERED, "temperature": 0.1, "max_tokens": 128}
    ]
    # 24 records; retries: +1 timeout_once, +2 503_always, +1 500_once, +2 timeout_always
    assert len(server.requests) == 24 + 6


def test_the_jsonl_path_gives_the_same_numbers(spark, evaluated) -> None:  # type: ignore[no-untyped-def]
    settings, tmp = evaluated["settings"], evaluated["tmp"]
    responses = evaluated["report"] / "responses.jsonl"
    assert len(responses.read_text().splitlines()) == 24
    again = tmp / "report-jsonl"
    assert evaluate_llm.main(["--responses", str(responses), "--report-dir", str(again)]) == 0
    endpoint, jsonl = (_aggregates(spark, settings, r) for r in (evaluated["report"], again))
    differ = {"run_id", "evaluated_at", "candidate_source", "candidate_uri", "report_path", "details_json"}
    assert {k: {c: v for c, v in row.items() if c not in differ} for k, row in jsonl.items()} == {
        k: {c: v for c, v in row.items() if c not in differ} for k, row in endpoint.items()
    }
    assert {r["candidate_source"] for r in jsonl.values()} == {"jsonl"}
    for key, row in jsonl.items():
        details, original = json.loads(row["details_json"]), json.loads(endpoint[key]["details_json"])
        assert details["error_kinds"] == original["error_kinds"] and "client" not in details
        assert original["client"]["max_retries"] == 2


def called_a_tool(record: Any, message: dict[str, Any]) -> float:
    """A stand-in for a judge (``--scorer``): 1 when the candidate called a tool."""
    return 1.0 if message.get("tool_calls") else 0.0


def test_argument_modes_and_a_scorer_on_the_same_answers(spark, evaluated) -> None:  # type: ignore[no-untyped-def]
    settings, tmp = evaluated["settings"], evaluated["tmp"]
    responses = evaluated["report"] / "responses.jsonl"
    # name_and_args: 6 / 12; unit_f (an optional argument differs) is right by required_args (name_only: unit tests)
    for mode, accuracy in {"required_args": 7 / 12}.items():
        out = tmp / f"report-{mode}"
        argv = ["--responses", str(responses), "--workload", TOOLS, "--argument-mode", mode, "--report-dir", str(out),
                "--scorer", f"tool_call={__name__}:called_a_tool"]  # fmt: skip
        assert evaluate_llm.main(argv) == 0
        got = _aggregates(spark, settings, out)
        assert sorted(got) == [(TOOLS, t) for t in ("*", "__none__", "book_flight", "get_weather", "lookup_order")]
        total = got[(TOOLS, "*")]
        assert (total["argument_mode"], total["function_name_accuracy"]) == (mode, 7 / 12)
        assert total["function_name_and_args_accuracy"] == accuracy
        assert total["extra_scores"] == {"tool_call": 10 / 11}  # every answered record called but the text one


def test_the_report_is_self_contained_and_escapes_markup(evaluated) -> None:  # type: ignore[no-untyped-def]
    page = (evaluated["report"] / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "src=" not in page and "url(" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # the users' text, as text
    assert "&lt;b&gt;summarise&lt;/b&gt;" in page
    assert page.count('<section class="workload"') == 2 and 'data-tool="get_weather"' in page
    worst = page[page.index('id="worst"') :]
    # no answer first (one per workload), then wrong names, then wrong arguments / lowest F1
    assert worst.index("no answer (http_503)") < worst.index("other functions") < worst.index("arguments differ")
    assert worst.count('<article class="record"') == 12  # every record that is not right: 6 + 6


def test_it_cannot_run_without_a_candidate_or_records(spark, evaluated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert evaluate_llm.main(["--workload", TOOLS]) == 2  # no endpoint configured, no --responses
    assert evaluate_llm.main(["--responses", str(tmp_path / "nope.jsonl")]) == 2
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert evaluate_llm.main(["--responses", str(tmp_path / "bad.jsonl")]) == 2
    assert evaluate_llm.main(["--responses", str(tmp_path / "bad.jsonl"), "--workload", "nobody"]) == 2
    with StubServer(lambda body, attempt: Reply(error_body(401, "bad key"), status=401)) as server:
        assert evaluate_llm.main(["--base-url", server.base_url, "--model", "m", "--workload", GENERIC]) == 2
        assert len(server.requests) == 12  # a refusal is not retried
    runs = spark.read.format("delta").load(evaluated["settings"].lakehouse.table_path("metrics.job_runs"))
    failed = runs.where("job = 'evaluate_llm' AND status = 'failed'").orderBy("started_at").collect()
    assert failed[-1]["error"] == "the candidate answered none of the 12 request(s): HTTP 401: bad key"
    with pytest.raises(SystemExit):
        evaluate_llm.main(["--responses", "x", "--scorer", "nonsense"])
