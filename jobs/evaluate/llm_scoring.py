"""How a candidate's answer is scored against the logged production answer (the reference,
the Data Flywheel's convention: ``response.choices[0].message`` of the eval line). Pure
Python, no Spark: every rule here is unit-tested on hand-made cases.

**Tool calls** (the Flywheel's ``function_name_accuracy`` and ``function_name_and_args_accuracy``,
as NeMo Evaluator's tool-calling metric computes them: per record 1 or 0, the order of the
calls ignored, names compared case-sensitively):

* ``function_name`` — the multiset of called function names equals the reference's;
* ``function_name_and_args`` — the multiset of calls equals the reference's, a call being
  compared by the ``argument_mode``:

  - ``name_only``: its name;
  - ``name_and_args``: its name and its arguments as parsed JSON (key order and ``1`` vs
    ``1.0`` do not matter, ``true`` vs ``1`` does);
  - ``required_args``: its name and the arguments the offered tool's schema lists as
    ``required`` (a tool offered without a ``required`` list: none; a tool the request did not
    offer, so with no schema to read: every argument);

  in both argument modes a call whose arguments are not a JSON object (or a string holding
  one) matches nothing, as the Flywheel's judge rule has it;
* two calls of the same function with the same arguments count twice (a multiset, not a set);
  a record whose reference makes no call matches when the candidate makes none either.

**Text** (generic workloads): ``exact_match`` and ``token_f1`` of the first choice's content,
SQuAD's definitions: both texts normalised (lower case, punctuation and symbols removed, the
articles a/an/the removed, whitespace collapsed); F1 over the multiset of tokens; two empty
texts score 1, one empty text 0.

A record the candidate did not answer (an error after retries) scores as wrong: 0 in every
accuracy and in F1. **Scorers** (:class:`Scorer`) are the hook for further scores, e.g. an
LLM judge: a name → callable given the record and the candidate's message, returning a float
or None (not scored); their means appear next to the built-in metrics.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobs.evaluate.llm_candidates import CandidateAnswer

__all__ = [
    "NO_CALL",
    "EvalRecord",
    "RecordOutcome",
    "Scorer",
    "ScorerError",
    "ToolCall",
    "call_keys",
    "calls_match",
    "content_text",
    "exact_match",
    "names_match",
    "normalize_answer",
    "parse_arguments",
    "required_params",
    "score_record",
    "token_f1",
    "tool_calls_of",
]

#: the tool of a record whose reference calls none (gold.llm_datasets' stratum says the same)
NO_CALL = "__none__"
TOOL_CALLING, GENERIC = "tool_calling", "generic"


class _Invalid:
    """Arguments that are not JSON: equal to nothing, itself included."""

    def __repr__(self) -> str:
        return "<invalid JSON>"


INVALID: Any = _Invalid()


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any
    """The arguments parsed (a string holding JSON is parsed), or :data:`INVALID`."""

    @property
    def valid(self) -> bool:
        return isinstance(self.arguments, dict)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments if self.valid else repr(self.arguments)}


def parse_arguments(raw: Any) -> Any:
    """A call's arguments as a JSON value: a string is parsed (:data:`INVALID` when it is not
    JSON), an object or another JSON value is taken as it is; missing arguments are INVALID."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return INVALID
    return INVALID if raw is None else raw


def tool_calls_of(message: Mapping[str, Any] | None) -> list[ToolCall]:
    """The calls of an assistant message: ``tool_calls[].function`` (or the legacy
    ``function_call``); a call without a name is named ``""``."""
    if not message:
        return []
    calls = message.get("tool_calls") or []
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]
    found = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        function = function if isinstance(function, dict) else {}
        found.append(ToolCall(str(function.get("name") or ""), parse_arguments(function.get("arguments"))))
    return found


def required_params(tools: Sequence[Mapping[str, Any]] | None) -> dict[str, frozenset[str]]:
    """Function name → the parameters its schema lists as ``required`` (empty when it lists none)."""
    out: dict[str, frozenset[str]] = {}
    for tool in tools or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        parameters = function.get("parameters")
        required = parameters.get("required") if isinstance(parameters, Mapping) else None
        out[function["name"]] = frozenset(r for r in required or [] if isinstance(r, str))
    return out


