"""Shared feature transforms: the same numpy/pyarrow code fits and applies offline (plain
Python or Spark through Arrow) and in serving (from a model bundle). No Spark, no I/O.

Imports inside the package are relative, so a model bundle can load its own copy of this
source under another package name.
"""

from __future__ import annotations

from .exact import Moments, exact_sum, exact_sum_of_squares
from .frame import DTYPES, as_float, as_strings, coerce, records_to_batch, snapshot, to_batch
from .hashing import murmur3_32, murmur3_32_array
from .pipeline import INPUTS_STEP, FittedPipeline, Pipeline, canonical_json, default_pipeline, source_hash
from .split import SPLITS, assign_split, split_of
from .stages import STAGES, Stage, stage_from_spec
from .stats import Need, TopK, local_stats, quantile_edges, top_k_of

__all__ = [
    "DTYPES",
    "INPUTS_STEP",
    "SPLITS",
    "STAGES",
    "FittedPipeline",
    "Moments",
    "Need",
    "Pipeline",
    "Stage",
    "TopK",
    "as_float",
    "as_strings",
    "assign_split",
    "canonical_json",
    "coerce",
    "default_pipeline",
    "exact_sum",
    "exact_sum_of_squares",
    "local_stats",
    "murmur3_32",
    "murmur3_32_array",
    "quantile_edges",
    "records_to_batch",
    "snapshot",
    "source_hash",
    "split_of",
    "stage_from_spec",
    "to_batch",
    "top_k_of",
]
