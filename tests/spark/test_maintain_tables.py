"""Table upkeep on real Delta tables: retention drops old bronze partitions, OPTIMIZE leaves
one file per recent partition, VACUUM deletes the files no version needs, and the run is
recorded with what it did. Rows are unchanged by compaction. Undated quarantine rows age out
by ``ingested_at``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from jobs.lib.delta_io import ensure_table
from schemas.tables import BRONZE_QUARANTINE, BRONZE_SERVING_LOGS
from skewguard.config import load_settings
from tests.helpers import table

pytestmark = pytest.mark.spark

DAYS = [dt.date(2024, 11, 18), dt.date(2024, 11, 19), dt.date(2024, 11, 20)]
ROOT = Path(__file__).resolve().parents[2]


def _bronze_rows(day: dt.date, batch: int) -> list[tuple]:
    ts = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return [
        (f"{day}-{batch}-{k}", "flywheel", ts, day, "fraud-scoring", "web", "prediction", "{}", f"run-{batch}", ts)
        for k in range(20)
    ]


def _data_files(path: str) -> list[Path]:
    return [p for p in Path(path).rglob("*.parquet") if "_delta_log" not in p.parts]


def test_retention_compaction_and_vacuum(spark, lakehouse, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    with (conf / "test.yaml").open("a") as fh:
        fh.write(
            "maintenance:\n  optimize_days: 7\n  vacuum_retention_hours: 0\n"
            "  retention_days:\n    bronze.serving_logs: 2\n    bronze.quarantine: 2\n"
        )
    monkeypatch.setenv("SKEWGUARD_CONF_DIR", str(conf))
    settings = load_settings()
    path = ensure_table(spark, settings, BRONZE_SERVING_LOGS)
    for batch in range(4):  # four small appends per day: four files per partition
        for day in DAYS:
            spark.createDataFrame(_bronze_rows(day, batch), BRONZE_SERVING_LOGS.spark_schema()).coalesce(
                1
            ).write.format("delta").mode("append").save(path)
    # quarantine: undated rows age out by when they were last ingested
    old, recent = (dt.datetime.combine(d, dt.time(12), tzinfo=dt.UTC) for d in (DAYS[0], DAYS[2]))
    quarantine = [
        ("undated-old", "flywheel", "missing_timestamp", None, "w", None, "{}", DAYS[0], DAYS[0], "run-0", old),
        ("undated-recent", "flywheel", "missing_timestamp", None, "w", None, "{}", DAYS[0], DAYS[2], "run-2", recent),
        ("dated-old", "flywheel", "missing_workload_id", DAYS[0], None, "1", "{}", DAYS[0], DAYS[0], "run-0", recent),
    ]
    q_path = ensure_table(spark, settings, BRONZE_QUARANTINE)
    spark.createDataFrame(quarantine, BRONZE_QUARANTINE.spark_schema()).write.format("delta").mode("append").save(
        q_path
    )
    kept_before = sorted(table(spark, settings, "bronze.serving_logs").where(f"event_date >= '{DAYS[1]}'").collect())
    assert len(_data_files(path)) == 12

    from jobs.maintain_tables import main

    assert main(["--as-of", str(DAYS[2])]) == 0

    bronze = table(spark, settings, "bronze.serving_logs")
    assert sorted(bronze.collect()) == kept_before  # the last 2 days, every row, unchanged
    files = spark.read.format("delta").load(path).inputFiles()
    assert len(files) == 2  # one per remaining partition
    assert sorted(str(p) for p in _data_files(path)) == sorted(f.removeprefix("file:") for f in files)

    run = table(spark, settings, "metrics.job_runs").where("job = 'maintain_tables'").first()
    assert run["status"] == "succeeded"
    done = json.loads(run["details_json"])["tables"]["bronze.serving_logs"]
    assert done["retention"]["deleted_rows"] == 80 and done["retention"]["kept_from"] == str(DAYS[1])
    assert done["optimize"]["files_removed"] == 8 and done["optimize"]["files_added"] == 2
    assert done["vacuum"]["deleted_files"] == 12  # the 4 files of the dropped day and the 8 compacted ones
    assert [r["event_id"] for r in table(spark, settings, "bronze.quarantine").collect()] == ["undated-recent"]
