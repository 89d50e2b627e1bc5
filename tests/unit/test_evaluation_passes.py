"""The evaluation's per-partition code without Spark: scores typed column by column equal the
per-row requests' exactly (and fall back to them, refusals included); the exact ranking cut
into score ranges equals scikit-learn's; the chunked bootstrap sums equal the plain ones."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.evaluation_passes import batch_scopes, bootstrap_sums_of
from jobs.evaluate.ranking_pass import range_cuts, rank_sums, ranking_of
from jobs.evaluate.scored_rows import _logged_names, _score_batches, scopes_of, typed_inputs
from jobs.parity.replay_client import request_from_logged
from ops.build_bundle import build_named_bundle
from serving.bundle import Bundle
from skewguard.artifacts import model_dir, training_set_dir
from skewguard.config import load_settings
from tests.spark.parity_data import PIPELINE, examples
from transforms import Pipeline, source_hash
from transforms.frame import records_to_batch

TIME_COLUMN = "event_ts"  # jobs.gold.training_set's (which imports Spark)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The parity pipeline (every stage kind) fitted here, a logistic model on its outputs, bundled."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp_path_factory.mktemp("lakehouse")))
        settings = load_settings()
        rows = examples(600)
        table = pa.table(
            {
                **{n: [r["features"][n] for r in rows] for n in ("f001", "f002", "f003", "f004", "f005")},
                "event_ts": pa.array([r["event_ts"] for r in rows], pa.timestamp("us", tz="UTC")),
            }
        )
        fitted = Pipeline.from_spec(PIPELINE).fit(table)
        ts = training_set_dir(settings, "pt")
        ts.mkdir(parents=True)
        (ts / "pipeline.json").write_text(fitted.dumps() + "\n")
        window = {"start": "2024-11-20", "end": "2024-11-20", "workload_id": "fraud-scoring"}
        manifest = {"name": "pt", "table": "gold.training_set", "version": 1, "window": window}
        manifest["transform_source_hash"] = source_hash()
        (ts / "manifest.json").write_text(json.dumps(manifest))
        names = fitted.output_names()
        model = {
            "type": "logistic_regression", "name": "fraud", "version": "v1", "feature_names": names,
            "coefficients": list(np.random.default_rng(0).normal(0, 0.5, len(names))), "intercept": -0.3,
            "threshold": 0.5, "outputs": ["score", "label"], "metrics": {},
            "training_set": {"name": "pt", "pipeline_hash": fitted.params_hash()},
        }  # fmt: skip
        folder = model_dir(settings, "fraud", "v1")
        folder.mkdir(parents=True)
        (folder / "model.json").write_text(json.dumps(model))
        return build_named_bundle(settings, "fraud", "v1")


ODD_NUMBERS = ["-0", "0", "-0.0", "+.5e3", "5.", "007", "1E-3", "1.7976931348623157e308", "4.9e-324",
               "123456789012345678901234567890", "0.1000000000000000055511151231257827", None]  # fmt: skip
NEEDS_ROWS = [" 12", "1_0", "nan", "inf", "abc", "1" * 400, "\u0661"]


def _batch(texts: dict[str, list[Any]], times: list[dt.datetime]) -> pa.RecordBatch:
    names = _logged_names([dict(PIPELINE["inputs"])], TIME_COLUMN)
    arrays = [pa.array(range(len(times)), pa.int64()), pa.array([0.0] * len(times))]
    arrays.append(pa.array(times, pa.timestamp("us", tz="Etc/UTC")))
    arrays += [pa.array(texts[n], pa.string()) for n in names]
    return pa.RecordBatch.from_arrays(
        arrays, names=["_hash", "label", "event_ts", *[f"_in{j}" for j in range(len(names))]]
    )


def _texts(n: int, f001: list[str | None]) -> tuple[dict[str, list[Any]], list[dt.datetime]]:
    rows = examples(n, seed=5)
    texts: dict[str, list[Any]] = {
        k: [r["features"][k] for r in rows] for k in ("f001", "f002", "f003", "f004", "f005")
    }
    texts["f001"] = [f001[i % len(f001)] for i in range(n)]
    return texts, [r["event_ts"] for r in rows]


def _requests(texts: dict[str, list[Any]], times: list[dt.datetime], contract: dict[str, str]) -> list[dict[str, Any]]:
    return [
        request_from_logged({k: v[i] for k, v in texts.items() if v[i] is not None}, contract, ts, TIME_COLUMN)
        for i, ts in enumerate(times)
    ]


def test_inputs_typed_by_column_equal_the_requests_typed_row_by_row(bundle: Bundle) -> None:
    contract = bundle.inputs
    texts, times = _texts(60, ODD_NUMBERS)
    batch = _batch(texts, times)
    names = _logged_names([contract], TIME_COLUMN)
    typed = typed_inputs(
        {n: batch.column(f"_in{j}") for j, n in enumerate(names)}, batch.column("event_ts"), contract, TIME_COLUMN
    )
    assert typed is not None
    expected = records_to_batch(_requests(texts, times, contract), contract)
    for name in contract:
        got, want = typed.column(name), expected.column(name)
        assert got.type == want.type and got.null_count == want.null_count, name
        if pa.types.is_floating(got.type):  # bit for bit, the sign of zero included
            np.testing.assert_array_equal(
                got.to_numpy(zero_copy_only=False).view(np.int64), want.to_numpy(zero_copy_only=False).view(np.int64)
            )
        else:
            assert got.equals(want), name
    for odd in NEEDS_ROWS:  # texts Python reads differently, or not at all: the per-row path decides
        texts, times = _texts(5, ["1.5", odd])
        batch = _batch(texts, times)
        columns = {n: batch.column(f"_in{j}") for j, n in enumerate(names)}
        assert typed_inputs(columns, batch.column("event_ts"), contract, TIME_COLUMN) is None, odd


@pytest.mark.parametrize("f001", [ODD_NUMBERS, ["12.5", "abc", None, " 7"], ["1_0", "nan", "\u0661"]])
def test_scores_equal_each_request_scored_alone_and_refusals_are_kept(bundle: Bundle, f001: list[Any]) -> None:
    contract = bundle.inputs
    texts, times = _texts(40, f001)
    names = _logged_names([contract], TIME_COLUMN)
    run = _score_batches([(str(bundle.path), bundle.content_hash, contract)], names, TIME_COLUMN)
    (out,) = list(run(iter([_batch(texts, times)])))
    assert out.schema.names == ["_hash", "label", "_score0", "_refused"]
    scores, refused = out.column("_score0").to_pylist(), out.column("_refused").to_pylist()
    for i, request in enumerate(_requests(texts, times, contract)):
        try:
            alone = float(bundle.evaluate([request])[1][0])
        except ValueError:
            assert scores[i] is None and refused[i] and refused[i].startswith("fraud v1: ValueError"), i
        else:
            assert scores[i] == alone and refused[i] is None, i


@pytest.mark.parametrize("ties", [False, True])
def test_the_ranking_cut_into_score_ranges_equals_scikit_learns(ties: bool) -> None:
    rng = np.random.default_rng(9)
    labels = (rng.random(30000) < 0.25).astype(float)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, labels.size) + labels)))
    if ties:
        scores = np.round(scores * 40) / 40
    bins = 64
    counts = np.bincount(cm.score_bin(scores, bins), minlength=bins)
    cuts = range_cuts(counts, cm.score_edges(bins), 4000, 64)
    assert 5 <= len(cuts) <= 8 and set(cuts) <= set(cm.score_edges(bins))
    part = (scores[:, None] < np.array(cuts)[None, :]).sum(axis=1)  # as Spark assigns them
    # a range is a run of whole fine bins, so its counts are the bins' counts
    assert np.unique(np.stack([cm.score_bin(scores, bins), part]), axis=1).shape[1] == np.unique(counts.nonzero()).size
    total, above = np.zeros(5), (0.0, 0.0)
    for r in range(len(cuts) + 1):
        got = rank_sums(scores[part == r], labels[part == r], above)
        total += got
        above = (above[0] + got[0], above[1] + got[1])
    auc, ap = ranking_of(tuple(total))
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert ranking_of(rank_sums(scores, labels, (0.0, 0.0))) == pytest.approx((auc, ap), abs=1e-12)


def test_the_compiled_bootstrap_sums_equal_the_numpy_definition() -> None:
    rng = np.random.default_rng(4)
    n, reps, bins, cal = 5000, 50, 64, 10
    hashes = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    labels = (rng.random(n) < 0.3).astype(float)
    scores = [rng.random(n), np.round(rng.random(n) * 10) / 10]
    got = bootstrap_sums_of(hashes, labels, scores, [0.5, 0.3], reps, 7, cal, bins)
    w = cm.poisson_weights(hashes, reps, 7)
    for b, (s, t) in enumerate(zip(scores, [0.5, 0.3], strict=True)):
        stats = cm.row_stats(s, labels, t, cal)
        np.testing.assert_allclose(got[b].point, stats.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(got[b].replicate, w.T @ stats, rtol=1e-12)
        cells = cm.score_bin(s, bins) + bins * (labels == 0)
        hist = np.zeros((reps, 2 * bins))
        for r in range(reps):
            hist[r] = np.bincount(cells, weights=w[:, r], minlength=2 * bins)
        np.testing.assert_array_equal(got[b].hist.reshape(reps, -1), hist)
        np.testing.assert_array_equal(got[b].point_hist.ravel(), np.bincount(cells, minlength=2 * bins))


def test_each_row_is_keyed_in_every_scope_as_its_own_values_say() -> None:
    scopes = scopes_of(["client_id", "model_version"], by_day=True)
    assert len(scopes) == 6
    rng = np.random.default_rng(2)
    n = 500
    columns = {
        "workload_id": [f"w{i}" for i in rng.integers(0, 3, n)],
        "_day": [f"2024-11-{20 + i}" for i in rng.integers(0, 2, n)],
        "_s0": [["web", "ios", ""][i] for i in rng.integers(0, 3, n)],
        "_s1": [f"v{i}" for i in rng.integers(0, 4, n)],
    }
    batch = pa.RecordBatch.from_pydict(columns)
    for scope, (keys, index) in zip(scopes, batch_scopes(batch, scopes), strict=True):
        assert len(set(keys)) == len(keys)
        for i in range(n):
            assert keys[index[i]] == scope.key({c: v[i] for c, v in columns.items()})
    whole, by_client = scopes[0].key({"workload_id": "w"}), scopes[1]
    assert whole == "\x1fw\x1f\x1f" and by_client.key({"workload_id": "w", "_s0": "ios"}) == "\x1fw\x1fclient_id\x1fios"
