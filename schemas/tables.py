"""The Delta tables written by the jobs, each declared once."""

from __future__ import annotations

from schemas.core import Column, TableSchema
from schemas.drift_tables import METRICS_DRIFT, METRICS_REFERENCE_PROFILES
from schemas.evaluation_tables import METRICS_EVALUATIONS
from schemas.gold import GOLD_TRAINING_SET
from schemas.lineage import PARSE_LINEAGE
from schemas.llm import GOLD_LLM_DATASETS, SILVER_LLM_INTERACTIONS
from schemas.llm_eval_tables import METRICS_LLM_EVALUATION_RECORDS, METRICS_LLM_EVALUATIONS
from schemas.metrics import METRICS_PARITY, METRICS_SERVING_SKEW

__all__ = [
    "BRONZE_QUARANTINE",
    "BRONZE_SERVING_LOGS",
    "GOLD_LLM_DATASETS",
    "JOB_RUNS",
    "SILVER_LABELED_EXAMPLES",
    "SILVER_LLM_INTERACTIONS",
    "SILVER_PREDICTIONS",
    "SILVER_QUARANTINE",
    "TABLES",
]

_LINEAGE = (
    Column("ingest_run_id", "string", "id of the ingest run that wrote the row (see `metrics.job_runs`)", False),
    Column("ingested_at", "timestamp", "when that run started (UTC)", False),
)

_ES_INDEX = Column(
    "es_index",
    "string",
    "the concrete index holding the document (its `_index`), whichever alias or pattern it was read through",
    False,
)
_SOURCE_JSON = Column(
    "source_json", "string", "the document `_source` exactly as Elasticsearch returned it", False, payload=True
)

BRONZE_SERVING_LOGS = TableSchema(
    name="bronze.serving_logs",
    doc=(
        "Every landed log record exactly once, with its exact `_source` JSON next to typed key "
        "columns, keyed on (`es_index`, `event_id`): the concrete index, so a document read through an alias "
        "and through its backing index is one row. Re-ingesting a window replaces exactly that window (same "
        "indices, days, workload), except what Elasticsearch no longer holds: ingest never deletes it "
        '(README, "Failure semantics"); `maintain_tables` decides retention. A record whose day or workload '
        "changed between ingests can be here twice; `skewguard reconcile` reports it and silver keeps the newest "
        "ingest."
    ),
    columns=(
        Column("event_id", "string", "the Elasticsearch `_id` (the record's `event_id` when it has one)", False),
        _ES_INDEX,
        Column("event_ts", "timestamp", "the record's `timestamp` as a UTC instant", False),
        Column("event_date", "date", "UTC day of `event_ts`", False),
        Column("workload_id", "string", "the record's `workload_id`", False),
        Column("client_id", "string", "the record's `client_id` (null when absent)"),
        Column("record_kind", "string", "`llm_interaction` or `prediction`", False),
        _SOURCE_JSON,
        *_LINEAGE,
    ),
    partition_by=("event_date", "workload_id"),
)

BRONZE_QUARANTINE = TableSchema(
    name="bronze.quarantine",
    doc=(
        'Records that could not be landed, each with one reason code (README, "Quarantine '
        'reasons") and the raw source. Upserted on (`es_index`, `event_id`): a re-run replaces '
        "the window's rows instead of adding copies. A row leaves when its record now lands (fixed); rows whose "
        "documents the index no longer holds stay (unless `--allow-source-drop`) until `maintain_tables` ages "
        "them out (undated rows by `ingested_at`)."
    ),
    columns=(
        Column("event_id", "string", "the Elasticsearch `_id`", False),
        _ES_INDEX,
        Column("reason", "string", "why it was not landed (a reason code)", False),
        Column("event_date", "date", "UTC day of the timestamp when it could be read, else null"),
        Column("workload_id", "string", "the `workload_id` when present"),
        Column("raw_timestamp", "string", "the `timestamp` value as written (null when missing)"),
        _SOURCE_JSON,
        Column("window_start", "date", "first day of the ingest window that found the record", False),
        Column("window_end", "date", "last day of that window", False),
        *_LINEAGE,
    ),
    partition_by=(),
)

_PREDICTION_DATA = (
    Column("event_id", "string", "the prediction's id (its bronze `event_id`)", False),
    Column("event_ts", "timestamp", "when the prediction was made (UTC)", False),
    Column("event_date", "date", "UTC day of `event_ts`", False),
    Column("workload_id", "string", "the workload that served it", False),
    Column("client_id", "string", "the calling application (null when absent)"),
    Column("request_id", "string", "id of the serving request; delayed labels join on it (null when absent)"),
    Column("model_name", "string", "`model.name`", False),
    Column("model_version", "string", "`model.version`", False),
    Column(
        "transform_hash", "string", "`model.transform_hash`: hash of the feature transforms served (null when absent)"
    ),
    Column(
        "features",
        "map<string,string>",
        "feature id → value as logged: JSON numbers as Spark's JSON reader renders them (`7`, `0.25`, `1e3` → "
        "`1000.0`), strings as they are, booleans `true`/`false`, JSON null → null; typed later by the model "
        "bundle's feature contract",
        False,
    ),
    Column("outputs", "map<string,double>", "output name → value as returned (e.g. `score`, `label`)", False),
    Column("sampling_rate", "double", "share of the workload's requests that were logged, in (0, 1]", False),
)

