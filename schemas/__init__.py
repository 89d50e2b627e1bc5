"""One declaration per log record kind and Delta table; Spark, Arrow and ES forms derive from it."""

from schemas.core import Column, TableSchema
from schemas.records import (
    FLYWHEEL_INDEX_MAPPING,
    LLM_INTERACTION,
    PREDICTION,
    QUARANTINE_REASONS,
    RECORD_KINDS,
    SKEWGUARD_INDEX_MAPPING,
    classify_record,
    parse_timestamp,
)
from schemas.tables import BRONZE_QUARANTINE, BRONZE_SERVING_LOGS, JOB_RUNS, TABLES

__all__ = [
    "BRONZE_QUARANTINE",
    "BRONZE_SERVING_LOGS",
    "FLYWHEEL_INDEX_MAPPING",
    "JOB_RUNS",
    "LLM_INTERACTION",
    "PREDICTION",
    "QUARANTINE_REASONS",
    "RECORD_KINDS",
    "SKEWGUARD_INDEX_MAPPING",
    "TABLES",
    "Column",
    "TableSchema",
    "classify_record",
    "parse_timestamp",
]
