"""What a window is compared with: a stored reference profile (``baseline`` drift), or the
window just before it, of the same length, profiled on the fly from its rows on the reference
profile's own edges and categories (``consecutive`` drift)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.feature_rows import feature_rows
from jobs.drift.histograms import ROWS, BinPlan, extremes_key, histograms
from jobs.drift.reference_profile import merged_specs
from jobs.drift.sources import FeatureSpec, RowSource
from jobs.lib.delta_io import ensure_table
from jobs.lib.window import DayWindow
from schemas.drift_tables import METRICS_REFERENCE_PROFILES
from skewguard import drift_stats as m

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from skewguard.config import Settings

__all__ = ["Profile", "load_profile", "previous_profile", "previous_window"]


@dataclass
class Profile:
    """A stored reference profile, ready to bin current rows with."""

    name: str
    source: RowSource
    specs: list[FeatureSpec]
    plan: BinPlan
    rows: dict[tuple[str, int], dict[str, Any]]
    workload_rows: dict[str, int]


def load_profile(spark: SparkSession, settings: Settings, name: str, workload: str | None) -> Profile:
    """The profile ``name`` (only ``workload``'s features when given)."""
    from pyspark.sql import functions as F

    path = ensure_table(spark, settings, METRICS_REFERENCE_PROFILES)
    found = spark.read.format("delta").load(path).where(F.col("reference") == F.lit(name))
    if workload is not None:
        found = found.where(F.col("workload_id") == F.lit(workload))
    rows = [r.asDict() for r in found.collect()]
    if not rows:
        scope = f" for workload {workload!r}" if workload else ""
        raise LookupError(f"no reference profile named {name!r}{scope}: run profile_reference first")
    per_workload: dict[str, list[FeatureSpec]] = {}
    for r in sorted(rows, key=lambda r: (r["workload_id"], r["feature"])):
        spec = FeatureSpec(r["feature"], r["feature_type"], r["expression"], bool(r["is_array"]))
        per_workload.setdefault(r["workload_id"], []).append(spec)
    specs, _ = merged_specs(per_workload)
    index = {s.name: i for i, s in enumerate(specs)}
    plan = BinPlan(specs)
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["workload_id"], index[r["feature"]])
        by_key[key] = r
        if r["feature_type"] == "numeric":
            plan.edges[key] = np.array(r["fine_edges"], dtype=np.float64)
        else:
            plan.categories[key] = list(r["categories"][:-3])
            plan.others[key] = list(r["other_categories"] or [])
    return Profile(
        name,
        RowSource.from_json(rows[0]["source_json"]),
        specs,
        plan,
        by_key,
        {r["workload_id"]: int(r["rows"]) for r in rows},
    )


def previous_window(window: DayWindow) -> DayWindow:
    """The window of the same length that ends the day before ``window`` starts."""
    days = (window.end - window.start).days + 1
    return DayWindow(window.start - dt.timedelta(days=days), window.start - dt.timedelta(days=1), window.workload_id)


def _profiled(stored: dict[str, Any], counts: np.ndarray, rows: int, extremes: np.ndarray | None) -> dict[str, Any]:
    """A profile row of the previous window: the stored row's bins, the window's counts in them
    and its extremes. The standard deviation stays the stored profile's, so Wasserstein reads
    in the same unit against the previous window as against the reference."""
    if stored["feature_type"] == "numeric":
        k = len(stored["fine_edges"])
        fine, on_edge, nulls = counts[: k + 1], counts[k + 1 : 2 * k + 1], int(counts[2 * k + 1])
        fine_edges, coarse = np.array(stored["fine_edges"], dtype=np.float64), np.array(stored["bin_edges"])
        values = int(fine.sum())
        binned = {
            "fine_counts": fine.tolist(),
            "fine_on_edge": on_edge.tolist(),
            "bin_counts": np.append(m.coarse_counts(fine, fine_edges, coarse), nulls).tolist(),
            "min": None if extremes is None else float(extremes[0]),
            "max": None if extremes is None else float(extremes[1]),
        }
    else:
        nulls = int(counts[len(counts) - 2])
        values = int(counts.sum()) - nulls
        binned = {"category_counts": counts.tolist()}
    total = values + nulls
    return {**stored, **binned, "rows": rows, "count": values, "null_count": nulls,
            "null_rate": nulls / total if total else None}  # fmt: skip


def previous_profile(
    spark: SparkSession, reference: Profile, current: RowSource, window: DayWindow, direct: bool = True
) -> tuple[Profile, list[str]]:
    """The window before ``window`` (:func:`previous_window`, read from ``current``'s table at
    its version) profiled on ``reference``'s bins: one histogram pass. Workloads with no rows
    there cannot be compared and are returned apart (the second item)."""
    before = previous_window(window)
    source = replace(current, start=before.start, end=before.end)
    counts = histograms(feature_rows(spark, source, reference.specs, (), direct), reference.plan, 0)
    workload_rows = {w: int(counts[(w, (), ROWS)][0]) for w in reference.workload_rows if (w, (), ROWS) in counts}
    rows = {
        (w, i): _profiled(
            stored,
            counts.get((w, (), i), np.zeros(reference.plan.width(w, i), np.int64)),
            n,
            counts.get((w, (), extremes_key(i))),
        )
        for (w, i), stored in reference.rows.items()
        if (n := workload_rows.get(w, 0)) > 0
    }
    missing = sorted(w for w in reference.workload_rows if workload_rows.get(w, 0) == 0)
    kept = {w: n for w, n in workload_rows.items() if n > 0}
    return replace(reference, name=f"{reference.name} (previous window {before})", source=source, rows=rows,
                   workload_rows=kept), missing  # fmt: skip
