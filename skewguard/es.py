"""Elasticsearch access shared by the loader, the jobs and the tests: a client built from
settings that waits (bounded, with backoff) for a healthy cluster, index creation with an
explicit mapping, and the day-window query every reader pushes down."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from skewguard.settings_models import ElasticsearchSettings

__all__ = [
    "UNDATED",
    "ElasticsearchUnavailable",
    "client_for",
    "concrete_indices",
    "connect",
    "daily_index",
    "ensure_index",
    "index_day",
    "put_index_template",
    "window_query",
    "window_ranges_ms",
]

log = logging.getLogger(__name__)
_DAY_MS = 86_400_000
_MAX_DATE_MS = 2**63 - 1  # a date field holds a long of milliseconds


class ElasticsearchUnavailable(RuntimeError):
    """The cluster cannot be reached or refuses us; the message says which and why."""


def client_for(es: ElasticsearchSettings, *, fast_json: bool = False) -> Elasticsearch:
    """A client for ``es`` (not connected yet: use :func:`connect` to wait for a healthy cluster).

    ``fast_json``: request and response bodies through orjson (the serving logger's client,
    which parses a bulk response per batch)."""
    kwargs: dict[str, Any] = {"request_timeout": es.request_timeout_s, "retry_on_timeout": True}
    if fast_json:
        from elasticsearch.serializer import OrjsonSerializer

        kwargs["serializer"] = OrjsonSerializer()
    if es.api_key is not None:
        kwargs["api_key"] = es.api_key.get_secret_value()
    elif es.username is not None:
        password = es.password.get_secret_value() if es.password else ""
        kwargs["basic_auth"] = (es.username.get_secret_value(), password)
    if es.ca_certs is not None:
        kwargs["ca_certs"] = str(es.ca_certs)
    return Elasticsearch(es.url, **kwargs)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        if exc.meta.status == 401:
            return "authentication failed (HTTP 401): check ES_USERNAME/ES_PASSWORD or ES_API_KEY"
        if exc.meta.status == 403:
            return "not authorised (HTTP 403): the user lacks the privileges for this index"
        return f"HTTP {exc.meta.status}: {exc.message}"
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "TLS certificate not trusted: set ES_CA_CERTS to the cluster's CA (PEM)"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"[:300]


def connect(es: ElasticsearchSettings, retries: int | None = None) -> Elasticsearch:
    """A client for ``es.url`` once the cluster is yellow or green.

    Retries ``connect_retries`` times with exponential backoff (0.5 s doubling, capped at
    8 s); authentication and TLS-trust errors fail at once, since waiting cannot fix them.
    """
    client = client_for(es)
    attempts = (es.connect_retries if retries is None else retries) + 1
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            health = client.cluster.health(wait_for_status="yellow", timeout="10s")
            if health.get("status") in ("yellow", "green"):
                return client
            cause = f"cluster health is {health.get('status')}"
        except (ApiError, TransportError) as exc:
            cause = _describe(exc)
            if isinstance(exc, ApiError) and exc.meta.status in (401, 403):
                break
            if "TLS certificate" in cause:
                break
        if attempt < attempts:
            log.info(
                "Elasticsearch at %s not ready (%s); retry %d/%d in %.1fs", es.url, cause, attempt, attempts - 1, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
    client.close()
    raise ElasticsearchUnavailable(f"Elasticsearch at {es.url} unavailable: {cause}")


_INDEX_SETTINGS: dict[str, Any] = {"number_of_replicas": 0, "refresh_interval": "1s"}


def put_index_template(client: Elasticsearch, index: str, mapping: dict[str, Any]) -> str:
    """Install (or replace) the template ``skewguard-<index>`` giving ``<index>-*`` ``mapping``:
    an index that a write auto-creates (the writer role may create documents, not indices)
    then has the explicit mapping, not a guessed one. Returns the template's name."""
    name = f"skewguard-{index}"
    client.indices.put_index_template(
        name=name,
        index_patterns=[f"{index}-*"],
        template={"mappings": mapping, "settings": _INDEX_SETTINGS},
        priority=200,
        meta={"managed_by": "skewguard create-index"},
    )
    log.info("index template %s: %s-* gets the explicit mapping", name, index)
    return name


