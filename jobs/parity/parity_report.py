"""The parity gate's report: one dictionary (``report.json``), rendered as text for a CI log
(``report.txt``) and as a self-contained HTML page (``report.html``, from the Jinja2 template
``templates/parity_report.html.j2``; see :mod:`jobs.lib.report_pages`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.lib.report_pages import page_environment
from jobs.parity.comparison import Comparison
from serving.bundle import Bundle

__all__ = ["build_report", "render_html", "render_text", "write_report"]


def _mode_summary(c: Comparison) -> dict[str, Any]:
    top = sorted(c.max_by_output.items(), key=lambda kv: -kv[1])[:10]
    return {
        "examples": c.examples,
        "max_abs_diff": c.max_abs_diff,
        "examples_over_tolerance": len(c.failing_ids),
        "outputs_over_tolerance": c.over_by_output,
        "largest_by_output": {k: v for k, v in top if v > 0},
        "serving_errors": len(c.errors),
        "first_errors": dict(list(c.errors.items())[:5]),
        "worst": c.worst,
    }


def _identity_notes(bundle: Bundle, offline_pipeline_hash: str, offline_transform_hash: str | None) -> list[str]:
    """Where the bundle is not what computed the offline outputs."""
    notes = []
    if bundle.manifest["pipeline_hash"] != offline_pipeline_hash:
        notes.append("the bundle's fitted pipeline is not the one that computed the offline outputs (hashes differ)")
    if offline_transform_hash and offline_transform_hash != bundle.transform_hash:
        notes.append("the bundle carries other transform source than the one that computed the offline outputs")
    return notes


def _metrics_row(report: Mapping[str, Any], checked_at: dt.datetime) -> dict[str, Any]:
    """The report's ``metrics.parity`` row."""
    b, o, modes = report["bundle"], report["offline"], report["modes"]
    divergent = report["divergence"] or {}
    return {
        "run_id": report["run_id"],
        "checked_at": checked_at,
        "bundle_name": b["name"],
        "bundle_version": b["version"],
        "bundle_path": b["path"],
        "bundle_pipeline_hash": b["pipeline_hash"],
        "bundle_transform_hash": b["transform_hash"],
        "offline_source": o["source"],
        "offline_pipeline_hash": o["pipeline_hash"],
        "offline_transform_hash": o["transform_hash"],
        "examples": report["examples"],
        "outputs": report["outputs"],
        "tolerance": report["tolerance"],
        "max_abs_diff": report["max_abs_diff"],
        "max_abs_diff_single": modes["single"]["max_abs_diff"],
        "max_abs_diff_batch": modes["batch"]["max_abs_diff"],
        "examples_over_tolerance": report["examples_over_tolerance"],
        "serving_errors": report["serving_errors"],
        "passed": report["passed"],
        "first_divergent_step": divergent.get("step"),
        "divergent_features": divergent.get("features"),
        "serving_p50_ms": report["serving_latency_ms"]["p50"],
        "serving_p99_ms": report["serving_latency_ms"]["p99"],
        "report_path": report["report_path"],
    }


def build_report(
    *,
    run_id: str,
    checked_at: dt.datetime,
    bundle: Bundle,
    offline_source: str,
    offline_pipeline_hash: str,
    offline_transform_hash: str | None,
    strata: Mapping[str, int],
    comparisons: Mapping[str, Comparison],
    divergence: Mapping[str, Any] | None,
    tolerance: float,
    report_dir: Path,
) -> dict[str, Any]:
    """Everything the gate found, plus the ``metrics.parity`` row (``metrics_row``)."""
    single, batch = comparisons["single"], comparisons["batch"]
    failing = set(single.failing_ids) | set(batch.failing_ids)
    errors = set(single.errors) | set(batch.errors)
    max_diff = max(single.max_abs_diff, batch.max_abs_diff)
    report: dict[str, Any] = {
        "run_id": run_id,
        "checked_at": checked_at.isoformat(),
        "passed": max_diff < tolerance and not errors,
        "tolerance": tolerance,
        "bundle": {
            "name": bundle.name,
            "version": bundle.version,
            "path": str(bundle.path),
            "pipeline_hash": bundle.manifest["pipeline_hash"],
            "transform_hash": bundle.transform_hash,
        },
        "offline": {
            "source": offline_source,
            "pipeline_hash": offline_pipeline_hash,
            "transform_hash": offline_transform_hash,
            "strata": dict(strata),
        },
        "identity_notes": _identity_notes(bundle, offline_pipeline_hash, offline_transform_hash),
        "examples": single.examples,
        "outputs": len(single.names),
        "max_abs_diff": max_diff,
        "examples_over_tolerance": len(failing),
        "serving_errors": len(errors),
        "modes": {"single": _mode_summary(single), "batch": _mode_summary(batch)},
        "serving_latency_ms": {
            "p50": single.latency_ms(50),
            "p99": single.latency_ms(99),
            "batch_mean_per_request": batch.latency_ms(50),
        },
        "divergence": divergence,
        "report_path": str(report_dir),
    }
    report["metrics_row"] = _metrics_row(report, checked_at)
    return report


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "null" if value is None else str(value)


