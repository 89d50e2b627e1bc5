"""Serving-side SDK without Spark: log exactly what the model saw and returned
(``ServingLogger``), and load a model bundle to predict (``Bundle``).

Names are imported on first use, so loading a bundle needs only numpy and pyarrow (the
logger's Elasticsearch client is not imported unless the logger is used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bundle": "serving.bundle",
    "BundleError": "serving.bundle",
    "LoggerStats": "serving.logger",
    "RedactionConfig": "serving.redact",
    "Redactor": "serving.redact",
    "SamplingPolicy": "serving.sampling",
    "load_built_bundle": "serving.built_bundle",
    "ServingLogger": "serving.logger",
    "should_log": "serving.sampling",
    "tool_names": "serving.workload",
    "workload_id_from_tools": "serving.workload",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'serving' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
