"""The drift report's stylesheet and its "how to read this report" text (inline in every page)."""

from __future__ import annotations

__all__ = ["HELP_HTML", "REPORT_CSS"]

REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;max-width:1500px}
h1{font-size:1.4em;margin:0 0 8px}h2{font-size:1.1em;margin:0 0 6px}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0 12px}dl.run dt{color:#5a6272}
dl.run dd{margin:0;font-family:ui-monospace,monospace}
.counts span.count{display:inline-block;margin-right:12px;font-weight:600}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{border-bottom:1px solid #e3e6eb;padding:4px 8px;
text-align:left}th{background:#f4f6f8;position:sticky;top:0}td.num,td.metric{text-align:right;
font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:.85em;font-weight:600;color:#fff;background:#888}
.badge.st-alert{background:#c62828}.badge.st-warn{background:#e0a000;color:#1d2330}.badge.st-ok{background:#2e7d32}
.badge.st-info{background:#607d8b}.badge.st-empty{background:#9e9e9e}
td.st-alert{background:#fde0e0;color:#8e0000;font-weight:600}td.st-warn{background:#fff4cc}td.st-ok{color:#2e7d32}
td.st-empty,td.st-info{color:#6b7280}
section.feature{border-top:2px solid #e3e6eb;padding:14px 0;margin-top:10px}.facts{color:#5a6272;margin:2px 0 6px}
.chart{overflow-x:auto}svg.hist text{font-size:11px;fill:#333}svg.hist line.grid{stroke:#e6e8eb}
svg.hist line.axis{stroke:#555}.empty-note{color:#8e0000;font-style:italic}
svg.trend text{font-size:11px;fill:#333}svg.trend line.axis{stroke:#555}svg.trend polyline.line{fill:none;
stroke:#4c78a8;stroke-width:1.5}svg.trend line.threshold{stroke-dasharray:4 3}svg.trend line.warn{stroke:#e0a000}
svg.trend line.alert{stroke:#c62828}svg.trend circle{fill:#4c78a8}svg.trend circle.st-warn{fill:#e0a000}
svg.trend circle.st-alert{fill:#c62828}
.help{background:#f7f8fa;border-left:3px solid #4c78a8;padding:8px 12px;max-width:1000px;font-size:.92em}
"""

HELP_HTML = (
    "<p><b>How to read this report.</b> Each feature's current window is compared with the reference on the "
    "reference's bins (numeric features: quantile bins plus a null bin; categorical: the reference's top "
    "categories, <code>__other__</code>, <code>__null__</code> and <code>__unseen__</code> for values the reference "
    "never had). <b>PSI</b>, the population stability index over the reference bins, sums "
    "(cur − ref)·ln(cur / ref): ok ≤ 0.1 &lt; warn ≤ 0.2 &lt; alert by default. <b>KS</b> is the largest gap "
    "between the two empirical CDFs; in bounded mode it is computed from bins and given as an interval "
    "[D_lo, D_hi] that contains the exact value. <b>JS</b> is the Jensen–Shannon divergence of the category "
    "proportions, log base 2, so the divergence lies in [0, 1] and the distance is its square root. The "
    "<b>null-rate delta</b> is the change in the share of nulls and the <b>count delta</b> the relative change in "
    "row count. A metric warns or alerts only when it is past its threshold <i>and</i> past its "
    "<b>noise floor</b>, the value sampling noise alone exceeds with probability α at these row counts (its "
    "p-value is below α); the <b>reason</b> says which held it back (<code>below threshold</code>, "
    "<code>below noise</code>) or that it is <code>material</code>. The thresholds actually used are in each "
    "feature's table. Under the histogram, the <b>trend</b> shows the feature's KS (numbers) or JS distance "
    "(categories) in the last windows of the same length measured against the same reference, with the warn and "
    "alert thresholds as dashed lines.</p>"
)
