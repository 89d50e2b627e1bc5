"""The single-node peer of bench-drift: Evidently's data-drift preset on two Parquet files.

Runs with the Python of the Evidently virtualenv (``bash scripts/evidently_env.sh python``),
not the project's: it imports nothing from skewguard, only Evidently, pandas, pyarrow and
the standard library. Reads both files into pandas (timed on its own), runs the report over
the given columns with their types declared, and writes the timings and the columns that
Evidently finds drifted as JSON:

    python benchmarks/evidently_peer.py --reference ref.parquet --current cur.parquet \\
        --numeric f01,f02 --categorical c1,c2 --out result.json

``report_s`` covers all of Evidently's work: building its datasets, running the report (it
computes every metric, test and widget eagerly) and exporting the result as a dict.

``--manifest`` (bench-drift-power) asks only for the verdicts, on many column pairs at once:

    python benchmarks/evidently_peer.py --manifest pairs.json --check 3 --out verdicts.json

The manifest lists entries ``{"reference": file, "current": file, "pairs": [[ref column, cur
column, "numeric" | "categorical"], ...]}``. Each pair is judged as the preset's ``ValueDrift``
judges a column (``get_one_column_drift``): infinities and NaN dropped, the stat test Evidently
picks by default for that size, type and number of distinct values (``get_stattest`` with no
method) at its default threshold — without the plotly widgets the preset renders for every
column, which take most of its time. The first ``--check`` pairs of every entry (or its own ``"check"``) also go
through the whole ``DataDriftPreset`` report, and any verdict that differs is listed
(``preset_check``). The output holds, per entry, the drifted flags, methods and scores in the
order of its pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.evidently_peer")

# Evidently's telemetry only lives in its UI service; set anyway so no run can phone home.
os.environ.setdefault("DO_NOT_TRACK", "1")


class PeerError(RuntimeError):
    """A problem with the inputs: missing file or column, empty data."""


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _read(path: str, columns: list[str]) -> Any:
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise PeerError(f"no such Parquet file: {path}")
    schema_names = set(pq.read_schema(path).names)
    missing = [c for c in columns if c not in schema_names]
    if missing:
        raise PeerError(f"{path} has no column(s) {', '.join(missing)}")
    frame = pq.read_table(path, columns=columns).to_pandas()
    if frame.empty:
        raise PeerError(f"{path} has no rows")
    return frame


def _drift_results(result: dict[str, Any]) -> tuple[list[str], dict[str, Any], float | None]:
    """(drifted columns, per-column method/score/threshold, drifted count) from the report's dict.

    A column is drifted when its "Value Drift" test fails (FAIL is set exactly when Evidently
    detects drift): the metric itself only carries the score."""
    scores: dict[str, Any] = {}
    drifted_count = None
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith(":ValueDrift"):
            scores[config["column"]] = {
                "method": config.get("method"),
                "score": metric.get("value"),
                "threshold": config.get("threshold"),
            }
        elif kind.endswith(":DriftedColumnsCount"):
            drifted_count = metric["value"]["count"]
    drifted = []
    for test in result["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith(":ValueDrift"):
            column = params["column"]
            is_drifted = test["status"] == "FAIL"
            scores.setdefault(column, {})["drifted"] = is_drifted
            if is_drifted:
                drifted.append(column)
    undecided = sorted(c for c, score in scores.items() if "drifted" not in score)
    if undecided:
        raise PeerError(f"Evidently's result has no drift verdict for {', '.join(undecided)}")
    return drifted, scores, drifted_count


def run(args: argparse.Namespace) -> dict[str, Any]:
    numeric, categorical = _names(args.numeric), _names(args.categorical)
    columns = numeric + categorical
    if not columns:
        raise PeerError("no columns given: pass --numeric and/or --categorical")
    if len(set(columns)) != len(columns):
        raise PeerError("a column is named twice in --numeric/--categorical")

    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    reference_df = _read(args.reference, columns)
    current_df = _read(args.current, columns)
    read_s = time.perf_counter() - t0
    log.info("read %d reference and %d current rows in %.2f s", len(reference_df), len(current_df), read_s)

    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    reference = Dataset.from_pandas(reference_df, data_definition=definition)
    current = Dataset.from_pandas(current_df, data_definition=definition)
    preset = DataDriftPreset(columns=columns, num_method=args.num_method, cat_method=args.cat_method)
    snapshot = Report([preset], include_tests=True).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    report_s = time.perf_counter() - t0
    rows = len(reference_df) + len(current_df)
    log.info("Evidently report over %d rows × %d columns in %.2f s", rows, len(columns), report_s)

    drifted, scores, drifted_count = _drift_results(result)
    if drifted_count is not None and drifted_count != len(drifted):
        log.warning("Evidently counts %s drifted columns but its tests fail for %s", drifted_count, drifted)
    return {
        "evidently_version": evidently.__version__,
        "pandas_version": pd.__version__,
        "reference_rows": len(reference_df),
        "current_rows": len(current_df),
        "columns": columns,
        "numeric": numeric,
        "categorical": categorical,
        "read_s": round(read_s, 3),
        "report_s": round(report_s, 3),
        "rows_per_s": round(rows / report_s, 1),
        "drifted_columns": drifted,
        "column_scores": scores,
    }


def _preset_verdicts(ref: Any, cur: Any, kinds: dict[str, str]) -> dict[str, bool]:
    """The whole DataDriftPreset on same-named columns: column → drifted."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(columns=list(kinds))], include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    _, scores, _ = _drift_results(snapshot.dict())
    return {c: bool(scores[c]["drifted"]) for c in kinds}