def ensure_index(client: Elasticsearch, index: str, mapping: dict[str, Any], alias: str | None = None) -> bool:
    """Create ``index`` with ``mapping`` (and behind ``alias``) unless it exists; True when it was created.

    Credentials that may neither see nor create indices (the writer role) get HTTP 403 here:
    creating the index is then the admin's (``skewguard create-index``, which also installs the
    template a write auto-creates a missing index from), and nothing is done."""
    try:
        if client.indices.exists(index=index):
            return False
    except ApiError as exc:
        if exc.meta.status != 403:
            raise
        log.info("index %s: these credentials may not check or create indices (HTTP 403): left to the admin", index)
        return False
    try:
        client.indices.create(
            index=index,
            mappings=mapping,
            settings=_INDEX_SETTINGS,
            aliases={alias: {}} if alias else None,
        )
    except ApiError as exc:
        if exc.error == "resource_already_exists_exception":
            return False
        raise
    log.info("created index %s with an explicit mapping", index)
    return True


_DAILY_FORMAT = "%Y.%m.%d"


def daily_index(base: str, day: dt.date) -> str:
    """The index of one UTC day's logs, ``<base>-YYYY.MM.DD``; ``base`` is the alias over all days.

    A day per index makes retention a whole-index delete (no delete-by-query, no merges), and
    the alias lets every reader keep one name."""
    return f"{base}-{day.strftime(_DAILY_FORMAT)}"


def index_day(base: str, name: str) -> dt.date | None:
    """The day of a :func:`daily_index` name of ``base``; None for any other name."""
    prefix = f"{base}-"
    if not name.startswith(prefix):
        return None
    try:
        day = dt.datetime.strptime(name[len(prefix) :], _DAILY_FORMAT).date()
    except ValueError:
        return None
    return day if daily_index(base, day) == name else None


def window_ranges_ms(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """The ``[from, to)`` millisecond ranges a day window can occupy in a ``date`` field.

    A numeric timestamp is indexed as ``value × f`` ms, where ``f`` is 1 under the default
    date format and 1000 under ``epoch_second``, while apps write seconds or millis (and
    some microseconds). So a true instant ``t`` (ms) can sit at ``t/1000`` (seconds read as
    millis: the Data Flywheel trap), at ``t``, at ``t×1000`` (millis read as seconds, or
    microseconds read as millis) or at ``t×10⁶`` (microseconds read as seconds). All are
    searched; the job then keeps only records whose own timestamp falls in the window, and
    quarantines those it reads as another day (``timestamp_disagrees``).
    """
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    lo = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp() * 1000)
    hi = int(dt.datetime.combine(end, dt.time(), dt.UTC).timestamp() * 1000) + _DAY_MS
    ranges = [(lo // 1000, hi // 1000), (lo, hi), (lo * 1000, hi * 1000)]
    if hi * 1_000_000 < _MAX_DATE_MS:
        ranges.append((lo * 1_000_000, hi * 1_000_000))
    return ranges


def concrete_indices(client: Elasticsearch, name: str) -> list[str]:
    """The concrete indices ``name`` (an index, alias, data stream or pattern) stands for, sorted;
    empty when it names nothing."""
    try:
        found = client.indices.get_alias(index=name, expand_wildcards="open")
    except NotFoundError:
        return []
    return sorted(found)


UNDATED: dict[str, Any] = {"bool": {"must_not": {"exists": {"field": "timestamp"}}}}
"""Documents with no indexed timestamp."""


def window_query(
    start: dt.date, end: dt.date, workload_id: str | None = None, dated_only: bool = False
) -> dict[str, Any]:
    """The ES query for a window of whole UTC days (optionally one workload).

    Documents without an indexed timestamp (missing, or malformed and ignored by the
    mapping) match too: no range can find them, and they must reach quarantine rather
    than be lost. ``dated_only`` leaves them out (reconciliation counts them apart).
    """
    ranges: list[dict[str, Any]] = [
        {"range": {"timestamp": {"gte": lo, "lt": hi, "format": "epoch_millis"}}}
        for lo, hi in window_ranges_ms(start, end)
    ]
    if not dated_only:
        ranges.append(UNDATED)
    clauses: list[dict[str, Any]] = [{"bool": {"should": ranges, "minimum_should_match": 1}}]
    if workload_id is not None:
        clauses.append({"term": {"workload_id": workload_id}})
    return {"bool": {"filter": clauses}}
