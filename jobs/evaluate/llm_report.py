"""The LLM evaluation's report: one self-contained HTML page per run (inline CSS, no script, no
external resource), rendered from the Jinja2 template ``templates/llm_report.html.j2`` with
autoescaping on, so a request's text (markup included) shows as text.

The page has the run's facts, one table per workload (the whole workload, then each tool
group: the production response's first tool), the call/no-call confusion, latency and tokens,
and the worst records: no answer first, then wrong function names, then wrong arguments (for
generic workloads the lowest token F1), each with the user's last message and both answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from jobs.evaluate.llm_aggregates import ALL_TOOLS, Aggregate
from jobs.evaluate.llm_scoring import RecordOutcome, content_text

__all__ = ["render_report", "worst_records", "write_report"]

log = logging.getLogger(__name__)
_TEXT_LIMIT = 2000


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("jobs.evaluate", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, num=_num, ms=_ms, count=_count)
    return env


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _clip(text: str | None) -> str:
    if not text:
        return ""
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + f"… ({len(text) - _TEXT_LIMIT:,} more characters)"


def _last_user_text(request: Mapping[str, Any]) -> str:
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message)
    return ""


def _calls_text(o: RecordOutcome, candidate: bool) -> str:
    calls = o.candidate_calls if candidate else o.reference_calls
    return "\n".join(f"{c.name}({json.dumps(c.as_json()['arguments'], ensure_ascii=False)})" for c in calls)


def worst_records(outcomes: Sequence[RecordOutcome], limit: int) -> list[RecordOutcome]:
    """Up to ``limit`` records that are not right, worst first (see the module), then by workload and id."""
    wrong = [o for o in outcomes if o.quality < 1.0]
    return sorted(wrong, key=lambda o: (o.quality, o.record.workload_id, o.record.event_id))[:limit]


def _record_view(o: RecordOutcome) -> dict[str, Any]:
    ans = o.answer
    if not ans.answered:
        verdict = f"no answer ({ans.error_kind})"
    elif o.function_name_match is not None:
        verdict = (
            "right"
            if o.function_name_and_args_match
            else "arguments differ"
            if o.function_name_match
            else "other functions"
        )
    else:
        verdict = "exact" if o.exact_match else f"token F1 {o.token_f1:.3f}" if o.token_f1 is not None else "—"
    return {
        "workload_id": o.record.workload_id,
        "event_id": o.record.event_id,
        "tool": o.record.tool,
        "verdict": verdict,
        "answered": ans.answered,
        "error": ans.error or "",
        "attempts": ans.attempts,
        "latency_ms": ans.latency_ms,
        "user_text": _clip(_last_user_text(o.record.request)),
        "reference_calls": _calls_text(o, candidate=False),
        "candidate_calls": _calls_text(o, candidate=True),
        "reference_content": _clip(content_text(o.record.reference_message)),
        "candidate_content": _clip(content_text(o.candidate_message)),
        "extra_scores": dict(o.extra_scores),
    }


def render_report(
    *,
    run_id: str,
    evaluated_at: str,
    candidate: str,
    model: str | None,
    dataset: str,
    argument_mode: str,
    aggregates: Sequence[Aggregate],
    outcomes: Sequence[RecordOutcome],
    worst: int,
    settings: Mapping[str, Any],
) -> str:
    """The whole report as one HTML page."""
    workloads = [
        {"total": a, "tools": [t for t in aggregates if t.workload_id == a.workload_id and t.tool != ALL_TOOLS]}
        for a in aggregates
        if a.tool == ALL_TOOLS
    ]
    scorer_names = sorted({k for a in aggregates for k in a.extra_scores})
    template = _environment().get_template("llm_report.html.j2")
    return template.render(
        run_id=run_id,
        evaluated_at=evaluated_at,
        candidate=candidate,
        model=model or "—",
        dataset=dataset,
        argument_mode=argument_mode,
        settings=dict(settings),
        workloads=workloads,
        scorer_names=scorer_names,
        records=len(outcomes),
        worst=[_record_view(o) for o in worst_records(outcomes, worst)],
        worst_limit=worst,
    )


def write_report(path: Path, **kwargs: Any) -> Path:
    """Render the report and write it to ``path`` (UTF-8, parent folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(**kwargs), encoding="utf-8")
    log.info("LLM evaluation report written to %s", path)
    return path
