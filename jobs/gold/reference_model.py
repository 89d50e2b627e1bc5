"""The reference model: a logistic regression trained with Spark MLlib on a training set's
train split, evaluated by ROC AUC on its validation and eval splits, saved as plain JSON
(weights in the order of the training set's ``feature_names``) for the model bundle."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import array_to_vector
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.lib.delta_io import sql_string
from jobs.lib.runs import RunRecord
from skewguard.artifacts import load_manifest, model_dir
from skewguard.config import Settings

__all__ = ["ModelRequest", "train_reference_model"]

log = logging.getLogger("skewguard.model")


@dataclass(frozen=True)
class ModelRequest:
    training_set: str
    name: str
    version: str
    reg_param: float = 0.01
    max_iter: int = 100


def train_reference_model(
    spark: SparkSession, settings: Settings, request: ModelRequest, run: RunRecord
) -> dict[str, Any]:
    """Train, evaluate and save the model; returns its description (``model.json``)."""
    manifest = load_manifest(settings, request.training_set)
    run.source = f"{manifest['table']}:{request.training_set}@v{manifest['version']}"
    examples_df = (
        spark.read.format("delta")
        .option("versionAsOf", manifest["version"])
        .load(manifest["path"])
        .where(f"training_set = {sql_string(request.training_set)}")
        .select(array_to_vector("features").alias("x"), "label", "split")
    )
    train_df = examples_df.where(F.col("split") == "train").cache()
    try:
        summary = train_df.groupBy("label").count().collect()
        labels = {r["label"] for r in summary}
        run.read_count = sum(int(r["count"]) for r in summary)
        if not labels <= {0.0, 1.0} or len(labels) < 2:
            raise ValueError(f"a logistic regression needs labels 0 and 1 in the train split, found {sorted(labels)}")
        lr = LogisticRegression(
            featuresCol="x", labelCol="label", regParam=request.reg_param, maxIter=request.max_iter, elasticNetParam=0.0
        )
        model = lr.fit(train_df)
    finally:
        train_df.unpersist()
    evaluator = BinaryClassificationEvaluator(
        rawPredictionCol="rawPrediction", labelCol="label", metricName="areaUnderROC"
    )
    counts = {r["split"]: int(r["count"]) for r in examples_df.groupBy("split").count().collect()}
    metrics: dict[str, Any] = {"train_count": run.read_count}
    for split in ("validation", "eval"):
        n = counts.get(split, 0)
        metrics[f"{split}_count"] = n
        scored = model.transform(examples_df.where(F.col("split") == split))
        metrics[f"{split}_auc"] = float(evaluator.evaluate(scored)) if n else None
    description = {
        "type": "logistic_regression",
        "name": request.name,
        "version": request.version,
        "feature_names": manifest["feature_names"],
        "coefficients": [float(w) for w in model.coefficients.toArray()],
        "intercept": float(model.intercept),
        "threshold": 0.5,
        "outputs": ["score", "label"],
        "hyperparameters": {"reg_param": request.reg_param, "max_iter": request.max_iter, "elastic_net": 0.0},
        "training_set": {
            "name": request.training_set,
            "table": manifest["table"],
            "version": manifest["version"],
            "pipeline_hash": manifest["pipeline_hash"],
        },
        "metrics": metrics,
        "run_id": run.run_id,
        "trained_at": run.started_at.isoformat(),
    }
    folder = model_dir(settings, request.name, request.version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    params = {"training_set": request.training_set, "name": request.name, "version": request.version,
              **description["hyperparameters"]}  # fmt: skip
    run.details = {"model_dir": str(folder), **metrics, "params": params}
    run.status = "succeeded"
    log.info(
        "model %s %s: validation AUC %s (saved to %s)", request.name, request.version, metrics["validation_auc"], folder
    )
    return description
