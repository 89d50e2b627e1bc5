"""Test data for the parity gate and the serving-skew check: labeled examples whose features
exercise every transform stage kind, and the pipeline, training set, model and bundle built
from them with the project's own jobs."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path
from typing import Any

from schemas.tables import SILVER_LABELED_EXAMPLES
from skewguard.config import Settings

DAY = dt.date(2024, 11, 20)
WORKLOAD = "fraud-scoring"
DEVICES = ["ios", "android", "web"]
COUNTRIES = ["FR", "DE", "US", "GB", "IN", "BR", "JP", "ES"]

PIPELINE = {
    "name": "parity",
    "inputs": {
        "f001": "double",
        "f002": "double",
        "f003": "string",
        "f004": "string",
        "f005": "double",
        "event_ts": "timestamp",
    },
    "stages": [
        {"kind": "impute", "name": "impute_numeric", "columns": ["f001", "f002", "f005"]},
        {"kind": "impute_category", "name": "impute_categorical", "columns": ["f003"]},
        {"kind": "clip", "name": "clip_amount", "columns": ["f001"], "options": {"quantiles": [0.01, 0.99]}},
        {"kind": "log1p", "name": "log_balance", "columns": ["f005"]},
        {"kind": "bucketize", "name": "bucket_visits", "columns": ["f002"], "options": {"num_buckets": 5}},
        {"kind": "vocabulary", "name": "vocabulary", "columns": ["f003"], "options": {"one_hot": True}},
        {"kind": "hash_bucket", "name": "hash_country", "columns": ["f004"], "options": {"num_buckets": 16}},
        {"kind": "standardize", "name": "standardize", "columns": ["f005"]},
        {
            "kind": "time_features",
            "name": "time_features",
            "columns": ["event_ts"],
            "options": {"features": ["hour_sin", "hour_cos", "day_of_week"]},
        },
    ],
    "outputs": ["f001", "f002", "f003", "f004", "f005", "event_ts"],
}


def examples(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """Labeled examples: a float with missing values, an integer count, a device with missing
    values, a country, a positive float; the label depends on them."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        ts = dt.datetime(2024, 11, 20, tzinfo=dt.UTC) + dt.timedelta(microseconds=rng.randrange(86_400 * 10**6))
        amount = None if k % 13 == 0 else round(rng.lognormvariate(6.0, 1), 4)
        visits = rng.randrange(0, 40)
        device = None if k % 19 == 0 else rng.choice(DEVICES)
        balance = round(rng.expovariate(1 / 700), 2)
        z = 0.0015 * (amount or 600) - 1.2 + (1.0 if device == "ios" else 0) - 0.03 * visits + 0.0005 * balance
        label = 1.0 if rng.random() < 1 / (1 + math.exp(-z)) else 0.0
        features = {
            "f001": None if amount is None else repr(amount),
            "f002": str(visits),
            "f003": device,
            "f004": rng.choice(COUNTRIES),
            "f005": repr(balance),
        }
        rows.append(
            {
                "event_id": f"evt-{k:06d}",
                "event_ts": ts,
                "event_date": DAY,
                "workload_id": WORKLOAD,
                "client_id": "web",
                "request_id": f"req-{k}",
                "model_name": f"{WORKLOAD}-model",
                "model_version": "v1",
                "transform_hash": "abc123",
                "features": features,
                "outputs": {"score": 0.5, "label": 1.0},
                "sampling_rate": 1.0,
                "label": label,
                "label_ts": ts + dt.timedelta(hours=1),
                "label_delay_s": 3600.0,
                "parse_run_id": "parse-1",
                "join_run_id": "join-1",
                "joined_at": ts,
                "predictions_version": 0,
            }
        )
    return rows


def build_bundle(spark: Any, settings: Settings, spec_dir: Path, n: int = 12_000, version: str = "v1") -> Path:
    """``n`` labeled examples → training set ``pt`` (every stage kind) → model ``fraud`` → its
    bundle, at ``<artifacts>/bundles/fraud-<version>`` (where the logs' model version finds it)."""
    from jobs.build_training_set import main as build
    from jobs.lib.delta_io import ensure_table
    from jobs.train_reference_model import main as train
    from ops.build_bundle import build_named_bundle

    path = ensure_table(spark, settings, SILVER_LABELED_EXAMPLES)
    rows = examples(n)
    spark.createDataFrame(
        [tuple(r[c] for c in SILVER_LABELED_EXAMPLES.column_names) for r in rows],
        SILVER_LABELED_EXAMPLES.spark_schema(),
    ).write.format("delta").mode("append").save(path)
    spec = spec_dir / "pipeline.json"
    spec.write_text(json.dumps(PIPELINE))
    if build(["--date", str(DAY), "--workload", WORKLOAD, "--name", "pt", "--pipeline", str(spec)]) != 0:
        raise RuntimeError("build_training_set failed")
    if train(["--training-set", "pt", "--name", "fraud", "--version", version]) != 0:
        raise RuntimeError("train_reference_model failed")
    return build_named_bundle(settings, "fraud", version).path
