"""A table's name follows its path: registered once, re-pointed when the path moved, and a
managed table of that name is never dropped to make room."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.lib.catalog import register_table
from skewguard.config import load_settings

pytestmark = pytest.mark.spark


def test_a_name_follows_its_path(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        "test",
        env={"SKEWGUARD_CATALOG": "true", "SKEWGUARD_CATALOG_PREFIX": "t_names_", "SKEWGUARD_LAKEHOUSE": str(tmp_path)},
    )
    first, moved = str(tmp_path / "first"), str(tmp_path / "moved")
    spark.range(2).write.format("delta").save(first)
    spark.range(5).write.format("delta").save(moved)

    assert register_table(spark, settings, "metrics.tiny", first) == "t_names_metrics.tiny"
    assert spark.sql("SELECT count(*) AS n FROM t_names_metrics.tiny").first()["n"] == 2
    assert register_table(spark, settings, "metrics.tiny", first) == "t_names_metrics.tiny"  # idempotent
    # the table moved (another lakehouse, a restored copy): the name follows the path, the old files stay
    assert register_table(spark, settings, "metrics.tiny", moved) == "t_names_metrics.tiny"
    assert spark.table("t_names_metrics.tiny").count() == 5
    assert spark.read.format("delta").load(first).count() == 2

    spark.sql("CREATE TABLE t_names_metrics.owned (id BIGINT) USING DELTA")
    spark.sql("INSERT INTO t_names_metrics.owned VALUES (7)")
    assert register_table(spark, settings, "metrics.owned", moved) is None  # refused, logged
    assert [r["id"] for r in spark.table("t_names_metrics.owned").collect()] == [7]

    off = settings.model_copy(update={"catalog": settings.catalog.model_copy(update={"enabled": False})})
    assert register_table(spark, off, "metrics.other", first) is None
    assert not spark.catalog.tableExists("t_names_metrics.other")
    spark.sql("DROP SCHEMA t_names_metrics CASCADE")  # the session serves later tests
