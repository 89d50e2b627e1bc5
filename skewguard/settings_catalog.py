"""The ``catalog`` section of ``conf/*.yaml``: under which names the jobs' Delta tables are
registered in the Spark catalog, and which catalog that is.

The path stays the source of truth: a name is an external table pointing at the path, so a
job works the same with the catalog off, and a notebook can write
``spark.sql("SELECT … FROM silver.predictions")`` instead of a folder. Composed into
``Settings`` by :mod:`skewguard.config`; import it from there.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from skewguard.settings_models import SettingsModel

__all__ = ["CatalogSettings"]

_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z0-9_]*$")


class CatalogSettings(SettingsModel):
    enabled: bool = True
    """Register every table a job ensures under its documented name (``silver.predictions``);
    ``false``: tables are reached by path only (env ``SKEWGUARD_CATALOG``)."""
    prefix: str = ""
    """Put in front of each documented name: ``""`` keeps ``bronze.serving_logs``;
    ``skewguard_`` gives ``skewguard_bronze.serving_logs``; ``main.skewguard_`` gives Unity
    Catalog's three-level ``main.skewguard_bronze.serving_logs`` (env ``SKEWGUARD_CATALOG_PREFIX``)."""
    metastore: Literal["embedded", "session"] = "embedded"
    """``embedded``: sessions Python starts keep a Hive metastore (Derby, one process at a time)
    under the lakehouse, so names outlive the process; ``session``: the catalog the Spark session
    is configured with (a cluster's Hive metastore, Glue, Unity Catalog), left as it is."""
    metastore_dir: str | None = None
    """Local folder of the embedded metastore, relative to a local lakehouse root; default
    ``_catalog``. Must be absolute when the lakehouse is a URI (Derby keeps its files on a local disk)."""

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(
                "must be a schema-name prefix, optionally after one catalog name and a dot "
                "(letters, digits, underscores), e.g. skewguard_ or main.skewguard_"
            )
        return value
