"""A pipeline: an input dtype contract, named stages in order, and the output columns that
form the model's feature vector. ``fit`` yields a :class:`FittedPipeline` whose params
serialise to JSON exactly; ``apply``/``matrix`` run the same numpy code everywhere."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .frame import DTYPES, Frame, as_float, coerce, records_to_batch, snapshot, to_batch
from .stages import Params, Stage, stage_from_spec
from .stats import local_stats

__all__ = ["INPUTS_STEP", "FittedPipeline", "Pipeline", "canonical_json", "default_pipeline", "source_hash"]

FORMAT = 1
INPUTS_STEP = "<inputs>"
"""The name :meth:`FittedPipeline.trace` gives the inputs as typed by the contract."""


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces, NaN/inf refused: the same value always gives the same text,
    and every float round-trips exactly (``repr`` is the shortest exact form)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def source_hash(package_dir: Path | None = None) -> str:
    """SHA-256 over this package's ``*.py`` sources (name and bytes, in name order)."""
    root = package_dir or Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Pipeline:
    """Stages to fit and apply; ``inputs`` is the dtype contract (``double``, ``string``,
    ``timestamp``) that serving must honour."""

    name: str
    inputs: Mapping[str, str]
    stages: tuple[Stage, ...]
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = {c: t for c, t in self.inputs.items() if t not in DTYPES}
        if bad:
            raise ValueError(f"pipeline {self.name!r}: unknown input dtypes {bad} (known: {sorted(DTYPES)})")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline {self.name!r}: stage names must be unique, got {names}")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Pipeline:
        return cls(
            name=str(spec["name"]),
            inputs=dict(spec["inputs"]),
            stages=tuple(stage_from_spec(s) for s in spec["stages"]),
            outputs=tuple(spec["outputs"]),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": dict(self.inputs),
            "stages": [s.spec() for s in self.stages],
            "outputs": list(self.outputs),
        }

    def fit_groups(self) -> list[list[int]]:
        """Consecutive stages that can be fitted in one pass over the data: none reads a
        column written by an earlier stage of the same group. A column that is not an input
        was added by an earlier stage (one-hot, time features), whose new names are only known
        once fitted: a stage reading one starts a group."""
        groups: list[list[int]] = []
        written: set[str] = set()
        for i, stage in enumerate(self.stages):
            if not groups or written & set(stage.columns) or not set(stage.columns) <= set(self.inputs):
                groups.append([])
                written = set()
            groups[-1].append(i)
            written |= set(stage.columns)
        return groups

    def fit(self, table: pa.Table | pa.RecordBatch) -> FittedPipeline:
        """Fit every stage on the data as the stages before it leave it (in this process)."""
        frame = coerce(table, self.inputs)
        params: list[Params] = []
        for stage in self.stages:
            p = stage.fit_from_stats(local_stats(frame, stage.needs()))
            stage.apply_frame(frame, p)
            params.append(p)
        return FittedPipeline(self, tuple(params))


