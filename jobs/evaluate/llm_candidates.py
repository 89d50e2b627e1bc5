"""Candidate responses for the eval records: asked of an OpenAI-compatible endpoint, or read
from a JSONL file keyed by ``event_id``. No Spark here.

**Endpoint** (:class:`EndpointCandidate`): each record's request is sent as logged (messages,
tools, temperature, max_tokens of its eval line), with the candidate's model name, through the
``openai`` client, ``llm_eval.concurrency`` at a time and at most
``llm_eval.requests_per_second`` started per second over the whole run. A timeout, a connection
error, 408, 409, 429 or 5xx is retried up to ``llm_eval.max_retries`` times with a doubling
backoff (a short ``Retry-After`` is honoured); then, like any other refusal (400, 401, 404, …)
or an answer that is not a chat completion, the record gets an error answer: counted and
scored as wrong, never fatal to the run. The client's own retries are off, so every attempt
is counted here. ``latency_ms`` is the wall time of the attempt that answered.

**JSONL** (:func:`read_responses`): one object per line, ``{"event_id": …, "response": <chat
completion>}`` or ``{"event_id": …, "error": "…", "error_kind": "…"}``, optionally with
``attempts`` and ``latency_ms``; :func:`write_responses` writes that shape, so a run's
``responses.jsonl`` can be scored again (another argument mode, another scorer) without
asking the endpoint twice.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skewguard.progress import progress
from skewguard.settings_llm_eval import LlmEvalSettings

__all__ = [
    "CandidateAnswer",
    "CandidateError",
    "EndpointCandidate",
    "RateLimiter",
    "candidate_body",
    "missing_answer",
    "read_responses",
    "write_responses",
]

log = logging.getLogger(__name__)

#: HTTP statuses worth another attempt (the ones the ``openai`` client itself retries)
RETRY_STATUSES = frozenset({408, 409, 429})
#: request fields of an eval line that are sent as logged
REQUEST_FIELDS = ("messages", "tools", "temperature", "max_tokens")


class CandidateError(ValueError):
    """The candidate responses cannot be read (a bad JSONL line, a duplicate ``event_id``)."""


@dataclass(frozen=True)
class CandidateAnswer:
    """What the candidate answered for one eval record: its chat completion, or why not."""

    event_id: str
    response: dict[str, Any] | None
    error: str | None = None
    error_kind: str | None = None
    """``timeout``, ``connection``, ``http_<status>``, ``invalid_response`` or ``missing``."""
    attempts: int = 1
    latency_ms: float | None = None

    @property
    def answered(self) -> bool:
        return self.response is not None

    def line(self) -> dict[str, Any]:
        """The JSONL form :func:`read_responses` reads back."""
        out: dict[str, Any] = {"event_id": self.event_id}
        if self.response is not None:
            out["response"] = self.response
        else:
            out.update(error=self.error, error_kind=self.error_kind)
        out.update(attempts=self.attempts, latency_ms=self.latency_ms)
        return out


def missing_answer(event_id: str, where: str) -> CandidateAnswer:
    return CandidateAnswer(event_id, None, f"no response for this event_id in {where}", "missing", attempts=0)


def _checked(event_id: str, response: Any, attempts: int, latency_ms: float | None) -> CandidateAnswer:
    """The answer, or ``invalid_response`` when it is not a chat completion with a first choice."""
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return CandidateAnswer(event_id, None, "the answer has no choices[0]", "invalid_response", attempts)
    if not isinstance(choices[0].get("message"), dict):
        return CandidateAnswer(event_id, None, "choices[0] has no message", "invalid_response", attempts)
    return CandidateAnswer(event_id, response, attempts=attempts, latency_ms=latency_ms)


def candidate_body(request: dict[str, Any], model: str, tool_choice: str | None = None) -> dict[str, Any]:
    """The body sent for a record: its logged request fields (absent ones stay absent), the
    candidate's ``model``, and ``tool_choice`` when one is configured."""
    body: dict[str, Any] = {"model": model}
    body.update({k: request[k] for k in REQUEST_FIELDS if request.get(k) is not None})
    if tool_choice is not None and body.get("tools"):
        body["tool_choice"] = tool_choice
    return body


class RateLimiter:
    """At most ``per_second`` starts per second, evenly spaced, shared by every thread (None: no limit)."""

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = None if per_second is None else 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        if self._interval is None:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)


