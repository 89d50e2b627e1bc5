"""Serving-side SDK: log exactly what the model saw and returned, without Spark."""

from serving.logger import LoggerStats, ServingLogger
from serving.redact import RedactionConfig, Redactor
from serving.sampling import SamplingPolicy, should_log
from serving.workload import tool_names, workload_id_from_tools

__all__ = [
    "LoggerStats",
    "RedactionConfig",
    "Redactor",
    "SamplingPolicy",
    "ServingLogger",
    "should_log",
    "tool_names",
    "workload_id_from_tools",
]
