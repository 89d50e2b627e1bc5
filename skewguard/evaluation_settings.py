"""The ``evaluation`` section of the settings: evaluating candidate models and the promotion gate."""

from __future__ import annotations

from pydantic import Field, field_validator

from schemas.evaluation_tables import EVALUATION_METRICS
from skewguard.settings_models import SettingsModel

__all__ = ["EVALUATION_METRIC_NAMES", "EvaluationSettings"]

EVALUATION_METRIC_NAMES = tuple(EVALUATION_METRICS)


def _default_gate() -> dict[str, float]:
    return {"roc_auc": 0.005, "log_loss": 0.01}


def _check_gate(mapping: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(mapping) - set(EVALUATION_METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} (known: {list(EVALUATION_METRIC_NAMES)})")
    negative = sorted(k for k, v in mapping.items() if v < 0)
    if negative:
        raise ValueError(f"margins must be >= 0: {negative}")
    return mapping


class EvaluationSettings(SettingsModel):
    slice_columns: list[str] = Field(default_factory=list)
    """Columns of the evaluated rows (e.g. ``model_version``, ``client_id``) whose every value is
    scored as a slice of its workload, besides the whole workload."""
    replicates: int = Field(default=200, ge=20, le=2000)
    """Bootstrap replicates behind each confidence interval (Poisson(1) weights per row)."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    """Coverage of the percentile confidence intervals."""
    seed: int = 0
    """Seed of the bootstrap weights: the same seed gives the same intervals."""
    calibration_bins: int = Field(default=10, ge=2, le=100)
    """Equal-width score bins of the expected calibration error (and the report's calibration curve)."""
    score_bins: int = Field(default=512, ge=64, le=4096)
    """Fine logit bins on which the bootstrap recomputes ROC AUC and average precision (their
    point estimates are exact)."""
    gate: dict[str, float] = Field(default_factory=_default_gate)
    """``--gate``: metric → the most a candidate may be worse than production (the upper end of
    the confidence interval of its loss), e.g. ``roc_auc: 0.005`` (AUC may drop by at most
    0.005), ``log_loss: 0.01`` (may rise by at most 0.01)."""
    gate_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Workload → metric → margin, replacing that metric's margin in ``gate`` for the workload."""
    report_dir: str = "evaluations"
    """Where reports go: ``<dir>/<run_id>/report.html``, relative to the artifacts folder unless absolute."""

    @field_validator("gate")
    @classmethod
    def _known_gate_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_gate(value)

    @field_validator("gate_overrides")
    @classmethod
    def _known_override_gate_metrics(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for per_metric in value.values():
            _check_gate(per_metric)
        return value

    def margins_for(self, workload: str) -> dict[str, float]:
        """The gate's margins for a workload: ``gate`` with the workload's overrides."""
        return {**self.gate, **self.gate_overrides.get(workload, {})}
