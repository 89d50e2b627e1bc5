"""Reference profiles: what every drift run compares against, measured once and stored in
``metrics.reference_profiles``.

Per workload × feature: numeric features get quantile edges (``drift.bins`` for PSI and
``drift.fine_bins`` for KS, the PSI edges among the fine ones) by histogram-then-refine: the
quantiles of a sample of each workload's rows give provisional edges (at least 8 per fine
bin), one histogram pass (the same code the drift run uses on the current rows) counts the
reference exactly on them, and each fine edge is the provisional edge whose exact rank is
nearest its quantile — so an edge's rank is off by about one provisional bin (≈ rows /
``drift.quantile_accuracy``; the largest is logged) and the counts on the fine edges are exact
sums of the provisional ones. Categorical features get their top K categories and the other
known values from one counted ranking.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.feature_rows import FeatureRows, feature_rows
from jobs.drift.histograms import ROWS, BinPlan, HistKey, histograms
from jobs.drift.profile_edges import refined_edges
from jobs.drift.profile_passes import Moments, moments_and_categories, sampled_values
from jobs.drift.sources import FeatureSpec, RowSource, declared_features, table_source
from jobs.lib.delta_io import ensure_table, replace_where, sql_string
from schemas.drift_tables import METRICS_REFERENCE_PROFILES
from skewguard.drift_stats import CATEGORY_NULL, CATEGORY_OTHER, CATEGORY_UNSEEN, coarse_counts

if TYPE_CHECKING:
    import datetime as dt

    from pyspark.sql import DataFrame, SparkSession

    from jobs.lib.runs import RunRecord
    from skewguard.config import Settings
    from skewguard.settings_models import DriftSettings

__all__ = ["merged_specs", "profile_reference", "profile_table"]

log = logging.getLogger("skewguard.drift")


def merged_specs(per_workload: dict[str, list[FeatureSpec]]) -> tuple[list[FeatureSpec], dict[str, set[int]]]:
    """One list of features over all workloads, and which of them each workload monitors."""
    specs: list[FeatureSpec] = []
    index: dict[str, int] = {}
    used: dict[str, set[int]] = {}
    for workload, wl_specs in sorted(per_workload.items()):
        for spec in wl_specs:
            if spec.name not in index:
                index[spec.name] = len(specs)
                specs.append(spec)
            elif specs[index[spec.name]] != spec:
                raise ValueError(f"feature {spec.name!r} is declared differently for two workloads")
            used.setdefault(workload, set()).add(index[spec.name])
    return specs, used


_OVERSAMPLE = 8  # provisional edges per fine bin at least: the rank error is about one provisional bin
_SAMPLE_PER_EDGE = 25  # sampled values per provisional edge


def _numeric_edges(
    rows: FeatureRows,
    row_counts: dict[str, int],
    moments: dict[tuple[str, int], Moments],
    used: dict[str, set[int]],
    conf: DriftSettings,
) -> tuple[dict[tuple[str, int], np.ndarray], dict[tuple[str, int], dict[str, Any]]]:
    """Provisional edges of every numeric feature (many more than ``drift.fine_bins``: the
    quantiles of a sample of each workload's rows, one pass for all features) and its extremes
    and standard deviation (from pass 1's moments). :func:`profile_edges.refined_edges` then
    picks the fine and coarse edges among them from the exact counts."""
    numeric = {w: sorted(i for i in used[w] if rows.specs[i].kind == "numeric") for w in row_counts}
    numeric = {w: indices for w, indices in numeric.items() if indices}
    if not numeric:
        return {}, {}
    provisional = max(conf.quantile_accuracy, _OVERSAMPLE * conf.fine_bins)
    wanted = _SAMPLE_PER_EDGE * provisional
    fractions = {w: min(1.0, wanted / max(row_counts[w], 1)) for w in numeric}
    sample = sampled_values(rows.only({i for indices in numeric.values() for i in indices}), numeric, fractions)
    qs = np.arange(1, provisional) / provisional
    edges: dict[tuple[str, int], np.ndarray] = {}
    extra: dict[tuple[str, int], dict[str, Any]] = {}
    for workload, indices in sorted(numeric.items()):
        for i in indices:
            values = sample.get((workload, i), np.zeros(0))
            edges[(workload, i)] = np.unique(np.quantile(values, qs, method="inverted_cdf")) if values.size else values
            m = moments.get((workload, i))
            extra[(workload, i)] = (
                {"min": None, "max": None, "std": None}
                if m is None
                else {"min": float(m[1]), "max": float(m[2]), "std": float(np.sqrt(m[4] / m[0]))}
            )
    return edges, extra


def _top_categories(
    ordered: dict[tuple[str, int], list[str]], specs: list[FeatureSpec], used: dict[str, set[int]], conf: DriftSettings
) -> tuple[dict[tuple[str, int], list[str]], dict[tuple[str, int], list[str]], dict[tuple[str, int], bool]]:
    """Per categorical (workload, feature): its top K values, the other known ones, and
    whether more were seen than are remembered (from pass 1's ranking)."""
    limit = conf.top_k + conf.max_known_categories
    top: dict[tuple[str, int], list[str]] = {}
    others: dict[tuple[str, int], list[str]] = {}
    truncated: dict[tuple[str, int], bool] = {}
    for workload, indices in used.items():
        for i in indices:
            if specs[i].kind != "categorical":
                continue
            values = ordered.get((workload, i), [])
            top[(workload, i)] = values[: conf.top_k]
            others[(workload, i)] = values[conf.top_k : limit]
            truncated[(workload, i)] = len(values) > limit
    return top, others, truncated


_Key = tuple[str, int]


def _reference_workloads(rows_df: DataFrame, source: RowSource) -> list[str]:
    workloads = sorted(r[0] for r in rows_df.select("workload_id").distinct().collect())
    if not workloads:
        raise ValueError(f"the reference {source.describe()} has no rows")
    return workloads


def _measure(
    rows: FeatureRows, used: dict[str, set[int]], conf: DriftSettings
) -> tuple[BinPlan, dict[_Key, dict[str, Any]], dict[_Key, bool], dict[HistKey, np.ndarray]]:
    """The bins (quantile edges, top categories) and the reference's exact counts on them, in
    three passes (:mod:`jobs.drift.profile_passes`, then one histogram pass on the provisional
    edges, from whose exact counts the fine and coarse edges are picked: their counts are sums
    of the provisional ones)."""
    specs = rows.specs
    limit = conf.top_k + conf.max_known_categories
    row_counts, moments, ordered = moments_and_categories(rows, specs, used, limit)
    edges, extra = _numeric_edges(rows, row_counts, moments, used, conf)
    top, others, truncated = _top_categories(ordered, specs, used, conf)
    plan = BinPlan(specs, edges, top, others)
    counts = histograms(rows, plan, 0)
    worst = 0.0
    for (workload, i), provisional in edges.items():
        key = (workload, (), i)
        if key not in counts:
            continue
        fine, coarse, counts[key], error = refined_edges(counts[key], provisional, conf.fine_bins, conf.bins)
        plan.edges[(workload, i)] = fine
        extra[(workload, i)]["bin_edges"] = coarse
        worst = max(worst, error)
    for key, ext in extra.items():
        ext.setdefault("bin_edges", plan.edges[key][:0])
    if edges:
        log.info("reference edges: the largest rank error of a fine edge (ties aside) is %.2g of the values", worst)
    return plan, extra, truncated, counts


def _numeric_profile(c: np.ndarray, fine: np.ndarray, extra: dict[str, Any]) -> dict[str, Any]:
    k = fine.size
    bins, on_edge, nulls = c[: k + 1], c[k + 1 : 2 * k + 1], int(c[2 * k + 1])
    coarse = extra["bin_edges"]
    return dict(
        count=int(bins.sum()),
        null_count=nulls,
        bin_edges=[float(x) for x in coarse],
        bin_counts=[int(x) for x in coarse_counts(bins, fine, coarse)] + [nulls],
        fine_edges=[float(x) for x in fine],
        fine_counts=[int(x) for x in bins],
        fine_on_edge=[int(x) for x in on_edge],
        min=extra["min"],
        max=extra["max"],
        std=extra["std"],
    )


def _categorical_profile(c: np.ndarray, cats: list[str], others: list[str], truncated: bool) -> dict[str, Any]:
    nulls = int(c[len(cats) + 1])
    return dict(
        count=int(c.sum()) - nulls,
        null_count=nulls,
        categories=[*cats, CATEGORY_OTHER, CATEGORY_NULL, CATEGORY_UNSEEN],
        category_counts=[int(x) for x in c],
        other_categories=others,
        other_truncated=truncated,
    )


def _profile_base(source: RowSource, name: str, run: RunRecord) -> dict[str, Any]:
    """The columns every row of one profile shares."""
    return {
        "reference": name,
        "run_id": run.run_id,
        "profiled_at": run.started_at,
        "source_table": source.table,
        "source_version": source.version,
        "window_start": source.start,
        "window_end": source.end,
        "training_set": source.training_set,
        "source_json": source.to_json(),
    }


def _profile_rows(
    base: dict[str, Any],
    workloads: list[str],
    used: dict[str, set[int]],
    plan: BinPlan,
    extra: dict[_Key, dict[str, Any]],
    truncated: dict[_Key, bool],
    counts: dict[HistKey, np.ndarray],
) -> list[dict[str, Any]]:
    """One ``metrics.reference_profiles`` row per workload × monitored feature."""
    out: list[dict[str, Any]] = []
    for workload in workloads:
        n_rows = int(counts.get((workload, (), ROWS), np.zeros(1))[0])
        for i in sorted(used[workload]):
            spec = plan.specs[i]
            key = (workload, i)
            c = counts.get((workload, (), i), np.zeros(plan.width(workload, i), dtype=np.int64))
            row: dict[str, Any] = {
                **base,
                "workload_id": workload,
                "feature": spec.name,
                "feature_type": spec.kind,
                "expression": spec.expression,
                "is_array": spec.is_array,
                "rows": n_rows,
            }
            if spec.kind == "numeric":
                row.update(_numeric_profile(c, plan.edges[key], extra[key]))
            else:
                row.update(_categorical_profile(c, plan.categories[key], plan.others[key], truncated[key]))
            total = row["count"] + row["null_count"]
            row["null_rate"] = row["null_count"] / total if total else None
            out.append(row)
    return out


def _write_profile(spark: SparkSession, settings: Settings, name: str, out: list[dict[str, Any]]) -> int:
    """Replace the profile called ``name``; returns the table version written."""
    path = ensure_table(spark, settings, METRICS_REFERENCE_PROFILES)
    schema = METRICS_REFERENCE_PROFILES
    rows_out = spark.createDataFrame([tuple(r.get(c) for c in schema.column_names) for r in out], schema.spark_schema())
    return replace_where(spark, rows_out, path, f"reference = {sql_string(name)}", len(out), merge_schema=True)


def profile_reference(
    spark: SparkSession,
    settings: Settings,
    source: RowSource,
    name: str,
    run: RunRecord,
    contract: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Profile ``source`` under ``name`` (replacing an earlier profile of that name); returns the rows written."""
    conf = settings.drift
    rows_df = source.read(spark)
    columns = dict(rows_df.dtypes)
    workloads = _reference_workloads(rows_df, source)
    specs, used = merged_specs(
        {w: declared_features(settings, columns, w, source.table, contract, given) for w in workloads}
    )
    plan, extra, truncated, counts = _measure(feature_rows(spark, source, specs, (), conf.direct_read), used, conf)
    out = _profile_rows(_profile_base(source, name, run), workloads, used, plan, extra, truncated, counts)
    run.output_version = _write_profile(spark, settings, name, out)
    run.read_count = sum(int(counts.get((w, (), ROWS), np.zeros(1))[0]) for w in workloads)
    run.landed_count = len(out)
    run.source = source.describe()
    run.details = {"reference": name, "workloads": workloads, "features": [s.name for s in specs]}
    run.status = "succeeded"
    log.info(
        "profiled %s: %d workload(s) × features → %d rows (v%s)", name, len(workloads), len(out), run.output_version
    )
    return out


def profile_table(
    spark: SparkSession,
    settings: Settings,
    table: str,
    name: str,
    run: RunRecord,
    start: dt.date | None = None,
    end: dt.date | None = None,
    workload: str | None = None,
    workload_column: str = "workload_id",
    date_column: str = "event_date",
    given: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Profile ``table`` (a lakehouse table name or a Delta path, at its current version; the
    days ``start..end`` and one workload when given) under ``name``; returns the rows written."""
    source = table_source(spark, settings, table, start, end, workload, workload_column, date_column)
    return profile_reference(spark, settings, source, name, run, None, given)
