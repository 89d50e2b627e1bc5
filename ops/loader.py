"""JSONL → Elasticsearch with elasticsearch-py's bulk helpers.

Each line is one log record. The document ``_id`` is the record's ``event_id`` when it has
one, else a SHA-256 of the record's canonical JSON, and documents are created, never
overwritten (``op_type`` create, all a writer role may do), so loading a file twice indexes
nothing twice: the second load counts the records as already present. Records
Elasticsearch rejects (e.g. a strict mapping) and lines that cannot be read (not UTF-8, not
JSON, not an object) are written to a ``.rejected.jsonl`` file next to the input with the
reason (and, for a line, its number and text), and counted: nothing is dropped silently, and
one bad line never stops the load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers

from schemas.records import FLYWHEEL_INDEX_MAPPING, SKEWGUARD_INDEX_MAPPING, parse_timestamp
from serving.workload import workload_id_from_tools
from skewguard.es import daily_index, ensure_index
from skewguard.progress import progress

__all__ = ["MAPPINGS", "LoadResult", "document_id", "load_jsonl"]

log = logging.getLogger(__name__)

MAPPINGS: dict[str, dict[str, Any]] = {"skewguard": SKEWGUARD_INDEX_MAPPING, "flywheel": FLYWHEEL_INDEX_MAPPING}


@dataclass
class LoadResult:
    """What a load did: lines read, documents indexed, rejected (with reasons) and where."""

    read: int = 0
    indexed: int = 0
    already_present: int = 0
    """records whose ``_id`` the index already held (an earlier load): kept as they were"""
    rejected: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)
    """numbers of the lines that could not be read"""
    rejected_path: Path | None = None
    index_created: bool = False
    """whether the load created an index (with ``daily``: any day's)"""
    by_index: dict[str, int] = field(default_factory=dict)
    """records sent to each index"""


def document_id(record: dict[str, Any]) -> str:
    """``event_id`` when present, else a content hash (stable across re-loads)."""
    event_id = record.get("event_id")
    if isinstance(event_id, str) and event_id:
        return event_id
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _actions(
    path: Path,
    result: LoadResult,
    overrides: dict[str, str],
    bad_lines: list[tuple[int, str, str]],
    workload_from_tools: bool,
    index_of: Callable[[dict[str, Any]], str],
) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:  # decoded line by line: a bad byte rejects its line, not the file
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            result.read += 1
            text = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                bad_lines.append((lineno, f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}", text))
                continue
            except json.JSONDecodeError as exc:
                bad_lines.append((lineno, f"not JSON: {exc.msg}", text))
                continue
            if not isinstance(record, dict):
                bad_lines.append((lineno, "not a JSON object", text))
                continue
            record.update(overrides)
            if workload_from_tools:
                request = record.get("request")
                record["workload_id"] = workload_id_from_tools(request if isinstance(request, dict) else {})
            target = index_of(record)
            result.by_index[target] = result.by_index.get(target, 0) + 1
            # op_type create: a writer role may create documents but not overwrite them
            yield {"_op_type": "create", "_index": target, "_id": document_id(record), "_source": record}


def _refresh(client: Elasticsearch, index: str) -> None:
    """Make the load searchable now; a writer role may not refresh (HTTP 403), and its
    documents then become searchable at the index's next refresh (1 s by default)."""
    try:
        client.indices.refresh(index=index)
    except ApiError as exc:
        if exc.meta.status != 403:
            raise
        log.info("%s: not refreshed (these credentials may not); searchable within the refresh interval", index)


def load_jsonl(
    client: Elasticsearch,
    path: Path,
    index: str,
    *,
    mapping: str = "skewguard",
    workload_id: str | None = None,
    workload_from_tools: bool = False,
    client_id: str | None = None,
    chunk_size: int = 1000,
    threads: int = 2,
    refresh: bool = True,
    daily: bool = False,
) -> LoadResult:
    """Index every record of ``path`` into ``index`` (created with ``mapping`` when missing).

    ``workload_id``/``client_id`` override those fields in every record; ``workload_from_tools``
    sets ``workload_id`` from the sorted tool names of each record's request (AIVA style).
    ``daily``: each record goes to its UTC day's index ``<index>-YYYY.MM.DD`` (created with
    ``mapping`` behind the alias ``index``); a record without a readable timestamp to the
    index of the day of the load, where ingest finds it (and quarantines it) through the alias.
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r} (known: {', '.join(MAPPINGS)})")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    result = LoadResult()
    ready: set[str] = set()
    today = dt.datetime.now(dt.UTC).date()

    def index_of(record: dict[str, Any]) -> str:
        if not daily:
            return index
        instant = parse_timestamp(record.get("timestamp"))
        name = daily_index(index, instant.date() if instant is not None else today)
        if name not in ready:  # before the first bulk request that names it
            result.index_created |= ensure_index(client, name, MAPPINGS[mapping], alias=index)
            ready.add(name)
        return name

    if not daily:
        result.index_created = ensure_index(client, index, MAPPINGS[mapping])
    overrides = {k: v for k, v in (("workload_id", workload_id), ("client_id", client_id)) if v is not None}
    bad_lines: list[tuple[int, str, str]] = []
    rejected_path = path.with_suffix(".rejected.jsonl")
    rejected_path.unlink(missing_ok=True)
    reject_file = None

    def reject(reason: str, entry: dict[str, Any]) -> None:
        nonlocal reject_file
        result.rejected += 1
        result.reject_reasons[reason] = result.reject_reasons.get(reason, 0) + 1
        if reject_file is None:
            reject_file = rejected_path.open("w", encoding="utf-8")
        reject_file.write(json.dumps({**entry, "reason": reason}) + "\n")

    try:
        outcomes = helpers.parallel_bulk(
            client,
            _actions(path, result, overrides, bad_lines, workload_from_tools, index_of),
            thread_count=threads,
            chunk_size=chunk_size,
            raise_on_error=False,
            raise_on_exception=True,
        )
        for ok, item in progress(outcomes, desc=f"loading {path.name} into {index}", unit="doc"):
            if ok:
                result.indexed += 1
                continue
            info = item.get("create", {})
            if info.get("status") == 409:  # version conflict: this _id is already there
                result.already_present += 1
                continue
            error = info.get("error", {})
            if isinstance(error, dict):
                reject(error.get("type", "unknown"), {"_id": info.get("_id"), "detail": error.get("reason")})
            else:
                reject(str(error), {"_id": info.get("_id"), "detail": str(error)})
        for lineno, detail, text in bad_lines:
            reject("unparseable_line", {"line": lineno, "detail": detail, "text": text})
            result.bad_lines.append(lineno)
    finally:
        if reject_file is not None:
            reject_file.close()
            result.rejected_path = rejected_path
    if refresh and result.by_index:
        _refresh(client, ",".join(sorted(result.by_index)))
    log.info(
        "loaded %s into %s: %d read, %d indexed, %d already there, %d rejected",
        path, index, result.read, result.indexed, result.already_present, result.rejected,
    )  # fmt: skip
    return result