def _exact(value: Any) -> str:
    """Full precision: example values must show the digits where the paths part."""
    return repr(value) if isinstance(value, float) else _fmt(value)


def render_text(report: Mapping[str, Any]) -> str:
    b, o = report["bundle"], report["offline"]
    lines = [
        f"PARITY {'PASSED' if report['passed'] else 'FAILED'}: bundle {b['name']} {b['version']} vs {o['source']}",
        f"  {report['examples']} examples × {report['outputs']} outputs; max |offline − serving| = "
        f"{_fmt(report['max_abs_diff'])} (tolerance {_fmt(report['tolerance'])}); "
        f"{report['examples_over_tolerance']} examples over; {report['serving_errors']} serving errors",
    ]
    for mode, m in report["modes"].items():
        lines.append(
            f"  {mode:<6}: max |Δ| {_fmt(m['max_abs_diff'])}, {m['examples_over_tolerance']} examples over, "
            f"{m['serving_errors']} errors"
        )
    lat = report["serving_latency_ms"]
    lines.append(f"  serving latency per request: p50 {_fmt(lat['p50'])} ms, p99 {_fmt(lat['p99'])} ms")
    lines.append(f"  strata: {', '.join(f'{k} {v}' for k, v in report['offline']['strata'].items())}")
    for note in report["identity_notes"]:
        lines.append(f"  note: {note}")
    div = report.get("divergence")
    if div:
        if div.get("step"):
            lines.append(
                f"  FIRST DIVERGENCE at step {div['step']!r} (step {div['step_index']}), features: "
                f"{', '.join(div['features']) or '(stage lists differ)'}"
            )
        if div.get("note"):
            lines.append(f"    {div['note']}")
        for ex in div.get("examples", [])[:10]:
            lines.append(
                f"    {ex['id']} {ex['feature']}: offline {_exact(ex['offline'])}  serving {_exact(ex['serving'])}"
            )
    worst = report["modes"]["single"]["worst"] or report["modes"]["batch"]["worst"]
    if worst:
        lines.append("  worst examples (single):")
        for w in worst:
            lines.append(
                f"    {w['id']} {w['output']}: offline {_exact(w['offline'])} serving {_exact(w['serving'])} "
                f"|Δ| {_fmt(w['abs_diff'])} ({w['outputs_over_tolerance']} outputs over)"
            )
    for ident, err in report["modes"]["single"]["first_errors"].items():
        lines.append(f"  serving error {ident}: {err}")
    lines.append(f"  report: {report['report_path']}")
    return "\n".join(lines) + "\n"


_ENV = page_environment(
    "jobs.parity",
    {
        "exact": _exact,
        "pick": lambda row, *keys: [row[k] for k in keys],
        "mode_row": lambda item: [
            item[0],
            *(item[1][k] for k in ("max_abs_diff", "examples_over_tolerance", "serving_errors")),
        ],
    },
)


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML page (``templates/parity_report.html.j2``: no script, no external resource)."""
    verdict = "PASSED" if report["passed"] else "FAILED"
    return _ENV.get_template("parity_report.html.j2").render(report=report, verdict=verdict)


def write_report(report: Mapping[str, Any], folder: Path) -> None:
    """``report.json``, ``report.txt`` and ``report.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in report.items() if k != "metrics_row"}
    (folder / "report.json").write_text(json.dumps(public, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "report.txt").write_text(render_text(report))
    (folder / "report.html").write_text(render_html(report))
