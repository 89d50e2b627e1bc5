"""The demo loop's steps around candidates: running a job as a step, the parity gate, the
second tabular candidate gated against the first, and a local LLM candidate scored on the
logged eval split."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from serving.bundle import Bundle
    from skewguard.config import Settings

__all__ = ["LLM_DEMO_WORKLOAD", "LoopStepFailed", "candidate_gate", "llm_candidate", "parity_gate", "run_step"]

log = logging.getLogger("skewguard.loop")


class LoopStepFailed(RuntimeError):
    """A job of the loop exited non-zero (its own log line says why)."""


def run_step(name: str, main: Any, argv: list[str]) -> None:
    log.info("loop: %s %s", name, " ".join(argv))
    code = main(argv)
    if code != 0:
        raise LoopStepFailed(f"{name} exited {code}")


def parity_gate(settings: Settings, bundle: Bundle, common: tuple[str, ...]) -> dict[str, Any]:
    """The deploy step: serving may use the bundle only if it reproduces the offline outputs.
    Returns the gate's report."""
    from jobs import check_parity

    report_dir = settings.artifacts_path() / "parity" / f"{bundle.name}-{bundle.version}"
    run_step(
        "check_parity", check_parity.main, ["--bundle", str(bundle.path), "--report-dir", str(report_dir), *common]
    )
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    return report


def candidate_gate(
    spark: SparkSession,
    settings: Settings,
    production: Bundle,
    window: list[str],
    workload: str,
    training_set: str,
    common: tuple[str, ...],
) -> list[str]:
    """A second candidate — the same training set, 100× the L2 regularisation — bundled,
    parity-gated and evaluated against the first on the training set's eval split (rows
    neither model was fitted on). The gate may refuse it: that is its answer, not a failure."""
    from jobs import evaluate_models, train_reference_model
    from jobs.evaluate.evaluation_summary import latest_run, table_lines
    from jobs.evaluate.promotion_gate import gate_decisions, parity_passed
    from ops.build_bundle import build_named_bundle

    version = f"{production.version}-l2"
    run_step(
        "train_reference_model",
        train_reference_model.main,
        [
            "--training-set",
            training_set,
            "--name",
            production.name,
            "--version",
            version,
            "--reg-param",
            "1.0",
            *common,
        ],
    )
    candidate = build_named_bundle(settings, production.name, version, training_set)
    parity_gate(settings, candidate, common)
    argv = [*window, "--workload", workload, "--training-set", training_set, "--production", str(production.path)]
    argv += ["--candidate", str(candidate.path), "--gate"]
    log.info("loop: evaluate_models %s", " ".join(argv))
    code = evaluate_models.main(argv)
    if code not in (0, 1):
        raise LoopStepFailed(f"evaluate_models exited {code}")
    rows = latest_run(spark, settings)
    decision = gate_decisions(rows, settings, {str(candidate.path): parity_passed(spark, settings, candidate)})[0]
    verdict = "PASS: may replace production" if decision.passed else "FAIL: production stays"
    return [*table_lines(rows), f"  promotion gate: {verdict}", *[f"    {line}" for line in decision.failures]]


LLM_DEMO_WORKLOAD = "customer-support-tools"


def llm_candidate(spark: SparkSession, settings: Settings, common: tuple[str, ...]) -> list[str]:
    """The tool-calling workload's eval split sent, as logged, to a local OpenAI-compatible
    candidate (``ops.llm_stub.echo_router``: it calls the first tool offered), each answer
    scored against the logged production response."""
    from pyspark.sql import functions as F

    from jobs import evaluate_llm
    from ops.llm_stub import StubServer, echo_router

    with StubServer(echo_router()) as server:
        argv = ["--workload", LLM_DEMO_WORKLOAD, "--base-url", server.base_url, "--model", "first-tool-router"]
        run_step("evaluate_llm", evaluate_llm.main, [*argv, *common])
    rows = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.llm_evaluations"))
    latest = rows.orderBy(F.desc("evaluated_at")).select("run_id").first()["run_id"]
    r = rows.where((F.col("run_id") == latest) & (F.col("tool") == "*")).first()
    return [
        f"LLM candidate first-tool-router on {r['workload_id']}'s eval split ({r['records']} records, "
        f"{r['answered']} answered, reference = the logged production response): function_name accuracy "
        f"{r['function_name_accuracy']:.3f}, function_name_and_args accuracy "
        f"{r['function_name_and_args_accuracy']:.3f}, "
        f"latency p50 {r['latency_p50_ms']:.1f} ms"
    ]
