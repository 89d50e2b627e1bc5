"""Synthetic delayed labels: deterministic, the configured shares, a ground truth that a
reference join reproduces, and a learnable signal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ops.cli import main as cli_main
from ops.synthetic import GeneratorConfig, generate
from ops.synthetic_labels import FATES, LabelConfig, read_records, synthesize_labels, write_labels
from ops.synthetic_predictions import feature_schema
from schemas.records import UNLABELED_CAUSES, parse_timestamp

RECORDS = [g.record for g in generate(GeneratorConfig(seed=3, days=2, records_per_day=3000, malformed_fraction=0.02))]


def _reference_join(records: list[Any], label_lines: list[dict[str, Any]], window_days: float) -> dict[str, Any]:
    """The documented join rule, in plain Python: newest label in [event, event + window] wins."""
    by_request: dict[str, list[tuple[dt.datetime, float]]] = {}
    for line in label_lines:
        ts = dt.datetime.fromisoformat(line["label_ts"].replace("Z", "+00:00"))
        by_request.setdefault(line["request_id"], []).append((ts, line["label"]))
    window = dt.timedelta(days=window_days)
    joined: dict[str, float] = {}
    causes: dict[str, int] = {}
    for g in records:
        if g.get("features") is None or not g.get("request_id") or g.get("request") is not None:
            continue
        event = parse_timestamp(g.get("timestamp"))
        if event is None or not g.get("workload_id"):
            continue
        labels = by_request.get(g["request_id"], [])
        on_time = [(ts, label) for ts, label in labels if event <= ts <= event + window]
        if on_time:
            joined[g["request_id"]] = max(on_time)[1]
            continue
        late, before = any(ts > event + window for ts, _ in labels), any(ts < event for ts, _ in labels)
        cause = (
            "outside_window"
            if late and before
            else "only_late"
            if late
            else "only_before_event"
            if before
            else "no_label"
        )
        causes[cause] = causes.get(cause, 0) + 1
    return {"joined": joined, "causes": causes}


def test_same_seed_same_bytes_other_seed_other_labels(tmp_path: Path) -> None:
    first = write_labels(RECORDS, tmp_path / "a.jsonl", LabelConfig(seed=1))
    again = write_labels(RECORDS, tmp_path / "b.jsonl", LabelConfig(seed=1))
    other = write_labels(RECORDS, tmp_path / "c.jsonl", LabelConfig(seed=2))

    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first.to_json() == again.to_json()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()
    assert other.predictions == first.predictions


def test_shares_and_ground_truth_match_a_reference_join(tmp_path: Path) -> None:
    config = LabelConfig(
        seed=4, window_days=3, missing_share=0.2, late_share=0.1, duplicate_share=0.1, before_event_share=0.05
    )
    summary = write_labels(RECORDS, tmp_path / "labels.jsonl", config)
    lines = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]

    predictions = sum(1 for r in RECORDS if isinstance(r.get("features"), dict) and r.get("timestamp") is not None
                      and parse_timestamp(r["timestamp"]) and r.get("workload_id"))  # fmt: skip
    assert summary.predictions == predictions and summary.skipped_records == len(RECORDS) - predictions
    assert set(summary.by_fate) == set(FATES)
    for fate, share in (("missing", 0.2), ("late", 0.1), ("duplicate", 0.1), ("before_event", 0.05), ("on_time", 0.55)):
        assert summary.by_fate[fate] / summary.predictions == pytest.approx(share, abs=0.02), fate
    assert (
        summary.label_rows
        == len(lines)
        == summary.predictions - summary.by_fate["missing"] + summary.by_fate["duplicate"]
    )

    reference = _reference_join(RECORDS, lines, config.window_days)
    assert len(reference["joined"]) == summary.joined == sum(summary.joined_by_day_workload.values())
    assert reference["causes"] == summary.unlabeled_by_cause
    assert set(summary.unlabeled_by_cause) <= set(UNLABELED_CAUSES)
    outcomes = {o.request_id: o.joined_label for o in synthesize_labels(RECORDS, config) if o.joined_label is not None}
    assert reference["joined"] == outcomes
    assert sum(outcomes.values()) == summary.joined_positive
    # duplicates: some carry both values, and the newest on-time one is the true outcome
    duplicated = [o for o in synthesize_labels(RECORDS, config) if o.fate == "duplicate"]
    assert any(len({row["label"] for row in o.rows}) == 2 for o in duplicated)


def _design(records: list[dict[str, Any]], workload: str) -> np.ndarray:
    """Standardised numeric features (nulls 0, with an indicator), one-hot categorical ones."""
    columns = [np.ones(len(records))]
    for fid, kind, param, _null_rate in feature_schema(workload):
        values = [r["features"].get(fid) for r in records]
        if kind == 2:
            columns += [np.array([v == level for v in values], dtype=float) for level in param]
            continue
        x = np.array([np.nan if v is None else float(v) for v in values])
        missing = np.isnan(x)
        columns.append(np.where(missing, 0.0, (x - np.nanmean(x)) / (np.nanstd(x) or 1.0)))
        columns.append(missing.astype(float))
    return np.column_stack(columns)


def _logistic_regression(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    w = np.zeros(x.shape[1])
    for _ in range(25):  # Newton steps
        p = 1.0 / (1.0 + np.exp(-x @ w))
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        w -= np.linalg.solve(hessian, x.T @ (p - y) + l2 * w)
    return w


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    ranks = np.empty(len(score))
    ranks[np.argsort(score)] = np.arange(1, len(score) + 1)
    positives = int(y.sum())
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


@pytest.mark.parametrize("workload", ["fraud-scoring", "ranking-v2"])
def test_labels_are_learnable_from_the_logged_features(workload: str) -> None:
    records = [r for r in RECORDS if r.get("workload_id") == workload and isinstance(r.get("features"), dict)]
    outcomes = {o.request_id: o.outcome for o in synthesize_labels(records, LabelConfig(seed=9))}
    records = [r for r in records if r["request_id"] in outcomes]
    x, y = _design(records, workload), np.array([outcomes[r["request_id"]] for r in records], dtype=float)
    n = int(len(y) * 0.7)

    w = _logistic_regression(x[:n], y[:n])

    assert 0.2 < y.mean() < 0.8
    assert 0.75 <= _auc(x[n:] @ w, y[n:]) <= 0.92


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        LabelConfig(missing_share=0.6, late_share=0.6)
    with pytest.raises(ValueError, match="window_days"):
        LabelConfig(window_days=0)


def test_cli_writes_labels_and_summary(tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in RECORDS[:400]) + "\nnot json\n")

    code = cli_main(["labels", "--input", str(logs), "--out", str(tmp_path / "labels.jsonl"), "--seed", "3"])

    assert code == 0
    summary = json.loads((tmp_path / "labels.summary.json").read_text())
    assert summary["label_rows"] == len((tmp_path / "labels.jsonl").read_text().splitlines()) > 0
    assert summary["skipped_records"] == sum(1 for r in read_records(logs)) - summary["predictions"]
