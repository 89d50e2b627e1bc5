"""bench-storage: what a logged record costs to keep, from raw JSON to silver.

For the same generated records (the generator's mix of predictions and LLM interactions,
≈ 1 KB each), in one run:

* raw JSON (the JSONL line);
* Elasticsearch, after a force-merge to one segment: skewguard's mapping with the default
  codec and with ``index.codec: best_compression`` (every record), the Data Flywheel's strict
  mapping (it accepts only the LLM interactions, so it is set next to skewguard's mapping on
  those same records);
* bronze (``bronze.serving_logs`` as the ingest job writes it) with snappy and with zstd
  Parquet, and silver (``silver.predictions`` + ``silver.llm_interactions``) parsed from it;
* schema minimisation: the predictions under descriptive feature names next to the same
  predictions minimised by an id map (short ids, category codes): bytes in JSON, Elasticsearch,
  bronze and silver, and loader, ingest and parse speed;
* the logger's sampling: the same prediction calls at 100 %, 10 % and 1 %: call time and what
  is stored;
* from these, the storage per day at 20,000 requests/s × 1 KB at 1 %, 10 % and 100 % logging.

Writes ``benchmarks/results/storage.json``; ``bronze_vs_raw_json_bytes_ratio`` (target ≤ 0.25)
is bronze with the codec the project writes (``skewguard.stack.STORAGE_CONF``: zstd).
Every index it creates (``bench-storage-<run>-…``) is deleted at the end.

    python -m benchmarks.bench_storage [--records 1000000] [--logger-calls 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import local_session, write_result
from benchmarks.storage_measure import delta_bytes, es_store_bytes, loaded_index, named_features, prediction_id_map
from schemas.records import FLYWHEEL_INDEX_MAPPING, SKEWGUARD_INDEX_MAPPING
from skewguard.config import Settings, repo_root
from skewguard.es import connect
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.storage")

DAY = dt.date(2024, 11, 20)
QPS, RECORD_KB, SECONDS_PER_DAY = 20_000, 1.0, 86_400
RATES = (1.0, 0.1, 0.01)
_CODEC = "spark.sql.parquet.compression.codec"


def _generate(records: int, cache: Path) -> tuple[Path, Any]:
    from ops.synthetic import GeneratorConfig, generate, write_jsonl

    config = GeneratorConfig(seed=2024, start_date=DAY, days=1, records_per_day=records, malformed_fraction=0.0)
    path = cache / f"storage-{records}.jsonl"
    if not path.is_file():
        write_jsonl(generate(config), path)
    return path, config


def _jsonl_bytes(path: Path) -> tuple[int, int]:
    """(records, bytes without the newlines)."""
    n = size = 0
    with path.open("rb") as fh:
        for line in fh:
            n += 1
            size += len(line.rstrip(b"\n"))
    return n, size


def _llm_only(path: Path, cache: Path) -> Path:
    """The LLM interactions of ``path``: all the Data Flywheel's strict mapping accepts."""
    out = cache / "storage-llm.jsonl"
    import orjson

    with path.open("rb") as src, out.open("wb") as dst:
        for line in src:
            if "request" in orjson.loads(line):
                dst.write(line)
    return out


def _lake(settings: Settings, root: Path) -> Settings:
    shutil.rmtree(root, ignore_errors=True)
    return settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(root)})})


def _bronze_and_silver(
    spark: Any, settings: Settings, index: str, codec: str, kinds: tuple[str, ...]
) -> dict[str, Any]:
    """Ingest the day from ``index`` and parse it, Parquet written with ``codec``."""
    from jobs.bronze.ingest import IngestWindow, ingest_window
    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from jobs.silver.parse import KINDS, parse_window

    spark.conf.set(_CODEC, codec)
    run = RunRecord(job="bench_storage")
    t0 = time.monotonic()
    ingest_window(spark, settings, IngestWindow(DAY, DAY), run, index)
    ingest_s = time.monotonic() - t0
    out: dict[str, Any] = {
        "codec": codec,
        "landed": run.landed_count,
        "ingest_seconds": round(ingest_s, 2),
        "ingest_docs_per_s": round((run.source_count or 0) / ingest_s),
        "bronze": delta_bytes(spark, settings.lakehouse.table_path("bronze.serving_logs")),
    }
    silver: dict[str, Any] = {}
    parse_s = 0.0
    for kind in kinds:
        t1 = time.monotonic()
        parsed = parse_window(spark, settings, DayWindow(DAY, DAY), RunRecord(job="bench_storage"), KINDS[kind])
        parse_s += time.monotonic() - t1
        silver[KINDS[kind].table.name] = {
            **delta_bytes(spark, settings.lakehouse.table_path(KINDS[kind].table.name)),
            "parsed": parsed.landed_count,
            "quarantined": parsed.quarantined_count,
        }
    out["silver"] = silver
    out["parse_seconds"] = round(parse_s, 2)
    out["parse_docs_per_s"] = round((run.landed_count or 0) / parse_s)
    return out


def _per_record(part: dict[str, Any], records: int) -> float:
    return round(part["data_bytes"] / records, 1)


