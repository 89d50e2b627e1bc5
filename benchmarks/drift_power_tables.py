"""The tables of bench-drift-power: the sweep's chunks merged into cells (distribution × n ×
effect), the false-alarm and detection tables with Evidently's rates next to skewguard's, and
the headline figures."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from benchmarks.drift_power_data import DISTRIBUTIONS, population

__all__ = ["DETECTION_TARGET", "EVIDENTLY", "METHOD", "NS", "TARGET", "headline", "merged", "tables"]

NS = (100, 1_000, 10_000, 100_000)
TARGET, DETECTION_TARGET = 0.02, 0.95


def _rate(k: int, n: int) -> dict[str, Any]:
    """A share of ``n`` splits with its binomial standard error; with no flag at all that error
    is 0, so the rule of three bounds the rate instead (``upper_95`` = 3 / n)."""
    rate = k / n
    return {"rate": rate, "flagged": k, "splits": n, "se": math.sqrt(rate * (1 - rate) / n),
            **({"upper_95": 3 / n} if k == 0 else {})}  # fmt: skip


def merged(done: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """(dist, n, effect) → skewguard's tallies and Evidently's counts over every chunk; the checks."""
    cells: dict[tuple[str, int, str], dict[str, Any]] = {}
    checks: Counter[str] = Counter()
    ks_error = 0.0
    for chunk, verdict in zip(done, verdicts, strict=True):
        for effect, tally in chunk["tallies"].items():
            empty = {"splits": 0, "flagged": 0, "alert": 0, "metrics": {}, "ev": Counter(), "methods": Counter()}
            cell = cells.setdefault((chunk["dist"], chunk["n"], effect), empty)
            for k in ("splits", "flagged", "alert"):
                cell[k] += tally[k]
            for metric, per in tally["metrics"].items():
                cell["metrics"].setdefault(metric, Counter()).update(per)
        for (_, cur_col, _), drifted, method in zip(
            chunk["entry"]["pairs"], verdict["drifted"], verdict["methods"], strict=True
        ):
            cell = cells[(chunk["dist"], chunk["n"], cur_col[1:].rsplit(".", 1)[0])]
            cell["ev"].update(splits=1, drifted=int(drifted))
            cell["methods"][method] += 1
        ks_error = max(ks_error, chunk["checks"].pop("ks_max_abs_error"))
        checks.update(chunk["checks"])
    return cells, {"ks_exact_vs_scipy_max_abs_error": ks_error, **checks}


def _cell_result(cell: dict[str, Any]) -> dict[str, Any]:
    n = cell["splits"]
    return {
        **_rate(cell["flagged"], n),
        "alert": cell["alert"] / n,
        "per_metric": {m: {k: v / n for k, v in per.items()} for m, per in sorted(cell["metrics"].items())},
        "evidently": {**_rate(cell["ev"]["drifted"], cell["ev"]["splits"]), "methods": dict(cell["methods"])},
    }


def tables(cells: dict[Any, Any], detect: dict[int, int], conf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The false-alarm table (distribution → n) and the detection table (distribution → effect
    → its population values and, per n, the rates)."""
    alert = {m: conf.thresholds_for("bench", "x", m).alert for m in ("psi", "ks", "js_distance")}
    false_alarm = {x: {str(n): _cell_result(cells[(x, n, "0.0")]) for n in NS} for x in DISTRIBUTIONS}
    detection: dict[str, Any] = {}
    for x, d in DISTRIBUTIONS.items():
        detection[x] = {}
        for effect in d.effects:
            pop = population(d, effect, conf)
            detection[x][str(effect)] = {
                "population": pop,
                "past_alert": [m for m, v in pop.items() if alert[m] is not None and v > alert[m]],
                **{str(n): _cell_result(cells[(x, n, str(effect))]) for n in detect},
            }
    return false_alarm, detection


def headline(false_alarm: dict[str, Any], detection: dict[str, Any], detect: dict[int, int]) -> dict[str, Any]:
    """The figures the issue asks for: worst false-alarm cell, worst detection past alert; for
    skewguard and for Evidently."""
    in_target = [x for x, d in DISTRIBUTIONS.items() if d.in_target]

    def worst_alarm(dists: list[str], peer: bool = False) -> tuple[float, str]:
        rows = ((false_alarm[x][str(n)], f"{x} n={n}") for x in dists for n in NS)
        return max(((r["evidently"] if peer else r)["rate"], where) for r, where in rows)

    def worst_detection(peer: bool = False) -> tuple[float, str]:
        rows = [
            (row[str(n)], f"{x} effect={e} n={n}")
            for x in in_target for e, row in detection[x].items() if row["past_alert"] for n in detect
        ]  # fmt: skip
        return min(((r["evidently"] if peer else r)["rate"], where) for r, where in rows)

    fa, fa_cell = worst_alarm(in_target)
    det, det_cell = worst_detection()
    named = ("rate", "cell")
    return {
        "false_alarm_rate_max": fa,
        "false_alarm_rate_max_cell": fa_cell,
        "target": TARGET,
        "passed": fa <= TARGET,
        "detection_rate_min_past_alert": det,
        "detection_rate_min_past_alert_cell": det_cell,
        "detection_target": DETECTION_TARGET,
        "detection_passed": det >= DETECTION_TARGET,
        "false_alarm_rate_max_long_tail": dict(
            zip(named, worst_alarm([x for x in DISTRIBUTIONS if x not in in_target]), strict=True)
        ),
        "evidently_false_alarm_rate_max": dict(zip(named, worst_alarm(in_target, peer=True), strict=True)),
        "evidently_detection_rate_min_past_alert": dict(zip(named, worst_detection(peer=True), strict=True)),
    }


METHOD = (
    "No Spark: a statistical sweep of the drift job's judgement on exact counts. Reference profile, counts and "
    "exact KS walk transcribed to numpy (benchmarks/drift_judge.py; numpy's exact quantiles for Spark's "
    "approxQuantile); statuses from jobs.drift.feature_drift (measure, ks_candidates, finish_ks in exact mode, "
    "judge_metrics, feature_status) with the settings of conf/. A split is flagged when its feature's status (its "
    "worst thresholded metric) is warn or alert. Rates carry their binomial standard error (se); with no flag, "
    "upper_95 = 3/splits (the rule of three). per_metric: the share of splits each metric flags, and the share "
    "past its warn threshold whatever the noise floor (what a judgement without floors would flag)."
)
EVIDENTLY = {
    "preset": "DataDriftPreset defaults, per column: KS (numeric with > 5 values) or chi-square (categorical) "
    "p < 0.05 when the reference has ≤ 1000 rows; above, Wasserstein distance normed by the reference's sd "
    "(numeric) or Jensen-Shannon distance (categorical) > 0.1",
    "how": "the same rows, written to Parquet (one column per split); benchmarks/evidently_peer.py --manifest "
    "runs on each column the stat test the preset picks (get_stattest, default threshold), checked against the "
    "whole preset report on the first split (and its effects) of every cell",
}
