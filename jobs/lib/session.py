"""The one way skewguard gets a SparkSession: reuse the active one, or build it from conf."""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from skewguard.config import Settings
from skewguard.stack import DELTA_CONF, STORAGE_CONF, jar_paths

__all__ = ["get_session", "launched_by_spark_submit"]

log = logging.getLogger(__name__)


def launched_by_spark_submit() -> bool:
    """True when the JVM was started by ``spark-submit`` (it then owns master and jars)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_session(settings: Settings, app_name: str = "skewguard") -> SparkSession:
    """The active session if there is one, else a new one configured from ``settings``.

    When Python starts the JVM, the Delta and ES-Hadoop jars come from ``spark.jars``
    (fetched beforehand, never downloaded here). Under ``spark-submit`` the JVM is already
    running, so master and jars must come from the submit command
    (``skewguard submit-args``); only runtime settings are applied.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    conf: dict[str, str] = {
        **DELTA_CONF,
        **STORAGE_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.debug.maxToStringFields": "200",  # Delta's plans are wide; avoid a warning per write
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Cached ingest data is mostly unique JSON text, which the in-memory codecs cannot
        # shrink: compressing it only costs CPU.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        **settings.spark.extra_conf,
    }
    if not launched_by_spark_submit():
        if settings.spark.master:
            builder = builder.master(settings.spark.master)
        conf["spark.jars"] = ",".join(jar_paths(settings))
        conf["spark.driver.memory"] = settings.spark.driver_memory
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (Arrow batches of the shared transforms) use this interpreter's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s session %s (master %s)", spark.version, app_name, spark.sparkContext.master)
    return spark
