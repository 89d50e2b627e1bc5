"""Table names and the embedded metastore's lock, without Spark: one process at a time gets
the Hive metastore of a lakehouse, a second one at once is told to use the in-memory catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs.lib.catalog import catalog_name, embedded_metastore_conf
from skewguard.config import ConfigError, load_settings, repo_root

HOLD = """
import sys, time
from jobs.lib.catalog import embedded_metastore_conf
from skewguard.config import load_settings
conf = embedded_metastore_conf(load_settings("local", env={"SKEWGUARD_LAKEHOUSE": sys.argv[1]}))
print("held" if conf else "busy", flush=True)
sys.stdin.read()  # hold the lock until the test closes stdin
"""


def _settings(lakehouse: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings("local", env={"SKEWGUARD_LAKEHOUSE": str(lakehouse), **env})


def test_names_carry_the_configured_prefix(tmp_path: Path) -> None:
    assert catalog_name(_settings(tmp_path), "silver.predictions") == "silver.predictions"
    unity = _settings(tmp_path, SKEWGUARD_CATALOG_PREFIX="main.skewguard_")
    assert catalog_name(unity, "bronze.serving_logs") == "main.skewguard_bronze.serving_logs"
    for bad in ("a.b.c_", "main-x.", "x y"):
        with pytest.raises(ConfigError, match="catalog.prefix"):
            _settings(tmp_path, SKEWGUARD_CATALOG_PREFIX=bad)


def test_the_metastore_lives_under_its_lakehouse(tmp_path: Path) -> None:
    assert _settings(tmp_path).metastore_path() == tmp_path / "_catalog"
    with pytest.raises(ConfigError, match="catalog.metastore_dir"):
        _settings(tmp_path, SKEWGUARD_LAKEHOUSE="s3a://bucket/lake").metastore_path()


def test_one_process_at_a_time_gets_the_metastore(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        cwd=repo_root(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "held"
        # this process, meanwhile: Spark's in-memory catalog (no Hive settings), and the holder is named
        assert embedded_metastore_conf(_settings(tmp_path)) == {}
        assert (tmp_path / "_catalog" / "lock").read_text().strip() == str(first.pid)
        # another lakehouse has its own metastore
        other = embedded_metastore_conf(_settings(tmp_path / "other"))
        assert other["spark.sql.catalogImplementation"] == "hive"
        derby = other["spark.hadoop.javax.jdo.option.ConnectionURL"]
        assert str(tmp_path / "other" / "_catalog" / "metastore_db") in derby
    finally:
        assert first.stdin is not None
        first.stdin.close()
        first.wait(timeout=30)
    # the holder has ended, its lock with it: the next session gets the metastore
    conf = embedded_metastore_conf(_settings(tmp_path))
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "_catalog" / "warehouse")
