"""Tables by name: every table a job ensures is registered in the Spark catalog under its
documented name (``silver.predictions``, with ``catalog.prefix`` in front), as an external
table pointing at its path.

The path stays the source of truth: jobs read and write by path, a registration that fails
is logged and the job goes on, and a name found pointing elsewhere is re-pointed at the path.

Locally the catalog is Spark's embedded Hive metastore, a Derby database under the
lakehouse (``<lakehouse>/_catalog``). Derby lets one process at a time open it, so a session
takes the folder's lock first: the process holding it (a notebook, ``make demo``, a job) gets
the persistent catalog; a second process at once (a job run while a notebook is open, a
second notebook) gets Spark's in-memory catalog instead — the same names, for that session —
and logs so. Whichever session opens a catalog registers the tables already on disk, so a
name written while another process held the metastore is there the next time.
On a cluster (``catalog.metastore: session``) the catalog is whatever the session is
configured with (a Hive metastore, Glue, Unity Catalog) and nothing is locked here.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from schemas.tables import TABLES
from skewguard.config import Settings

if TYPE_CHECKING:  # the lock and the names need no Spark: unit-testable without it
    from pyspark.sql import SparkSession

    from schemas.core import TableSchema

__all__ = [
    "MANAGED_NAME_TAKEN",
    "catalog_name",
    "embedded_metastore_conf",
    "register_table",
    "register_tables",
]

log = logging.getLogger(__name__)

MANAGED_NAME_TAKEN = "the name belongs to a managed table, which is never dropped to make room"

_held: dict[Path, int] = {}
"""Metastore folders whose lock this process holds: the descriptor stays open until the
process ends (the kernel releases the lock then, even after a crash)."""
_registered: dict[tuple[str, str], str] = {}
"""(application id, full name) → path registered by this process: checked once per session."""
_lock = threading.Lock()


def catalog_name(settings: Settings, name: str) -> str:
    """The catalog name of a documented table name: ``catalog.prefix`` + ``layer.table``."""
    return settings.catalog.prefix + name


def _quoted(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def _take_lock(folder: Path) -> str | None:
    """Hold ``folder``'s lock for the rest of the process; ``None`` when taken, else who holds it."""
    if folder in _held:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        return f"pid {holder}"
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[folder] = fd
    return None


def embedded_metastore_conf(settings: Settings) -> dict[str, str]:
    """Spark settings that keep the Hive metastore under the lakehouse, or ``{}`` (Spark's
    in-memory catalog) when another process has it open."""
    folder = settings.metastore_path()
    holder = _take_lock(folder)
    if holder is not None:
        log.warning(
            "the metastore %s is open in another process (%s): this session registers the table names in "
            "memory only; they reach the metastore with the next session that opens it",
            folder,
            holder,
        )
        return {}
    derby = f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true"
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": derby,
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
    }


def _same_place(location: str, path: str) -> bool:
    def plain(where: str) -> str:
        return (urlparse(where).path if where.startswith("file:") else where).rstrip("/")

    return plain(location) == plain(path)


def _registered_where(spark: SparkSession, full: str) -> tuple[str, str] | None:
    """(location, ``EXTERNAL``/``MANAGED``) of the table registered as ``full``, or ``None``."""
    if not spark.catalog.tableExists(full):
        return None
    parts = full.split(".")
    jvm = spark.sparkContext._jvm
    if len(parts) == 2 and jvm is not None:  # the session catalog: read the metastore entry, not the Delta log
        ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(parts[1], jvm.scala.Some(parts[0]))
        meta = spark._jsparkSession.sessionState().catalog().getTableMetadata(ident)  # type: ignore[union-attr]
        return str(meta.location().toString()), str(meta.tableType().name())
    rows = {r["col_name"]: r["data_type"] for r in spark.sql(f"DESCRIBE TABLE EXTENDED {_quoted(full)}").collect()}
    return str(rows.get("Location", "")), str(rows.get("Type", "")).upper()


def _points_at(spark: SparkSession, full: str, path: str) -> bool:
    try:
        where = _registered_where(spark, full)
    except Exception:
        return False
    return where is not None and _same_place(where[0], path)


def register_table(spark: SparkSession, settings: Settings, name: str, path: str) -> str | None:
    """Register the table at ``path`` as ``catalog.prefix`` + ``name`` (creating its schema)
    unless it already is; returns the full name, or ``None`` when the catalog is off or refused.

    Idempotent, and cheap when repeated: the session's metastore entry is read, never the
    table's Delta log, and a name this process registered is not looked at again."""
    if not settings.catalog.enabled:
        return None
    full = catalog_name(settings, name)
    key = (spark.sparkContext.applicationId, full)
    with _lock:
        if _registered.get(key) == path:
            return full
        try:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {_quoted(full.rsplit('.', 1)[0])}")
            where = _registered_where(spark, full)
            if where is not None and not _same_place(where[0], path):
                if where[1] != "EXTERNAL":
                    raise RuntimeError(f"{full} is at {where[0]}: {MANAGED_NAME_TAKEN}")
                log.warning("%s pointed at %s; re-pointing it at %s", full, where[0], path)
                spark.sql(f"DROP TABLE {_quoted(full)}")  # external: the files stay
                where = None
            if where is None:
                spark.catalog.createTable(full, path=path, source="delta")
                log.info("registered %s → %s", full, path)
        except Exception as exc:  # a name is a convenience: the job goes on by path
            if not _points_at(spark, full, path):  # else a concurrent writer registered it first
                log.warning("%s: not registered in the catalog (%s); reach it by path", full, str(exc).splitlines()[0])
                return None
        _registered[key] = path
        return full


def _is_delta_table(spark: SparkSession, path: str) -> bool:
    if "://" not in path or path.startswith("file:"):
        return (Path(urlparse(path).path if path.startswith("file:") else path) / "_delta_log").is_dir()
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def register_tables(spark: SparkSession, settings: Settings, tables: tuple[TableSchema, ...] = TABLES) -> list[str]:
    """Register every declared table that exists at its path; the full names registered.

    A session calls it when it opens a catalog, so tables written while another process held
    the metastore get their names; a notebook left open meanwhile can call it again."""
    if not settings.catalog.enabled:
        return []
    names = []
    for schema in tables:
        path = settings.lakehouse.table_path(schema.name)
        if _is_delta_table(spark, path) and (full := register_table(spark, settings, schema.name, path)):
            names.append(full)
    return names