def _minimisation(spark: Any, settings: Settings, client: Any, path: Path, prefix: str, cache: Path) -> dict[str, Any]:
    """The predictions under descriptive names, and minimised by an id map: the same chain."""
    import orjson

    from ops.synthetic import KIND_PREDICTION

    id_map, names = prediction_id_map(("fraud-scoring", "ranking-v2"))
    maps_dir = cache / "storage-id-maps"
    shutil.rmtree(maps_dir, ignore_errors=True)
    id_map.save(maps_dir)
    settings = settings.model_copy(update={"serving": settings.serving.model_copy(update={"id_maps_dir": maps_dir})})
    named_path, minimised_path = cache / "storage-named.jsonl", cache / "storage-minimised.jsonl"
    with path.open("rb") as src, named_path.open("wb") as named, minimised_path.open("wb") as minimised:
        for line in src:
            record = orjson.loads(line)
            if "features" not in record:
                continue
            full = named_features(record, names)
            named.write(orjson.dumps(full) + b"\n")
            small = {**full, "features": id_map.minimise(full["features"]), "id_map": id_map.map_id}
            minimised.write(orjson.dumps(small) + b"\n")
    out: dict[str, Any] = {"id_map": {"map_id": id_map.map_id, "features": len(id_map.features)}}
    for form, form_path in (("named", named_path), ("minimised", minimised_path)):
        n, size = _jsonl_bytes(form_path)
        es = loaded_index(client, form_path, f"{prefix}-{form}", SKEWGUARD_INDEX_MAPPING)
        lake = _bronze_and_silver(spark, _lake(settings, cache / f"storage-lake-{form}"), f"{prefix}-{form}",
                                  "zstd", ("predictions",))  # fmt: skip
        out[form] = {
            "records": n,
            "raw_json_bytes_per_record": round(size / n, 1),
            "es_bytes_per_record": es["bytes_per_record"],
            "es_load_docs_per_s": es["load_docs_per_s"],
            "bronze_bytes_per_record": _per_record(lake["bronze"], n),
            "silver_bytes_per_record": _per_record(lake["silver"]["silver.predictions"], n),
            "ingest_docs_per_s": lake["ingest_docs_per_s"],
            "parse_docs_per_s": lake["parse_docs_per_s"],
        }
        log.info("minimisation %s: %s", form, out[form])
    full, small = out["named"], out["minimised"]
    out["minimised_vs_named"] = {
        k: round(small[k] / full[k], 3)
        for k in ("raw_json_bytes_per_record", "es_bytes_per_record", "bronze_bytes_per_record",
                  "silver_bytes_per_record", "es_load_docs_per_s", "ingest_docs_per_s", "parse_docs_per_s")
    }  # fmt: skip
    out["record_kind"] = KIND_PREDICTION
    return out


def _sampling(settings: Settings, client: Any, path: Path, prefix: str, calls: int, cache: Path) -> dict[str, Any]:
    """The same ``calls`` prediction calls through the logger at each rate: call time, what is stored."""
    import orjson

    from serving.logger import ServingLogger

    records = []
    with path.open("rb") as fh:
        for line in fh:
            record = orjson.loads(line)
            if "features" in record:
                records.append(record)
                if len(records) == calls:
                    break
    out: dict[str, Any] = {"calls": len(records)}
    for rate in RATES:
        index = f"{prefix}-sampled-{int(rate * 100)}"
        spool = cache / "storage-spool"
        shutil.rmtree(spool, ignore_errors=True)
        serving = settings.serving.model_copy(
            update={"default_sampling_rate": rate, "spool_dir": spool, "queue_size": len(records) + 1}
        )
        logger = ServingLogger(settings.model_copy(update={"serving": serving}), index=index)
        t0 = time.monotonic()
        for r in records:
            logger.log_prediction(workload_id=r["workload_id"], request_id=r["request_id"], event_id=r["event_id"],
                                  features=r["features"], outputs=r["outputs"], model=r["model"],
                                  client_id=r["client_id"], timestamp=r["timestamp"])  # fmt: skip
        call_s = time.monotonic() - t0
        if not logger.close(timeout=600):
            raise RuntimeError(f"the logger did not deliver everything at rate {rate}")
        total_s = time.monotonic() - t0
        stored = es_store_bytes(client, index) if client.indices.exists(index=index) else 0
        indexed = int(client.count(index=index)["count"]) if stored else 0
        out[f"{rate:g}"] = {
            "indexed": indexed,
            "call_us_mean": round(call_s / len(records) * 1e6, 2),
            "seconds_to_delivered": round(total_s, 2),
            "es_store_bytes": stored,
            "es_bytes_per_call": round(stored / len(records), 1),
        }
        log.info("sampling %g: %s", rate, out[f"{rate:g}"])
    return out