def _canonical(value: Any) -> Hashable:
    """A hashable form of a JSON value: objects compare without order, ``true`` is not ``1``."""
    if value is None or isinstance(value, str):
        return ("value", value)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, list):
        return ("list", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def call_keys(calls: Iterable[ToolCall], mode: str, required: Mapping[str, frozenset[str]]) -> Counter[Hashable]:
    """The multiset of calls as ``mode`` compares them (see the module)."""
    keys: Counter[Hashable] = Counter()
    for call in calls:
        if mode == "name_only":
            keys[call.name] += 1
        elif not call.valid:
            keys[(call.name, object())] += 1  # unique: matches nothing
        elif mode == "name_and_args" or call.name not in required:
            keys[(call.name, _canonical(call.arguments))] += 1
        elif mode == "required_args":
            wanted = required[call.name]
            keys[(call.name, frozenset((k, _canonical(v)) for k, v in call.arguments.items() if k in wanted))] += 1
        else:
            raise ValueError(f"unknown argument mode {mode!r} (known: name_only, name_and_args, required_args)")
    return keys


def names_match(reference: Sequence[ToolCall], candidate: Sequence[ToolCall]) -> bool:
    return Counter(c.name for c in reference) == Counter(c.name for c in candidate)


def calls_match(
    reference: Sequence[ToolCall],
    candidate: Sequence[ToolCall],
    mode: str = "name_and_args",
    required: Mapping[str, frozenset[str]] | None = None,
) -> bool:
    required = required or {}
    return call_keys(reference, mode, required) == call_keys(candidate, mode, required)


def content_text(message: Mapping[str, Any] | None) -> str:
    """A message's content as text: the string, or the text parts of a list joined by spaces."""
    content = (message or {}).get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation and symbols dropped, articles dropped,
    whitespace collapsed."""
    lowered = text.lower()
    kept = "".join(ch for ch in lowered if not unicodedata.category(ch).startswith(("P", "S")))
    return " ".join(_ARTICLES.sub(" ", kept).split())


def exact_match(reference: str, candidate: str) -> bool:
    return normalize_answer(reference) == normalize_answer(candidate)


def token_f1(reference: str, candidate: str) -> float:
    ref, cand = normalize_answer(reference).split(), normalize_answer(candidate).split()
    if not ref or not cand:
        return float(ref == cand)
    same = sum((Counter(ref) & Counter(cand)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(cand), same / len(ref)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class EvalRecord:
    """One eval record of ``gold.llm_datasets``: its eval line's request and the production response."""

    workload_id: str
    workload_type: str
    event_id: str
    request: dict[str, Any]
    reference: dict[str, Any]

    @property
    def reference_message(self) -> dict[str, Any]:
        message = (self.reference.get("choices") or [{}])[0].get("message")
        return message if isinstance(message, dict) else {}

    @property
    def tool(self) -> str:
        """The first function the reference calls (:data:`NO_CALL`: none): the per-tool group."""
        calls = tool_calls_of(self.reference_message)
        return calls[0].name if calls else NO_CALL


class ScorerError(RuntimeError):
    """A scorer raised: the run stops (a judge must answer None for a record it cannot score)."""


class Scorer(Protocol):
    """A further score of a record (e.g. an LLM judge): called for answered records only; a
    float, or None when it does not score this record. It must not raise for a bad answer."""

    def __call__(self, record: EvalRecord, candidate_message: dict[str, Any]) -> float | None: ...


@dataclass(frozen=True)
class RecordOutcome:
    """A record, the candidate's answer and its scores (null: not measured for this workload type)."""

    record: EvalRecord
    answer: CandidateAnswer
    reference_calls: tuple[ToolCall, ...]
    candidate_calls: tuple[ToolCall, ...]
    function_name_match: bool | None
    function_name_and_args_match: bool | None
    exact_match: bool | None
    token_f1: float | None
    extra_scores: dict[str, float] = field(default_factory=dict)

    @property
    def candidate_message(self) -> dict[str, Any] | None:
        if self.answer.response is None:
            return None
        message: dict[str, Any] = self.answer.response["choices"][0]["message"]
        return message

    @property
    def candidate_calls_tool(self) -> bool | None:
        """Whether the candidate called a tool (None: it did not answer)."""
        return bool(self.candidate_calls) if self.answer.answered else None

    @property
    def usage(self) -> dict[str, int | None]:
        usage = (self.answer.response or {}).get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return {k: _int_or_none(usage.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}

    @property
    def finish_reason(self) -> str | None:
        if self.answer.response is None:
            return None
        reason = self.answer.response["choices"][0].get("finish_reason")
        return None if reason is None else str(reason)

    @property
    def quality(self) -> float:
        """For ordering records worst first: −1 no answer; tool calls: 0 wrong names, 0.5 right
        names with other arguments, 1 right; text: the token F1."""
        if not self.answer.answered:
            return -1.0
        if self.function_name_match is not None:
            return 1.0 if self.function_name_and_args_match else 0.5 if self.function_name_match else 0.0
        return self.token_f1 if self.token_f1 is not None else 1.0


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def score_record(
    record: EvalRecord,
    answer: CandidateAnswer,
    mode: str = "name_and_args",
    scorers: Mapping[str, Scorer] | None = None,
) -> RecordOutcome:
    """The record's scores: tool calls for a tool-calling workload, text for a generic one."""
    reference_calls = tuple(tool_calls_of(record.reference_message))
    message = answer.response["choices"][0]["message"] if answer.response is not None else None
    candidate_calls = tuple(tool_calls_of(message))
    name = args = em = f1 = None
    if record.workload_type == TOOL_CALLING:
        required = required_params(record.request.get("tools"))
        name = message is not None and names_match(reference_calls, candidate_calls)
        args = message is not None and calls_match(reference_calls, candidate_calls, mode, required)
    else:
        reference_text = content_text(record.reference_message)
        em = message is not None and exact_match(reference_text, content_text(message))
        f1 = token_f1(reference_text, content_text(message)) if message is not None else 0.0
    extra: dict[str, float] = {}
    if message is not None:
        for scorer_name, scorer in (scorers or {}).items():
            try:
                value = scorer(record, message)
            except Exception as exc:
                raise ScorerError(f"scorer {scorer_name!r} failed on event_id {record.event_id}: {exc!r}") from exc
            if value is not None:
                extra[scorer_name] = float(value)
    return RecordOutcome(record, answer, reference_calls, candidate_calls, name, args, em, f1, extra)
