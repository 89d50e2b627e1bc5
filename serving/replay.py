"""Replay requests through a model bundle the way serving runs it: in a plain Python process
with no Spark, one JSON request at a time (or in batches), timing each call.

    python -m serving.replay --bundle DIR --requests IN.tsv|- --out-dir OUT [--modes single,batch,trace]

Each input line is ``<id> TAB <request JSON>`` (the JSON object serving receives); ``-``
reads them from stdin, so a caller can start the process (and load the bundle) before the
requests are ready. For each mode, ``OUT/<mode>.jsonl`` gets one JSON line per request:
``{"id", "features", "score", "label", "latency_us"}`` in the ``single`` and ``batch``
modes, ``{"id", "trace": [[step, {column: value}], ...]}`` in ``trace`` mode (the values
after typing the inputs and after every stage), or ``{"id", "error"}`` for a request the
bundle refuses. ``OUT/summary.json`` says how many requests ran, how long each mode took,
and that Spark was never imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from serving.bundle import Bundle, BundleError

__all__ = ["main", "read_requests"]

log = logging.getLogger("skewguard.replay")
MODES = ("single", "batch", "trace")


def read_requests(stream: TextIO) -> Iterator[tuple[str, str]]:
    """``(id, request JSON text)`` per non-empty line."""
    for number, line in enumerate(stream, 1):
        line = line.rstrip("\n")
        if not line:
            continue
        ident, sep, text = line.partition("\t")
        if not sep:
            raise ValueError(f"line {number}: expected '<id>\\t<request JSON>'")
        yield ident, text


def _outputs(ident: str, vector: Any, score: float, threshold: float, latency_us: float) -> dict[str, Any]:
    return {
        "id": ident,
        "features": [float(v) for v in vector],
        "score": float(score),
        "label": int(score >= threshold),
        "latency_us": latency_us,
    }


def _failed(ident: str, exc: Exception) -> str:
    return json.dumps({"id": ident, "error": f"{type(exc).__name__}: {exc}"[:500]}) + "\n"


_REFUSED = (ValueError, TypeError, KeyError)


def replay(bundle: Bundle, requests: list[tuple[str, str]], mode: str, batch_size: int, out: TextIO) -> int:
    """Run every request through ``bundle`` and write one output line per request."""
    if mode == "single":
        for ident, text in requests:
            try:
                t0 = time.perf_counter()
                matrix, scores = bundle.evaluate([json.loads(text)])
                latency = (time.perf_counter() - t0) * 1e6
            except _REFUSED as exc:
                out.write(_failed(ident, exc))
                continue
            out.write(json.dumps(_outputs(ident, matrix[0], scores[0], bundle.threshold, latency)) + "\n")
    elif mode == "batch":
        for start in range(0, len(requests), batch_size):
            chunk = requests[start : start + batch_size]
            try:
                t0 = time.perf_counter()
                matrix, scores = bundle.evaluate([json.loads(text) for _, text in chunk])
                latency = (time.perf_counter() - t0) * 1e6 / len(chunk)
            except _REFUSED as exc:  # serving would refuse the whole batch
                out.writelines(_failed(ident, exc) for ident, _ in chunk)
                continue
            for (ident, _), vector, score in zip(chunk, matrix, scores, strict=True):
                out.write(json.dumps(_outputs(ident, vector, score, bundle.threshold, latency)) + "\n")
    else:
        for ident, text in requests:
            try:
                steps = bundle.trace([json.loads(text)])
            except _REFUSED as exc:
                out.write(_failed(ident, exc))
                continue
            trace = [[step, {column: values[0] for column, values in columns.items()}] for step, columns in steps]
            out.write(json.dumps({"id": ident, "trace": trace}) + "\n")
    return len(requests)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.replay",
        description="Run JSON requests through a model bundle as serving does (no Spark) and write its outputs.",
    )
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle folder")
    parser.add_argument("--requests", required=True, help="one '<id>\\t<request JSON>' per line; '-' for stdin")
    parser.add_argument("--out-dir", type=Path, required=True, help="where <mode>.jsonl and summary.json go")
    parser.add_argument(
        "--modes",
        default="single",
        help="comma-separated, run in order: single (one request per call, timed), batch (--batch-size per "
        "call), trace (values after each stage). Default: single",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="requests per call in batch mode (default 256)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes must list some of {', '.join(MODES)}")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        bundle = Bundle.load(args.bundle)
        if args.requests == "-":
            requests = list(read_requests(sys.stdin))
        else:
            with open(args.requests) as stream:
                requests = list(read_requests(stream))
        args.out_dir.mkdir(parents=True, exist_ok=True)
        seconds = {}
        for mode in modes:
            t0 = time.perf_counter()
            with (args.out_dir / f"{mode}.jsonl").open("w") as out:
                replay(bundle, requests, mode, args.batch_size, out)
            seconds[mode] = time.perf_counter() - t0
        summary = {
            "modes": modes,
            "requests": len(requests),
            "seconds": seconds,
            "bundle": bundle.model_identity(),
            "spark_imported": any(name.split(".")[0] == "pyspark" for name in sys.modules),
        }
        (args.out_dir / "summary.json").write_text(json.dumps(summary) + "\n")
    except (BundleError, OSError, ValueError, KeyError, TypeError) as exc:
        log.error("replay failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
