"""The reports' templates and charts without a browser: the Jinja2 environment escapes and
refuses undefined names, the templates load from the ``--py-files`` zip as from the checkout,
and the charts' SVG is deterministic and the same whatever was drawn before it (the chart
module reuses one figure per kind of chart)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import pytest

from jobs.drift import drift_report
from jobs.drift.drift_charts import Trend, histogram_chart, trend_chart
from jobs.drift.drift_report import FeatureReport, MetricValue, RunReport, histogram_svg, render_report, trend_svg
from jobs.lib.report_pages import page_environment
from skewguard.stack import build_pyfiles_zip

TREND = Trend("ks", ("2024-11-20", "2024-11-21", "2024-11-22"), (0.05, None, 0.25), ("ok", "empty", "alert"), 0.1, 0.2)
FEATURE = FeatureReport(
    workload_id="fraud",
    feature="f001",
    feature_type="numeric",
    slice="",
    status="alert",
    ref_count=100,
    cur_count=90,
    ref_null_rate=0.0,
    cur_null_rate=0.0,
    bin_labels=("(-inf, 0]", "(0, +inf)", "null"),
    ref_props=(0.5, 0.5, 0.0),
    cur_props=(0.2, 0.7, 0.1),
    metrics=(MetricValue("psi", 0.4, 0.1, 0.2, "alert", reason="material"),),
)
RUN = RunReport(
    "r1", "2024-11-22T00:00:00+00:00", "2024-11-22", "ref", "bounded", (FEATURE,), trends={("fraud", "", "f001"): TREND}
)


def test_the_environment_escapes_and_refuses_undefined_names() -> None:
    env = page_environment("jobs.drift")
    assert env.from_string("<p>{{ x }}</p>").render(x='<b a="1">&') == "<p>&lt;b a=&#34;1&#34;&gt;&amp;</p>"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    with pytest.raises(jinja2.UndefinedError):
        drift_report._ENV.get_template("drift_report.html.j2").render(run=RUN)  # no sections, no counts


def test_the_zip_ships_the_templates_and_the_reports_render_from_it(tmp_path: Path) -> None:
    zip_path = build_pyfiles_zip(tmp_path / "skewguard-py.zip")
    names = set(zipfile.ZipFile(zip_path).namelist())
    assert {
        "jobs/lib/templates/report_page.html.j2",
        "jobs/drift/templates/drift_report.html.j2",
        "jobs/drift/templates/drift_feature.html.j2",
        "jobs/drift/templates/drift_report.css",
        "jobs/parity/templates/parity_report.html.j2",
    } <= names
    # A process that imports the project from the zip only (first on sys.path, run elsewhere).
    code = f"""
import sys
sys.path.insert(0, {str(zip_path)!r})
from jobs.drift import drift_report
from jobs.drift.drift_charts import Trend
from jobs.parity import parity_report
assert drift_report.__file__.startswith({str(zip_path)!r}), drift_report.__file__
for env, name in ((drift_report._ENV, "drift_report.html.j2"), (drift_report._ENV, "drift_feature.html.j2"),
                  (drift_report._ENV, "report_page.html.j2"), (parity_report._ENV, "parity_report.html.j2")):
    assert env.get_template(name).filename.startswith({str(zip_path)!r}), name
f = drift_report.FeatureReport("w", "x", "numeric", "", "ok", 10, 10, 0.0, 0.0, ("a", "b"), (0.5, 0.5), (0.4, 0.6), ())
trends = {{("w", "", "x"): Trend("ks", ("d",), (0.1,), ("ok",))}}
run = drift_report.RunReport("r", "t", "d", "ref", "bounded", (f,), trends=trends)
text = drift_report.render_report(run)
assert text.count("<svg") == 2 and "Drift report" in text
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SKEWGUARD_HOME")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_the_report_is_deterministic() -> None:
    assert render_report(RUN) == render_report(RUN)


def test_a_chart_is_the_same_whatever_was_drawn_before() -> None:
    args = ("one", FEATURE.bin_labels, FEATURE.ref_props, FEATURE.cur_props)
    hist, trend = histogram_chart(*args), trend_chart("one", TREND)
    many = tuple(f"bin {i}" for i in range(40))  # grows the reused figure's pools of bars and ticks
    histogram_chart("other", many, (1 / 40,) * 40, (1 / 40,) * 40)
    trend_chart("other", Trend("js_distance", tuple(map(str, range(12))), (0.1,) * 12, ("warn",) * 12, None, 0.3))
    assert histogram_chart(*args) == hist and trend_chart("one", TREND) == trend
    assert hist is not None and hist.startswith('<svg width="') and 'id="one"' in hist
    assert "one-bar-ref-2" in hist and "other" not in hist


def test_nothing_to_draw_is_a_note() -> None:
    assert histogram_chart("x", (), (), ()) is None
    assert trend_chart("x", Trend("ks", ("d1", "d2"), (None, None), ("empty", "empty"))) is None
    empty = FeatureReport(**{**FEATURE.__dict__, "cur_count": 0, "cur_props": (0.0, 0.0, 0.0)})
    fragment = histogram_svg(empty)
    assert "Empty window" in fragment and "<svg" in fragment  # the reference is still drawn
    none = trend_svg("x", Trend("ks", ("d1",), (None,), ("empty",)))
    assert "No earlier value" in none and "<svg" not in none and 'data-window="d1"' in none
