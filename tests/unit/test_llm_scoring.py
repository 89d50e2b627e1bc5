"""LLM evaluation scoring on hand-made cases: the argument modes, calls as multisets, the
call/no-call confusion, SQuAD's exact match and token F1, the aggregates (every value computed
by hand) and the scorer hook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.evaluate.llm_aggregates import aggregate, percentile
from jobs.evaluate.llm_candidates import CandidateAnswer
from jobs.evaluate.llm_scoring import (
    INVALID,
    NO_CALL,
    EvalRecord,
    ScorerError,
    ToolCall,
    calls_match,
    exact_match,
    names_match,
    normalize_answer,
    parse_arguments,
    required_params,
    score_record,
    token_f1,
    tool_calls_of,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
NOTE = {"type": "function", "function": {"name": "take_note", "parameters": {"type": "object", "properties": {}}}}
REQUIRED = required_params([WEATHER, NOTE])


def call(name: str, arguments: Any) -> dict[str, Any]:
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}


def calls(*items: tuple[str, Any]) -> list[ToolCall]:
    return tool_calls_of({"tool_calls": [call(n, a) for n, a in items]})


def modes(ref: list[ToolCall], cand: list[ToolCall]) -> tuple[bool, bool, bool]:
    return tuple(calls_match(ref, cand, m, REQUIRED) for m in ("name_only", "name_and_args", "required_args"))  # type: ignore[return-value]


PARIS = calls(("get_weather", '{"city": "Paris", "unit": "c"}'))


def test_arguments_are_parsed_json_and_anything_else_is_invalid() -> None:
    assert parse_arguments('{"city": "Paris"}') == {"city": "Paris"}
    assert parse_arguments({"city": "Paris"}) == {"city": "Paris"}
    assert parse_arguments('{"city": "Par') is INVALID
    assert parse_arguments(None) is INVALID
    assert parse_arguments("[1, 2]") == [1, 2]
    assert not ToolCall("f", [1, 2]).valid and ToolCall("f", {}).valid
    legacy = tool_calls_of({"content": None, "function_call": {"name": "get_weather", "arguments": "{}"}})
    assert legacy == [ToolCall("get_weather", {})]
    assert tool_calls_of(None) == [] and tool_calls_of({"content": "hi"}) == []
    assert {"get_weather": frozenset({"city"}), "take_note": frozenset()} == REQUIRED


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        # (name_only, name_and_args, required_args)
        (calls(("get_weather", {"unit": "c", "city": "Paris"})), (True, True, True)),  # an object, keys reordered
        (calls(("get_weather", '{"unit":"c","city":"Paris"}')), (True, True, True)),  # a string holding the same
        (calls(("get_weather", {"city": "Paris", "unit": "f"})), (True, False, True)),  # an optional one differs
        (calls(("get_weather", {"city": "Paris"})), (True, False, True)),  # an optional one left out
        (calls(("get_weather", {"unit": "c"})), (True, False, False)),  # the required one left out
        (calls(("get_weather", {"city": "paris", "unit": "c"})), (True, False, False)),  # values are case-sensitive
        (calls(("Get_Weather", {"city": "Paris", "unit": "c"})), (False, False, False)),  # so are names
        (calls(("get_weather", '{"city": "Paris", "unit": ')), (True, False, False)),  # not JSON: matches nothing
        (calls(("get_weather", '["Paris", "c"]')), (True, False, False)),  # JSON, but not an object
        (calls(("take_note", {"city": "Paris", "unit": "c"})), (False, False, False)),
        ([], (False, False, False)),  # no call at all
    ],
)
def test_argument_modes(candidate: list[ToolCall], expected: tuple[bool, bool, bool]) -> None:
    assert modes(PARIS, candidate) == expected
    assert names_match(PARIS, candidate) == expected[0]


def test_json_values_compare_as_json() -> None:
    one = calls(("take_note", {"n": 1, "tags": ["a", "b"], "meta": {"x": None}}))
    assert calls_match(one, calls(("take_note", '{"meta": {"x": null}, "tags": ["a", "b"], "n": 1.0}')))
    assert not calls_match(one, calls(("take_note", {"n": True, "tags": ["a", "b"], "meta": {"x": None}})))
    assert not calls_match(one, calls(("take_note", {"n": 1, "tags": ["b", "a"], "meta": {"x": None}})))  # list order
    assert not calls_match(one, calls(("take_note", {"n": "1", "tags": ["a", "b"], "meta": {"x": None}})))
    assert not calls_match(calls(("take_note", {"f": True})), calls(("take_note", {"f": 1})))
    assert calls_match(calls(("take_note", {"f": 0})), calls(("take_note", {"f": 0.0})))


def test_required_args_without_a_schema() -> None:
    # take_note's schema requires nothing: only the name counts; a tool never offered has no schema
    # to read, so every argument is compared
    assert calls_match(
        calls(("take_note", {"text": "a"})), calls(("take_note", {"text": "b"})), "required_args", REQUIRED
    )
    ping = calls(("ping", {"host": "a"}))
    assert not calls_match(ping, calls(("ping", {"host": "b"})), "required_args", REQUIRED)
    assert calls_match(ping, calls(("ping", '{"host":"a"}')), "required_args", REQUIRED)


def test_several_calls_are_a_multiset() -> None:
    ref = calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))
    swapped = calls(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Paris"}))
    assert calls_match(ref, swapped) and names_match(ref, swapped)  # order ignored
    twice = calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Paris"}))
    assert names_match(ref, twice) and not calls_match(ref, twice)  # same names, one call counted twice
    one = calls(("get_weather", {"city": "Paris"}))
    assert not names_match(ref, one) and not calls_match(ref, one, "name_only")  # a count differs
    assert not names_match(one, twice)
    mixed = calls(("get_weather", {"city": "Paris"}), ("take_note", {}))
    assert not names_match(ref, mixed)
    assert calls_match([], []) and names_match([], [])  # no call where production made none: right
    assert not names_match([], one)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The cat sat on the mat.", "cat sat on mat"),
        ("  Paris!!  ", "paris"),
        ("A $5 fee—or an exemption?", "5 feeor exemption"),  # removed, not spaced: SQuAD's "well-known" → "wellknown"
        ("Theater, anthem", "theater anthem"),  # articles only as words
        ("Résumé en une phrase", "résumé en une phrase"),
        ("...", ""),
    ],
)
def test_normalisation_is_squads(text: str, normal: str) -> None:
    assert normalize_answer(text) == normal


def test_exact_match_and_token_f1_by_hand() -> None:
    assert exact_match("The cat sat on the mat.", "cat sat on a mat") and token_f1("The cat.", "cat") == 1.0
    assert not exact_match("Paris", "Paris, France")
    # 2 common tokens: precision 2/3, recall 2/4 → F1 = 2·(2/3)(1/2) / (2/3 + 1/2) = 4/7
    assert token_f1("alpha beta gamma delta", "alpha beta epsilon") == pytest.approx(4 / 7)
    # tokens are a multiset: y appears twice in the reference, three times in the candidate → 2 common
    assert token_f1("x y y z", "y y y") == pytest.approx(4 / 7)
    # precision 1, recall 3/5 → 0.75
    assert token_f1("one two three four five", "one two three") == pytest.approx(0.75)
    assert token_f1("", "") == 1.0 and token_f1("...", "") == 1.0
    assert token_f1("answer", "") == 0.0 and token_f1("", "answer") == 0.0 and token_f1("a b", "c d") == 0.0


# -- records, answers, aggregates -----------------------------------------------------------------


def _response(message: dict[str, Any], usage: tuple[int, int] = (10, 2)) -> dict[str, Any]:
    return {
        "model": "cand",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def _tool_record(eid: str, message: dict[str, Any]) -> EvalRecord:
    request = {"messages": [{"role": "user", "content": eid}], "tools": [WEATHER, NOTE]}
    return EvalRecord("tools", "tool_calling", eid, request, _response(message))


def _answer(
    eid: str, message: dict[str, Any] | None, latency: float | None = None, attempts: int = 1
) -> CandidateAnswer:
    if message is None:
        return CandidateAnswer(eid, None, "HTTP 503: busy after 3 attempts", "http_503", attempts)
    return CandidateAnswer(eid, _response(message), attempts=attempts, latency_ms=latency)


WX = {"tool_calls": [call("get_weather", '{"city": "Paris", "unit": "c"}')]}
WX_F = {"tool_calls": [call("get_weather", {"city": "Paris", "unit": "f"})]}
NOTE_CALL = {"tool_calls": [call("take_note", {"text": "x"})]}
TEXT = {"content": "Checking."}


def _tool_outcomes(mode: str = "name_and_args") -> list[Any]:
    cases = [
        # reference, candidate (None: no answer), latency, attempts
        ("r1", WX, WX, 10.0, 1),  # right
        ("r2", WX, WX_F, 20.0, 1),  # name right, an optional argument differs
        ("r3", WX, TEXT, 30.0, 2),  # no call where production called (after one retry)
        ("r4", WX, None, None, 3),  # no answer
        ("r5", TEXT, NOTE_CALL, 40.0, 1),  # a call where production made none
        ("r6", NOTE_CALL, {"tool_calls": [call("take_note", '{"text": ')]}, 50.0, 1),  # arguments not JSON
    ]
    return [
        score_record(_tool_record(eid, ref), _answer(eid, cand, latency, attempts), mode)
        for eid, ref, cand, latency, attempts in cases
    ]


def test_tool_calling_aggregates_by_hand() -> None:
    outcomes = _tool_outcomes()
    assert [o.record.tool for o in outcomes] == ["get_weather"] * 4 + [NO_CALL, "take_note"]
    assert [o.function_name_match for o in outcomes] == [True, True, False, False, False, True]
    assert [o.function_name_and_args_match for o in outcomes] == [True, False, False, False, False, False]
    assert [o.exact_match for o in outcomes] == [None] * 6  # text is not scored for tool-calling workloads
    total, *tools = aggregate(outcomes)
    assert (total.tool, total.records, total.answered, total.errors, total.retried) == ("*", 6, 5, 1, 2)
    assert total.function_name_accuracy == pytest.approx(3 / 6)
    assert total.function_name_and_args_accuracy == pytest.approx(1 / 6)
    # answered records only: r1 r2 r6 call→call, r3 call→none, r5 none→call
    assert (total.ref_call_cand_call, total.ref_call_cand_none, total.ref_none_cand_call, total.ref_none_cand_none) == (
        3, 1, 1, 0,
    )  # fmt: skip
    assert total.invalid_argument_calls == 1
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (50, 10, 60)
    # latencies 10, 20, 30, 40, 50: p50 30; p90 at rank 3.6 → 40 + 0.6·10 = 46; p99 at rank 3.96 → 49.6
    assert (total.latency_p50_ms, total.latency_max_ms) == (30.0, 50.0)
    assert total.latency_p90_ms == pytest.approx(46.0) and total.latency_p99_ms == pytest.approx(49.6)
    assert total.error_kinds == {"http_503": 1} and total.exact_match is None and total.token_f1 is None
    assert [(t.tool, t.records, t.errors) for t in tools] == [
        (NO_CALL, 1, 0),
        ("get_weather", 4, 1),
        ("take_note", 1, 0),
    ]
    weather = tools[1]
    assert (weather.function_name_accuracy, weather.function_name_and_args_accuracy) == (0.5, 0.25)
    assert (weather.ref_call_cand_call, weather.ref_call_cand_none, weather.latency_p50_ms) == (2, 1, 20.0)
    assert (tools[0].ref_none_cand_call, tools[0].function_name_accuracy) == (1, 0.0)
    # another mode changes only what counts as the same call
    required = aggregate(_tool_outcomes("required_args"))[0]
    assert required.function_name_and_args_accuracy == pytest.approx(2 / 6)  # r2 now right
    assert aggregate(_tool_outcomes("name_only"))[0].function_name_and_args_accuracy == pytest.approx(3 / 6)


def test_generic_aggregates_and_the_scorer_hook_by_hand() -> None:
    def record(eid: str, text: str) -> EvalRecord:
        return EvalRecord(
            "sum", "generic", eid, {"messages": [{"role": "user", "content": eid}]}, _response({"content": text})
        )

    def words(rec: EvalRecord, message: dict[str, Any]) -> float | None:
        """A stand-in judge: the candidate's word count, not scored for an empty answer."""
        return float(len(message["content"].split())) if message.get("content") else None

    cases = [
        ("g1", "The summary is short.", {"content": "summary is short"}),  # exact after normalisation
        ("g2", "one two three four five", {"content": "one two three"}),  # F1 0.75
        ("g3", "alpha", {"content": None, "tool_calls": [call("take_note", {})]}),  # a call, no text: 0
        ("g4", "beta", None),  # no answer: 0, not judged
    ]
    scorers = {"words": words}
    outcomes = [score_record(record(eid, ref), _answer(eid, cand, 5.0), scorers=scorers) for eid, ref, cand in cases]
    assert [o.exact_match for o in outcomes] == [True, False, False, False]
    assert [o.token_f1 for o in outcomes] == [1.0, pytest.approx(0.75), 0.0, 0.0]
    assert [o.extra_scores for o in outcomes] == [{"words": 3.0}, {"words": 3.0}, {}, {}]
    assert [o.function_name_match for o in outcomes] == [None] * 4
    (total, only) = aggregate(outcomes)
    assert (only.tool, only.records) == (NO_CALL, 4)
    assert total.exact_match == 0.25 and total.token_f1 == pytest.approx(1.75 / 4)
    assert total.function_name_accuracy is None and total.function_name_and_args_accuracy is None
    assert (total.ref_none_cand_call, total.ref_none_cand_none, total.errors) == (1, 2, 1)
    assert total.extra_scores == {"words": 3.0}  # the mean over the records it scored
    with pytest.raises(ScorerError, match=r"^scorer 'boom' failed on event_id g1: ZeroDivisionError"):
        score_record(record("g1", "x"), _answer("g1", {"content": "y"}), scorers={"boom": lambda r, m: 1 / 0})


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([], 50) is None and percentile([7.0], 99) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0], 90) == pytest.approx(37.0)
    assert percentile([10.0, 20.0, 30.0, 40.0], 99) == pytest.approx(39.7)


def test_worst_first_order() -> None:
    from jobs.evaluate.llm_report import worst_records

    order = [o.record.event_id for o in worst_records(_tool_outcomes(), 10)]
    assert order == ["r4", "r3", "r5", "r2", "r6"]  # no answer, wrong names (by id), wrong arguments; r1 right
    assert len(worst_records(_tool_outcomes(), 2)) == 2
    assert json.loads(json.dumps([c.as_json() for c in _tool_outcomes()[5].candidate_calls])) == [
        {"name": "take_note", "arguments": "<invalid JSON>"}
    ]
