"""The eval split of ``gold.llm_datasets`` → a candidate model's answers → scores per record,
per workload and per tool → ``metrics.llm_evaluation_records``, ``metrics.llm_evaluations``,
an HTML report and the answers as ``responses.jsonl``.

**Why the driver calls the endpoint.** The eval records of the chosen workload(s) are
collected to the driver and sent from there, not from executors (``mapInPandas``): the
concurrency and the rate limit must hold for the whole run, which one client in one process
enforces exactly, while each executor task would enforce its own (N partitions would send N
times the configured rate at an endpoint that is usually one small deployment); every
attempt and retry is counted in one place; and the data is small by construction — the eval
split holds ``llm.eval_size`` records per workload (20 by default, under ``llm.limit``), so
the collect is bounded by ``llm_eval.max_records`` (5000), checked before any request: a
larger selection fails the run with the count. The time goes to waiting on the endpoint,
which threads overlap; Spark reads the split and writes the results.

Nothing is written when no record got an answer (the endpoint is down, the key is wrong):
that run fails with the first error. Otherwise the per-record rows are appended, then the
aggregates (whose presence marks a complete run), then the report.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from jobs.evaluate.llm_aggregates import Aggregate, aggregate
from jobs.evaluate.llm_candidates import CandidateAnswer, EndpointCandidate, read_responses, write_responses
from jobs.evaluate.llm_report import write_report
from jobs.evaluate.llm_scoring import EvalRecord, RecordOutcome, Scorer, content_text, score_record
from jobs.lib.delta_io import ensure_table, table_version
from jobs.lib.runs import RunRecord
from schemas.llm import GOLD_LLM_DATASETS
from schemas.llm_eval_tables import METRICS_LLM_EVALUATION_RECORDS, METRICS_LLM_EVALUATIONS
from skewguard.config import Settings

__all__ = ["Candidate", "EvaluationError", "EvaluationResult", "evaluate_llm"]

log = logging.getLogger(__name__)


class EvaluationError(RuntimeError):
    """The evaluation cannot run as asked; nothing was written."""


@dataclass(frozen=True)
class Candidate:
    """Where the candidate's answers come from: an endpoint (``base_url`` + ``model``) or a JSONL file."""

    source: str
    base_url: str | None = None
    model: str | None = None
    responses: Path | None = None

    @classmethod
    def endpoint(cls, base_url: str, model: str) -> Candidate:
        return cls("endpoint", base_url=base_url, model=model)

    @classmethod
    def jsonl(cls, responses: Path) -> Candidate:
        return cls("jsonl", responses=responses)

    @property
    def uri(self) -> str:
        return str(self.responses) if self.source == "jsonl" else str(self.base_url)

    def describe(self) -> str:
        return f"{self.model} @ {self.base_url}" if self.source == "endpoint" else f"responses in {self.responses}"


@dataclass(frozen=True)
class EvaluationResult:
    outcomes: tuple[RecordOutcome, ...]
    aggregates: tuple[Aggregate, ...]
    dataset_version: int
    report_path: Path
    responses_path: Path
    candidate_model: str | None
    argument_mode: str


