"""bench-drift-power: false alarms and detection of the drift job's judgement on many seeded
splits of generated data, next to Evidently's default data-drift preset on the same rows.

No Spark: this is a statistical sweep of the job's judgement on exact counts. Each split's
reference profile, counts and exact KS walk are the job's passes transcribed to numpy
(``benchmarks.drift_judge``; numpy's exact quantiles where the job asks ``approxQuantile``),
and the statuses come from the job's own functions (``jobs.drift.feature_drift``: ``measure``,
``finish_ks``, ``judge_metrics``, ``feature_status``) with the settings of ``conf/`` (KS in
exact mode; bounded mode is compared on a sample of splits). Every split is one feature of a
one-feature workload, so ``drift.alpha_correction`` across features plays no part.

* **False alarms** — both sides of a split from the same distribution, at n = 100, 1k, 10k and
  100k rows a side: the share of splits whose feature is in ``warn`` or ``alert``;
  ``false_alarm_rate_max`` is the largest over the issue's four distributions × n.
* **Detection** — the current side shifted (``benchmarks.drift_power_data``) at n ≥ 1k: the
  share flagged per distribution × effect × n. Each effect's population values (no sampling)
  say which are past the alert thresholds; those must be flagged in ≥ 95 % of splits.
* **Evidently** — every split's two columns written to Parquet (one column per split: it
  judges each column on its own, so one file holds many splits) and judged by
  ``benchmarks/evidently_peer.py --manifest`` in its own virtualenv: the stat test its preset
  picks for each column (KS or χ² p < 0.05 up to 1,000 rows, Wasserstein (normed) or JS
  distance > 0.1 above), checked against the whole preset report on a few columns per file.

The tables and headline figures: ``benchmarks.drift_power_tables``.

    python -m benchmarks.bench_drift_power [--scale 1.0] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_result
from benchmarks.drift_power_data import DISTRIBUTIONS, SEED
from benchmarks.drift_power_tables import DETECTION_TARGET, EVIDENTLY, METHOD, NS, TARGET, headline, merged, tables
from skewguard.config import load_settings, repo_root
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.drift_power")

NULL_SPLITS = {100: 1000, 1_000: 1000, 10_000: 400, 100_000: 100}
DETECT_SPLITS = {1_000: 200, 10_000: 200, 100_000: 40}
CHUNK = {100: 250, 1_000: 250, 10_000: 100, 100_000: 20}
CHECK_SPLITS = 50
"""Splits per cell also judged with bounded KS, and compared with scipy's exact KS."""
FLAGGED = ("warn", "alert")


def _dir() -> Path:
    return repo_root() / ".cache" / "bench" / "drift_power"


def _tally(out: dict[str, Any], judged: Any) -> None:
    out["splits"] += 1
    out["flagged"] += judged.status in FLAGGED
    out["alert"] += judged.status == "alert"
    for metric, status in judged.metrics.items():
        per = out["metrics"].setdefault(metric, {"flagged": 0, "past_threshold": 0})
        per["flagged"] += status in FLAGGED
        per["past_threshold"] += judged.reasons[metric] in ("material", "below noise")


def _ordered(kind: str, values: np.ndarray) -> np.ndarray:
    return np.sort(values) if kind == "numeric" else values


