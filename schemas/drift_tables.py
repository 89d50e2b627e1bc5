"""Drift tables: the reference profiles (stored once per reference) and the drift metrics
every run of ``compute_drift`` writes against one of them."""

from __future__ import annotations

from schemas.core import Column, TableSchema

__all__ = ["DRIFT_METRICS", "METRICS_DRIFT", "METRICS_REFERENCE_PROFILES"]

METRICS_REFERENCE_PROFILES = TableSchema(
    name="metrics.reference_profiles",
    doc=(
        "What `profile_reference` measured on a reference (a training set or a window of a Delta table), per "
        "workload × feature: counts, null rate, the quantile bin edges and reference counts PSI uses, fine "
        "histograms on reference-quantile edges that bound KS, and the top categories. One `reference` name "
        "per profile (re-profiling a name replaces its rows); `source_json` says how to read the exact rows "
        "again (table, Delta version, window, training set), which exact KS does."
    ),
    columns=(
        Column("reference", "string", "name of the profile (`compute_drift --reference`)", False),
        Column("run_id", "string", "the `profile_reference` run that wrote it", False),
        Column("profiled_at", "timestamp", "when that run started (UTC)", False),
        Column("source_table", "string", "the table profiled (a name, or a path)", False),
        Column("source_version", "long", "its Delta version that was read", False),
        Column("window_start", "date", "first day of the reference rows (null: every day)"),
        Column("window_end", "date", "last day of the reference rows"),
        Column("training_set", "string", "the training set whose examples are the reference (null: a window)"),
        Column("source_json", "string", "how to read the reference rows again, as JSON", False),
        Column("workload_id", "string", "the workload", False),
        Column("feature", "string", "the feature's name (an output is `output.<name>`)", False),
        Column("feature_type", "string", "`numeric` or `categorical`", False),
        Column("expression", "string", "Spark SQL expression that reads the feature from a row", False),
        Column("is_array", "boolean", "categorical: the column holds a list, each element counts", False),
        Column("rows", "long", "reference rows of the workload", False),
        Column("count", "long", "non-null values (numeric) or observations (categorical)", False),
        Column("null_count", "long", "null / NaN values (categorical lists: null or empty lists)", False),
        Column("null_rate", "double", "`null_count / (count + null_count)`"),
        Column("bin_edges", "array<double>", "numeric: inner edges of the PSI bins (open-ended first and last)"),
        Column("bin_counts", "array<long>", "numeric: reference values per PSI bin, then the null bin"),
        Column("fine_edges", "array<double>", "numeric: edges of the fine histogram (reference quantiles)"),
        Column("fine_counts", "array<long>", "numeric: reference values per fine bin (one more than edges)"),
        Column("fine_on_edge", "array<long>", "numeric: reference values exactly equal to each fine edge"),
        Column("categories", "array<string>", "categorical: the bins — top K, `__other__`, `__null__`, `__unseen__`"),
        Column("category_counts", "array<long>", "categorical: reference observations per bin"),
        Column("other_categories", "array<string>", "categorical: known reference values beyond the top K"),
        Column("other_truncated", "boolean", "categorical: more values were known than were kept"),
        Column("min", "double", "numeric: smallest value"),
        Column("max", "double", "numeric: largest value"),
        Column("std", "double", "numeric: standard deviation (population); Wasserstein is divided by it"),
    ),
    partition_by=(),
)

DRIFT_METRICS = {
    "psi": "population stability index over the reference bins (numeric: quantile bins + null; categorical: "
    "categories + `__other__`, `__null__`, `__unseen__`)",
    "ks": "two-sample Kolmogorov–Smirnov D = sup |F_ref − F_cur| over non-null values (numeric)",
    "wasserstein_distance": "Wasserstein-1 (earth mover's) distance ∫ |F_ref − F_cur| dx over non-null values, "
    "divided by the reference's standard deviation (numeric; bounded from the fine histograms, `lower`/`upper`)",
    "js_divergence": "Jensen–Shannon divergence of category proportions, log base 2, in [0, 1] (categorical)",
    "js_distance": "Jensen–Shannon distance, the square root of the divergence (categorical)",
    "hellinger_distance": "Hellinger distance √(1 − Σ √(p q)) over the PSI bins, in [0, 1]",
    "tv_distance": "total variation distance ½ Σ |p − q| over the PSI bins, in [0, 1]",
    "l_infinity_distance": "L∞ distance max |p − q| over the PSI bins",
    "chi_squared_test": "Pearson's χ² statistic of the 2 × bins table of counts (p-value in `p_value`)",
    "null_rate_delta": "current null rate − reference null rate (judged by its absolute value)",
    "count_delta": "current count / reference count − 1 (relative change of the row count)",
    "dataset_drift": "the dataset verdict (feature `*`): share of the workload's (slice's) measured features in "
    "alert; `alert` when it reaches `drift.drift_share`",
}

