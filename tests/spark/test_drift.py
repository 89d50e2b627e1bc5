"""Drift metrics on real Delta tables against reference implementations: KS = scipy's
``ks_2samp`` statistic (exact mode, to 1e-12; bounded mode brackets it), JS = scipy's
``jensenshannon(base=2)`` and its square, PSI = the documented formula in numpy on the stored
edges — on normal, skewed, heavily tied, mostly-null and constant features, unseen categories,
list-valued categories and an empty window. Injected drift is flagged exactly where it was
injected; re-running a window replaces its rows."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from jobs import compute_drift, profile_reference
from jobs.lib.job import EXIT_NO_DATA
from skewguard.config import load_settings
from tests.helpers import conf_overlay
from tests.spark.test_parity import _tracked

pytestmark = pytest.mark.spark

REF_DAY, CUR_DAY, EMPTY_DAY = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 9)
NUMERIC = ["normal", "skewed", "ties", "nullish", "constant", "shifted"]
CATEGORICAL = ["device", "country", "tools"]
FEATURES = ",".join([f"{n}:numeric" for n in NUMERIC] + [f"{c}:categorical" for c in CATEGORICAL])
DEVICES = ["ios", "android", "web", "tv"]
COUNTRIES = [f"c{i:02d}" for i in range(30)]


def _side(rng: np.random.Generator, n: int, drifted: bool) -> dict[str, Any]:
    shift = 1.0 if drifted else 0.0
    cols: dict[str, Any] = {
        "normal": rng.normal(0, 1, n),
        "skewed": rng.lognormal(0, 1.5, n),
        "ties": np.floor(rng.random(n) * 6).astype(float),
        "nullish": np.where(rng.random(n) < 0.7, np.nan, rng.normal(5, 2, n)),
        "constant": np.full(n, 3.0),
        "shifted": rng.normal(shift, 1, n),
    }
    weights = np.array([0.5, 0.3, 0.15, 0.05]) if not drifted else np.array([0.2, 0.3, 0.15, 0.35])
    cols["device"] = [str(x) for x in rng.choice(DEVICES, n, p=weights)]
    # Zipf-like countries; the current side also sees countries the reference never had
    pool = (["zz1", "zz2"] if drifted else []) + COUNTRIES
    p = 1.0 / np.arange(1, len(pool) + 1)
    countries = [str(x) for x in rng.choice(pool, n, p=p / p.sum())]
    cols["country"] = [None if rng.random() < 0.05 else c for c in countries]
    tools = [["search", "book", "cancel"][: int(k)] for k in rng.integers(0, 4, n)]
    cols["tools"] = [None if rng.random() < 0.1 else t for t in tools]
    return cols


def _values(table: dict[str, Any], name: str) -> np.ndarray:
    arr = np.asarray(table[name], dtype=float)
    return arr[~np.isnan(arr)]


@pytest.fixture(scope="module")
def data(spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    import pandas as pd

    rng = np.random.default_rng(11)
    ref, cur = _side(rng, 4000, False), _side(rng, 3000, True)
    frames = []
    for day, cols, n in ((REF_DAY, ref, 4000), (CUR_DAY, cur, 3000)):
        frame = pd.DataFrame(cols)
        frame.insert(0, "event_date", day)
        frame.insert(1, "workload_id", "w1")
        frame.insert(2, "model_version", ["v1" if i % 3 else "v2" for i in range(n)])
        frames.append(frame)
    path = str(tmp_path_factory.mktemp("drift") / "features")
    schema = ", ".join(
        ["event_date date", "workload_id string", "model_version string"]
        + [f"{n} double" for n in NUMERIC]
        + ["device string", "country string", "tools array<string>"]
    )
    spark.createDataFrame(pd.concat(frames, ignore_index=True), schema).write.format("delta").partitionBy(
        "event_date"
    ).save(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        mp.setenv("SKEWGUARD_MLFLOW_ENABLED", "true")  # a drift run is read back from MLflow
        settings = load_settings()
        code = profile_reference.main(
            ["--table", path, "--name", "ref", "--start", str(REF_DAY), "--end", str(REF_DAY), "--features", FEATURES]
        )
        assert code == 0
        yield {"path": path, "ref": ref, "cur": cur, "settings": settings}


def _numeric_props(values: Any, edges: np.ndarray) -> np.ndarray:
    """Proportions on the PSI bins (``searchsorted`` on the edges, then the null bin), epsilon for empty ones."""
    arr = np.asarray(values, dtype=float)
    valid = arr[~np.isnan(arr)]
    counts = np.append(
        np.bincount(np.searchsorted(edges, valid, "left"), minlength=edges.size + 1), np.isnan(arr).sum()
    )
    out = counts / counts.sum()
    return np.where(out == 0, 1e-4, out)


def _category_counts(values: list[Any], stored: list[str], known: set[str], is_list: bool) -> np.ndarray:
    """Counts on the stored category bins: top K, ``__other__`` (known), ``__null__``, ``__unseen__``."""
    top = set(stored[:-3])
    counts: Counter[str] = Counter()
    for v in values:
        items = v if is_list else [v]
        if items is None or len(items) == 0:
            counts["__null__"] += 1
            continue
        for item in items:
            if item is None:
                counts["__null__"] += 1
            elif item in top:
                counts[item] += 1
            else:
                counts["__other__" if item in known else "__unseen__"] += 1
    return np.array([counts[k] for k in stored], dtype=float)


def _drift_rows(spark, settings, day: dt.date, **where: str) -> dict[tuple[str, str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.drift"))
    df = df.where((F.col("window_start") == F.lit(day)) & (F.col("slice_column") == F.lit(where.get("slice", ""))))
    return {(r["feature"], r["metric"]): r.asDict() for r in df.collect()}


def _profile(spark, settings) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.reference_profiles"))
    return {r["feature"]: r.asDict() for r in df.where("reference = 'ref'").collect()}


def test_exact_ks_equals_scipy_and_js_psi_match_references(spark, data, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the walk counts sub-bins first, as it does on large windows (the other exact tests walk whole bins)
    monkeypatch.setenv("SKEWGUARD_CONF_DIR", str(conf_overlay(tmp_path, {"drift": {"ks_refine_above": 0}})))
    args = ["--reference", "ref", "--date", str(CUR_DAY), "--table", data["path"], "--ks-mode", "exact"]
    # features are in alert, but not the dataset verdict (3 of 9 < drift.drift_share): the scoped gate passes
    assert compute_drift.main([*args, "--fail-on", "dataset"]) == 0
    rows = _drift_rows(spark, data["settings"], CUR_DAY)
    profile = _profile(spark, data["settings"])
    ref, cur = data["ref"], data["cur"]
    for name in NUMERIC:
        expected = ks_2samp(_values(ref, name), _values(cur, name)).statistic
        assert rows[(name, "ks")]["value"] == pytest.approx(expected, abs=1e-12), name
        # PSI: the documented formula on the stored edges, null bin included, epsilon 1e-4
        edges = np.array(profile[name]["bin_edges"])

        r, c = _numeric_props(ref[name], edges), _numeric_props(cur[name], edges)
        assert rows[(name, "psi")]["value"] == pytest.approx(float(np.sum((c - r) * np.log(c / r))), abs=1e-12)
        null_delta = np.isnan(np.asarray(cur[name], float)).mean() - np.isnan(np.asarray(ref[name], float)).mean()
        assert rows[(name, "null_rate_delta")]["value"] == pytest.approx(null_delta, abs=1e-12)
        # Wasserstein-1 over the reference's std: scipy's on the raw values lies inside the
        # bounds from the fine histograms, which are a small fraction of a std wide
        if name == "constant":
            assert rows[(name, "wasserstein_distance")]["value"] is None
            continue
        r_vals, c_vals = _values(ref, name), _values(cur, name)
        assert profile[name]["std"] == pytest.approx(np.std(r_vals), rel=1e-9)
        exact = wasserstein_distance(r_vals, c_vals) / np.std(r_vals)
        w = rows[(name, "wasserstein_distance")]
        assert w["lower"] - 1e-12 <= exact <= w["upper"] + 1e-12, (name, exact, w["lower"], w["upper"])
        # each fine bin leaves open at most its share of both sides times its width: tight where
        # the current lies within the reference's range; the lognormal's wide tail bins and the
        # shifted side's mass past the reference's largest value leave it wider (documented)
        wide = name in ("skewed", "shifted")
        assert w["upper"] - w["lower"] <= (0.15 if wide else 0.03), (name, w["lower"], w["upper"])
        assert w["value"] == pytest.approx((w["lower"] + w["upper"]) / 2)
        assert w["p_value"] == rows[(name, "ks")]["p_value"]
    assert rows[("constant", "ks")]["value"] == 0.0
    assert rows[("shifted", "wasserstein_distance")]["value"] == pytest.approx(1.0, abs=0.1)  # moved by 1 sd
    assert rows[("normal", "count_delta")]["value"] == pytest.approx(3000 / 4000 - 1)

    for name in CATEGORICAL:
        stored = profile[name]["categories"]
        known = set(stored[:-3]) | set(profile[name]["other_categories"])

        p, q = (_category_counts(side[name], stored, known, name == "tools") for side in (ref, cur))
        distance = jensenshannon(p, q, base=2)
        assert rows[(name, "js_distance")]["value"] == pytest.approx(distance, abs=1e-12)
        assert rows[(name, "js_divergence")]["value"] == pytest.approx(distance**2, abs=1e-12)
        pn, qn = np.where(p == 0, 1e-4 * p.sum(), p) / p.sum(), np.where(q == 0, 1e-4 * q.sum(), q) / q.sum()
        assert rows[(name, "psi")]["value"] == pytest.approx(float(np.sum((qn - pn) * np.log(qn / pn))), abs=1e-12)
        # the distances from the same bins: numpy's formulas and scipy's χ² test
        pp, qp = p / p.sum(), q / q.sum()
        assert rows[(name, "tv_distance")]["value"] == pytest.approx(0.5 * np.abs(pp - qp).sum(), abs=1e-12)
        assert rows[(name, "l_infinity_distance")]["value"] == pytest.approx(np.abs(pp - qp).max(), abs=1e-12)
        hellinger = np.linalg.norm(np.sqrt(pp) - np.sqrt(qp)) / np.sqrt(2)
        assert rows[(name, "hellinger_distance")]["value"] == pytest.approx(hellinger, abs=1e-12)
        table = np.vstack([p, q])[:, (p + q) > 0]
        chi = chi2_contingency(table, correction=False)
        assert rows[(name, "chi_squared_test")]["value"] == pytest.approx(chi.statistic, abs=1e-9)
        assert rows[(name, "chi_squared_test")]["p_value"] == pytest.approx(chi.pvalue, abs=1e-12)
    unseen = profile["country"]["categories"].index("__unseen__")
    assert rows[("country", "psi")]["cur_props"][unseen] > 0  # zz1, zz2 are new


def test_bounded_ks_brackets_scipy_and_flags_exactly_the_drift(spark, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = ["--reference", "ref", "--date", str(CUR_DAY), "--table", data["path"]]
    assert compute_drift.main([*args, "--fail-on-alert"]) == 1
    rows = _drift_rows(spark, data["settings"], CUR_DAY)
    for name in NUMERIC:
        row = rows[(name, "ks")]
        expected = ks_2samp(_values(data["ref"], name), _values(data["cur"], name)).statistic
        assert row["lower"] - 1e-12 <= expected <= row["upper"] + 1e-12, name
        # at most about one fine bin's share of each side (test profile: 512 fine bins)
        assert row["upper"] - row["lower"] <= 2.5 / 512, name
    flagged = {(f, metric) for (f, metric), r in rows.items() if r["status"] in ("warn", "alert") and f != "*"}
    # the injected drift: shifted (+1 sd), device mix, new countries (unseen), and the count change is info only
    assert {f for f, _ in flagged} == {"shifted", "device", "country"}
    assert rows[("shifted", "ks")]["status"] == "alert" and rows[("shifted", "psi")]["status"] == "alert"
    assert rows[("device", "js_distance")]["status"] == "alert"
    # past the threshold and the noise floor, with the p-value next to it (in the table)
    shifted = rows[("shifted", "ks")]
    assert shifted["reason"] == "material" and shifted["alpha"] == pytest.approx(0.01 / 3)  # PSI, KS, null rate
    assert shifted["noise_floor"] < shifted["lower"] and shifted["p_value"] < 1e-12
    assert rows[("normal", "psi")]["reason"] in ("below threshold", "below noise")
    assert rows[("ties", "count_delta")]["status"] == "info"
    # the run in MLflow: what it compared, how many alert lines, the HTML report itself
    run_id = rows[("shifted", "ks")]["run_id"]
    client, run = _tracked(data["settings"], "compute_drift", run_id)
    folder = data["settings"].drift_report_root() / run_id
    summary = json.loads((folder / "summary.json").read_text())
    assert (run.data.params["reference"], run.data.params["compare"], run.data.params["ks_mode"]) == (
        "ref", "reference", "bounded",
    )  # fmt: skip
    assert run.data.metrics["alerts"] == len(summary["alerts"]) > 0 and run.data.metrics["dataset_alerts"] == 0
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report")] == ["report/report.html"]
    logged = client.download_artifacts(run.info.run_id, "report/report.html", str(tmp_path / "from-mlflow"))
    assert Path(logged).read_bytes() == (folder / "report.html").read_bytes()

    # the dataset verdict: 3 of the 9 features in alert is below drift.drift_share (0.5), so a
    # gate scoped to it passes; at a share of 0.3 the same window fails it
    verdict = rows[("*", "dataset_drift")]
    assert verdict["feature_type"] == "dataset" and verdict["status"] == "ok"
    in_alert = sorted({f for (f, _), r in rows.items() if r["status"] == "alert" and f != "*"})
    assert (verdict["ref_count"], verdict["cur_count"]) == (len(NUMERIC) + len(CATEGORICAL), len(in_alert))
    assert verdict["value"] == pytest.approx(len(in_alert) / 9) and len(in_alert) == 3
    conf = tmp_path / "conf"
    shutil.copytree(Path(__file__).parents[2] / "conf", conf)
    base = conf / "base.yaml"
    base.write_text(base.read_text().replace("drift_share: 0.5", "drift_share: 0.3"))
    # the same window again replaces its rows (one run's rows, no doubles)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_CONF_DIR", str(conf))
        assert compute_drift.main([*args, "--fail-on", "dataset"]) == 1
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(data["settings"].lakehouse.table_path("metrics.drift"))
    mine = df.where(F.col("window_start") == F.lit(CUR_DAY))
    assert mine.select("run_id").distinct().count() == 1
    assert mine.count() == len(rows)


def test_undrifted_window_and_slices_and_empty_window(spark, data) -> None:  # type: ignore[no-untyped-def]
    from jobs.drift.drift_run import compute_drift as run_drift
    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow

    settings = data["settings"]
    # the reference window against itself: nothing drifts, KS is 0 (sub-bins counted first, per scope)
    sliced = settings.model_copy(
        update={"drift": settings.drift.model_copy(update={"slice_columns": ["model_version"], "ks_refine_above": 0})}
    )
    same = run_drift(spark, sliced, "ref", DayWindow(REF_DAY, REF_DAY), RunRecord("t"), data["path"], "exact")
    assert same.phases["ks_sub_bins_walked"] > 0
    flagged = [r for r in same.rows if r["slice_value"] == "" and r["status"] in ("warn", "alert")]
    assert flagged == []
    ks = {(r["feature"], r["slice_value"]): r["value"] for r in same.rows if r["metric"] == "ks"}
    assert all(ks[(name, "")] == 0.0 for name in NUMERIC)
    # a slice is compared with the workload's reference: v2 is a third of the rows
    ref = data["ref"]
    v2 = np.asarray(ref["normal"])[[i % 3 == 0 for i in range(4000)]]
    assert ks[("normal", "v2")] == pytest.approx(ks_2samp(_values(ref, "normal"), v2).statistic, abs=1e-12)
    # an empty window: rows with status empty, no value, no failure
    empty = run_drift(spark, settings, "ref", DayWindow(EMPTY_DAY, EMPTY_DAY), RunRecord("t"), data["path"])
    assert {r["status"] for r in empty.rows if r["metric"] != "count_delta"} == {"empty"}
    assert all(r["value"] is None for r in empty.rows if r["metric"] in ("psi", "ks", "js_distance"))
    assert next(r["value"] for r in empty.rows if r["metric"] == "count_delta") == -1.0


def test_an_empty_window_fails_the_gate_and_keeps_earlier_results(spark, data) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    settings = data["settings"]
    drift = settings.lakehouse.table_path("metrics.drift")
    args = ["--reference", "ref", "--date", str(CUR_DAY)]
    if not spark.read.format("delta").load(drift).where(F.col("window_start") == F.lit(CUR_DAY)).count():
        assert compute_drift.main([*args, "--table", data["path"]]) == 0  # when run alone
    before = {r["run_id"] for r in spark.read.format("delta").load(drift).collect()}
    # the same window from a table whose current day is gone (e.g. retention): nothing to check
    gone = str(Path(data["path"]).parent / "reference-day-only")
    spark.read.format("delta").load(data["path"]).where(F.col("event_date") == F.lit(REF_DAY)).write.format(
        "delta"
    ).save(gone)
    assert compute_drift.main([*args, "--table", gone, "--fail-on-alert"]) == EXIT_NO_DATA == 3
    assert compute_drift.main([*args, "--table", gone]) == 0  # not asked to gate: a warning only
    assert {r["run_id"] for r in spark.read.format("delta").load(drift).collect()} == before


def test_bad_references_fail_with_one_line_and_write_nothing(spark, data, capsys) -> None:  # type: ignore[no-untyped-def]
    from jobs.lib.delta_io import ensure_table
    from schemas.drift_tables import METRICS_DRIFT

    settings = data["settings"]
    before = spark.read.format("delta").load(ensure_table(spark, settings, METRICS_DRIFT)).count()
    assert compute_drift.main(["--reference", "missing", "--date", str(CUR_DAY), "--table", data["path"]]) == 2
    assert "no reference profile named 'missing'" in capsys.readouterr().err
    assert spark.read.format("delta").load(settings.lakehouse.table_path("metrics.drift")).count() == before
    # a declared feature the table does not have
    args = ["--table", data["path"], "--name", "bad", "--features", "normal:numeric,absent:numeric"]
    assert profile_reference.main(args) == 1
    assert "has no column 'absent'" in capsys.readouterr().err
    assert profile_reference.main(["--table", data["path"], "--name", "bad", "--features", "normal:number"]) == 2


def test_no_drift_split_of_a_small_window_stays_quiet(spark, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two random halves of the same 600 rows (30 numeric features: normal, heavy-tailed and
    heavily tied) are not drift: KS's critical value at 300 vs 300 (≈ 0.14 at α / 3, each of a
    feature's three tests) is far above its 0.05 warn threshold, so at most what α allows may
    warn — and every KS p-value is scipy's ``ks_2samp`` (asymptotic) p-value."""
    import pandas as pd

    from jobs.drift.drift_run import compute_drift as run_drift
    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow

    rng = np.random.default_rng(20)
    n, names = 600, [f"x{i:02d}" for i in range(30)]
    cols = {
        name: (rng.normal(0, 1, n), rng.standard_t(2, n), np.floor(rng.random(n) * 8))[i % 3].astype(float)
        for i, name in enumerate(names)
    }
    frame = pd.DataFrame(cols)
    frame.insert(0, "event_date", [REF_DAY if i % 2 else CUR_DAY for i in rng.permutation(n)])
    frame.insert(1, "workload_id", "w1")
    path = str(tmp_path / "split")
    schema = ", ".join(["event_date date", "workload_id string", *[f"{c} double" for c in names]])
    spark.createDataFrame(frame, schema).write.format("delta").save(path)
    features = ",".join(f"{c}:numeric" for c in names)
    day = ["--start", str(REF_DAY), "--end", str(REF_DAY)]
    assert profile_reference.main(["--table", path, "--name", "split", *day, "--features", features]) == 0
    result = run_drift(spark, data["settings"], "split", DayWindow(CUR_DAY, CUR_DAY), RunRecord("t"), path, "exact")
    flagged = {r["feature"] for r in result.rows if r["status"] in ("warn", "alert")}
    assert len(flagged) <= 1, sorted(flagged)  # α = 0.01 per feature: ≤ 0.3 of 30 expected
    ref_side, cur_side = frame[frame.event_date == REF_DAY], frame[frame.event_date == CUR_DAY]
    for r in (r for r in result.rows if r["metric"] == "ks"):
        expected = ks_2samp(ref_side[r["feature"]], cur_side[r["feature"]], method="asymp")
        assert r["value"] == pytest.approx(expected.statistic, abs=1e-12)
        assert r["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)
        assert r["noise_floor"] > r["warn_threshold"]
        assert r["reason"] == ("material" if r["status"] in ("warn", "alert") else "below noise"
                               if abs(r["value"]) > r["warn_threshold"] else "below threshold")  # fmt: skip


def test_consecutive_drift_flags_the_move_and_the_move_back_and_trends_read_earlier_runs(spark, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Four days of one workload, the third moved: each day against the day before
    (``--compare previous``, binned on the first day's profile) flags the move and the move
    back, not the quiet day; KS equals scipy's on the two days' raw values; the last report's
    trend points are the earlier runs' rows; a baseline run of the same window is kept apart."""
    import re

    import pandas as pd
    from pyspark.sql import functions as F

    rng = np.random.default_rng(5)
    days = [dt.date(2024, 4, d) for d in (1, 2, 3, 4)]
    moved = days[2]
    frames = []
    for day in days:
        shift = day == moved
        frames.append(pd.DataFrame({
            "event_date": day, "workload_id": "w1", "x": rng.normal(1.5 if shift else 0.0, 1, 400),
            "c": rng.choice(["a", "b", "c"], 400, p=[0.2, 0.3, 0.5] if shift else [0.6, 0.3, 0.1]),
        }))  # fmt: skip
    frame = pd.concat(frames, ignore_index=True)
    path = str(tmp_path / "moving")
    spark.createDataFrame(frame, "event_date date, workload_id string, x double, c string").write.format("delta").save(
        path
    )
    first = ["--start", str(days[0]), "--end", str(days[0])]
    assert (
        profile_reference.main(["--table", path, "--name", "moving", *first, "--features", "x:numeric,c:categorical"])
        == 0
    )
    common = ["--reference", "moving", "--table", path]
    assert compute_drift.main([*common, "--date", str(moved)]) == 0  # a baseline run of the moved day
    for day in days[1:]:
        argv = [*common, "--date", str(day), "--compare", "previous", "--ks-mode", "exact"]
        assert compute_drift.main([*argv, "--report-dir", str(tmp_path / str(day))]) == 0

    drift_df = spark.read.format("delta").load(data["settings"].lakehouse.table_path("metrics.drift"))
    mine = drift_df.where((F.col("reference") == "moving") & (F.col("slice_column") == ""))
    rows = {(r["window_start"], r["drift_type"], r["feature"], r["metric"]): r for r in mine.collect()}
    ks = {d: rows[(d, "consecutive", "x", "ks")] for d in days[1:]}
    for before, day in itertools.pairwise(days):
        expected = ks_2samp(frame[frame.event_date == before].x, frame[frame.event_date == day].x).statistic
        assert ks[day]["value"] == pytest.approx(expected, abs=1e-12), day
    assert [ks[d]["status"] for d in days[1:]] == ["ok", "alert", "alert"]  # the move and the move back
    js = [rows[(d, "consecutive", "c", "js_distance")]["status"] for d in days[1:]]
    assert js == ["ok", "alert", "alert"]
    assert [rows[(d, "consecutive", "*", "dataset_drift")]["status"] for d in days[1:]] == ["ok", "alert", "alert"]
    assert rows[(days[1], "consecutive", "x", "count_delta")]["value"] == 0.0  # 400 rows against 400
    # the baseline run of the moved day is still there, next to its consecutive rows
    assert rows[(moved, "baseline", "x", "ks")]["run_id"] != ks[moved]["run_id"]

    # the last report's trend of x: the KS of each consecutive run, oldest first, with the thresholds
    report = (tmp_path / str(days[3]) / "report.html").read_text()
    section = re.search(r'<section class="feature"[^>]*data-feature="x".*?</section>', report, re.S)
    assert section is not None
    trend = re.search(r'<figure class="chart trend-chart"[^>]*>.*?</figure>', section.group(0), re.S)
    assert trend is not None and 'data-metric="ks"' in trend.group(0)
    assert f'data-alert="{ks[days[3]]["alert_threshold"]!r}"' in trend.group(0)
    points = re.findall(r'data-window="([^"]+)" data-value="([^"]+)" data-status="([^"]+)"', trend.group(0))
    assert [(w, float(v), s) for w, v, s in points] == [(str(d), ks[d]["value"], ks[d]["status"]) for d in days[1:]]
    # the chart draws one point per window (the browser tests check where)
    assert [int(i) for i in re.findall(r'<g id="[^"]*-trend-point-(\d+)"', trend.group(0))] == [0, 1, 2]
