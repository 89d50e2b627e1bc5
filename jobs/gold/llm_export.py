"""The JSONL export of ``gold.llm_datasets``: per workload, ``train.jsonl`` and ``val.jsonl``
in the chat fine-tuning shape and ``eval.jsonl`` in the evaluation shape, written through
Hadoop's file system (a local folder or an object store) from one committed table version.
Each workload gets a folder of its own inside the export folder, whatever its id holds."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from schemas.llm import LLM_SPLITS

__all__ = ["ExportError", "export_workload", "workload_folder_name"]

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The export could not be written as asked."""


class _Files:
    """The few file operations the export needs, through Hadoop's file system (local or object store)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        if jvm is None:
            raise RuntimeError("the Spark session has no JVM gateway (was it stopped?)")
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def part_file(self, folder: str) -> Any | None:
        path = self._path(folder)
        if not self._fs.exists(path):
            return None
        parts = [s.getPath() for s in self._fs.listStatus(path) if s.getPath().getName().startswith("part-")]
        if len(parts) > 1:
            raise ExportError(f"{folder}: expected one part file, found {len(parts)}")
        return parts[0] if parts else None

    def move(self, source: Any, dest: str) -> None:
        target = self._path(dest)
        self._fs.delete(target, False)
        if not self._fs.rename(source, target):
            raise ExportError(f"could not move {source} to {dest}")

    def touch(self, dest: str) -> None:
        self._fs.create(self._path(dest), True).close()

    def delete(self, folder: str) -> None:
        self._fs.delete(self._path(folder), True)


def workload_folder_name(workload: str) -> str:
    """One folder name for a workload id, whatever it holds: percent-encoded but for letters,
    digits, ``-``, ``_`` and ``.``, and ``.``/``..`` encoded too, so no id leaves the export folder."""
    name = urllib.parse.quote(workload, safe="-_.")
    return name.replace(".", "%2E") if name in ("", ".", "..") else name


def export_workload(spark: SparkSession, gold_path: str, version: int, workload: str, root: str, run_id: str) -> str:
    """Write ``<root>/<workload>/{train,val,eval}.jsonl`` from ``gold.llm_datasets`` at
    ``version``: train and val in the chat fine-tuning shape, eval in the evaluation shape,
    each ordered by ``event_id``. Returns the workload's folder."""
    folder = f"{root.rstrip('/')}/{workload_folder_name(workload)}"
    staging = f"{folder}/_staging-{run_id}"
    (
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(gold_path)
        .where(F.col("workload_id") == workload)
        .select("split", "event_id", F.col("line_json").alias("value"))
        .repartition(1)
        .sortWithinPartitions("split", "event_id")
        .drop("event_id")
        .write.partitionBy("split")
        .mode("overwrite")
        .text(staging)
    )
    files = _Files(spark, root)
    try:
        for split in LLM_SPLITS:
            part = files.part_file(f"{staging}/split={split}")
            if part is None:
                files.touch(f"{folder}/{split}.jsonl")
            else:
                files.move(part, f"{folder}/{split}.jsonl")
    finally:
        files.delete(staging)
    log.info("exported %s to %s", workload, folder)
    return folder
