"""The promotion gate: a candidate may replace production when its parity gate passed and, on
the traffic that was served, no gated metric is worse than production's by more than its
margin — judged by the far end of the paired bootstrap interval of the loss, so a candidate
passes only when the data show it is at most that much worse (not merely "not shown worse").

The loss is production − candidate for a metric where higher is better (AUC), candidate −
production where lower is (log loss). The gate reads the whole-workload rows (and, with
``--by day``, each day's): slices are reported, not gated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobs.evaluate.classifier_metrics import HIGHER_IS_BETTER
from schemas.metrics import METRICS_PARITY

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from serving.bundle import Bundle
    from skewguard.config import Settings

__all__ = ["GateDecision", "gate_decisions", "parity_passed"]


@dataclass
class GateDecision:
    candidate: str
    """The candidate as it was named (folder or ``<name>/<version>``)."""
    passed: bool = True
    failures: list[str] = field(default_factory=list)
    """One line per reason: the parity gate, or metric × workload (× day) past its margin."""


def parity_passed(spark: SparkSession, settings: Settings, bundle: Bundle) -> bool | None:
    """The latest parity gate of exactly this bundle (name, version, pipeline and transform
    hash) in ``metrics.parity``: passed or not; None when it was never checked."""
    from pyspark.sql import functions as F

    from jobs.lib.delta_io import ensure_table

    path = ensure_table(spark, settings, METRICS_PARITY)
    found = (
        spark.read.format("delta")
        .load(path)
        .where(
            (F.col("bundle_name") == F.lit(bundle.name))
            & (F.col("bundle_version") == F.lit(bundle.version))
            & (F.col("bundle_pipeline_hash") == F.lit(bundle.manifest["pipeline_hash"]))
            & (F.col("bundle_transform_hash") == F.lit(bundle.transform_hash))
        )
        .orderBy(F.desc("checked_at"))
        .select("passed")
        .limit(1)
        .collect()
    )
    return None if not found else bool(found[0]["passed"])


def _where(row: Mapping[str, Any]) -> str:
    day = f" {row['event_date']}" if row.get("event_date") else ""
    return f"{row['workload_id']}{day}"


def gate_decisions(
    rows: Sequence[Mapping[str, Any]], settings: Settings, parity: Mapping[str, bool | None]
) -> list[GateDecision]:
    """One decision per candidate (by its spec) from the run's rows and its parity outcome."""
    import json

    decisions: dict[str, GateDecision] = {}
    for spec, passed in parity.items():
        decision = decisions.setdefault(spec, GateDecision(spec))
        if passed is None:
            decision.passed = False
            decision.failures.append(f"{spec}: no parity check recorded (run skewguard-check-parity --bundle …)")
        elif not passed:
            decision.passed = False
            decision.failures.append(f"{spec}: the parity gate failed (metrics.parity): serving differs from offline")
    for row in rows:
        if row["bundle_role"] != "candidate" or row["slice_column"]:
            continue
        spec = json.loads(row["details_json"])["spec"]
        decision = decisions.setdefault(spec, GateDecision(spec))
        margin = settings.evaluation.margins_for(row["workload_id"]).get(row["metric"])
        if margin is None:
            continue
        higher = HIGHER_IS_BETTER[row["metric"]]
        low, high = row["diff_ci_low"], row["diff_ci_high"]
        if low is None or high is None:
            decision.passed = False
            decision.failures.append(f"{spec}: {row['metric']} on {_where(row)} could not be measured")
            continue
        loss_high = -low if higher else high  # the far end of the loss's interval
        if loss_high > margin:
            decision.passed = False
            diff = row["diff_vs_production"]
            decision.failures.append(
                f"{spec}: {row['metric']} on {_where(row)} may be worse than production by up to {loss_high:.4g} "
                f"(> margin {margin:g}; candidate − production {diff:+.4g}, {settings.evaluation.confidence:.0%} "
                f"interval [{low:+.4g}, {high:+.4g}])"
            )
    return list(decisions.values())
