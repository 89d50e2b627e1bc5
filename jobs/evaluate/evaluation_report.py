"""The HTML report of one evaluation: the bundles, the gate's decision, and per scope the
metrics with their intervals, the differences from production, the ROC curves and the
calibration curves. A Jinja2 template (autoescaped) and Matplotlib charts inlined as SVG: the
file is self-contained, nothing is fetched when it is viewed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.scored_rows import KEY_SEPARATOR, LoadedBundle
from jobs.lib.report_pages import inline_svg, page_environment

if TYPE_CHECKING:
    from jobs.evaluate.evaluation_passes import BootstrapSums
    from skewguard.config import Settings

__all__ = ["render_report", "write_report"]

log = logging.getLogger(__name__)

_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700")


_RC = {"svg.fonttype": "none", "svg.hashsalt": "skewguard", "text.parse_math": False, "font.size": 8}


def _charts(
    ident: str, key: str, bundles: Sequence[LoadedBundle], boot: dict[tuple[str, int], BootstrapSums], bins: int
) -> list[Markup]:
    """The scope's ROC and calibration curves, one line per bundle (ids ``<ident>-rocchart-roc-<b>`` and
    ``<ident>-calchart-calibration-<b>``); the ROC curve from the fine score bins."""
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        return _draw(ident, key, bundles, boot, bins)


def _draw(
    ident: str, key: str, bundles: Sequence[LoadedBundle], boot: dict[tuple[str, int], BootstrapSums], bins: int
) -> list[Markup]:
    from matplotlib.figure import Figure

    roc, cal = Figure(figsize=(4.2, 3.6)), Figure(figsize=(4.2, 3.6))
    ax_roc, ax_cal = roc.subplots(), cal.subplots()
    for b, loaded in enumerate(bundles):
        sums = boot[(key, b)]
        pos, neg = sums.point_hist
        if pos.sum() == 0 or neg.sum() == 0:
            continue
        tpr = np.concatenate([[0.0], np.cumsum(pos) / pos.sum()])
        fpr = np.concatenate([[0.0], np.cumsum(neg) / neg.sum()])
        label = f"{loaded.role} {loaded.bundle.version}"
        colour = _COLOURS[b % len(_COLOURS)]
        line = ax_roc.plot(fpr, tpr, color=colour, label=label)[0]
        line.set_gid(f"roc-{b}")
        cal_sums = sums.point[len(cm.STAT_NAMES) :].reshape(bins, 3)
        filled = cal_sums[:, 0] > 0
        points = ax_cal.plot(
            cal_sums[filled, 1] / cal_sums[filled, 0], cal_sums[filled, 2] / cal_sums[filled, 0], "o-",
            color=colour, label=label,
        )[0]  # fmt: skip
        points.set_gid(f"calibration-{b}")
    for ax, title, xlabel, ylabel in (
        (ax_roc, "ROC", "false positive rate", "true positive rate"),
        (ax_cal, "Calibration", "mean score", "share labelled 1"),
    ):
        ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=0.8)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="lower right", fontsize=8)
    return [inline_svg(roc, f"{ident}-rocchart"), inline_svg(cal, f"{ident}-calchart")]


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _scopes(rows: Sequence[dict[str, Any]], bundles: Sequence[LoadedBundle], boot: dict[tuple[str, int], BootstrapSums],
            settings: Settings) -> list[dict[str, Any]]:  # fmt: skip
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        day = str(r["event_date"]) if r["event_date"] else ""
        key = KEY_SEPARATOR.join([day, r["workload_id"], r["slice_column"], r["slice_value"]])
        by_key.setdefault(key, []).append(r)
    scopes = []
    for number, (key, scope_rows) in enumerate(by_key.items()):
        day, workload, column, value = key.split(KEY_SEPARATOR)
        title = workload + (f" · {column} = {value}" if column else "") + (f" · {day}" if day else "")
        metrics = []
        for metric in cm.METRICS:
            per_bundle = [next(r for r in scope_rows if r["metric"] == metric and r["bundle_path"] == str(b.bundle.path)
                               and r["bundle_role"] == b.role) for b in bundles]  # fmt: skip
            cells = [
                _fmt(r["value"]) + ("" if r["ci_low"] is None else f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]")
                for r in per_bundle
            ]
            diffs = []
            for r in per_bundle[1:]:
                text = _fmt(r["diff_vs_production"], True)
                if r["diff_ci_low"] is not None:
                    text += f" [{_fmt(r['diff_ci_low'], True)}, {_fmt(r['diff_ci_high'], True)}]"
                d = r["diff_vs_production"]
                worse = d is not None and (d < 0 if cm.HIGHER_IS_BETTER[metric] else d > 0)
                diffs.append({"text": text, "worse": worse})
            metrics.append({"metric": metric, "cells": cells, "diffs": diffs})
        first = scope_rows[0]
        bins = settings.evaluation.calibration_bins
        charts = _charts(f"scope{number}", key, bundles, boot, bins) if not column else []
        scopes.append(
            {
                "id": f"scope{number}",
                "title": title,
                "workload": workload,
                "slice": f"{column}={value}" if column else "",
                "metrics": metrics,
                "n": first["n"],
                "positives": first["positives"],
                "charts": charts,
            }
        )
    return scopes


def render_report(
    run_id: str, request: Any, result: Any, boot: dict[tuple[str, int], BootstrapSums],
    bundles: Sequence[LoadedBundle], settings: Settings, gated: bool,
) -> str:  # fmt: skip
    """The report's HTML."""
    template = page_environment("jobs.evaluate").get_template("evaluation_report.html.j2")
    return template.render(
        run_id=run_id,
        source=result.rows[0]["source"] if result.rows else "",
        window=str(request.window),
        scored=result.scored,
        refused=result.refused,
        confidence=settings.evaluation.confidence,
        replicates=settings.evaluation.replicates,
        bundles=[b.identity for b in bundles],
        decisions=result.decisions,
        gated=gated,
        scopes=_scopes(result.rows, bundles, boot, settings),
    )


def write_report(
    folder: Path, run_id: str, request: Any, result: Any, boot: dict[tuple[str, int], BootstrapSums],
    bundles: Sequence[LoadedBundle], settings: Settings, gated: bool,
) -> Path:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(render_report(run_id, request, result, boot, bundles, settings, gated))
    log.info("evaluation report written to %s", path)
    return path
