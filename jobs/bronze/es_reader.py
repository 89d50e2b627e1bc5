"""Read Elasticsearch hits into Spark as (``_id``, exact ``_source`` JSON) rows.

The ES-Hadoop DataFrame reader fails on the Data Flywheel's mapping ("Field 'request' not
found") and silently drops unmapped fields elsewhere, so each hit's ``_source`` is read as
a JSON string with ``JavaEsSpark.esJsonRDD`` and turned into a Dataset in the JVM: no row
crosses into Python. One Spark partition per shard slice of ``es.input.max.docs.per.partition``.

An alias or pattern is read one concrete index at a time (:func:`read_index_hits`), each hit
tagged with the index that holds it: ES-Hadoop's ``es.read.metadata`` would give ``_index``
too, but only by adding a ``_metadata`` object to the ``_source`` JSON, which bronze keeps
exactly as indexed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from skewguard.config import repo_root
from skewguard.settings_models import ElasticsearchSettings

__all__ = ["es_hadoop_conf", "read_index_hits", "read_json_hits"]

log = logging.getLogger(__name__)
_TRUSTSTORE_PASSWORD = "skewguard-truststore"  # protects public CA certificates only


def _truststore_for(ca_certs: Path) -> Path:
    """A PKCS12 truststore holding the PEM CA (ES-Hadoop takes no PEM), made once with keytool."""
    digest = hashlib.sha256(ca_certs.read_bytes()).hexdigest()[:16]
    target = repo_root() / ".cache" / "truststores" / f"ca-{digest}.p12"
    if target.is_file():
        return target
    keytool = shutil.which("keytool")
    if keytool is None:
        raise RuntimeError("keytool not found (it comes with the JDK): needed to trust ES_CA_CERTS")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    result = subprocess.run(
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-alias",
            "skewguard-ca",
            "-file",
            str(ca_certs),
            "-keystore",
            str(tmp),
            "-storetype",
            "PKCS12",
            "-storepass",
            _TRUSTSTORE_PASSWORD,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"keytool could not import {ca_certs}: {result.stdout.strip() or result.stderr.strip()}")
    tmp.replace(target)
    return target


def es_hadoop_conf(es: ElasticsearchSettings, resource: str, query: dict[str, Any]) -> dict[str, str]:
    """ES-Hadoop settings for reading ``resource`` with ``query`` (secrets included: never log it)."""
    conf = {
        "es.nodes": es.host,
        "es.port": str(es.port),
        "es.resource": resource,
        "es.query": json.dumps({"query": query}),
        "es.scroll.size": str(es.scroll_size),
        "es.scroll.keepalive": "10m",
        "es.input.max.docs.per.partition": str(es.docs_per_partition),
        "es.index.read.missing.as.empty": "false",
        "es.http.timeout": f"{int(es.request_timeout_s)}s",
        "es.http.retries": "3",
        "es.read.metadata": "false",
    }
    if es.use_tls:
        conf["es.net.ssl"] = "true"
        if es.ca_certs is not None:
            conf["es.net.ssl.truststore.location"] = _truststore_for(es.ca_certs).as_uri()
            conf["es.net.ssl.truststore.pass"] = _TRUSTSTORE_PASSWORD
    if es.api_key is not None:
        conf["es.net.http.header.Authorization"] = f"ApiKey {es.api_key.get_secret_value()}"
    elif es.username is not None:
        conf["es.net.http.auth.user"] = es.username.get_secret_value()
        conf["es.net.http.auth.pass"] = es.password.get_secret_value() if es.password else ""
    return conf


def read_json_hits(spark: SparkSession, es: ElasticsearchSettings, resource: str, query: dict[str, Any]) -> DataFrame:
    """A DataFrame ``(event_id, source_json)`` of every hit of ``query`` in ``resource``."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the Spark session has no JVM gateway (was it stopped?)")
    cfg = jvm.java.util.HashMap()
    for key, value in es_hadoop_conf(es, resource, query).items():
        cfg.put(key, value)
    pairs = jvm.org.elasticsearch.spark.rdd.api.java.JavaEsSpark.esJsonRDD(spark.sparkContext._jsc, cfg)
    encoders = jvm.org.apache.spark.sql.Encoders
    dataset = spark._jsparkSession.createDataset(pairs.rdd(), encoders.tuple(encoders.STRING(), encoders.STRING()))
    log.info("reading %s from %s through ES-Hadoop", resource, es.url)
    return DataFrame(dataset.toDF(), spark).withColumnsRenamed({"_1": "event_id", "_2": "source_json"})


def read_index_hits(
    spark: SparkSession, es: ElasticsearchSettings, indices: list[str], query: dict[str, Any]
) -> DataFrame:
    """A DataFrame ``(es_index, event_id, source_json)`` of every hit of ``query`` in each of the
    concrete ``indices``: whichever alias a document is read through, its ``es_index`` is the
    index that holds it."""
    if not indices:
        raise ValueError("no index to read")
    frames = [read_json_hits(spark, es, name, query).withColumn("es_index", F.lit(name)) for name in indices]
    return functools.reduce(DataFrame.unionByName, frames).select("es_index", "event_id", "source_json")
