"""Time features: calendar values in UTC, from any timestamp unit or zone, and the same in a
process whose local time zone is not UTC."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from transforms import FittedPipeline, Pipeline, Stage, stage_from_spec

ROOT = Path(__file__).resolve().parents[2]
NAN = math.nan
UTC = dt.UTC


def make(**options: Any) -> Stage:
    return stage_from_spec({"kind": "time_features", "name": "when", "columns": ["ts"], "options": options})


# (instant, UTC hour, day of week with Monday 0)
ROWS: list[tuple[dt.datetime | None, float, float]] = [
    (dt.datetime(1970, 1, 1, 0, 0, tzinfo=UTC), 0.0, 3.0),  # a Thursday
    (dt.datetime(2024, 1, 1, 5, 30, tzinfo=UTC), 5.0, 0.0),
    (dt.datetime(2024, 3, 10, 23, 59, 59, 999_999, tzinfo=UTC), 23.0, 6.0),
    (dt.datetime(1969, 12, 31, 23, 0, tzinfo=UTC), 23.0, 2.0),  # before the epoch
    (dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), 23.0, 2.0),
    (dt.datetime(2000, 2, 29, 12, 0, tzinfo=UTC), 12.0, 1.0),
    (dt.datetime(1900, 1, 1, 6, 15, tzinfo=UTC), 6.0, 0.0),
    (dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC), 3.0, 1.0),
    (None, NAN, NAN),
    (dt.datetime(2024, 6, 30, 18, 0, tzinfo=UTC), 18.0, 6.0),
]


def test_rows_are_hand_checked_against_datetime() -> None:
    for when, hour, dow in ROWS:
        if when is not None:
            assert (when.hour, when.weekday()) == (hour, dow)


def ts_table(typ: pa.DataType) -> pa.Table:
    utc = pa.array([w for w, _, _ in ROWS], pa.timestamp("us", tz="UTC"))
    return pa.table({"ts": pc.cast(utc, typ), "id": pa.array(range(len(ROWS)))})


@pytest.mark.parametrize(
    "typ",
    [
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("us", tz="Asia/Kolkata"),
        pa.timestamp("us", tz="America/New_York"),
        pa.timestamp("ns", tz="Pacific/Chatham"),
        pa.timestamp("us"),  # naive: read as UTC
    ],
)
def test_hour_and_day_of_week_in_utc(typ: pa.DataType) -> None:
    stage = make()
    table = ts_table(typ)
    params = stage.fit(table)
    assert params == {}
    out = stage.apply(table, params)
    assert out.schema.names == ["ts", "id", "ts_hour", "ts_day_of_week", "ts_hour_sin", "ts_hour_cos"]
    assert out.column("ts").equals(table.column("ts").combine_chunks())
    np.testing.assert_array_equal(out.column("ts_hour").to_numpy(), [h for _, h, _ in ROWS])
    np.testing.assert_array_equal(out.column("ts_day_of_week").to_numpy(), [d for _, _, d in ROWS])


def test_hour_on_a_circle() -> None:
    out = make().apply(ts_table(pa.timestamp("us", tz="UTC")), {})
    sin, cos = out.column("ts_hour_sin").to_numpy(), out.column("ts_hour_cos").to_numpy()
    for (_, hour, _), s, c in zip(ROWS, sin, cos, strict=True):
        if math.isnan(hour):
            assert math.isnan(s) and math.isnan(c)
            continue
        assert s == pytest.approx(math.sin(2 * math.pi * hour / 24), abs=1e-15)
        assert c == pytest.approx(math.cos(2 * math.pi * hour / 24), abs=1e-15)
    # hour 0 → (0, 1), hour 6 → (1, ~0), hour 12 → (~0, -1), hour 18 → (-1, ~0)
    assert (sin[0], cos[0]) == (0.0, 1.0)
    assert sin[1] == pytest.approx(math.sin(5 * math.pi / 12), rel=1e-15)  # 0.9659258262890683
    assert cos[5] == pytest.approx(-1.0, abs=1e-15)
    assert sin[9] == pytest.approx(-1.0, abs=1e-15)


def test_features_chosen_and_ordered_by_the_option() -> None:
    stage = make(features=["day_of_week", "hour"])
    assert stage.output_names({}) == {"ts": ["ts_day_of_week", "ts_hour"]}
    out = stage.apply(ts_table(pa.timestamp("us", tz="UTC")), {})
    assert out.schema.names == ["ts", "id", "ts_day_of_week", "ts_hour"]
    np.testing.assert_array_equal(out.column("ts_day_of_week").to_numpy(), [d for _, _, d in ROWS])


def test_unknown_feature() -> None:
    with pytest.raises(ValueError, match="unknown time feature 'minute'"):
        make(features=["hour", "minute"]).apply(ts_table(pa.timestamp("us", tz="UTC")), {})


def test_all_null_timestamps() -> None:
    table = pa.table({"ts": pa.array([None, None], pa.timestamp("us", tz="UTC"))})
    out = make().apply(table, {})
    for name in ("ts_hour", "ts_day_of_week", "ts_hour_sin", "ts_hour_cos"):
        np.testing.assert_array_equal(out.column(name).to_numpy(), [NAN, NAN])


# -- independent of the process's time zone --------------------------------------------

PIPELINE = {
    "name": "tz",
    "inputs": {"ts": "timestamp", "x": "double"},
    "stages": [{"kind": "time_features", "name": "when", "columns": ["ts"]}],
    "outputs": ["ts", "x"],
}
# how serving receives instants: naive and offset ISO strings, epoch seconds and millis
RECORDS: list[dict[str, Any]] = [
    {"ts": "2024-01-01T05:30:00", "x": 1},
    {"ts": "2024-01-01T05:30:00Z", "x": 2.5},
    {"ts": "2024-01-01T05:30:00+05:30", "x": None},
    {"ts": "2024-03-31T01:30:00", "x": 0},  # a DST change in Europe
    {"ts": 1704087000, "x": 1},
    {"ts": 1704087000123, "x": 1},
    {"ts": 1704087000.5},
    {"ts": -3600},
    {"ts": None, "x": 3},
    {"x": 4},
    {"ts": "2023-12-31T23:59:59.999999"},
]

TZ_SCRIPT = """
import datetime as dt, json, os, sys, time
import pyarrow as pa
time.tzset()
assert time.localtime(0).tm_gmtoff == 19800, time.localtime(0)
from transforms import FittedPipeline, Pipeline
args = json.loads(sys.stdin.read())
fitted = FittedPipeline(Pipeline.from_spec(args["pipeline"]), ({},))
naive = [dt.datetime(2024, 1, 1, 5, 30), None, dt.datetime(1969, 12, 31, 23, 0)]
table = pa.table({"ts": pa.array(naive, pa.timestamp("us")), "x": [1.0, 2.0, None]})
print(json.dumps({
    "records": [[v.hex() for v in row] for row in fitted.matrix_from_records(args["records"]).tolist()],
    "table": [[v.hex() for v in row] for row in fitted.matrix(table).tolist()],
}))
"""


def run_here() -> dict[str, list[list[str]]]:
    fitted = FittedPipeline(Pipeline.from_spec(PIPELINE), ({},))
    naive = [dt.datetime(2024, 1, 1, 5, 30), None, dt.datetime(1969, 12, 31, 23, 0)]
    table = pa.table({"ts": pa.array(naive, pa.timestamp("us")), "x": [1.0, 2.0, None]})
    return {
        "records": [[v.hex() for v in row] for row in fitted.matrix_from_records(RECORDS).tolist()],
        "table": [[v.hex() for v in row] for row in fitted.matrix(table).tolist()],
    }


@pytest.fixture
def kolkata_tz() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_records_give_utc_features() -> None:
    m = FittedPipeline(Pipeline.from_spec(PIPELINE), ({},)).matrix_from_records(RECORDS)
    hours = [5, 5, 0, 1, 5, 5, 5, 23, NAN, NAN, 23]
    days = [0, 0, 0, 6, 0, 0, 0, 2, NAN, NAN, 6]
    # columns: ts_hour, ts_day_of_week, ts_hour_sin, ts_hour_cos, x
    np.testing.assert_array_equal(m[:, 0], hours)
    np.testing.assert_array_equal(m[:, 1], days)
    np.testing.assert_array_equal(m[:, 4], [1.0, 2.5, NAN, 0.0, 1.0, 1.0, NAN, NAN, 3.0, 4.0, NAN])


def test_same_features_in_a_process_with_another_time_zone() -> None:
    here = run_here()
    env = {**os.environ, "TZ": "Asia/Kolkata", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", TZ_SCRIPT],
        input=json.dumps({"pipeline": PIPELINE, "records": RECORDS}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == here
    # and the hours really are UTC ones (05:30 naive → 5, not 0 from a +05:30 reading)
    assert float.fromhex(here["table"][0][0]) == 5.0


def test_same_features_after_changing_this_process_time_zone(kolkata_tz: None) -> None:
    assert time.localtime(0).tm_gmtoff == 19800
    with_kolkata = run_here()
    os.environ["TZ"] = "UTC"
    time.tzset()
    assert with_kolkata == run_here()