METRICS_DRIFT = TableSchema(
    name="metrics.drift",
    doc=(
        "One row per window × workload × slice × feature × metric that `compute_drift` measured against a "
        "reference profile: the value (KS in bounded mode also as an interval), the thresholds used and the "
        "status. The `psi` row also carries the two histograms the report draws. Per workload × slice one more "
        "row, feature `*` and metric `dataset_drift`, is the dataset verdict. Re-running a window against "
        "the same reference with the same `drift_type` replaces its rows."
    ),
    columns=(
        Column("run_id", "string", "the `compute_drift` run", False),
        Column("computed_at", "timestamp", "when the run started (UTC)", False),
        Column("window_start", "date", "first day of the current window", False),
        Column("window_end", "date", "last day of the current window", False),
        Column("reference", "string", "the reference profile compared against", False),
        Column(
            "drift_type",
            "string",
            "`baseline` (against the stored profile) or `consecutive` (against the previous window of the same "
            "length, on the profile's bins; `compute_drift --compare previous`); null in rows written before it "
            "existed: `baseline`",
        ),
        Column("source_table", "string", "the current rows' table and version, `<table>@v<version>`", False),
        Column("workload_id", "string", "the workload", False),
        Column("slice_column", "string", "empty for the whole workload, else the column sliced on", False),
        Column("slice_value", "string", "the slice's value (empty for the whole workload)", False),
        Column("feature", "string", "the feature (`*`: the dataset verdict)", False),
        Column("feature_type", "string", "`numeric`, `categorical` or `dataset` (the verdict row)", False),
        Column(
            "metric",
            "string",
            "`psi`, `ks`, `wasserstein_distance`, `js_divergence`, `js_distance`, `hellinger_distance`, `tv_distance`, "
            "`l_infinity_distance`, `chi_squared_test`, `null_rate_delta`, `count_delta` or `dataset_drift`",
            False,
        ),
        Column("value", "double", "the metric's value (null when a side is empty; KS bounded: the upper bound)"),
        Column(
            "lower",
            "double",
            "`ks` bounded: D_lo, the largest gap seen at the edges; `wasserstein_distance`: its lower bound",
        ),
        Column(
            "upper",
            "double",
            "`ks` bounded: D_hi, the most the gap can reach inside a bin; `wasserstein_distance`: its upper bound",
        ),
        Column("warn_threshold", "double", "`warn` above this (null: informational)"),
        Column("alert_threshold", "double", "`alert` above this (`dataset_drift`: at or above, `drift.drift_share`)"),
        Column("alpha", "double", "significance level the metric was tested at (`drift.alpha`, corrected)"),
        Column(
            "noise_floor",
            "double",
            "critical value: what sampling noise alone exceeds with probability `alpha` at these counts "
            "(null: no null distribution, see `p_value`)",
        ),
        Column("p_value", "double", "chance of a value at least this large without drift (null: not tested)"),
        Column("status", "string", "`ok`, `warn`, `alert`, `info` (no thresholds) or `empty` (no data)", False),
        Column(
            "reason",
            "string",
            "why the status: `material` (past threshold and noise floor), `below noise` (past the threshold, not "
            "the noise floor) or `below threshold`; null for `info` and `empty`",
        ),
        Column(
            "ref_count",
            "long",
            "reference values (numeric non-null) or observations (`dataset_drift`: features measured)",
            False,
        ),
        Column(
            "cur_count",
            "long",
            "current values (numeric non-null) or observations (`dataset_drift`: features in alert)",
            False,
        ),
        Column("ref_null_rate", "double", "reference null rate"),
        Column("cur_null_rate", "double", "current null rate"),
        Column("bin_labels", "array<string>", "`psi` row: the bins"),
        Column("ref_props", "array<double>", "`psi` row: reference proportion per bin"),
        Column("cur_props", "array<double>", "`psi` row: current proportion per bin"),
        Column(
            "details_json",
            "string",
            "how it was computed (KS mode, bins refined, p-value notes; `dataset_drift`: the features in alert), "
            "as JSON",
        ),
    ),
    partition_by=("window_start",),
)