def _cell(dist: str, n: int, start: int, stop: int, detect: int) -> dict[str, Any]:
    """Splits ``start..stop`` of one distribution at n (the first ``detect`` of them with every
    effect too): judged, and written for Evidently."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.stats import ks_2samp

    from benchmarks.drift_judge import categorical_profile, judge, numeric_profile

    settings = load_settings("local")
    d = DISTRIBUTIONS[dist]
    index = list(DISTRIBUTIONS).index(dist)
    effects = d.effects if start < detect else ()
    tallies = {str(e): {"splits": 0, "flagged": 0, "alert": 0, "metrics": {}} for e in (0.0, *effects)}
    checks = {"ks_max_abs_error": 0.0, "ks_compared": 0, "bounded_disagreements": 0, "bounded_compared": 0}
    ref_cols: dict[str, Any] = {}
    cur_cols: dict[str, Any] = {}
    pairs: list[list[str]] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    for split in range(start, stop):
        rng = np.random.default_rng([SEED, index, n, split])
        # numeric values sorted: counts and walks do not depend on the order of rows, and numpy
        # bins sorted values several times faster
        ref = _ordered(d.kind, d.draw(rng, n, 0.0))
        profiled = numeric_profile if d.kind == "numeric" else categorical_profile
        profile = profiled(ref, settings.drift)
        ref_cols[f"r{split}"] = ref
        for effect in (0.0, *(effects if split < detect else ())):
            cur = _ordered(d.kind, d.draw(rng, n, effect))
            judged = judge(d.kind, profile, ref, cur, settings)
            _tally(tallies[str(effect)], judged)
            if d.kind == "numeric" and split - start < CHECK_SPLITS and start == 0:
                error = abs(float(judged.values["ks"] or 0.0) - float(ks_2samp(ref, cur).statistic))
                checks["ks_max_abs_error"] = max(checks["ks_max_abs_error"], error)
                checks["ks_compared"] += 1
                bounded = judge(d.kind, profile, ref, cur, settings, exact=False)
                checks["bounded_disagreements"] += bounded.status != judged.status
                checks["bounded_compared"] += 1
            cur_cols[f"e{effect}.{split}"] = cur
            pairs.append([f"r{split}", f"e{effect}.{split}", d.kind])
    judge_s = time.perf_counter() - t0
    base = _dir() / f"{dist}_n{n}_{start}"
    pq.write_table(pa.table(ref_cols), f"{base}.ref.parquet")
    pq.write_table(pa.table(cur_cols), f"{base}.cur.parquet")
    entry = {"reference": f"{base}.ref.parquet", "current": f"{base}.cur.parquet", "pairs": pairs, "rows": n,
             "check": 1 + len(effects) if start == 0 else 0}  # fmt: skip
    cpu_s = time.process_time() - cpu0
    return {"dist": dist, "n": n, "tallies": tallies, "checks": checks, "entry": entry, "judge_s": judge_s,
            "cpu_s": cpu_s}  # fmt: skip


def _splits(scale: float) -> tuple[dict[int, int], dict[int, int]]:
    """No-drift splits per n, and how many of them are also drawn with every effect."""
    null = {n: max(1, round(k * scale)) for n, k in NULL_SPLITS.items()}
    return null, {n: min(null[n], max(1, round(k * scale))) for n, k in DETECT_SPLITS.items()}


def _tasks(null: dict[int, int], detect: dict[int, int], scale: float) -> list[tuple[str, int, int, int, int]]:
    tasks = []
    for dist in DISTRIBUTIONS:
        for n in NS:
            step, d = max(1, round(CHUNK[n] * min(scale, 1.0))), detect.get(n, 0)
            bounds = sorted({*range(0, null[n], step), *([d] if d else []), null[n]})
            tasks += [(dist, n, a, b, d) for a, b in itertools.pairwise(bounds)]

    def cost(t: tuple[str, int, int, int, int]) -> float:  # about: per split, its rows and a fixed part
        return (t[3] - t[2]) * (t[1] + 3000) * (4 if t[2] < t[4] else 1)

    return sorted(tasks, key=cost, reverse=True)  # the largest first, so that the workers finish together


def _run_cell(task: tuple[str, int, int, int, int]) -> dict[str, Any]:
    return _cell(*task)


def _evidently(entries: list[dict[str, Any]], workers: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evidently's verdicts on every entry's pairs (``workers`` peer processes at once)."""
    python = subprocess.run(
        ["bash", str(repo_root() / "scripts" / "evidently_env.sh"), "python"], check=True, capture_output=True,
        text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    order = sorted(range(len(entries)), key=lambda i: -len(entries[i]["pairs"]) * (entries[i]["rows"] + 3000))
    shares: list[list[int]] = [[] for _ in range(workers)]
    for j, i in enumerate(order):
        shares[j % workers].append(i)
    procs = []
    for w, share in enumerate(shares):
        manifest, out = _dir() / f"manifest{w}.json", _dir() / f"verdicts{w}.json"
        manifest.write_text(json.dumps({"entries": [entries[i] for i in share]}))
        cmd = [python, str(repo_root() / "benchmarks" / "evidently_peer.py"), "--manifest", str(manifest),
               "--out", str(out)]  # fmt: skip
        procs.append((share, out, subprocess.Popen(cmd, env={**os.environ, "DO_NOT_TRACK": "1"})))
    results: list[dict[str, Any]] = [{} for _ in entries]
    peer: list[dict[str, Any]] = []
    for share, out, proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"the Evidently peer failed (exit {proc.returncode})")
        got = json.loads(out.read_text())
        peer.append(got)
        for i, verdict in zip(share, got["entries"], strict=True):
            results[i] = verdict
    return results, peer


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_drift_power", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every number of splits (quick: 0.1)")
    parser.add_argument("--workers", type=int, default=2, help="processes judging splits, and Evidently peers")
    parser.add_argument("--keep", action="store_true", help="keep the Parquet splits under .cache/bench/drift_power")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    conf = load_settings("local").drift
    shutil.rmtree(_dir(), ignore_errors=True)
    _dir().mkdir(parents=True)
    t_all = time.perf_counter()
    null, detect = _splits(args.scale)
    tasks = _tasks(null, detect, args.scale)
    log.info("judging %d chunks of splits on %d workers", len(tasks), args.workers)
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        done = list(pool.imap_unordered(_run_cell, tasks))
    judge_s = time.perf_counter() - t_all
    t0, children0 = time.perf_counter(), _children_cpu()
    verdicts, peer = _evidently([c["entry"] for c in done], args.workers)
    evidently_s, evidently_cpu = time.perf_counter() - t0, _children_cpu() - children0
    cells, checks = merged(done, verdicts)
    false_alarm, detection = tables(cells, detect, conf)
    figures = headline(false_alarm, detection, detect)
    result = {
        **figures,
        "method": METHOD,
        "criteria": {
            "false_alarm": f"in every cell of the issue's four distributions × n, the share of no-drift splits "
            f"flagged ≤ {TARGET}",
            "detection": f"at n ≥ 1k, flagged in ≥ {DETECTION_TARGET:.0%} of splits wherever the effect's population "
            "value of a thresholded metric is past its alert threshold (past_alert)",
        },
        "settings": {
            "alpha": conf.alpha,
            "alpha_correction": conf.alpha_correction,
            "metric_correction": conf.metric_correction,
            "bins": conf.bins,
            "fine_bins": conf.fine_bins,
            "top_k": conf.top_k,
            "epsilon": conf.epsilon,
            "ks_mode": "exact (bounded compared on a sample)",
            "thresholds": {k: v.model_dump() for k, v in conf.thresholds.items()},
        },
        "distributions": {
            x: {
                "kind": d.kind,
                "description": d.description,
                "effects": list(d.effects),
                "effect_unit": d.effect_unit,
                "in_false_alarm_rate_max": d.in_target,
            }
            for x, d in DISTRIBUTIONS.items()
        },
        "splits": {"no_drift": null, "per_effect": detect, "seed": SEED, "scale": args.scale},
        "false_alarm": false_alarm,
        "detection": detection,
        "evidently": {
            "version": peer[0]["evidently_version"],
            **EVIDENTLY,
            "preset_check": {
                "pairs": sum(p["preset_check"]["pairs"] for p in peer),
                "mismatches": [x for p in peer for x in p["preset_check"]["mismatches"]],
            },
            "seconds": round(sum(p["seconds"] for p in peer), 1),
        },
        "checks": checks,
        "seconds": {
            "judge": round(judge_s, 1),
            "evidently": round(evidently_s, 1),
            "total": round(time.perf_counter() - t_all, 1),
            "workers": args.workers,
            "judge_cpu": round(sum(c["cpu_s"] for c in done), 1),
            "evidently_cpu": round(evidently_cpu, 1),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
    }
    write_result("drift_power", result, command="make bench-drift-power")
    if not args.keep:
        shutil.rmtree(_dir(), ignore_errors=True)
    log.info("bench-drift-power: %s", json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
