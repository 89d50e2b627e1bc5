"""The table the evaluation stage writes: candidate and production models scored on the same
labelled served traffic."""

from __future__ import annotations

from schemas.core import Column, TableSchema

__all__ = ["EVALUATION_METRICS", "METRICS_EVALUATIONS"]

EVALUATION_METRICS = {
    "roc_auc": "area under the ROC curve, P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) (scikit-learn's `roc_auc_score`)",
    "pr_auc": "average precision Σ (R_t − R_{t−1})·P_t over the distinct scores (`average_precision_score`)",
    "log_loss": "mean −[y·ln p + (1−y)·ln(1−p)], p clipped to [ε, 1−ε] (`log_loss`)",
    "brier_score": "mean (p − y)² (`brier_score_loss`)",
    "ece": "expected calibration error Σ_b (n_b/n)·|mean p − mean y| over `evaluation.calibration_bins` "
    'equal-width bins (`calibration_curve(strategy="uniform")`\'s bins)',
    "accuracy": "share of rows whose decision (score ≥ the bundle's threshold) equals the label",
    "precision": "TP / (TP + FP) at the bundle's threshold",
    "recall": "TP / (TP + FN) at the bundle's threshold",
}

METRICS_EVALUATIONS = TableSchema(
    name="metrics.evaluations",
    doc=(
        "One row per `evaluate_models` run × bundle × workload × slice (× day with `--by day`) × metric: the "
        "bundle's outputs recomputed from the logged inputs through its own transforms, scored against the "
        "delayed labels of the very same rows for every bundle, with a bootstrap confidence interval and the "
        "difference from the production bundle (paired: the same bootstrap weights per row). Re-running the "
        "same window and bundles appends a new run; read the latest `run_id`."
    ),
    columns=(
        Column("run_id", "string", "the `evaluate_models` run", False),
        Column("evaluated_at", "timestamp", "when the run started (UTC)", False),
        Column("window_start", "date", "first day of the evaluated rows", False),
        Column("window_end", "date", "last day of the evaluated rows", False),
        Column("source", "string", "the rows: `silver.labeled_examples@v<version>` (and the training set)", False),
        Column("event_date", "date", "`--by day`: the day scored (null: the whole window)"),
        Column("workload_id", "string", "the workload", False),
        Column(
            "slice_column", "string", "empty for the whole workload, else the `evaluation.slice_columns` column", False
        ),
        Column("slice_value", "string", "the slice's value (empty for the whole workload)", False),
        Column("bundle_role", "string", "`production` or `candidate`", False),
        Column("bundle_name", "string", "the bundle's model name", False),
        Column("bundle_version", "string", "the bundle's model version", False),
        Column("bundle_path", "string", "the bundle folder", False),
        Column("bundle_content_hash", "string", "content hash of the bundle folder that was loaded", False),
        Column("metric", "string", "`" + "`, `".join(EVALUATION_METRICS) + "`", False),
        Column("value", "double", "the metric on the rows (exact; null when undefined, e.g. AUC with one class)"),
        Column("ci_low", "double", "lower end of its bootstrap confidence interval (`evaluation.confidence`)"),
        Column("ci_high", "double", "upper end of it"),
        Column("n", "long", "rows scored", False),
        Column("positives", "long", "rows labelled 1", False),
        Column("threshold", "double", "the bundle's decision threshold (accuracy, precision, recall)", False),
        Column("diff_vs_production", "double", "candidate − production on the same rows (0 for production)"),
        Column("diff_ci_low", "double", "lower end of the paired bootstrap interval of the difference"),
        Column("diff_ci_high", "double", "upper end of it"),
        Column("replicates", "long", "bootstrap replicates behind the intervals", False),
        Column("details_json", "string", "e.g. the histogram resolution of the bootstrap's AUC / AP, refused rows"),
    ),
    partition_by=(),
)