def _per_day(ratios: dict[str, float]) -> dict[str, Any]:
    """Storage per day at 20,000 req/s × 1 KB for each logging rate, from stored/raw ratios."""
    raw_tb = QPS * SECONDS_PER_DAY * RECORD_KB * 1000 / 1e12
    return {
        f"{int(rate * 100)}%": {where: round(raw_tb * rate * ratio, 4) for where, ratio in ratios.items()}
        for rate in sorted(RATES)
    } | {"unit": "TB per day (10^12 bytes)", "requests_per_day": QPS * SECONDS_PER_DAY, "record_kb": RECORD_KB}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="generated records (default 1M)")
    parser.add_argument("--logger-calls", type=int, default=50_000, help="prediction calls per sampling rate")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    cache = repo_root() / ".cache" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    settings, spark = local_session("bench-storage", cache / "storage-lake", driver_memory="3g")
    default_codec = spark.conf.get(_CODEC)
    path, config = _generate(args.records, cache)
    records, raw = _jsonl_bytes(path)
    prefix = f"bench-storage-{uuid.uuid4().hex[:8]}"
    client = connect(settings.elasticsearch)
    try:
        es: dict[str, Any] = {
            f"skewguard_{codec or 'default'}": loaded_index(client, path, f"{prefix}-all-{codec or 'default'}",
                                                           SKEWGUARD_INDEX_MAPPING, codec)
            for codec in (None, "best_compression")
        }  # fmt: skip
        llm_path = _llm_only(path, cache)
        for name, mapping in (("skewguard", SKEWGUARD_INDEX_MAPPING), ("flywheel", FLYWHEEL_INDEX_MAPPING)):
            for codec in (None, "best_compression"):
                key = f"llm_only_{name}_{codec or 'default'}"
                es[key] = loaded_index(client, llm_path, f"{prefix}-{key.replace('_', '-')}", mapping, codec)
        kinds = ("predictions", "llm")
        lakes = {
            codec: _bronze_and_silver(
                spark, _lake(settings, cache / f"storage-lake-{codec}"), f"{prefix}-all-default", codec, kinds
            )
            for codec in ("snappy", "zstd")
        }
        for lake in lakes.values():
            if lake["landed"] != records:
                raise RuntimeError(f"bronze landed {lake['landed']} of {records} records")
        minimisation = _minimisation(spark, settings, client, path, prefix, cache)
        sampling = _sampling(settings, client, path, prefix, args.logger_calls, cache)
    finally:
        client.options(ignore_status=404).indices.delete(index=f"{prefix}-*")
        client.close()
        spark.stop()
        for leftover in [*cache.glob("storage-lake*"), *cache.glob("storage-*.jsonl"), *cache.glob("storage-id-maps"),
                         *cache.glob("storage-spool")]:  # fmt: skip
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover != path:  # the generated records stay for the next run
                leftover.unlink(missing_ok=True)

    raw_pr = raw / records
    es_pr = es["skewguard_default"]["bytes_per_record"]
    bronze = {codec: _per_record(lake["bronze"], records) for codec, lake in lakes.items()}
    silver = {codec: round(sum(t["data_bytes"] for t in lake["silver"].values()) / records, 1)
              for codec, lake in lakes.items()}  # fmt: skip
    headline = default_codec if default_codec in bronze else "snappy"
    ratio = round(bronze[headline] / raw_pr, 3)
    ratios = {
        "raw_json": 1.0,
        "elasticsearch_default": es_pr / raw_pr,
        "elasticsearch_best_compression": es["skewguard_best_compression"]["bytes_per_record"] / raw_pr,
        "bronze_snappy": bronze["snappy"] / raw_pr,
        "bronze_zstd": bronze["zstd"] / raw_pr,
        "silver_zstd": silver["zstd"] / raw_pr,
    }
    result = {
        "data": {
            "records": records,
            "raw_json_bytes": raw,
            "kinds": "predictions and LLM interactions, half each",
            "generator": {"seed": config.seed, "day": str(DAY), "llm_share": config.llm_share},
        },  # fmt: skip
        "raw_json_bytes_per_record": round(raw_pr, 1),
        "es_bytes_per_record": es_pr,
        "es_best_compression_bytes_per_record": es["skewguard_best_compression"]["bytes_per_record"],
        "bronze_bytes_per_record": bronze[headline],
        "bronze_codec": headline,
        "bronze_bytes_per_record_by_codec": bronze,
        "silver_bytes_per_record_by_codec": silver,
        "bronze_vs_raw_json_bytes_ratio": ratio,
        "target": {"bronze_vs_raw_json_bytes_ratio": 0.25},
        "met": {"bronze_vs_raw_json_bytes_ratio": ratio <= 0.25},
        "elasticsearch": es,
        "lakehouse": lakes,
        "minimisation": minimisation,
        "sampling": sampling,
        "stored_vs_raw_json_ratio": {k: round(v, 3) for k, v in ratios.items()},
        "storage_per_day": _per_day(ratios),
    }
    write_result("storage", result, command=f"make bench-storage  # --records {records}")
    log.info("raw %.0f B, ES %.0f B (best_compression %.0f), bronze %s, silver %s per record; bronze/raw %.3f",
             raw_pr, es_pr, es["skewguard_best_compression"]["bytes_per_record"], bronze, silver, ratio)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