@dataclass(frozen=True)
class FittedPipeline:
    """A pipeline with frozen params."""

    pipeline: Pipeline
    params: tuple[Params, ...]

    def apply_frame(self, frame: Frame, upto: int | None = None) -> Frame:
        for stage, p in list(zip(self.pipeline.stages, self.params, strict=True))[:upto]:
            stage.apply_frame(frame, p)
        return frame

    def apply(self, batch: pa.RecordBatch | pa.Table, upto: int | None = None) -> pa.RecordBatch:
        """All columns after the first ``upto`` stages (default: all stages)."""
        return to_batch(self.apply_frame(coerce(batch, self.pipeline.inputs), upto))

    def trace(self, batch: pa.RecordBatch | pa.Table) -> Iterator[tuple[str, dict[str, list[Any]]]]:
        """Every column as plain values (:func:`~.frame.snapshot`): first the inputs typed by
        the contract (step ``<inputs>``), then after each stage in turn (step = stage name).
        Comparing two traces of the same examples finds the first step where they part."""
        frame = coerce(batch, self.pipeline.inputs)
        yield INPUTS_STEP, snapshot(frame)
        for stage, p in zip(self.pipeline.stages, self.params, strict=True):
            stage.apply_frame(frame, p)
            yield stage.name, snapshot(frame)

    def output_names(self) -> list[str]:
        """Names of the feature-vector columns, one-hot and time features expanded."""
        return list(self._output_names)

    @cached_property
    def _output_names(self) -> tuple[str, ...]:
        # fixed by the params: worked out once, not on every request
        expanded: dict[str, list[str]] = {}
        for stage, p in zip(self.pipeline.stages, self.params, strict=True):
            expanded.update(stage.output_names(p))
        names: list[str] = []
        for out in self.pipeline.outputs:
            names.extend(expanded.get(out, [out]))
        return tuple(names)

    def matrix(self, batch: pa.RecordBatch | pa.Table) -> NDArray[Any]:
        """The feature vectors of a batch: float64, one row per example."""
        frame = self.apply_frame(coerce(batch, self.pipeline.inputs))
        names = self.output_names()
        missing = [n for n in names if n not in frame]
        if missing:
            raise KeyError(f"pipeline {self.pipeline.name!r}: outputs not produced: {missing}")
        if not names:
            return np.zeros((batch.num_rows, 0))
        return np.column_stack([as_float(frame[n]) for n in names])

    def matrix_from_records(self, records: Sequence[Mapping[str, Any]]) -> NDArray[Any]:
        """Feature vectors of examples given as serving receives them."""
        return self.matrix(records_to_batch(records, self.pipeline.inputs))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "pipeline": self.pipeline.spec(), "params": list(self.params)}

    def dumps(self) -> str:
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FittedPipeline:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported fitted-pipeline format {data.get('format')!r} (expected {FORMAT})")
        return cls(Pipeline.from_spec(data["pipeline"]), tuple(data["params"]))

    @classmethod
    def loads(cls, text: str) -> FittedPipeline:
        return cls.from_json(json.loads(text))

    def params_hash(self) -> str:
        """SHA-256 of the canonical JSON: names the exact fitted pipeline."""
        return hashlib.sha256(self.dumps().encode()).hexdigest()


def default_pipeline(name: str, inputs: Mapping[str, str], time_column: str | None = None) -> Pipeline:
    """A sensible pipeline for a contract: numeric → mean impute, clip to the 0.5–99.5 %
    quantiles, standardise; categorical → most-frequent impute, one-hot vocabulary (≤ 50);
    an optional timestamp → UTC hour and day-of-week on a circle."""
    numeric = tuple(c for c, t in inputs.items() if t == "double")
    categorical = tuple(c for c, t in inputs.items() if t == "string")
    # interleaved so that independent stages share a fitting pass (see Pipeline.fit_groups)
    specs: list[dict[str, Any]] = []
    if numeric:
        specs.append({"kind": "impute", "name": "impute_numeric", "columns": numeric})
    if categorical:
        specs.append({"kind": "impute_category", "name": "impute_categorical", "columns": categorical})
    if numeric:
        specs.append(
            {"kind": "clip", "name": "clip_tails", "columns": numeric, "options": {"quantiles": [0.005, 0.995]}}
        )
    if categorical:
        specs.append(
            {
                "kind": "vocabulary",
                "name": "vocabulary",
                "columns": categorical,
                "options": {"max_size": 50, "one_hot": True},
            }
        )
    if numeric:
        specs.append({"kind": "standardize", "name": "standardize", "columns": numeric})
    if time_column is not None:
        if inputs.get(time_column) != "timestamp":
            raise ValueError(f"time column {time_column!r} must be a timestamp input")
        specs.append(
            {
                "kind": "time_features",
                "name": "time_features",
                "columns": [time_column],
                "options": {"features": ["hour_sin", "hour_cos", "day_of_week"]},
            }
        )
    stages = [stage_from_spec(spec) for spec in specs]
    outputs = [*numeric, *categorical, *([time_column] if time_column is not None else [])]
    return Pipeline(name=name, inputs=dict(inputs), stages=tuple(stages), outputs=tuple(outputs))