SILVER_PREDICTIONS = TableSchema(
    name="silver.predictions",
    doc=(
        "Every bronze prediction record that parses, typed: model identity, the feature vector exactly as "
        "served and the outputs. Written by `parse_logs`; re-parsing a window replaces exactly that window."
    ),
    columns=(*_PREDICTION_DATA, *PARSE_LINEAGE),
    partition_by=("event_date", "workload_id"),
)

SILVER_QUARANTINE = TableSchema(
    name="silver.quarantine",
    doc=(
        'Bronze records that could not be parsed into silver, each with one reason code ("Silver quarantine '
        "reasons\") and its exact source. Re-parsing a window replaces exactly that window's rows of the "
        "record kind parsed."
    ),
    columns=(
        Column("event_id", "string", "the record's bronze `event_id`", False),
        Column("record_kind", "string", "bronze `record_kind` of the record (`prediction`, `llm_interaction`)", False),
        Column("reason", "string", "why it was not parsed (a silver quarantine reason code)", False),
        Column("event_date", "date", "UTC day of the record's timestamp", False),
        Column("workload_id", "string", "the record's `workload_id`", False),
        _SOURCE_JSON,
        *PARSE_LINEAGE,
    ),
    partition_by=("event_date",),
)

SILVER_LABELED_EXAMPLES = TableSchema(
    name="silver.labeled_examples",
    doc=(
        "Predictions joined with their delayed label: among the labels that share the prediction's `request_id` "
        "and are dated within `[event_ts, event_ts + label window]`, the newest (ties: the larger label). "
        "Predictions without such a label are not written; `metrics.job_runs` counts them by cause. Written by "
        "`join_labels`; re-joining a window replaces exactly that window."
    ),
    columns=(
        *_PREDICTION_DATA,
        Column("label", "double", "the winning label's value", False),
        Column("label_ts", "timestamp", "when the winning label was observed (UTC)", False),
        Column("label_delay_s", "double", "`label_ts − event_ts` in seconds (≥ 0)", False),
        Column(
            "parse_run_id", "string", "the `parse_logs` run that wrote the prediction to `silver.predictions`", False
        ),
        Column("join_run_id", "string", "id of the `join_labels` run that wrote the row", False),
        Column("joined_at", "timestamp", "when that run started (UTC)", False),
        Column("predictions_version", "long", "Delta version of `silver.predictions` that run read", False),
    ),
    partition_by=("event_date", "workload_id"),
)

JOB_RUNS = TableSchema(
    name="metrics.job_runs",
    doc="One row per job run (succeeded or failed): its window, counts and outcome.",
    columns=(
        Column("run_id", "string", "unique id of the run", False),
        Column("job", "string", "job name, e.g. `ingest_logs`", False),
        Column("status", "string", "`succeeded` or `failed`", False),
        Column(
            "error",
            "string",
            "one-line cause of a failure (null on success); `abandoned: …` for a run whose driver died "
            "before it ended, recorded by the next run on that host",
        ),
        Column("window_start", "date", "first day of the window"),
        Column("window_end", "date", "last day of the window"),
        Column("workload_id", "string", "the workload the run was limited to (null: all)"),
        Column("source", "string", "what was read (e.g. `elasticsearch:<index>`)"),
        Column("source_count", "long", "documents Elasticsearch counts for the window's query"),
        Column("read_count", "long", "documents the job read"),
        Column("landed_count", "long", "rows written to the output table"),
        Column("quarantined_count", "long", "rows written to quarantine"),
        Column("out_of_window_count", "long", "documents read whose own timestamp lies outside the window"),
        Column("output_version", "long", "Delta version of the output table after the run"),
        Column("started_at", "timestamp", "start of the run (UTC)", False),
        Column("finished_at", "timestamp", "end of the run (UTC)", False),
        Column("duration_s", "double", "wall-clock seconds", False),
        Column("details_json", "string", "per-day × workload counts and other run details, as JSON"),
    ),
    partition_by=(),
)

TABLES = (
    BRONZE_SERVING_LOGS,
    BRONZE_QUARANTINE,
    SILVER_PREDICTIONS,
    SILVER_LLM_INTERACTIONS,
    SILVER_QUARANTINE,
    SILVER_LABELED_EXAMPLES,
    GOLD_TRAINING_SET,
    GOLD_LLM_DATASETS,
    JOB_RUNS,
    METRICS_PARITY,
    METRICS_SERVING_SKEW,
    METRICS_REFERENCE_PROFILES,
    METRICS_DRIFT,
    METRICS_EVALUATIONS,
    METRICS_LLM_EVALUATIONS,
    METRICS_LLM_EVALUATION_RECORDS,
)
