"""Per-workload and per-tool aggregates of scored eval records (pure Python, no Spark).

Every rate is over **all** of the group's records: a record the candidate did not answer
counts as wrong (0), so a flaky endpoint shows in the accuracies as well as in ``errors``. The
call/no-call confusion, token sums and latency percentiles are over the answered records.
A tool group holds the records whose reference first calls that tool (``__none__``: no call).
Percentiles interpolate linearly between ranks (``numpy.percentile``'s default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from jobs.evaluate.llm_scoring import TOOL_CALLING, RecordOutcome

__all__ = ["ALL_TOOLS", "Aggregate", "aggregate", "aggregate_group", "percentile"]

#: the ``tool`` of a whole workload's aggregate
ALL_TOOLS = "*"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Aggregate:
    """One workload (``tool == "*"``) or one tool group of it."""

    workload_id: str
    workload_type: str
    tool: str
    records: int
    answered: int
    errors: int
    retried: int
    """Records that needed more than one attempt (answered or not)."""
    function_name_accuracy: float | None
    function_name_and_args_accuracy: float | None
    ref_call_cand_call: int
    ref_call_cand_none: int
    ref_none_cand_call: int
    ref_none_cand_none: int
    invalid_argument_calls: int
    exact_match: float | None
    token_f1: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    extra_scores: dict[str, float] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def headline(self) -> float | None:
        """The metric a reader looks at first: name + args accuracy, or token F1."""
        return self.function_name_and_args_accuracy if self.workload_type == TOOL_CALLING else self.token_f1


def _rate(flags: Iterable[bool | None], n: int) -> float | None:
    values = [f for f in flags if f is not None]
    return sum(values) / n if values and n else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _token_sum(outcomes: Sequence[RecordOutcome], key: str) -> int | None:
    values = [v for o in outcomes if (v := o.usage[key]) is not None]
    return sum(values) if values else None


def aggregate_group(workload_id: str, workload_type: str, tool: str, outcomes: Sequence[RecordOutcome]) -> Aggregate:
    n = len(outcomes)
    answered = [o for o in outcomes if o.answer.answered]
    latencies = [o.answer.latency_ms for o in answered if o.answer.latency_ms is not None]
    confusion = Counter((bool(o.reference_calls), bool(o.candidate_calls)) for o in answered)
    names = sorted({k for o in outcomes for k in o.extra_scores})
    f1s = [o.token_f1 for o in outcomes if o.token_f1 is not None]
    return Aggregate(
        workload_id=workload_id,
        workload_type=workload_type,
        tool=tool,
        records=n,
        answered=len(answered),
        errors=n - len(answered),
        retried=sum(o.answer.attempts > 1 for o in outcomes),
        function_name_accuracy=_rate((o.function_name_match for o in outcomes), n),
        function_name_and_args_accuracy=_rate((o.function_name_and_args_match for o in outcomes), n),
        ref_call_cand_call=confusion[(True, True)],
        ref_call_cand_none=confusion[(True, False)],
        ref_none_cand_call=confusion[(False, True)],
        ref_none_cand_none=confusion[(False, False)],
        invalid_argument_calls=sum(not c.valid for o in answered for c in o.candidate_calls),
        exact_match=_rate((o.exact_match for o in outcomes), n),
        token_f1=sum(f1s) / n if f1s else None,
        prompt_tokens=_token_sum(answered, "prompt_tokens"),
        completion_tokens=_token_sum(answered, "completion_tokens"),
        total_tokens=_token_sum(answered, "total_tokens"),
        latency_p50_ms=percentile(latencies, 50),
        latency_p90_ms=percentile(latencies, 90),
        latency_p99_ms=percentile(latencies, 99),
        latency_max_ms=max(latencies) if latencies else None,
        extra_scores={
            k: m
            for k in names
            if (m := _mean([o.extra_scores[k] for o in outcomes if k in o.extra_scores])) is not None
        },
        error_kinds=dict(
            sorted(Counter(o.answer.error_kind or "error" for o in outcomes if not o.answer.answered).items())
        ),
    )


def aggregate(outcomes: Iterable[RecordOutcome]) -> list[Aggregate]:
    """Per workload (in name order): the whole workload (``tool = "*"``), then each tool group
    in name order."""
    by_workload: dict[str, list[RecordOutcome]] = {}
    for o in outcomes:
        by_workload.setdefault(o.record.workload_id, []).append(o)
    rows = []
    for workload_id in sorted(by_workload):
        group = by_workload[workload_id]
        workload_type = group[0].record.workload_type
        rows.append(aggregate_group(workload_id, workload_type, ALL_TOOLS, group))
        by_tool: dict[str, list[RecordOutcome]] = {}
        for o in group:
            by_tool.setdefault(o.record.tool, []).append(o)
        rows += [aggregate_group(workload_id, workload_type, t, by_tool[t]) for t in sorted(by_tool)]
    return rows
