"""Metrics tables written by the checks: offline-vs-serving parity before a deploy, and
serving skew measured on what serving logged after it."""

from __future__ import annotations

from schemas.core import Column, TableSchema

__all__ = ["METRICS_PARITY", "METRICS_SERVING_SKEW", "SKEW_CAUSES"]

METRICS_PARITY = TableSchema(
    name="metrics.parity",
    doc=(
        "One row per `check_parity` run that compared outputs: the bundle, the offline examples it was checked "
        "against, the largest difference and the verdict. A failed gate also names the first step where the two "
        "paths part (`<inputs>` or a stage) and the features that differ there. The full report (text and HTML) "
        "is at `report_path`."
    ),
    columns=(
        Column("run_id", "string", "the `check_parity` run (see `metrics.job_runs`)", False),
        Column("checked_at", "timestamp", "when the run started (UTC)", False),
        Column("bundle_name", "string", "the bundle's model name", False),
        Column("bundle_version", "string", "the bundle's model version", False),
        Column("bundle_path", "string", "the bundle folder checked", False),
        Column("bundle_pipeline_hash", "string", "the bundle's fitted-pipeline hash", False),
        Column("bundle_transform_hash", "string", "content hash of the bundle's transform source", False),
        Column("offline_source", "string", "the offline examples: `<table>:<set>@v<version>` or a path", False),
        Column("offline_pipeline_hash", "string", "hash of the fitted pipeline that computed the offline outputs"),
        Column("offline_transform_hash", "string", "transform source hash that computed the offline outputs"),
        Column("examples", "long", "examples compared", False),
        Column("outputs", "long", "outputs compared per example (feature vector entries, `score`, `label`)", False),
        Column("tolerance", "double", "largest allowed absolute difference", False),
        Column("max_abs_diff", "double", "largest |offline − serving| over all examples and outputs", False),
        Column("max_abs_diff_single", "double", "the same for requests sent one at a time", False),
        Column("max_abs_diff_batch", "double", "the same for requests sent in batches", False),
        Column("examples_over_tolerance", "long", "examples with an output over the tolerance (either mode)", False),
        Column("serving_errors", "long", "requests the bundle refused (each counts as a failure)", False),
        Column("passed", "boolean", "`max_abs_diff < tolerance` and no serving errors", False),
        Column("first_divergent_step", "string", "`<inputs>` or the first stage where the paths part (failures)"),
        Column("divergent_features", "array<string>", "columns that differ at that step"),
        Column("serving_p50_ms", "double", "median latency of one request in the serving process (ms)"),
        Column("serving_p99_ms", "double", "99th percentile of that latency (ms)"),
        Column("report_path", "string", "folder with `report.txt`, `report.html` and `report.json`", False),
    ),
    partition_by=(),
)

SKEW_CAUSES = {
    "missing_in_serving": "the offline table has a value as of the event time, serving logged none",
    "stale": "serving logged a value the offline table held for the entity before the event's as-of value",
    "different": "serving logged a value the offline table never held for the entity before the event",
}

METRICS_SERVING_SKEW = TableSchema(
    name="metrics.serving_skew",
    doc=(
        "What `check_serving_skew` found for a day and workload: for each model version that served it, the "
        "logged outputs against the outputs its bundle recomputes from the logged features (`check = "
        "outputs`); given an offline feature table, each logged feature against the table's value as of the "
        "event time (`check = features`). Re-running a day and workload replaces its rows."
    ),
    columns=(
        Column("run_id", "string", "the `check_serving_skew` run", False),
        Column("checked_at", "timestamp", "when the run started (UTC)", False),
        Column("event_date", "date", "the UTC day checked", False),
        Column("workload_id", "string", "the workload checked", False),
        Column("check", "string", "`outputs` (recomputed with the bundle) or `features` (point-in-time join)", False),
        Column("model_name", "string", "`model.name` as logged", False),
        Column("model_version", "string", "`model.version` as logged", False),
        Column("transform_hash", "string", "`model.transform_hash` as logged"),
        Column(
            "subject",
            "string",
            "`outputs`: an output name (`score`, `label`) or `bundle` (rows no bundle could recompute); "
            "`features`: the feature id",
            False,
        ),
        Column("rows", "long", "logged predictions compared", False),
        Column("mismatched", "long", "how many differ (outputs: over the tolerance; features: any cause)", False),
        Column("mismatch_rate", "double", "`mismatched / rows` (null when no rows)"),
        Column("missing_in_serving", "long", "features: " + SKEW_CAUSES["missing_in_serving"]),
        Column("stale", "long", "features: " + SKEW_CAUSES["stale"]),
        Column("different", "long", "features: " + SKEW_CAUSES["different"]),
        Column("max_abs_diff", "double", "outputs: the largest |logged − recomputed|"),
        Column("tolerance", "double", "largest allowed absolute difference", False),
        Column("status", "string", "`ok` or `mismatch`; for `bundle`: `no_bundle` or `transform_hash_differs`", False),
        Column("details_json", "string", "bundle path, example event ids of mismatches, and other details, as JSON"),
    ),
    partition_by=("event_date",),
)
