"""Small helpers the tests share (no fakes: they drive the real loader and tables)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ops.loader import LoadResult, load_jsonl
from skewguard.config import Settings
from skewguard.es import connect


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return path


def load_records(settings: Settings, records: Iterable[dict[str, Any]], path: Path, **kwargs: Any) -> LoadResult:
    """Index ``records`` into the configured index through the project's loader."""
    client = connect(settings.elasticsearch)
    try:
        return load_jsonl(client, write_jsonl(records, path), settings.elasticsearch.index, **kwargs)
    finally:
        client.close()


def table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return spark.read.format("delta").load(settings.lakehouse.table_path(name))


def bronze_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    """``bronze.serving_logs`` rows (dicts with every column) as a DataFrame of its schema."""
    from schemas.tables import BRONZE_SERVING_LOGS

    schema = BRONZE_SERVING_LOGS.spark_schema()
    return spark.createDataFrame([tuple(r[c] for c in schema.names) for r in rows], schema)
