"""One declaration per log record kind and Delta table; Spark, Arrow and ES forms derive from it."""

from schemas.core import Column, TableSchema
from schemas.records import (
    FLYWHEEL_INDEX_MAPPING,
    LABEL_RECORD_FIELDS,
    LLM_INTERACTION,
    PREDICTION,
    QUARANTINE_REASONS,
    RECORD_KINDS,
    SILVER_QUARANTINE_REASONS,
    SKEWGUARD_INDEX_MAPPING,
    UNLABELED_CAUSES,
    classify_record,
    parse_timestamp,
)
from schemas.tables import (
    BRONZE_QUARANTINE,
    BRONZE_SERVING_LOGS,
    JOB_RUNS,
    SILVER_LABELED_EXAMPLES,
    SILVER_PREDICTIONS,
    SILVER_QUARANTINE,
    TABLES,
)

__all__ = [
    "BRONZE_QUARANTINE",
    "BRONZE_SERVING_LOGS",
    "FLYWHEEL_INDEX_MAPPING",
    "JOB_RUNS",
    "LABEL_RECORD_FIELDS",
    "LLM_INTERACTION",
    "PREDICTION",
    "QUARANTINE_REASONS",
    "RECORD_KINDS",
    "SILVER_LABELED_EXAMPLES",
    "SILVER_PREDICTIONS",
    "SILVER_QUARANTINE",
    "SILVER_QUARANTINE_REASONS",
    "SKEWGUARD_INDEX_MAPPING",
    "TABLES",
    "UNLABELED_CAUSES",
    "Column",
    "TableSchema",
    "classify_record",
    "parse_timestamp",
]
