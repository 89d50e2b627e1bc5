"""The candidate client against a real local HTTP endpoint (ops.llm_stub) through the real
``openai`` client: requests as logged, retries then a counted error (timeouts, 5xx, 429 with
Retry-After), no retry of a refusal, concurrency and the rate limit; the JSONL reader's rules."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobs.evaluate.llm_candidates import (
    CandidateAnswer,
    CandidateError,
    EndpointCandidate,
    RateLimiter,
    candidate_body,
    read_responses,
    write_responses,
)
from ops.llm_stub import Reply, StubServer, chat_completion, echo_router, error_body, last_user_text
from skewguard.config import load_settings
from skewguard.settings_llm_eval import LlmEvalSettings

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def _cfg(**over: Any) -> LlmEvalSettings:
    return load_settings("test", env={}).llm_eval.model_copy(update=over)


def _request(text: str, **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **fields}


def router(body: dict[str, Any], attempt: int) -> Reply:
    """By the user's text: ``503x2`` fails twice then answers, ``500`` always fails, ``400`` is
    refused, ``slow`` answers after the tests' timeout, ``429`` asks to wait 0.3 s once, ``junk``
    answers 200 without choices; anything else is echoed."""
    text = last_user_text(body)
    if text == "503x2" and attempt <= 2:
        return Reply(error_body(503, "warming up"), status=503)
    if text == "500":
        return Reply(error_body(500, "boom"), status=500)
    if text == "400":
        return Reply(error_body(400, "bad tools"), status=400)
    if text == "slow":
        return Reply(chat_completion({"content": "late"}), delay_s=1.0)
    if text == "429" and attempt == 1:
        return Reply(error_body(429, "slow down"), status=429, headers=(("Retry-After", "0.3"),))
    if text == "junk":
        return Reply({"object": "chat.completion"})
    return echo_router()(body, attempt)


@pytest.fixture()
def server() -> Any:
    with StubServer(router) as stub:
        yield stub


def test_requests_are_sent_as_logged(server: StubServer) -> None:
    logged = _request("hi", tools=[TOOL], temperature=0.2, max_tokens=64)
    client = EndpointCandidate(_cfg(), server.base_url, "candidate-7b")
    try:
        (answer,) = client.answer_all([("e1", logged)])
    finally:
        client.close()
    assert server.requests == [{"model": "candidate-7b", **logged}]
    assert server.authorizations == ["Bearer EMPTY"]
    assert answer.answered and answer.attempts == 1 and answer.latency_ms is not None and answer.latency_ms > 0
    assert answer.response is not None and answer.response["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "lookup", "arguments": '{"query": "hi"}',
    }  # fmt: skip
    assert candidate_body(_request("x"), "m", "required") == {"model": "m", **_request("x")}  # no tools: no choice
    assert candidate_body(logged, "m", "required")["tool_choice"] == "required"
    keyed = LlmEvalSettings.model_validate({**_cfg().model_dump(), "api_key": "sk-test"})
    client = EndpointCandidate(keyed, server.base_url, "m")
    client.answer("e2", {"model": "m", **_request("x")})
    client.close()
    assert server.authorizations[-1] == "Bearer sk-test"


def test_retries_then_counted_errors(server: StubServer) -> None:
    cfg = _cfg(timeout_s=0.3, max_retries=2)
    client = EndpointCandidate(cfg, server.base_url, "m")
    t0 = time.monotonic()
    try:
        answers = client.answer_all([(t, _request(t)) for t in ("503x2", "500", "400", "slow", "429", "junk", "ok")])
    finally:
        client.close()
    got = {a.event_id: (a.answered, a.attempts, a.error_kind) for a in answers}
    assert got == {
        "503x2": (True, 3, None),  # two 503s retried, the third attempt answered
        "500": (False, 3, "http_500"),  # 1 + max_retries attempts, then counted
        "400": (False, 1, "http_400"),  # a refusal is not retried
        "slow": (False, 3, "timeout"),
        "429": (True, 2, None),
        "junk": (False, 1, "invalid_response"),
        "ok": (True, 1, None),
    }
    by_id = {a.event_id: a for a in answers}
    assert by_id["500"].error == "HTTP 500: boom after 3 attempts"
    assert by_id["slow"].error == "no answer within 0.3 s after 3 attempts"
    assert by_id["400"].error == "HTTP 400: bad tools"
    assert time.monotonic() - t0 >= 0.3  # the 429's Retry-After was honoured
    assert sum(last_user_text(b) == "slow" for b in server.requests) == 3


def test_concurrency_is_bounded_and_used() -> None:
    with StubServer(echo_router(delay_s=0.1)) as stub:
        client = EndpointCandidate(_cfg(concurrency=3), stub.base_url, "m")
        answers = client.answer_all([(str(i), _request(f"q{i}")) for i in range(9)])
        client.close()
    assert [a.event_id for a in answers] == [str(i) for i in range(9)]  # the input's order
    assert all(a.answered for a in answers)
    assert stub.max_in_flight == 3  # three at once: bounded, and used


def test_rate_limit_spaces_the_starts() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    assert slept == [0.25, 0.5]  # starts at 0, 0.25, 0.5
    RateLimiter(None, sleep=sleep).acquire()
    assert len(slept) == 2
    with StubServer(echo_router()) as stub:
        client = EndpointCandidate(_cfg(concurrency=8, requests_per_second=20.0), stub.base_url, "m")
        t0 = time.monotonic()
        client.answer_all([(str(i), _request(f"q{i}")) for i in range(11)])
        elapsed = time.monotonic() - t0
        client.close()
    assert elapsed >= 0.5 - 0.01  # 11 starts 50 ms apart


def test_responses_file_round_trip_and_rules(tmp_path: Path) -> None:
    ok = CandidateAnswer("a", chat_completion({"content": "x"}), attempts=2, latency_ms=12.5)
    failed = CandidateAnswer("b", None, "HTTP 503: busy after 3 attempts", "http_503", 3)
    path = write_responses(tmp_path / "r.jsonl", [ok, failed])
    answers, extra = read_responses(path, ["b", "a", "c"])
    assert answers[:2] == [failed, ok] and extra == []
    assert (answers[2].error_kind, answers[2].attempts, answers[2].answered) == ("missing", 0, False)
    assert read_responses(path, ["a"])[1] == ["b"]  # ids of no eval record are reported, not fatal

    def bad(*lines: object) -> str:
        (tmp_path / "bad.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
        with pytest.raises(CandidateError) as err:
            read_responses(tmp_path / "bad.jsonl", ["a"])
        return str(err.value)

    assert ":1: not JSON (Expecting" in bad('{"event_id": "a", "response": {}', "")
    assert bad({"id": "a"}).endswith(':1: needs an object with a string "event_id"')
    assert bad({"event_id": "a", "error": "x"}, {"event_id": "a", "error": "y"}).endswith(
        ":2: a second line for event_id 'a'"
    )
    assert bad({"event_id": "a"}).endswith(':1: needs "response" (a chat completion) or "error"')
    assert bad({"event_id": "a", "error": "x", "attempts": -1}).endswith(":1: attempts must be a whole number ≥ 0")
    (tmp_path / "odd.jsonl").write_text(json.dumps({"event_id": "a", "response": {"choices": []}}) + "\n\n")
    (odd,), _ = read_responses(tmp_path / "odd.jsonl", ["a"])
    assert (odd.answered, odd.error_kind) == (False, "invalid_response")


def test_the_stub_counts_attempts_per_identical_body() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def route(body: dict[str, Any], attempt: int) -> Reply:
        with lock:
            seen.append(attempt)
        return echo_router()(body, attempt)

    with StubServer(route) as stub:
        client = EndpointCandidate(_cfg(), stub.base_url, "m")
        for _ in range(2):
            client.answer("a", {"model": "m", **_request("same")})
        client.answer("b", {"model": "m", **_request("other")})
        client.close()
    assert seen == [1, 2, 1]
