"""bench-faults: bad input through every entrance, counted for loss and duplication.

In one run, against the local Elasticsearch:

(a) the serving logger, called with every kind of value a Python serving app passes
    (numpy scalars and arrays, ``Decimal``, dates, NaN/±inf, nested numpy) and every kind
    it must refuse (sets, bytes, objects, integers past 64 bits, lone surrogates, a
    non-mapping ``features``, a keyword Elasticsearch refuses): per kind, how many calls
    were indexed, dead-lettered (at the call or by Elasticsearch), lost or duplicated;
(b) four logger processes sharing one spool folder while Elasticsearch is unreachable, then
    four more replaying it while it is up (plus a damaged spool file): lost, duplicated;
(c) ``skewguard load`` + the ingest job on a file with malformed records and bad lines:
    every line is in bronze, in the quarantine or in the loader's rejected file;
(d) the logger's sustained rate next to ``helpers.parallel_bulk`` on the same records.

Writes ``benchmarks/results/faults.json`` with ``records_lost`` and ``records_duplicated``
(both must be 0) and ``throughput_vs_parallel_bulk_ratio``.

    python -m benchmarks.bench_faults [--calls 20000] [--spool-records 5000] [--records 200000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import helpers

from benchmarks.bench_logger import _records, _run_logger, _run_parallel_bulk
from benchmarks.common import local_session, write_result
from ops.loader import load_jsonl
from ops.synthetic import GeneratorConfig, generate, write_jsonl
from serving.logger import ServingLogger
from serving.spool import CORRUPT, DEAD_LETTER
from skewguard.config import Settings, load_settings, repo_root
from skewguard.es import connect
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.faults")
MODEL = {"name": "m", "version": "1", "transform_hash": "h"}
DEAD_URL = "http://127.0.0.1:9299"  # nothing listens there: Elasticsearch "down"

# kind -> (features value for call i, what should happen: "indexed" | "call" | "elasticsearch")
KINDS: dict[str, tuple[Callable[[int], Any], str]] = {
    "plain": (lambda i: i / 7, "indexed"),
    "numpy_float32": (lambda i: np.float32(i / 7), "indexed"),
    "numpy_int64": (lambda i: np.int64(i), "indexed"),
    "numpy_bool": (lambda i: np.bool_(i % 2), "indexed"),
    "numpy_array": (lambda i: np.arange(3, dtype=np.float64) * i, "indexed"),
    "nested_numpy": (lambda i: {"a": [np.float32(1.5), {"b": np.int64(i)}]}, "indexed"),
    "decimal": (lambda i: decimal.Decimal(i) / 8, "indexed"),
    "datetime": (lambda i: dt.datetime(2024, 11, 23, tzinfo=dt.UTC) + dt.timedelta(seconds=i), "indexed"),
    "date": (lambda i: dt.date(2024, 11, 23), "indexed"),
    "nan": (lambda i: math.nan, "indexed"),
    "infinity": (lambda i: -math.inf if i % 2 else math.inf, "indexed"),
    "set": (lambda i: {i, i + 1}, "call"),
    "bytes": (lambda i: b"\x00raw", "call"),
    "object": (lambda i: object(), "call"),
    "int_over_64_bits": (lambda i: 2**70 + i, "call"),
    "lone_surrogate": (lambda i: "text \ud800", "call"),
    "features_not_a_mapping": (lambda i: None, "call"),
    "immense_keyword": (lambda i: i, "elasticsearch"),
}


def _settings(base: Settings, url: str, index: str, spool: Path, **serving: Any) -> Settings:
    return base.model_copy(
        update={
            "elasticsearch": base.elasticsearch.model_copy(update={"url": url, "index": index}),
            "serving": base.serving.model_copy(update={"spool_dir": spool, **serving}),
        }
    )


def _es_ids(settings: Settings, index: str) -> Counter[str]:
    client = connect(settings.elasticsearch)
    try:
        client.indices.refresh(index=index)
        return Counter(h["_id"] for h in helpers.scan(client, index=index, query={"query": {"match_all": {}}}))
    finally:
        client.close()


def _fresh(settings: Settings, index: str) -> None:
    client = connect(settings.elasticsearch)
    try:
        client.options(ignore_status=404).indices.delete(index=index)
    finally:
        client.close()


def _dead_letters(folder: Path) -> list[dict[str, Any]]:
    path = folder / DEAD_LETTER
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line] if path.exists() else []


def bench_logger_inputs(base: Settings, work: Path, calls: int) -> dict[str, Any]:
    index = "bench-faults-logger"
    _fresh(base, index)
    logger = ServingLogger(_settings(base, base.elasticsearch.url, index, work / "spool-inputs"))
    names = list(KINDS)
    kind_of: dict[str, str] = {}
    t0 = time.monotonic()
    for i in range(calls):
        kind = names[i % len(names)]
        make, _ = KINDS[kind]
        event_id = f"f{i}"
        kind_of[event_id] = kind
        features = None if kind == "features_not_a_mapping" else {"v": make(i), "g": i}
        logger.log_prediction(workload_id="w" * 40_000 if kind == "immense_keyword" else "faults", event_id=event_id,
                              features=features, outputs={"score": 0.5}, model=MODEL)  # type: ignore[arg-type]  # fmt: skip
    closed_clean = logger.close(timeout=300)
    seconds = time.monotonic() - t0
    indexed = _es_ids(base, index)
    dead = Counter((d["_id"], d["stage"]) for d in _dead_letters(logger._spool.directory))
    per_kind: dict[str, dict[str, int]] = {k: Counter() for k in names}  # type: ignore[misc]
    for event_id, kind in kind_of.items():
        outcome = {"indexed": indexed[event_id], "call": dead[(event_id, "call")],
                   "elasticsearch": dead[(event_id, "elasticsearch")]}  # fmt: skip
        seen = sum(outcome.values())
        per_kind[kind]["tried"] += 1
        per_kind[kind]["lost"] += int(seen == 0)
        per_kind[kind]["duplicated"] += max(0, seen - 1)
        per_kind[kind]["as_expected"] += int(outcome[KINDS[kind][1]] == 1 and seen == 1)
        for name, n in outcome.items():
            per_kind[kind][name if name == "indexed" else f"dead_lettered_at_{name}"] += n
    return {
        "calls": calls,
        "seconds": round(seconds, 2),
        "close_returned": closed_clean,
        "stats": logger.stats_dict(),
        "kinds": {k: dict(v) for k, v in per_kind.items()},
        "records_lost": sum(v["lost"] for v in per_kind.values()),
        "records_duplicated": sum(v["duplicated"] for v in per_kind.values()),
        "unexpected_outcomes": sum(v["tried"] - v["as_expected"] for v in per_kind.values()),
    }


def _worker(argv: list[str]) -> int:
    url, index, spool, prefix, count, close_s = argv
    setup_logging("ERROR")  # an unreachable cluster is the point here: its warnings are expected
    settings = _settings(load_settings("local"), url, index, Path(spool), batch_size=200, retry_max_s=1.0)
    logger = ServingLogger(settings)
    for i in range(int(count)):
        logger.log_prediction(workload_id="faults", event_id=f"{prefix}-{i}", features={"i": i, "pad": "x" * 500},
                              outputs={"score": 0.5}, model=MODEL)  # fmt: skip
    logger.close(timeout=float(close_s))
    sys.stdout.write(json.dumps(logger.stats_dict()) + "\n")
    return 0


def _run_workers(url: str, index: str, spool: Path, prefix: str, count: int, close_s: float) -> list[dict[str, int]]:
    procs = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.bench_faults", "--worker", url, index, str(spool),
                          f"{prefix}{w}", str(count), str(close_s)], cwd=repo_root(), stdout=subprocess.PIPE, text=True)
        for w in range(4)
    ]  # fmt: skip
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"a logger process failed (exit {proc.returncode})")
        out.append(json.loads(stdout.splitlines()[-1]))
    return out


def bench_shared_spool(base: Settings, work: Path, per_process: int) -> dict[str, Any]:
    index = "bench-faults-spool"
    _fresh(base, index)
    spool = work / "spool-shared"
    t0 = time.monotonic()
    down = _run_workers(DEAD_URL, index, spool, "down", per_process, 2)
    folder = spool / index
    (folder / f"{'0' * 19}1-1-deadbeef.jsonl").write_bytes(b'{"_id": "x", "_source": "{\\"trunc')
    up = _run_workers(base.elasticsearch.url, index, spool, "up", per_process // 5, 300)
    seconds = time.monotonic() - t0
    indexed = _es_ids(base, index)
    expected = [f"{p}{w}-{i}" for p, n in (("down", per_process), ("up", per_process // 5))
                for w in range(4) for i in range(n)]  # fmt: skip
    return {
        "processes_sharing_spool": 4,
        "records": len(expected),
        "seconds": round(seconds, 2),
        "spooled_while_down": sum(r["spooled"] for r in down),
        "replayed": sum(r["replayed"] for r in up),
        "sent_directly": sum(r["sent"] for r in up),
        "corrupt_files_set_aside": len(list((folder / CORRUPT).iterdir())) if (folder / CORRUPT).exists() else 0,
        "left_in_spool": len([p for p in folder.iterdir() if p.is_file() and p.name != DEAD_LETTER]),
        "records_lost": sum(1 for e in expected if indexed[e] == 0),
        "records_duplicated": sum(1 for e in expected if indexed[e] > 1)
        + max(0, sum(r["sent"] + r["replayed"] for r in up) - len(expected)),
    }


# Each line distinct (identical records are one document by design: the loader's ids are
# content hashes, so a reload never duplicates).
BAD_LINES = [b"{not json %d", b"[%d, 2, 3]", b'"just a string %d"', b'{"timestamp": "x%d", "bad byte": "\xff"}',
             b'{"no_timestamp": %d}']  # fmt: skip


def bench_load_and_ingest(base: Settings, work: Path) -> dict[str, Any]:
    """Loader + ingest on malformed records and bad lines: every line accounted for."""
    index = "bench-faults-load"
    _fresh(base, index)
    day = dt.date(2024, 11, 23)
    config = GeneratorConfig(seed=5, start_date=day, days=1, records_per_day=2000, malformed_fraction=0.1)
    path = work / "faults.jsonl"
    summary = write_jsonl(list(generate(config)), path)
    with path.open("ab") as fh:
        for k in range(200):
            fh.write(BAD_LINES[k % len(BAD_LINES)] % k + b"\n")
    lines = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
    client = connect(base.elasticsearch)
    try:
        loaded = load_jsonl(client, path, index)
    except Exception as exc:  # the loader must not crash on a bad line; if it does, that is the finding
        loaded = None
        load_error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        client.close()
    settings, spark = local_session("bench-faults", work / "lakehouse", driver_memory="2g")
    try:
        from jobs import ingest_logs

        os.environ["ES_COLLECTION_NAME"] = index
        exit_code = ingest_logs.main(["--date", str(day)]) if loaded else None
        lake = settings.lakehouse
        bronze = spark.read.format("delta").load(lake.table_path("bronze.serving_logs")) if exit_code == 0 else None
        bronze_rows = bronze.count() if bronze is not None else 0
        bronze_ids = bronze.select("event_id").distinct().count() if bronze is not None else 0
        quarantined = (
            spark.read.format("delta").load(lake.table_path("bronze.quarantine")).count() if exit_code == 0 else 0
        )
    finally:
        spark.stop()
    rejected = loaded.rejected if loaded else 0
    accounted = bronze_rows + quarantined + rejected
    return {
        "lines": lines,
        "generated_valid": sum(summary.valid_by_kind.values()),
        "generated_malformed": summary.malformed_total,
        "bad_lines": 200,
        "loader": {"indexed": loaded.indexed, "rejected": rejected, "reasons": loaded.reject_reasons}
        if loaded
        else {"error": load_error},
        "ingest_exit_code": exit_code,
        "bronze_rows": bronze_rows,
        "quarantined": quarantined,
        "records_lost": max(0, lines - accounted),
        "records_duplicated": bronze_rows - bronze_ids + max(0, accounted - lines),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=18_000, help="logger calls over the input kinds (default 18k)")
    parser.add_argument("--spool-records", type=int, default=5000, help="records per spooling process (default 5k)")
    parser.add_argument("--records", type=int, default=200_000, help="records for the throughput comparison")
    args = parser.parse_args(argv)
    setup_logging("WARNING")
    base = load_settings("local")
    work = Path(tempfile.mkdtemp(prefix="bench-faults-", dir=repo_root() / ".cache"))
    try:
        inputs = bench_logger_inputs(base, work, args.calls)
        shared = bench_shared_spool(base, work, args.spool_records)
        loading = bench_load_and_ingest(base, work)
        spool = work / "spool-throughput"
        throughput_settings = base.model_copy(
            update={"serving": base.serving.model_copy(update={"spool_dir": spool, "queue_size": args.records + 1})}
        )
        records = _records(args.records)
        bulk = _run_parallel_bulk(throughput_settings, records, 2)
        ours = _run_logger(throughput_settings, records)
        bulk_again = _run_parallel_bulk(throughput_settings, records, 2)
        best_bulk = max(bulk, bulk_again, key=lambda r: r["records_per_s"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    parts = (inputs, shared, loading)
    result = {
        "logger_inputs": inputs,
        "shared_spool": shared,
        "load_and_ingest": loading,
        "processes_sharing_spool": shared["processes_sharing_spool"],
        "records_lost": sum(p["records_lost"] for p in parts),
        "records_duplicated": sum(p["records_duplicated"] for p in parts),
        "throughput": {"logger": ours, "parallel_bulk_runs": [bulk, bulk_again], "parallel_bulk": best_bulk},
        "throughput_vs_parallel_bulk_ratio": round(ours["records_per_s"] / best_bulk["records_per_s"], 3),
        "target": {"records_lost": 0, "records_duplicated": 0, "throughput_vs_parallel_bulk_ratio": 0.9},
    }
    write_result("faults", result)
    sys.stdout.write(
        f"lost {result['records_lost']}, duplicated {result['records_duplicated']} "
        f"({inputs['calls']} logger calls over {len(KINDS)} kinds, {shared['records']} records through a spool "
        f"shared by 4 processes, {loading['lines']} lines loaded and ingested); logger "
        f"{ours['records_per_s']} rec/s vs parallel_bulk {best_bulk['records_per_s']} rec/s = "
        f"{result['throughput_vs_parallel_bulk_ratio']}\n"
    )
    return 0 if result["records_lost"] == result["records_duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
