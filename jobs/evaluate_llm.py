"""spark-submit job: a candidate LLM scored on the traffic that was served — the eval split of
gold.llm_datasets, each request sent as logged, each answer compared with the logged production
response — into metrics.llm_evaluations (per workload and per tool) and
metrics.llm_evaluation_records (per record), with an HTML report.

    skewguard-evaluate-llm --workload customer-support-tools --base-url http://127.0.0.1:8000/v1 --model my-lora
    skewguard-evaluate-llm --workload customer-support-tools --responses answers.jsonl --argument-mode required_args

Exit codes: 0 evaluated (whatever the scores; unanswered records are counted, not fatal), 2 the
evaluation could not run (bad usage or configuration, no eval records, an unreadable responses
file, a candidate that answered no request at all; nothing is written then).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

from jobs.lib.job import EXIT_OK, EXIT_USAGE, add_common_args, job_settings, run_stage
from jobs.lib.window import RunWindow
from skewguard.settings_llm_eval import ARGUMENT_MODES

__all__ = ["load_scorer", "main"]

JOB = "evaluate_llm"
log = logging.getLogger(f"skewguard.{JOB}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skewguard-evaluate-llm",
        description=(
            "Score a candidate model on the eval split of gold.llm_datasets (built by build_llm_datasets): every "
            "eval record's request is sent as it was logged (messages, tools, temperature, max_tokens; the model "
            "name replaced by --model) to an OpenAI-compatible endpoint, or the answers are read from a JSONL file "
            "(--responses). Each answer is compared with the production response that was logged. Tool-calling "
            "workloads: function-name accuracy and name + arguments accuracy (calls compared as multisets, "
            "arguments as parsed JSON, see --argument-mode); generic workloads: exact match and token F1. Both: "
            "how often the candidate calls a tool where production did not (and the reverse), its tokens and "
            "latency. Results per workload and per tool go to metrics.llm_evaluations, per record to "
            "metrics.llm_evaluation_records, the report and the answers (reusable with --responses) to "
            "<report-dir>/report.html and responses.jsonl. Timeouts and 5xx are retried (llm_eval.max_retries), "
            "then counted as wrong answers; the run goes on."
        ),
    )
    parser.add_argument("--workload", help="only this workload's eval records (default: every workload's)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--base-url", help="the candidate's OpenAI-compatible API, up to /v1 (default: llm_eval.base_url)"
    )
    source.add_argument(
        "--responses",
        type=Path,
        help='a JSONL file of the candidate\'s answers instead of an endpoint: {"event_id": …, "response": '
        '<chat completion>} per line (or "error" instead of "response"), e.g. a run\'s responses.jsonl',
    )
    parser.add_argument("--model", help="model name to ask the endpoint for (default: llm_eval.model)")
    parser.add_argument(
        "--argument-mode",
        choices=ARGUMENT_MODES,
        help="when a tool call counts as right: name_only (the function), name_and_args (and every argument, "
        "as parsed JSON; the default, llm_eval.argument_mode) or required_args (and the arguments the tool's "
        "schema marks required)",
    )
    parser.add_argument("--concurrency", type=int, help="requests in flight at once (default: llm_eval.concurrency)")
    parser.add_argument(
        "--report-dir", type=Path, help="folder of the report (default: <llm_eval.report_dir>/<run id>)"
    )
    parser.add_argument(
        "--scorer",
        action="append",
        default=[],
        metavar="NAME=MODULE:FUNCTION",
        help="a further score per record, e.g. an LLM judge: FUNCTION(record, candidate_message) returns a float "
        "or None (see jobs.evaluate.llm_scoring.Scorer); its mean is stored under NAME (repeatable)",
    )
    add_common_args(parser)
    return parser


def load_scorer(spec: str) -> tuple[str, Any]:
    """``NAME=module:function`` → (name, the function); ValueError naming what is wrong."""
    name, eq, target = spec.partition("=")
    module_name, colon, attr = target.partition(":")
    if not (eq and colon and name and module_name and attr):
        raise ValueError(f"--scorer {spec!r}: expected NAME=MODULE:FUNCTION")
    try:
        scorer = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--scorer {spec!r}: {exc}") from None
    if not callable(scorer):
        raise ValueError(f"--scorer {spec!r}: {target} is not callable")
    return name, scorer


def _summary(result: Any, dataset: str) -> list[str]:
    lines = [f"LLM evaluation on {dataset} (argument mode {result.argument_mode}):"]
    for a in result.aggregates:
        if a.tool != "*":
            continue
        errors = ", ".join(f"{k} {v}" for k, v in a.error_kinds.items())
        scores = (
            f"function name {a.function_name_accuracy:.1%}, name + args {a.function_name_and_args_accuracy:.1%}"
            if a.workload_type == "tool_calling"
            else f"exact match {a.exact_match:.1%}, token F1 {a.token_f1:.3f}"
        )
        latency = (
            ""
            if a.latency_p50_ms is None
            else f"; latency p50 {a.latency_p50_ms:.1f} ms, p99 {a.latency_p99_ms:.1f} ms"
        )
        calls = (
            f"call→call {a.ref_call_cand_call}, call→none {a.ref_call_cand_none}, "
            f"none→call {a.ref_none_cand_call}, none→none {a.ref_none_cand_none}"
        )
        lines.append(
            f"  {a.workload_id} ({a.workload_type}): {a.records} records, answered {a.answered}, errors {a.errors}"
            f"{f' ({errors})' if errors else ''}; {scores}; calls production→candidate: {calls}{latency}"
        )
    lines.append(f"  report: {result.report_path}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        scorers = dict(load_scorer(spec) for spec in args.scorer)
    except ValueError as exc:
        parser.error(str(exc))

    settings = job_settings(JOB, args)
    if settings is None:
        return EXIT_USAGE
    if args.concurrency is not None:
        settings = settings.model_copy(
            update={"llm_eval": settings.llm_eval.model_copy(update={"concurrency": args.concurrency})}
        )
    from jobs.evaluate.llm_evaluation import Candidate, evaluate_llm

    if args.responses is not None:
        if not args.responses.is_file():
            log.error("%s: --responses %s is not a file", JOB, args.responses)
            return EXIT_USAGE
        candidate = Candidate.jsonl(args.responses)
    else:
        base_url, model = args.base_url or settings.llm_eval.base_url, args.model or settings.llm_eval.model
        if not base_url or not model:
            log.error(
                "%s: no candidate: give --base-url and --model (or llm_eval.base_url and llm_eval.model, env "
                "SKEWGUARD_LLM_EVAL_URL / SKEWGUARD_LLM_EVAL_MODEL), or --responses FILE",
                JOB,
            )
            return EXIT_USAGE
        candidate = Candidate.endpoint(base_url.rstrip("/"), model)

    stage = partial(
        evaluate_llm,
        candidate=candidate,
        workload=args.workload,
        argument_mode=args.argument_mode,
        report_dir=args.report_dir,
        scorers=scorers,
    )
    window = RunWindow(workload_id=args.workload)
    outcome = run_stage(JOB, settings, stage, window=window, label=candidate.describe())
    if not outcome.succeeded:
        return EXIT_USAGE
    result = outcome.result
    log.info("%s succeeded: run %s scored %d record(s)", JOB, outcome.run.run_id, len(result.outcomes))
    sys.stdout.write("\n".join(_summary(result, outcome.run.source or "gold.llm_datasets")) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