class EndpointCandidate:
    """Sends eval requests to an OpenAI-compatible endpoint (see the module)."""

    def __init__(self, cfg: LlmEvalSettings, base_url: str, model: str) -> None:
        from openai import OpenAI

        self.cfg, self.base_url, self.model = cfg, base_url, model
        for name in ("httpx", "httpx2", "openai"):  # one INFO line per request would drown the job's own
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else "EMPTY"
        self._client = OpenAI(base_url=base_url, api_key=key, timeout=cfg.timeout_s, max_retries=0)
        self._limiter = RateLimiter(cfg.requests_per_second)

    def close(self) -> None:
        self._client.close()

    def answer_all(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[CandidateAnswer]:
        """``(event_id, logged request)`` → answers, in the same order."""
        bodies = [(eid, candidate_body(req, self.model, self.cfg.tool_choice)) for eid, req in requests]
        done = [0]
        lock = threading.Lock()
        step = max(1, len(bodies) // 10)

        def one(item: tuple[str, dict[str, Any]]) -> CandidateAnswer:
            answer = self.answer(*item)
            with lock:
                done[0] += 1
                if done[0] % step == 0 or done[0] == len(bodies):
                    log.info("candidate %s: %d of %d answered or given up", self.model, done[0], len(bodies))
            return answer

        with ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="llm-eval") as pool:
            answers = pool.map(one, bodies)
            return list(progress(answers, total=len(bodies), desc=f"asking {self.model}", unit="req"))

    def answer(self, event_id: str, body: dict[str, Any]) -> CandidateAnswer:
        """One record's answer after at most ``max_retries`` retries."""
        import openai

        fields = {k: v for k, v in body.items() if k not in ("model", "messages")}
        attempts = 0
        while True:
            attempts += 1
            self._limiter.acquire()
            t0 = time.perf_counter()
            retry_after: float | None = None
            try:
                raw = self._client.chat.completions.with_raw_response.create(
                    model=body["model"], messages=body["messages"], extra_body=fields or None
                )
                text = raw.text
            except openai.APITimeoutError:
                kind, error, retryable = "timeout", f"no answer within {self.cfg.timeout_s:g} s", True
            except openai.APIConnectionError as exc:
                kind, error, retryable = "connection", f"connection failed: {exc}", True
            except openai.APIStatusError as exc:
                status = exc.status_code
                kind, error = f"http_{status}", f"HTTP {status}: {_message(exc)}"
                retryable = status in RETRY_STATUSES or status >= 500
                retry_after = _retry_after(exc.response.headers.get("retry-after"))
            else:
                latency_ms = round((time.perf_counter() - t0) * 1000, 3)
                try:
                    response = json.loads(text)
                except ValueError:
                    return CandidateAnswer(event_id, None, "the answer is not JSON", "invalid_response", attempts)
                return _checked(event_id, response, attempts, latency_ms)
            if not retryable or attempts > self.cfg.max_retries:
                tries = f" after {attempts} attempts" if attempts > 1 else ""
                log.warning("candidate gave no answer for %s%s: %s", event_id, tries, error)
                return CandidateAnswer(event_id, None, f"{error}{tries}", kind, attempts)
            self._backoff(attempts, retry_after)

    def _backoff(self, attempts: int, retry_after: float | None) -> None:
        cap = self.cfg.retry_max_s
        if retry_after is not None and retry_after <= cap:
            delay = retry_after
        else:
            delay = min(cap, self.cfg.retry_backoff_s * 2 ** (attempts - 1) * (1 + random.random() / 2))
        time.sleep(delay)


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(exc)[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def read_responses(path: Path, event_ids: Iterable[str]) -> tuple[list[CandidateAnswer], list[str]]:
    """The answers for ``event_ids`` (in that order) from a JSONL file, and the ids of the file
    that are not among them (ignored). An id without a line gets a ``missing`` error answer."""
    found: dict[str, CandidateAnswer] = {}
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                line = json.loads(text)
            except ValueError as exc:
                raise CandidateError(f"{where}: not JSON ({exc})") from None
            if not isinstance(line, dict) or not isinstance(line.get("event_id"), str):
                raise CandidateError(f'{where}: needs an object with a string "event_id"')
            eid = line["event_id"]
            if eid in found:
                raise CandidateError(f"{where}: a second line for event_id {eid!r}")
            found[eid] = _answer_of(line, where)
    wanted = list(event_ids)
    extra = sorted(set(found) - set(wanted))
    return [found.get(eid) or missing_answer(eid, str(path)) for eid in wanted], extra


def _answer_of(line: dict[str, Any], where: str) -> CandidateAnswer:
    eid, response = line["event_id"], line.get("response")
    attempts, latency = line.get("attempts", 1), line.get("latency_ms")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise CandidateError(f"{where}: attempts must be a whole number ≥ 0")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int | float)):
        raise CandidateError(f"{where}: latency_ms must be a number")
    if response is None:
        if not line.get("error"):
            raise CandidateError(f'{where}: needs "response" (a chat completion) or "error"')
        return CandidateAnswer(eid, None, str(line["error"]), str(line.get("error_kind") or "error"), attempts)
    return _checked(eid, response, attempts, None if latency is None else float(latency))


def write_responses(path: Path, answers: Iterable[CandidateAnswer]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for answer in answers:
            fh.write(json.dumps(answer.line(), ensure_ascii=False, separators=(",", ":")) + "\n")
    return path