def verdicts(manifest: dict[str, Any], default_check: int, chunk: int = 200) -> dict[str, Any]:
    """Evidently's drift verdict on every pair of the manifest (module docstring)."""
    import evidently
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    types = {"numeric": ColumnType.Numerical, "categorical": ColumnType.Categorical}
    t0 = time.perf_counter()
    entries, mismatches, checked = [], [], 0
    for entry in manifest["entries"]:
        pairs = entry["pairs"]
        drifted, methods, scores = [], [], []
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            ref_df = pq.read_table(entry["reference"], columns=sorted({p[0] for p in part})).to_pandas()
            cur_df = pq.read_table(entry["current"], columns=[p[1] for p in part]).to_pandas()
            for ref_col, cur_col, kind in part:
                ref = ref_df[ref_col].replace([-np.inf, np.inf], np.nan).dropna()
                cur = cur_df[cur_col].replace([-np.inf, np.inf], np.nan).dropna()
                if ref.empty or cur.empty:
                    raise PeerError(f"{ref_col} / {cur_col}: an empty column")
                test = get_stattest(ref, cur, types[kind], None)
                result = test(ref, cur, types[kind], None)
                drifted.append(bool(result.drifted))
                methods.append(test.display_name)
                scores.append(float(result.drift_score))
            check = entry.get("check", default_check)
            if start == 0 and check:
                # the same pairs through the whole preset, each under one name on both sides
                sample = part[:check]
                names = {f"c{i}": kind for i, (_, _, kind) in enumerate(sample)}
                ref_s = pd.DataFrame({f"c{i}": ref_df[p[0]].to_numpy() for i, p in enumerate(sample)})
                cur_s = pd.DataFrame({f"c{i}": cur_df[p[1]].to_numpy() for i, p in enumerate(sample)})
                preset = _preset_verdicts(ref_s, cur_s, names)
                checked += len(sample)
                mismatches += [p[1] for i, p in enumerate(sample) if preset[f"c{i}"] != drifted[i]]
        entries.append({"drifted": drifted, "methods": methods, "scores": scores})
    seconds = time.perf_counter() - t0
    log.info("Evidently verdicts on %d pairs in %.1f s", sum(len(e["drifted"]) for e in entries), seconds)
    return {
        "evidently_version": evidently.__version__,
        "pandas_version": pd.__version__,
        "seconds": round(seconds, 2),
        "entries": entries,
        "preset_check": {"pairs": checked, "mismatches": mismatches},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/evidently_peer.py",
        description="Evidently's data-drift report on a reference and a current Parquet file, timed.",
    )
    parser.add_argument("--reference", help="Parquet file of the reference rows")
    parser.add_argument("--current", help="Parquet file of the current rows")
    parser.add_argument("--manifest", help="JSON file of column pairs to judge (verdicts only; see above)")
    parser.add_argument("--check", type=int, default=0, help="with --manifest: pairs per entry also run as a report")
    parser.add_argument("--numeric", default="", help="comma-separated numeric columns, e.g. f01,f02")
    parser.add_argument("--categorical", default="", help="comma-separated categorical columns, e.g. c1,c2")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument(
        "--num-method", default=None, help="Evidently stat test for numeric columns (default: its own choice)"
    )
    parser.add_argument(
        "--cat-method", default=None, help="Evidently stat test for categorical columns (default: its own choice)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.manifest is None and (args.reference is None or args.current is None):
        parser.error("give --reference and --current, or --manifest")
    try:
        if args.manifest is None:
            payload = run(args)
        else:
            payload = verdicts(json.loads(Path(args.manifest).read_text()), args.check)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    except Exception as exc:  # one line for the caller, not a traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        log.error("evidently peer failed: %s: %s", type(exc).__name__, message[:500])
        return 1
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
