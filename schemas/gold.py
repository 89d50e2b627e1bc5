"""Gold tables: training sets built from labeled production logs."""

from __future__ import annotations

from schemas.core import Column, TableSchema

__all__ = ["GOLD_TRAINING_SET"]

GOLD_TRAINING_SET = TableSchema(
    name="gold.training_set",
    doc=(
        "Model-ready examples: the transformed feature vector of each labeled prediction, its split and "
        "its lineage. One `training_set` name per build (rebuilding a name replaces exactly its rows); the "
        "Delta version written is recorded in the set's manifest (`<artifacts>/training_sets/<name>/"
        "manifest.json`) and in `metrics.job_runs`, so a model names the exact data it was trained on."
    ),
    columns=(
        Column("training_set", "string", "name of the training set", False),
        Column("split", "string", "`train`, `validation` or `eval`, by a seeded murmur3 hash of `event_id`", False),
        Column("event_id", "string", "the prediction's `event_id`", False),
        Column("event_ts", "timestamp", "when the prediction was served (UTC)", False),
        Column("event_date", "date", "UTC day of `event_ts`", False),
        Column("workload_id", "string", "the workload", False),
        Column("label", "double", "the delayed label joined to the prediction", False),
        Column(
            "features",
            "array<double>",
            "the transformed feature vector, ordered as the manifest's `feature_names`",
            False,
        ),
        Column("served_model_name", "string", "the model that served the prediction (`model.name`)", False),
        Column("served_model_version", "string", "its version (`model.version`)", False),
        Column("served_transform_hash", "string", "the transform hash that serving logged (null when absent)"),
        Column("pipeline_hash", "string", "SHA-256 of the fitted pipeline (stages and params) applied", False),
        Column("transform_source_hash", "string", "SHA-256 of the `transforms/` source that applied it", False),
        Column("source_table", "string", "the table the examples were read from", False),
        Column("source_version", "long", "Delta version of that table that was read", False),
        Column("build_run_id", "string", "the `build_training_set` run that wrote the row", False),
        Column("built_at", "timestamp", "when that run started (UTC)", False),
    ),
    partition_by=("training_set",),
)
