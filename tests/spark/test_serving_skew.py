"""Serving skew on logged predictions: generated logs with known injected mismatches —
timeouts (a feature missing), a stale cache (an older value), a wrong value, a model that
served under another version's name, a version with no bundle — are found with the right
counts; re-running a day replaces its rows. Model names and versions that would lead to code
outside the bundles folder, or to a bundle edited after it was built, are counted as
``no_bundle`` without that code ever running; a day with nothing logged fails the gate form
(exit 3) and keeps the day's earlier results."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jobs.lib.job import EXIT_NO_DATA
from schemas.tables import SILVER_PREDICTIONS
from serving.bundle import Bundle, bundle_content_hash
from skewguard.artifacts import write_bundle_record
from skewguard.config import Settings, load_settings
from tests.spark.parity_data import COUNTRIES, DEVICES, WORKLOAD, build_bundle
from tests.tamper import plant_marker

pytestmark = pytest.mark.spark

SERVE_DAY = dt.date(2024, 11, 21)
MIDNIGHT = dt.datetime(2024, 11, 21, tzinfo=dt.UTC)
VERSIONS_AT = [MIDNIGHT - dt.timedelta(days=1), MIDNIGHT + dt.timedelta(hours=8), MIDNIGHT + dt.timedelta(hours=16)]
CUSTOMERS = [f"c{i:03d}" for i in range(40)]
N = 1000


@pytest.fixture(scope="module")
def settings(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        yield load_settings()


def _history(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Three versions of each customer's features (as of the day before, 08:00 and 16:00)."""
    return {
        c: [
            {
                "as_of": at,
                "f001": round(rng.uniform(10, 900), 4),
                "f005": round(rng.uniform(0, 3000), 2),
                "f004": rng.choice(COUNTRIES),
            }
            for at in VERSIONS_AT
        ]
        for c in CUSTOMERS
    }


