"""How many bytes a set of records takes where the logs are kept: an Elasticsearch index after a
force-merge (``store.size`` of the primaries), a Delta table's live files, and the named /
minimised forms of the generated predictions (for the schema-minimisation figures)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from ops.synthetic_predictions import feature_schema
from serving.id_map import IdMap

__all__ = ["delta_bytes", "es_store_bytes", "indexed_copy", "named_features", "prediction_id_map"]

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


def indexed_copy(
    client: Elasticsearch, source: str, target: str, mapping: dict[str, Any], codec: str | None, query: dict[str, Any]
) -> dict[str, Any]:
    """``target`` created with ``mapping`` (and ``index.codec``) filled from ``source`` by the
    cluster's own reindex: the same documents in another layout without a second bulk load."""
    client.options(ignore_status=404).indices.delete(index=target)
    settings: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"}
    if codec:
        settings["codec"] = codec
    client.indices.create(index=target, mappings=mapping, settings=settings)
    t0 = time.monotonic()
    result = client.options(request_timeout=3600).reindex(
        source={"index": source, "query": query, "size": 2000}, dest={"index": target},
        wait_for_completion=True, slices="auto", refresh=True,
    )  # fmt: skip
    if result.get("failures"):
        raise RuntimeError(f"reindex into {target} failed: {json.dumps(result['failures'])[:500]}")
    docs = int(client.count(index=target)["count"])
    size = es_store_bytes(client, target)
    log.info("%s: %d docs, %d bytes (%.1f s)", target, docs, size, time.monotonic() - t0)
    return {"docs": docs, "store_bytes": size, "bytes_per_record": round(size / max(docs, 1), 1)}


def delta_bytes(spark: Any, path: str) -> dict[str, Any]:
    """Bytes of the live data files of the Delta table at ``path``, and of its log."""
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    log_bytes = sum(p.stat().st_size for p in (Path(path) / "_delta_log").rglob("*") if p.is_file())
    return {"data_bytes": int(detail["sizeInBytes"]), "files": int(detail["numFiles"]), "log_bytes": log_bytes}