def _read_eval(spark: SparkSession, settings: Settings, workload: str | None) -> tuple[int, list[Row]]:
    """The eval rows (workload, event_id order), at most ``llm_eval.max_records`` of them."""
    path = settings.lakehouse.table_path(GOLD_LLM_DATASETS.name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise EvaluationError(f"{GOLD_LLM_DATASETS.name} does not exist at {path}: run skewguard-build-llm-datasets")
    version = table_version(spark, path)
    gold = spark.read.format("delta").option("versionAsOf", version).load(path)
    eval_df = gold.where(F.col("split") == "eval")
    if workload is not None:
        eval_df = eval_df.where(F.col("workload_id") == workload)
    cap = settings.llm_eval.max_records
    columns = ("workload_id", "workload_type", "event_id", "line_json", "build_run_id", "window_start", "window_end")
    rows = eval_df.select(*columns).orderBy("workload_id", "event_id").limit(cap + 1).collect()
    where = f"{GOLD_LLM_DATASETS.name}@v{version}"
    if not rows:
        known = sorted(r["workload_id"] for r in gold.select("workload_id").distinct().collect())
        what = f"workload {workload!r}" if workload else "any workload"
        raise EvaluationError(f"no eval records for {what} in {where} (workloads with datasets: {known or 'none'})")
    if len(rows) > cap:
        raise EvaluationError(
            f"more than llm_eval.max_records ({cap}) eval records in {where}: evaluate one workload (--workload) "
            "or raise llm_eval.max_records; nothing sent"
        )
    return version, rows


def _record(row: Row) -> EvalRecord:
    line = json.loads(row["line_json"])
    return EvalRecord(row["workload_id"], row["workload_type"], row["event_id"], line["request"], line["response"])


def _answers(candidate: Candidate, records: Sequence[EvalRecord], settings: Settings) -> list[CandidateAnswer]:
    if candidate.source == "jsonl":
        assert candidate.responses is not None
        answers, extra = read_responses(candidate.responses, [r.event_id for r in records])
        if extra:
            log.warning("%d line(s) of %s are for no eval record here (ignored), e.g. %s", len(extra),
                        candidate.responses, ", ".join(extra[:3]))  # fmt: skip
        return answers
    assert candidate.base_url is not None and candidate.model is not None
    client = EndpointCandidate(settings.llm_eval, candidate.base_url, candidate.model)
    try:
        return client.answer_all([(r.event_id, r.request) for r in records])
    finally:
        client.close()


def _calls_json(calls: Sequence[Any]) -> str:
    return json.dumps([c.as_json() for c in calls], ensure_ascii=False, separators=(",", ":"))


def _record_rows(
    outcomes: Sequence[RecordOutcome], run: RunRecord, candidate: Candidate, mode: str
) -> list[tuple[Any, ...]]:
    rows = []
    for o in outcomes:
        rec, ans, usage = o.record, o.answer, o.usage
        message = o.candidate_message
        values = {
            "run_id": run.run_id, "evaluated_at": run.started_at, "workload_id": rec.workload_id,
            "workload_type": rec.workload_type, "event_id": rec.event_id, "tool": rec.tool,
            "candidate_source": candidate.source, "argument_mode": mode,
            "status": "answered" if ans.answered else "error", "error": ans.error, "error_kind": ans.error_kind,
            "attempts": ans.attempts, "latency_ms": ans.latency_ms,
            "candidate_model": (ans.response or {}).get("model"), "finish_reason": o.finish_reason, **usage,
            "reference_calls_json": _calls_json(o.reference_calls),
            "candidate_calls_json": _calls_json(o.candidate_calls) if ans.answered else None,
            "reference_content": content_text(rec.reference_message) or None,
            "candidate_content": (content_text(message) or None) if message is not None else None,
            "reference_calls_tool": bool(o.reference_calls), "candidate_calls_tool": o.candidate_calls_tool,
            "function_name_match": o.function_name_match,
            "function_name_and_args_match": o.function_name_and_args_match,
            "invalid_argument_calls": sum(not c.valid for c in o.candidate_calls), "exact_match": o.exact_match,
            "token_f1": o.token_f1, "extra_scores": o.extra_scores or None,
            "candidate_response_json": json.dumps(ans.response, ensure_ascii=False) if ans.response else None,
        }  # fmt: skip
        rows.append(tuple(values[c] for c in METRICS_LLM_EVALUATION_RECORDS.column_names))
    return rows


def _aggregate_rows(
    aggregates: Sequence[Aggregate], run: RunRecord, context: dict[str, Any], built_by: Mapping[str, str]
) -> list[tuple[Any, ...]]:
    rows = []
    for a in aggregates:
        values = {
            **{c: getattr(a, c, None) for c in METRICS_LLM_EVALUATIONS.column_names},
            **context,
            "run_id": run.run_id,
            "evaluated_at": run.started_at,
            "dataset_build_run_id": built_by[a.workload_id],
            "extra_scores": a.extra_scores or None,
            "details_json": json.dumps({"error_kinds": a.error_kinds, **context["details"]}, sort_keys=True),
        }
        rows.append(tuple(values[c] for c in METRICS_LLM_EVALUATIONS.column_names))
    return rows


def _append(spark: SparkSession, settings: Settings, schema: Any, rows: list[tuple[Any, ...]]) -> int:
    path = ensure_table(spark, settings, schema)
    spark.createDataFrame(rows, schema.spark_schema()).write.format("delta").mode("append").save(path)
    return table_version(spark, path)


def _model_of(candidate: Candidate, answers: Sequence[CandidateAnswer]) -> str | None:
    if candidate.model is not None:
        return candidate.model
    named = Counter(str(a.response["model"]) for a in answers if a.response and a.response.get("model"))
    return named.most_common(1)[0][0] if named else None


def evaluate_llm(
    spark: SparkSession,
    settings: Settings,
    run: RunRecord,
    *,
    candidate: Candidate,
    workload: str | None = None,
    argument_mode: str | None = None,
    report_dir: Path | None = None,
    scorers: Mapping[str, Scorer] | None = None,
) -> EvaluationResult:
    """Evaluate ``candidate`` on the eval split (of ``workload``, or of every workload); fills ``run``."""
    cfg = settings.llm_eval
    mode = argument_mode or cfg.argument_mode
    phases: dict[str, float] = {}
    t0 = time.monotonic()
    version, rows = _read_eval(spark, settings, workload)
    records = [_record(r) for r in rows]
    built_by = {r["workload_id"]: r["build_run_id"] for r in rows}
    run.source = f"{GOLD_LLM_DATASETS.name}@v{version}"
    run.read_count = run.source_count = len(records)
    run.window_start, run.window_end = min(r["window_start"] for r in rows), max(r["window_end"] for r in rows)
    phases["read_s"] = round(time.monotonic() - t0, 3)

    t1 = time.monotonic()
    log.info("asking %s for %d eval record(s)", candidate.describe(), len(records))
    answers = _answers(candidate, records, settings)
    phases["candidate_s"] = round(time.monotonic() - t1, 3)
    if not any(a.answered for a in answers):
        first = next(a for a in answers)
        raise EvaluationError(f"the candidate answered none of the {len(answers)} request(s): {first.error}")

    outcomes = [score_record(rec, ans, mode, scorers) for rec, ans in zip(records, answers, strict=True)]
    aggregates = aggregate(outcomes)
    folder = report_dir or settings.llm_eval_report_root() / run.run_id
    responses_path = write_responses(folder / "responses.jsonl", answers)
    model = _model_of(candidate, answers)
    details: dict[str, Any] = {"scorers": sorted(scorers or {})}
    if candidate.source == "endpoint":
        details["client"] = {
            "concurrency": cfg.concurrency, "requests_per_second": cfg.requests_per_second,
            "timeout_s": cfg.timeout_s, "max_retries": cfg.max_retries, "tool_choice": cfg.tool_choice,
        }  # fmt: skip
    context = {
        "candidate_source": candidate.source, "candidate_model": model, "candidate_uri": candidate.uri,
        "argument_mode": mode, "dataset_version": version, "report_path": str(folder), "details": details,
    }  # fmt: skip

    t2 = time.monotonic()
    _append(spark, settings, METRICS_LLM_EVALUATION_RECORDS, _record_rows(outcomes, run, candidate, mode))
    run.output_version = _append(
        spark, settings, METRICS_LLM_EVALUATIONS, _aggregate_rows(aggregates, run, context, built_by)
    )
    phases["write_s"] = round(time.monotonic() - t2, 3)
    report_path = write_report(
        folder / "report.html", run_id=run.run_id, evaluated_at=run.started_at.isoformat(timespec="seconds"),
        candidate=candidate.describe(), model=model, dataset=run.source, argument_mode=mode,
        aggregates=aggregates, outcomes=outcomes, worst=cfg.worst_records, settings=details.get("client", {}),
    )  # fmt: skip
    run.landed_count = len(outcomes)
    run.details.update(
        candidate={"source": candidate.source, "uri": candidate.uri, "model": model},
        argument_mode=mode,
        phases=phases,
        report=str(report_path),
        responses=str(responses_path),
        params={"candidate": candidate.describe(), "model": model, "argument_mode": mode, "dataset": run.source},
        workloads={
            a.workload_id: {"records": a.records, "answered": a.answered, "errors": a.errors, "headline": a.headline}
            for a in aggregates
            if a.tool == "*"
        },
    )
    run.status = "succeeded"
    return EvaluationResult(tuple(outcomes), tuple(aggregates), version, report_path, responses_path, model, mode)
