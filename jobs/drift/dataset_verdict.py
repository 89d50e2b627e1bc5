"""The verdict on a whole workload (and on each slice): the share of its monitored features in
alert, one ``dataset`` row of ``metrics.drift`` per workload × slice × window, in alert when the
share reaches ``drift.drift_share`` (Evidently's dataset drift)."""

from __future__ import annotations

import json
from typing import Any

from skewguard import drift_stats as m

__all__ = ["DATASET_FEATURE", "DATASET_METRIC", "dataset_rows", "verdict_line"]

DATASET_FEATURE, DATASET_METRIC = "*", "dataset_drift"
"""How the verdict is written: ``feature`` ``*`` (type ``dataset``), ``metric`` ``dataset_drift``."""

_PER_RUN = ("run_id", "computed_at", "window_start", "window_end", "reference", "source_table", "drift_type")


def _feature_statuses(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, str]]:
    """(workload, slice column, slice value) → feature → its worst thresholded status."""
    metrics: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    for r in rows:
        if r["metric"] == DATASET_METRIC:
            continue
        scope = (r["workload_id"], r["slice_column"], r["slice_value"])
        statuses = metrics.setdefault(scope, {}).setdefault(r["feature"], [])
        if r["status"] != "info":
            statuses.append(r["status"])
    return {scope: {f: m.worst_status(s) for f, s in features.items()} for scope, features in metrics.items()}


def dataset_rows(rows: list[dict[str, Any]], drift_share: float) -> list[dict[str, Any]]:
    """One verdict row per workload × slice of the run's feature rows: ``value`` the share of
    measured features in alert, ``alert_threshold`` ``drift_share``, ``ref_count`` the features
    measured and ``cur_count`` those in alert (named in ``details_json``)."""
    if not rows:
        return []
    base = {c: rows[0].get(c) for c in _PER_RUN}
    out: list[dict[str, Any]] = []
    for (workload, slice_column, slice_value), features in sorted(_feature_statuses(rows).items()):
        share, status = m.dataset_drift(list(features.values()), drift_share)
        in_alert = sorted(f for f, s in features.items() if s == "alert")
        measured = sum(s != "empty" for s in features.values())
        reason = None if share is None else "material" if status == "alert" else "below threshold"
        out.append(
            {
                **base,
                "workload_id": workload,
                "slice_column": slice_column,
                "slice_value": slice_value,
                "feature": DATASET_FEATURE,
                "feature_type": "dataset",
                "metric": DATASET_METRIC,
                "value": share,
                "alert_threshold": drift_share,
                "status": status,
                "reason": reason,
                "ref_count": measured,
                "cur_count": len(in_alert),
                "details_json": json.dumps({"features": len(features), "in_alert": in_alert}),
            }
        )
    return out


def verdict_line(row: dict[str, Any]) -> str:
    """``ALERT dataset <workload> [slice]: 3 of 5 feature(s) in alert (0.6 ≥ drift_share 0.5)``."""
    where = row["workload_id"] + (f" [{row['slice_column']}={row['slice_value']}]" if row["slice_column"] else "")
    return (
        f"ALERT dataset {where}: {row['cur_count']} of {row['ref_count']} feature(s) in alert "
        f"({row['value']:.3g} ≥ drift_share {row['alert_threshold']})"
    )
