"""Small helpers the tests share (no fakes: they drive the real loader and tables)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ops.loader import LoadResult, load_jsonl
from skewguard.config import Settings, load_settings
from skewguard.es import connect


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return path


def load_records(settings: Settings, records: Iterable[dict[str, Any]], path: Path, **kwargs: Any) -> LoadResult:
    """Index ``records`` into the configured index through the project's loader."""
    client = connect(settings.es_for("writer"))
    try:
        return load_jsonl(client, write_jsonl(records, path), settings.elasticsearch.index, **kwargs)
    finally:
        client.close()


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def conf_overlay(folder: Path, overrides: dict[str, Any]) -> Path:
    """A copy of the repository's ``conf/`` in ``folder`` whose test profile has ``overrides``
    merged in, key by key (for ``SKEWGUARD_CONF_DIR``): settings a job reads itself."""
    import shutil

    import yaml

    from skewguard.config import repo_root

    conf = folder / "conf"
    shutil.copytree(repo_root() / "conf", conf)
    profile = _merged(yaml.safe_load((conf / "test.yaml").read_text()) or {}, overrides)
    (conf / "test.yaml").write_text(yaml.safe_dump(profile))
    return conf


def table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return spark.read.format("delta").load(settings.lakehouse.table_path(name))


def bronze_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    """``bronze.serving_logs`` rows (dicts with every column) as a DataFrame of its schema."""
    from schemas.tables import BRONZE_SERVING_LOGS

    schema = BRONZE_SERVING_LOGS.spark_schema()
    return spark.createDataFrame([tuple(r[c] for c in schema.names) for r in rows], schema)


def logger_settings(tmp_path: Path, url: str, index: str, **serving: Any) -> Settings:
    """The test profile pointed at ``url``/``index``, with a spool under ``tmp_path`` and the
    serving logger's timings shortened (``serving`` overrides more of its section)."""
    base = load_settings("test", env={})
    return base.model_copy(
        update={
            "elasticsearch": base.elasticsearch.model_copy(update={"url": url, "index": index}),
            "serving": base.serving.model_copy(
                update={"spool_dir": tmp_path / "spool", "flush_interval_s": 0.05, "retry_max_s": 1.0, **serving}
            ),
        }
    )
