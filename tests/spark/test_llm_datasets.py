"""LLM interaction logs → silver.llm_interactions → gold.llm_datasets + JSONL, on real Delta
tables: Data Flywheel records accepted and exported in the expected shapes, one failing
example per validation rule, deduplication among the records that pass the quality filters,
stable stratified splits, the minimum-record check; the Flywheel's workload type (from raw
records), its tool-call filter (every choice) and its limit; an export folder no workload id
can leave."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from pyspark.sql import functions as F

from jobs import build_llm_datasets, parse_logs
from jobs.gold.llm_datasets import DatasetError
from jobs.gold.llm_datasets import build_llm_datasets as build
from jobs.gold.llm_lines import chat_line_of, eval_line_of
from jobs.gold.llm_splits import NO_TOOL, RARE, allocate
from jobs.lib.delta_io import ensure_table
from jobs.lib.runs import RunRecord
from jobs.lib.window import DayWindow
from schemas.records import SILVER_QUARANTINE_REASONS
from schemas.tables import BRONZE_SERVING_LOGS
from skewguard.config import load_settings
from tests.helpers import bronze_df
from tests.spark.llm_data import NOON, WEATHER_TOOL, bronze_row, completion, record, tool_call

pytestmark = pytest.mark.spark

DAY = "2024-11-20"
WINDOW = ["--date", DAY]
TOOLS = "support-tools"
GENERIC = "summaries"
FLIGHT_TOOL = {
    "type": "function",
    "function": {"name": "book_flight", "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}},
}

# -- the Data Flywheel's own examples ------------------------------------------------------
SIMPLE = record([{"role": "user", "content": "What is the capital of France?"}], completion(
    {"role": "assistant", "content": "Paris."})) | {"workload_id": GENERIC}  # fmt: skip
WITH_SYSTEM = record(
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"}],
    completion({"role": "assistant", "content": "4"}),
    temperature=0.2,
    max_tokens=64,
) | {"workload_id": GENERIC}
STRING_ARGS = record(
    [{"role": "user", "content": "Weather in Paris?"}],
    completion({"role": "assistant", "content": None, "tool_calls": [tool_call('{"city": "Paris", "unit": "c"}')]},
               "tool_calls"),
    tools=[WEATHER_TOOL],
)  # fmt: skip
OBJECT_ARGS = record(
    [{"role": "user", "content": "Weather in Oslo?"}],
    completion({"role": "assistant", "content": None, "tool_calls": [tool_call({"city": "Oslo", "unit": "c"})]},
               "tool_calls"),
    tools=[WEATHER_TOOL],
)  # fmt: skip
MULTIMODAL = record(
    [{"role": "user", "content": [{"type": "text", "text": "Weather where this is?"},
                                  {"type": "image_url", "image_url": {"url": "https://img.example/1.png"}}]}],
    completion({"role": "assistant", "tool_calls": [tool_call({"city": "Rome"})]}, "tool_calls"),
    tools=[WEATHER_TOOL],
)  # fmt: skip
FLYWHEEL = {"simple": SIMPLE, "with_system": WITH_SYSTEM, "string_args": STRING_ARGS, "object_args": OBJECT_ARGS,
            "multimodal": MULTIMODAL}  # fmt: skip


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _weather(text: str, city: str) -> dict[str, Any]:
    return record(
        _user(text),
        completion({"role": "assistant", "tool_calls": [tool_call({"city": city})]}, "tool_calls"),
        tools=[WEATHER_TOOL],
    )


#: one failing example per validation rule (reason → record)
INVALID: dict[str, Any] = {
    "missing_request_response": {k: v for k, v in STRING_ARGS.items() if k != "response"},
    "invalid_messages": record([{"role": "robot", "content": "b"}], completion({"role": "assistant", "content": "x"})),
    "invalid_choices": record(_user("hello?"), {**completion({"role": "assistant"}), "choices": []}),
    "invalid_tool_call": record(_user("Weather?"), completion(
        {"role": "assistant", "tool_calls": [tool_call('{"city": "Par')]}, "tool_calls")),
    "too_many_tool_parameters": record(_user("Weather?"), completion(
        {"role": "assistant", "tool_calls": [tool_call({f"p{i}": i for i in range(40)})]}, "tool_calls")),
}  # fmt: skip
MORE_INVALID = {
    "empty_messages": ("invalid_messages", record([], completion({"role": "assistant", "content": "x"}))),
    "call_not_function": ("invalid_tool_call", record(_user("x"), completion(
        {"role": "assistant", "tool_calls": [{**tool_call({}), "type": "retrieval"}]}))),
    "call_without_name": ("invalid_tool_call", record(_user("x"), completion(
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"arguments": "{}"}}]}))),
    "args_a_list": ("invalid_tool_call", record(_user("x"), completion(
        {"role": "assistant", "tool_calls": [tool_call("[1, 2]")]}))),
    "a_choice_without_message": ("invalid_choices", record(_user("x"), {**completion(
        {"role": "assistant", "content": "a"}), "choices": [{"index": 0, "message": {"content": "a"}}, {"index": 1}]})),
}  # fmt: skip
#: a tool call in the second choice only: the Flywheel's filter scans every choice
LATER_CHOICE = record(_user("Weather in Lima?"), {**completion({"role": "assistant", "content": "Checking."}),
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking."}, "finish_reason": "stop"},
    {"index": 1, "message": {"role": "assistant", "tool_calls": [tool_call({"city": "Lima"})]},
     "finish_reason": "tool_calls"}]}, tools=[WEATHER_TOOL])  # fmt: skip
NO_USER = record([{"role": "system", "content": "Summarise the day."}], completion(
    {"role": "assistant", "content": "A quiet day."})) | {"workload_id": GENERIC}  # fmt: skip


def _at(minutes: int) -> dt.datetime:
    return NOON + dt.timedelta(minutes=minutes)


def _rows() -> list[dict[str, Any]]:
    rows = [bronze_row(eid, rec, event_ts=_at(i)) for i, (eid, rec) in enumerate(FLYWHEEL.items())]
    rows += [bronze_row(f"bad-{reason}", rec) for reason, rec in INVALID.items()]
    rows += [bronze_row(f"bad-{name}", rec) for name, (_, rec) in MORE_INVALID.items()]
    # tool-calling workload: 70 first-called get_weather, 40 book_flight, 3 a rare tool, and
    # a query asked three times (the newest, dup-2, must win), plus one answered without a call
    for i in range(70):
        rows.append(bronze_row(f"w-{i:03d}", _weather(f"weather #{i}?", f"city{i}"), event_ts=_at(10 + i)))
    for i in range(40):
        rec = record(_user(f"fly #{i}"), completion(
            {"role": "assistant", "tool_calls": [tool_call({"to": f"T{i}"}, "book_flight")]}, "tool_calls"),
            tools=[FLIGHT_TOOL])  # fmt: skip
        rows.append(bronze_row(f"f-{i:03d}", rec, event_ts=_at(100 + i)))
    for i in range(3):
        rec = record(_user(f"ping #{i}"), completion(
            {"role": "assistant", "tool_calls": [tool_call({"host": "h"}, "ping")]}, "tool_calls"))  # fmt: skip
        rows.append(bronze_row(f"r-{i}", rec, event_ts=_at(150 + i)))
    for i, minutes in enumerate((200, 300, 250)):
        rows.append(bronze_row(f"dup-{i}", _weather("Is it raining?", "Bergen"), event_ts=_at(minutes)))
    rows.append(bronze_row("no-call", record(_user("thanks!"), completion({"role": "assistant", "content": "bye"}))))
    # the newest copy of a query fails the filter: the newest valid copy is kept
    rows.append(bronze_row("snow-old", _weather("Is it snowing?", "Oslo"), event_ts=_at(350)))
    snow = record(
        _user("Is it snowing?"), completion({"role": "assistant", "content": "No idea."}), tools=[WEATHER_TOOL]
    )
    rows.append(bronze_row("snow-new", snow, event_ts=_at(400)))
    rows.append(bronze_row("later-choice", LATER_CHOICE, event_ts=_at(410)))
    # generic workload: 60 summaries, one with an empty answer
    for i in range(60):
        rec = record(_user(f"summarise text {i}"), completion({"role": "assistant", "content": f"summary {i}"}))
        rows.append(bronze_row(f"s-{i:03d}", rec | {"workload_id": GENERIC}, event_ts=_at(i)))
    rows.append(bronze_row("s-empty", record(_user("summarise nothing"), completion(
        {"role": "assistant", "content": "  "})) | {"workload_id": GENERIC}))  # fmt: skip
    again = record(_user("summarise again"), completion({"role": "assistant", "content": "again"}))
    rows.append(bronze_row("again-old", again | {"workload_id": GENERIC}, event_ts=_at(70)))
    again_new = record(_user("summarise again"), completion({"role": "assistant", "content": ""}))
    rows.append(bronze_row("again-new", again_new | {"workload_id": GENERIC}, event_ts=_at(80)))
    # no user message at all: never duplicates of each other
    rows += [bronze_row(f"no-user-{i}", NO_USER, event_ts=_at(90 + i)) for i in range(2)]
    return rows


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Bronze written, then the real jobs: parse --kind llm and build_llm_datasets."""
    tmp = tmp_path_factory.mktemp("llm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp / "lakehouse"))
        settings = load_settings()
        bronze_df(spark, _rows()).write.format("delta").mode("append").save(
            ensure_table(spark, settings, BRONZE_SERVING_LOGS)
        )
        assert parse_logs.main([*WINDOW, "--kind", "llm"]) == 0
        assert build_llm_datasets.main([*WINDOW, "--export-dir", str(tmp / "export")]) == 0
        yield settings, tmp / "export"


def _table(spark, settings, name):  # type: ignore[no-untyped-def]
    return spark.read.format("delta").load(settings.lakehouse.table_path(name))


def test_flywheel_records_are_accepted_and_typed(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    silver_df = _table(spark, settings, "silver.llm_interactions")
    rows = {
        r["event_id"]: r.asDict(recursive=True)
        for r in silver_df.where(F.col("event_id").isin(list(FLYWHEEL))).collect()
    }
    assert sorted(rows) == sorted(FLYWHEEL)
    string_call, object_call = (rows[k]["response_message"]["tool_calls"][0] for k in ("string_args", "object_args"))
    assert string_call == {
        "id": "call_1", "type": "function", "name": "get_weather",
        "arguments": '{"city":"Paris","unit":"c"}', "arguments_raw": '{"city": "Paris", "unit": "c"}',
    }  # fmt: skip
    assert object_call["arguments"] == object_call["arguments_raw"] == '{"city":"Oslo","unit":"c"}'
    simple = rows["simple"]
    assert simple["messages"] == [{"role": "user", "content": "What is the capital of France?", "content_parts": None,
                                   "name": None, "tool_call_id": None, "tool_calls": None}]  # fmt: skip
    assert (simple["finish_reason"], simple["prompt_tokens"], simple["completion_tokens"]) == ("stop", 20, 5)
    assert (simple["workload_type"], rows["string_args"]["workload_type"]) == ("generic", "tool_calling")
    assert rows["with_system"]["turn_count"] == 1 and rows["with_system"]["message_count"] == 2
    assert rows["with_system"]["prompt_chars"] == len("You are terse.") + len("2+2?")
    assert rows["string_args"]["tool_names_called"] == ["get_weather"]
    assert rows["string_args"]["tools_offered"] == ["get_weather"]
    parts = rows["multimodal"]["messages"][0]["content_parts"]
    assert rows["multimodal"]["messages"][0]["content"] is None
    assert parts[1] == {"type": "image_url", "text": None, "image_url": {"url": "https://img.example/1.png",
                                                                         "detail": None}}  # fmt: skip


def test_each_rule_quarantines_with_its_reason(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    got = {
        r["event_id"]: r["reason"]
        for r in _table(spark, settings, "silver.quarantine").where("record_kind = 'llm_interaction'").collect()
    }
    expected = {f"bad-{reason}": reason for reason in INVALID} | {
        f"bad-{name}": reason for name, (reason, _) in MORE_INVALID.items()
    }
    assert got == expected
    assert set(INVALID) == {r for r in SILVER_QUARANTINE_REASONS if r in INVALID}
    runs = _table(spark, settings, "metrics.job_runs").where("job = 'parse_logs'").collect()
    details = json.loads(runs[0]["details_json"])
    assert details["reasons"] == dict(sorted(Counter(expected.values()).items()))
    assert runs[0]["source_count"] == runs[0]["landed_count"] + runs[0]["quarantined_count"]


def _gold(spark, settings) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    return {r["event_id"]: r.asDict() for r in _table(spark, settings, "gold.llm_datasets").collect()}


def _lines(spark, settings) -> dict[str, tuple[Any, Any]]:  # type: ignore[no-untyped-def]
    """event_id → (chat line, eval line) of the Flywheel records, parsed."""
    silver_df = _table(spark, settings, "silver.llm_interactions").where(F.col("event_id").isin(list(FLYWHEEL)))
    rows = silver_df.select("event_id", chat_line_of().alias("chat"), eval_line_of().alias("eval")).collect()
    return {r["event_id"]: (json.loads(r["chat"]), json.loads(r["eval"])) for r in rows}


def test_exported_lines_have_the_training_and_eval_shapes(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, export = built
    lines = _lines(spark, settings)
    assert lines["string_args"][0] == {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}}]},
        ],
        "tools": [WEATHER_TOOL],
    }  # fmt: skip
    object_chat = lines["object_args"][0]
    assert object_chat["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"city":"Oslo","unit":"c"}'
    assert lines["with_system"][0] == {"messages": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"}]}  # fmt: skip
    assert lines["multimodal"][0]["messages"][0] == MULTIMODAL["request"]["messages"][0]
    assert lines["with_system"][1] == {
        "request": {"model": "meta/llama-3.1-70b-instruct", "messages": WITH_SYSTEM["request"]["messages"],
                    "temperature": 0.2, "max_tokens": 64},
        "response": {"model": "meta/llama-3.1-8b-instruct", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}},
    }  # fmt: skip
    assert lines["string_args"][1]["request"]["tools"] == [WEATHER_TOOL]
    gold = _gold(spark, settings)
    for event_id, (chat, evaluation) in lines.items():  # gold holds the line of the record's split
        row = gold[event_id]
        expected = ("eval", evaluation) if row["split"] == "eval" else ("chat", chat)
        assert (row["line_shape"], json.loads(row["line_json"])) == expected
    for workload in (TOOLS, GENERIC):
        files = {s: (export / workload / f"{s}.jsonl").read_text().splitlines() for s in ("train", "val", "eval")}
        want = {s: sorted(e for e, r in gold.items() if r["workload_id"] == workload and r["split"] == s)
                for s in files}  # fmt: skip
        for split, text in files.items():
            assert text == [gold[e]["line_json"] for e in want[split]]  # ordered by event_id
            assert {gold[e]["line_shape"] for e in want[split]} == {"eval" if split == "eval" else "chat"}
        assert all(set(json.loads(line)) <= {"messages", "tools"} for line in files["train"] + files["val"])
        assert all(set(json.loads(line)) == {"request", "response"} for line in files["eval"])


def test_dedup_keeps_the_newest_record_per_query(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    gold = _gold(spark, settings)
    assert [e for e in gold if e.startswith("dup-")] == ["dup-1"]  # dated 300 min, the newest
    keys = Counter((r["workload_id"], r["dedup_key"]) for e, r in gold.items() if not e.startswith("no-user-"))
    assert max(keys.values()) == 1
    assert "no-call" not in gold and "s-empty" not in gold  # the quality filters
    # dedup among the records that passed them: the newest copy failed, the newest valid one is kept
    assert "snow-old" in gold and "snow-new" not in gold and "again-old" in gold and "again-new" not in gold
    assert {"no-user-0", "no-user-1"} <= set(gold)  # no user message: not one query shared by all
    assert "later-choice" in gold and gold["later-choice"]["stratum"] == NO_TOOL  # stratum: the first choice's call
    run = _table(spark, settings, "metrics.job_runs").where("job = 'build_llm_datasets'").first()
    counts = json.loads(run["details_json"])["workloads"]
    assert counts[TOOLS]["duplicates"] == 2 and counts[TOOLS]["filtered"] == {"no_tool_call": 2}
    assert counts[GENERIC]["filtered"] == {"short_content": 2} and counts[GENERIC]["duplicates"] == 0
    assert counts[TOOLS]["invalid"] == dict(Counter([*INVALID, *(reason for reason, _ in MORE_INVALID.values())]))


def test_splits_are_stratified_sized_and_stable(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, export = built
    gold = _gold(spark, settings)
    tools = [r for r in gold.values() if r["workload_id"] == TOOLS]
    strata = Counter(r["stratum"] for r in tools)
    # w-*, three Flywheel records, dup-1, snow-old; ping; later-choice
    assert strata == {"get_weather": 75, "book_flight": 40, RARE: 3, NO_TOOL: 1}
    evals = Counter(r["stratum"] for r in tools if r["split"] == "eval")
    assert sum(evals.values()) == settings.llm.eval_size
    assert evals == {k: n for k, n in allocate(settings.llm.eval_size, dict(strata)).items() if n}
    vals = Counter(r["stratum"] for r in tools if r["split"] == "val")
    assert vals == {k: int((n - evals[k]) * settings.llm.val_ratio + 0.5) for k, n in strata.items() if
                    int((n - evals[k]) * settings.llm.val_ratio + 0.5)}  # fmt: skip
    assert {r["stratum"] for r in gold.values() if r["workload_id"] == GENERIC} == {NO_TOOL}

    before = {e: r["split"] for e, r in gold.items()}
    exported = (export / TOOLS / "train.jsonl").read_bytes()
    assert build_llm_datasets.main([*WINDOW, "--export-dir", str(export)]) == 0
    after = _gold(spark, settings)
    assert {e: r["split"] for e, r in after.items()} == before
    assert len({r["build_run_id"] for r in after.values()}) == 1 and after != gold  # replaced, not appended
    assert (export / TOOLS / "train.jsonl").read_bytes() == exported


def test_too_few_records_fail_with_the_counts_and_write_nothing(spark, built) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    version = spark.sql(f"DESCRIBE HISTORY delta.`{settings.lakehouse.table_path('gold.llm_datasets')}`").first()
    strict = settings.model_copy(update={"llm": settings.llm.model_copy(update={"min_records": 100})})
    expected = (
        r"summaries \(generic\): raw 67, invalid 0 \(none\), filtered 2 \(short_content 2\), duplicates 0, "
        r"kept 65: need at least 100"
    )
    with pytest.raises(DatasetError, match=expected):
        build(spark, strict, DayWindow(dt.date(2024, 11, 20), dt.date(2024, 11, 20)), RunRecord(job="t"))
    now = spark.sql(f"DESCRIBE HISTORY delta.`{settings.lakehouse.table_path('gold.llm_datasets')}`").first()
    assert now["version"] == version["version"]


def test_flywheel_workload_type_limit_and_an_export_folder_no_workload_leaves(spark, built) -> None:  # type: ignore[no-untyped-def]
    """Another day: a workload whose only tool call is malformed is tool-calling (the Flywheel
    decides from raw records), ``llm.limit`` caps a workload by a seeded sample, and a workload
    named ``..`` is exported inside the export folder."""
    settings, export = built
    day = dt.date(2024, 11, 21)
    at = dt.datetime(2024, 11, 21, 12)
    answer = completion({"role": "assistant", "content": "fine"})
    rows = [bronze_row(f"m-{i}", record(_user(f"m {i}"), answer) | {"workload_id": "mixed"}, event_ts=at)
            for i in range(3)]  # fmt: skip
    broken = record(_user("m?"), completion({"role": "assistant", "tool_calls": [tool_call("[1]")]}, "tool_calls"))
    rows += [bronze_row("m-broken", broken | {"workload_id": "mixed"}, event_ts=at)]
    rows += [bronze_row("m-later", LATER_CHOICE | {"workload_id": "mixed"}, event_ts=at)]
    rows += [bronze_row(f"many-{i:02d}", record(_user(f"q {i}"), answer) | {"workload_id": "many"}, event_ts=at)
             for i in range(30)]  # fmt: skip
    rows += [bronze_row(f"dots-{i}", record(_user(f"d {i}"), answer) | {"workload_id": ".."}, event_ts=at)
             for i in range(2)]  # fmt: skip
    bronze_df(spark, rows).write.format("delta").mode("append").save(
        settings.lakehouse.table_path("bronze.serving_logs")
    )
    assert parse_logs.main(["--date", str(day), "--kind", "llm"]) == 0
    llm = settings.llm.model_copy(update={"min_records": 1, "eval_size": 0, "limit": 10})
    small = settings.model_copy(update={"llm": llm})
    out = export.parent / "export-day2"
    built_day = build(spark, small, DayWindow(day, day), RunRecord(job="t"), str(out))

    mixed = built_day["mixed"]
    assert (mixed.workload_type, mixed.invalid, mixed.filtered, mixed.kept) == (
        "tool_calling", {"invalid_tool_call": 1}, {"no_tool_call": 3}, 1
    )  # fmt: skip
    many = built_day["many"]
    assert (many.kept, many.over_limit, many.duplicates) == (10, 20, 0) and "over limit 20" in many.line()
    gold = {r["event_id"] for r in _table(spark, settings, "gold.llm_datasets").where("workload_id = 'many'").collect()}
    assert len(gold) == 10 and gold != {f"many-{i:02d}" for i in range(10)}  # a seeded sample, not the first ten

    # the workload `..` stays inside the export folder
    dots = out / "%2E%2E"
    assert built_day[".."].export_dir == str(dots) and (dots / "train.jsonl").read_text().count("\n") == 2
    assert not (out.parent / "train.jsonl").exists() and sorted(p.name for p in out.iterdir()) == [
        "%2E%2E", "many", "mixed"
    ]  # fmt: skip


def test_allocate_shares_by_largest_remainder() -> None:
    assert allocate(20, {"a": 72, "b": 40, "c": 3}) == {"a": 13, "b": 7, "c": 0}  # a and c tie at .52: larger first
    assert allocate(20, {"a": 74, "b": 40, "c": 3}) == {"a": 13, "b": 7, "c": 0}
    assert allocate(5, {"a": 1, "b": 1}) == {"a": 1, "b": 1}
    assert allocate(3, {"a": 5, "b": 5, "c": 5}) == {"a": 1, "b": 1, "c": 1}
    assert sum(allocate(20, {"x": 7, "y": 6, "z": 6}).values()) == 19


def test_llm_interactions_are_profiled_and_monitored_on_their_declared_features(spark, built) -> None:  # type: ignore[no-untyped-def]
    from jobs import compute_drift, profile_reference
    from schemas.llm import LLM_DRIFT_FEATURES

    settings, _ = built
    table = ["--table", "silver.llm_interactions"]
    assert profile_reference.main([*table, "--name", "llm-ref", "--start", DAY, "--end", DAY]) == 0
    assert compute_drift.main(["--reference", "llm-ref", *WINDOW, *table]) == 0
    rows = _table(spark, settings, "metrics.drift").where("reference = 'llm-ref'").collect()
    for workload in {r["workload_id"] for r in rows}:
        mine = [r for r in rows if r["workload_id"] == workload]
        features = {(r["feature"], r["feature_type"]) for r in mine if r["feature_type"] != "dataset"}
        assert features == set(LLM_DRIFT_FEATURES.items())
        assert [r["metric"] for r in mine if r["feature_type"] == "dataset"] == ["dataset_drift"]
    # the window against itself: nothing moved, every metric is 0 and ok
    measured = [r for r in rows if r["metric"] in ("psi", "ks", "js_distance", "null_rate_delta")]
    assert measured and all(r["value"] == 0.0 and r["status"] == "ok" for r in measured)
    tools = next(r for r in rows if r["feature"] == "tool_names_called" and r["metric"] == "psi")
    assert "__null__" in tools["bin_labels"] and tools["ref_props"] == tools["cur_props"]