def _current(versions: list[dict[str, Any]], ts: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    valid = [v for v in versions if v["as_of"] <= ts]
    return valid[-1], valid[:-1]


def _logs(bundle: Bundle, history: dict[str, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], dict[str, Counter]]:
    """Logged predictions, and per logged model version what was injected into them."""
    rng = random.Random(5)
    wrong = copy.copy(bundle)
    wrong.weights = bundle.weights * 1.25  # another model, served under v1's name
    tally: dict[str, Counter] = {"v0": Counter(), "v1": Counter()}
    rows = []
    for k in range(N):
        ts = MIDNIGHT + dt.timedelta(seconds=rng.randrange(86_400))
        version = "v0" if k % 50 == 5 else "v1"
        seen = tally[version]
        seen["rows"] += 1
        customer = "c999" if k % 50 == 7 else CUSTOMERS[k % len(CUSTOMERS)]
        known = customer in history
        current, older = _current(history[customer], ts) if known else ({"f001": 55.5, "f005": 12.0, "f004": "FR"}, [])
        seen["known"] += known
        features: dict[str, str] = {
            "customer": customer,
            "f001": repr(current["f001"]),
            "f002": str(rng.randrange(40)),
            "f003": rng.choice(DEVICES),
            "f004": current["f004"],
            "f005": repr(current["f005"]),
        }
        if k % 10 == 1:  # the feature store timed out: serving went on without f001
            del features["f001"]
            seen["timeouts"] += known
        elif k % 10 == 2 and older and older[-1]["f005"] != current["f005"]:  # a stale cache
            features["f005"] = repr(older[-1]["f005"])
            seen["stale"] += known
        elif k % 10 == 3:  # a value the offline table never held
            features["f004"] = "XX"
            seen["different"] += known
        request: dict[str, Any] = {
            name: int(v) if name == "f002" else float(v) if name in ("f001", "f005") else v
            for name, v in features.items()
        }
        request["event_ts"] = ts
        out = bundle.predict(request)
        if version == "v1" and k % 25 == 4:
            out = wrong.predict(request)
            seen["wrong_model"] += abs(out["score"] - bundle.predict(request)["score"]) >= 1e-6
        rows.append(
            {
                "event_id": f"srv-{k:05d}",
                "event_ts": ts,
                "event_date": SERVE_DAY,
                "workload_id": WORKLOAD,
                "client_id": "web",
                "request_id": f"r-{k}",
                "model_name": "fraud",
                "model_version": version,
                "transform_hash": bundle.transform_hash,
                "features": features,
                "outputs": {"score": out["score"], "label": float(out["label"])},
                "sampling_rate": 1.0,
                "parse_run_id": "parse-x",
                "parsed_at": ts,
            }
        )
    return rows, tally


def _hostile(settings: Settings, bundle: Bundle, root: Path) -> tuple[dict[tuple[str, str], int], Path]:
    """Bundles whose code would leave a marker file, reached by names from the logs: a relative
    path out of the folder, absolute paths, a symlink out of the folder (with a matching record)
    and a bundle edited after its build was recorded. Returns (model name, version) → rows
    logged, and the marker."""
    artifacts, marker = settings.artifacts_path(), root / "imported.txt"
    hostile = root / "evil-v1"
    shutil.copytree(bundle.path, hostile)
    plant_marker(hostile, marker)
    shutil.copytree(hostile, artifacts / "x-v1")  # bundles/../x-v1
    (artifacts / "bundles" / "link-v1").symlink_to(hostile, target_is_directory=True)
    write_bundle_record(settings, "link", "v1", bundle_content_hash(hostile))
    edited = artifacts / "bundles" / "fraud-v9"
    shutil.copytree(bundle.path, edited)
    write_bundle_record(settings, "fraud", "v9", bundle_content_hash(edited))
    plant_marker(edited, marker)
    names = [("../x", "v1"), ("/etc", "v1"), (str(root / "evil"), "v1"), ("link", "v1"), ("fraud", "v9")]
    return {name: 2 + i for i, name in enumerate(names)}, marker


def _hostile_rows(bundle: Bundle, counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    request = {"f001": 1.0, "f002": 3, "f003": "ios", "f004": "FR", "f005": 2.0, "event_ts": MIDNIGHT}
    out = bundle.predict(request)
    return [
        {
            "event_id": f"hostile-{name}-{version}-{k}",
            "event_ts": MIDNIGHT + dt.timedelta(minutes=k),
            "event_date": SERVE_DAY,
            "workload_id": WORKLOAD,
            "client_id": "web",
            "request_id": None,
            "model_name": name,
            "model_version": version,
            "transform_hash": bundle.transform_hash,
            # an entity the feature table does not know: these rows only meet the outputs check
            "features": {**{k: str(v) for k, v in request.items() if k != "event_ts"}, "customer": "c999"},
            "outputs": {"score": out["score"], "label": float(out["label"])},
            "sampling_rate": 1.0,
            "parse_run_id": "parse-x",
            "parsed_at": MIDNIGHT,
        }
        for (name, version), n in counts.items()
        for k in range(n)
    ]


@pytest.fixture(scope="module")
def logged(spark, settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    from jobs.lib.delta_io import ensure_table

    bundle = Bundle.load(build_bundle(spark, settings, tmp_path_factory.mktemp("spec")))
    history = _history(random.Random(9))
    rows, expected = _logs(bundle, history)
    hostile, marker = _hostile(settings, bundle, tmp_path_factory.mktemp("hostile"))
    rows += _hostile_rows(bundle, hostile)
    expected["hostile"], expected["marker"] = hostile, marker  # type: ignore[assignment]
    path = ensure_table(spark, settings, SILVER_PREDICTIONS)
    spark.createDataFrame(
        [tuple(r[c] for c in SILVER_PREDICTIONS.column_names) for r in rows], SILVER_PREDICTIONS.spark_schema()
    ).write.format("delta").mode("append").save(path)
    table = str(tmp_path_factory.mktemp("features") / "customers")
    spark.createDataFrame(
        [(c, v["as_of"], v["f001"], v["f005"], v["f004"]) for c, vs in history.items() for v in vs],
        "entity_id string, as_of timestamp, f001 double, f005 double, f004 string",
    ).write.format("delta").save(table)
    return table, expected


def _run(table: str, *extra: str) -> int:
    from jobs.check_serving_skew import main

    return main(
        ["--date", str(SERVE_DAY), "--workload", WORKLOAD, "--feature-table", table, "--entity-key", "customer", *extra]
    )


def _rows(spark, settings) -> dict[tuple[str, str, str], Any]:  # type: ignore[no-untyped-def]
    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.serving_skew"))
    return {(r["check"], r["model_version"], r["subject"]): r for r in df.collect()}


def test_injected_mismatches_are_counted(spark, settings, logged) -> None:  # type: ignore[no-untyped-def]
    table, tally = logged
    hostile, marker = tally.pop("hostile"), tally.pop("marker")
    v0, v1 = tally["v0"], tally["v1"]
    assert v1["timeouts"] > 0 and v1["stale"] > 0 and v1["different"] > 0 and v1["wrong_model"] > 0
    assert _run(table) == 0
    assert _run(table, "--fail-on-mismatch") == 1  # the gate form: something differs
    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.serving_skew"))
    all_rows = df.collect()
    refused = {
        (r["model_name"], r["model_version"]): r
        for r in all_rows
        if r["model_name"] != "fraud" or r["model_version"] == "v9"
    }
    rows = {(r["check"], r["model_version"], r["subject"]): r for r in all_rows if r["model_name"] == "fraud"}
    assert len(all_rows) == len(rows) - 1 + len(refused), "a re-run replaces the day's rows"

    # names from the logs never choose code: each hostile one is no_bundle, one line, nothing imported
    assert not marker.exists(), "a hostile bundle's code ran"
    assert set(refused) == set(hostile)
    for key, n in hostile.items():
        r = refused[key]
        assert (r["check"], r["subject"], r["status"], r["rows"], r["mismatched"]) == (
            "outputs",
            "bundle",
            "no_bundle",
            n,
            n,
        )
        error = json.loads(r["details_json"])["error"]
        assert "\n" not in error
    assert "not a valid name" in json.loads(refused[("../x", "v1")]["details_json"])["error"]
    assert "outside" in json.loads(refused[("link", "v1")]["details_json"])["error"]
    assert "differs from the one recorded" in json.loads(refused[("fraud", "v9")]["details_json"])["error"]

    score, label = rows[("outputs", "v1", "score")], rows[("outputs", "v1", "label")]
    assert (score["rows"], score["mismatched"], score["status"]) == (v1["rows"], v1["wrong_model"], "mismatch")
    assert score["max_abs_diff"] >= 1e-6 and label["rows"] == v1["rows"]
    assert label["mismatched"] <= score["mismatched"]
    no_bundle = rows[("outputs", "v0", "bundle")]
    assert (no_bundle["status"], no_bundle["rows"], no_bundle["mismatched"]) == ("no_bundle", v0["rows"], v0["rows"])

    for version, seen in tally.items():
        f001, f005, f004 = (rows[("features", version, f)] for f in ("f001", "f005", "f004"))
        for r in (f001, f005, f004):
            assert r["rows"] == seen["known"]  # rows of an entity the table does not know are not comparable
        assert (f001["missing_in_serving"], f001["stale"], f001["different"]) == (seen["timeouts"], 0, 0)
        assert (f005["missing_in_serving"], f005["stale"], f005["different"]) == (0, seen["stale"], 0)
        assert (f004["missing_in_serving"], f004["stale"], f004["different"]) == (0, 0, seen["different"])
        assert f001["mismatch_rate"] == pytest.approx(seen["timeouts"] / seen["known"])
    assert rows[("features", "v1", "f001")]["status"] == "mismatch"


def test_a_day_with_nothing_logged_fails_the_gate_and_keeps_earlier_results(spark, settings, logged) -> None:  # type: ignore[no-untyped-def]
    from jobs.lib.delta_io import ensure_table
    from schemas.metrics import METRICS_SERVING_SKEW

    table, _ = logged
    day = SERVE_DAY + dt.timedelta(days=1)  # no predictions logged that day
    path = ensure_table(spark, settings, METRICS_SERVING_SKEW)
    earlier = {c: None for c in METRICS_SERVING_SKEW.column_names}
    earlier.update(run_id="earlier", checked_at=MIDNIGHT, event_date=day, workload_id=WORKLOAD, check="outputs")
    earlier.update(model_name="fraud", model_version="v1", subject="score", rows=10, mismatched=0, tolerance=1e-6)
    earlier["status"] = "ok"
    spark.createDataFrame(
        [tuple(earlier[c] for c in METRICS_SERVING_SKEW.column_names)], METRICS_SERVING_SKEW.spark_schema()
    ).write.format("delta").mode("append").save(path)
    args = ["--date", str(day), "--workload", WORKLOAD, "--feature-table", table, "--entity-key", "customer"]
    from jobs.check_serving_skew import main

    assert main([*args, "--fail-on-mismatch"]) == EXIT_NO_DATA == 3
    assert main(args) == 0  # not asked to gate: a warning only
    kept = spark.read.format("delta").load(path).where(f"event_date = '{day}'").collect()
    assert [r["run_id"] for r in kept] == ["earlier"]
