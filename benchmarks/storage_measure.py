"""How many bytes a set of records takes where the logs are kept: an Elasticsearch index after a
force-merge (``store.size`` of the primaries), a Delta table's live files, and the named /
minimised forms of the generated predictions (for the schema-minimisation figures)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from ops.synthetic_predictions import feature_schema
from serving.id_map import IdMap

__all__ = ["delta_bytes", "es_store_bytes", "loaded_index", "named_features", "prediction_id_map"]

log = logging.getLogger("benchmarks.storage")

# What an application calls its features when nobody minimises them (the generator's f001…
# are already short ids): descriptive names of the lengths real feature stores use.
_NOUNS = (
    "txn_amount_usd", "account_age_days", "txn_count_last_24h", "avg_txn_amount_30d", "distinct_merchants_7d",
    "chargeback_rate_90d", "session_duration_seconds", "failed_logins_last_hour", "card_present_ratio",
    "merchant_risk_score", "days_since_last_purchase", "basket_item_count", "shipping_distance_km",
    "email_domain_age_days", "velocity_score_1h", "refund_count_30d", "hour_of_day_local", "ip_reputation_score",
    "avg_session_clicks_7d", "support_tickets_90d", "loyalty_points_balance", "discount_share_30d",
    "time_on_checkout_seconds", "address_change_count_90d", "device_change_count_30d", "promo_code_used_count",
    "browser_language_mismatch", "payment_method_count", "device_type", "country_code",
)  # fmt: skip


def _names(workload: str) -> dict[str, str]:
    rows = feature_schema(workload)
    numeric = [r for r in rows if r[1] != 2]
    named = {fid: _NOUNS[i] for i, (fid, *_rest) in enumerate(numeric)}
    named.update({fid: name for (fid, *_rest), name in zip([r for r in rows if r[1] == 2], _NOUNS[-2:], strict=True)})
    return named


def prediction_id_map(workloads: tuple[str, ...]) -> tuple[IdMap, dict[str, dict[str, str]]]:
    """One id map over every workload's named features (categories coded), and per workload
    generator id → descriptive name."""
    names = {w: _names(w) for w in workloads}
    ordered = sorted({n for by_id in names.values() for n in by_id.values()})
    categories: dict[str, list[str]] = {}
    for w in workloads:
        for fid, _kind, param, _null in feature_schema(w):
            if isinstance(param, tuple):
                categories.setdefault(names[w][fid], list(param))
    return IdMap.build(ordered, categories), names


def named_features(record: dict[str, Any], names: dict[str, dict[str, str]]) -> dict[str, Any]:
    """``record`` with its features under their descriptive names."""
    by_id = names[record["workload_id"]]
    return {**record, "features": {by_id[k]: v for k, v in record["features"].items()}}


def es_store_bytes(client: Elasticsearch, index: str) -> int:
    """Primary store size of ``index`` after a refresh and a force-merge to one segment."""
    client.indices.refresh(index=index)
    client.options(request_timeout=3600).indices.forcemerge(index=index, max_num_segments=1)
    client.indices.refresh(index=index)
    stats = client.indices.stats(index=index, metric="store,docs")["indices"][index]["primaries"]
    return int(stats["store"]["size_in_bytes"])


def loaded_index(
    client: Elasticsearch, path: Path, index: str, mapping: dict[str, Any], codec: str | None = None
) -> dict[str, Any]:
    """``path`` loaded by the project's loader into a fresh one-shard ``index`` created with
    ``mapping`` (and ``index.codec``); its size after the force-merge, and the load's rate.
    (The test distribution of Elasticsearch has no ``_reindex``: every layout is a load.)"""
    from ops.loader import load_jsonl

    client.options(ignore_status=404).indices.delete(index=index)
    settings: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"}
    if codec:
        settings["codec"] = codec
    client.indices.create(index=index, mappings=mapping, settings=settings)
    t0 = time.monotonic()
    result = load_jsonl(client, path, index, chunk_size=2000, threads=2)
    seconds = time.monotonic() - t0
    if result.rejected or not result.indexed:
        raise RuntimeError(
            f"{result.rejected} of {result.read} records rejected loading {path}: {result.reject_reasons}"
        )
    size = es_store_bytes(client, index)
    log.info("%s: %d docs, %d bytes (%.1f s)", index, result.indexed, size, seconds)
    return {"docs": result.indexed, "codec": codec or "default", "store_bytes": size,
            "bytes_per_record": round(size / result.indexed, 1), "load_seconds": round(seconds, 2),
            "load_docs_per_s": round(result.indexed / seconds)}  # fmt: skip


def delta_bytes(spark: Any, path: str) -> dict[str, Any]:
    """Bytes of the live data files of the Delta table at ``path``, and of its log."""
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    log_bytes = sum(p.stat().st_size for p in (Path(path) / "_delta_log").rglob("*") if p.is_file())
    return {"data_bytes": int(detail["sizeInBytes"]), "files": int(detail["numFiles"]), "log_bytes": log_bytes}
