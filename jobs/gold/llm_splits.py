"""The deterministic split of each workload's kept LLM records into ``train``/``val``/``eval``:
strata are the first tool called (rare ones grouped); the ``eval`` size is shared among strata
by largest remainder, ``val`` is ``val_ratio`` of each stratum's rest; within a stratum records
are taken in the order of a seeded hash of ``event_id``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from jobs.gold.llm_datasets import WorkloadDataset
    from skewguard.settings_models import LlmSettings

__all__ = ["NO_TOOL", "RARE", "allocate", "assign_splits", "split_quotas", "strata_of"]

RARE = "__rare__"
NO_TOOL = "__none__"


def allocate(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """``total`` shared among strata in proportion to ``sizes`` by largest remainder
    (ties: the larger stratum, then the name), never more than a stratum holds."""
    total = min(total, sum(sizes.values()))
    n = sum(sizes.values())
    if n == 0:
        return dict.fromkeys(sizes, 0)
    exact = {k: total * v / n for k, v in sizes.items()}
    shares = {k: math.floor(x) for k, x in exact.items()}
    order = sorted(sizes, key=lambda k: (-(exact[k] - shares[k]), -sizes[k], k))
    for k in order[: total - sum(shares.values())]:
        shares[k] += 1
    return shares


def split_quotas(strata: dict[str, int], llm: LlmSettings) -> dict[str, tuple[int, int]]:
    """Stratum → (eval records, val records)."""
    evals = allocate(llm.eval_size, strata)
    return {k: (evals[k], math.floor((n - evals[k]) * llm.val_ratio + 0.5)) for k, n in strata.items()}


def strata_of(tool_counts: dict[str | None, int], rare_below: int) -> dict[str | None, str]:
    """First tool → stratum: the tool itself, ``__rare__`` when fewer records call it first, ``__none__``."""
    return {tool: NO_TOOL if tool is None else RARE if n < rare_below else tool for tool, n in tool_counts.items()}


def assign_splits(
    spark: SparkSession, decisions_df: DataFrame, datasets: dict[str, WorkloadDataset], llm: LlmSettings
) -> DataFrame:
    """``workload_id, event_id, workload_type, stratum, split`` of every kept record; fills
    each dataset's split counts."""
    strata_rows, quota_rows = [], []
    for ds in datasets.values():
        for tool, stratum in ds.tool_strata.items():
            strata_rows.append((ds.workload_id, NO_TOOL if tool is None else tool, stratum))
        for stratum, (n_eval, n_val) in split_quotas(ds.strata, llm).items():
            quota_rows.append((ds.workload_id, stratum, n_eval, n_val))
            n = ds.strata[stratum]
            ds.splits["eval"] = ds.splits.get("eval", 0) + n_eval
            ds.splits["val"] = ds.splits.get("val", 0) + n_val
            ds.splits["train"] = ds.splits.get("train", 0) + n - n_eval - n_val
    strata_df = spark.createDataFrame(strata_rows, "workload_id string, tool_key string, stratum string")
    quotas_df = spark.createDataFrame(quota_rows, "workload_id string, stratum string, n_eval long, n_val long")
    order = Window.partitionBy("workload_id", "stratum").orderBy(
        F.xxhash64(F.lit(llm.split_seed), "event_id"), "event_id"
    )
    rank = F.col("rank")
    return (
        decisions_df.where(F.col("filter_reason").isNull() & F.col("is_newest") & ~F.col("over_limit"))
        .withColumn("tool_key", F.coalesce("first_tool", F.lit(NO_TOOL)))
        .join(F.broadcast(strata_df), ["workload_id", "tool_key"])
        .join(F.broadcast(quotas_df), ["workload_id", "stratum"])
        .withColumn("rank", F.row_number().over(order))
        .withColumn(
            "split",
            F.when(rank <= F.col("n_eval"), F.lit("eval"))
            .when(rank <= F.col("n_eval") + F.col("n_val"), F.lit("val"))
            .otherwise(F.lit("train")),
        )
        .select("workload_id", "event_id", "workload_type", "stratum", "split")
    )
