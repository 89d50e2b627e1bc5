"""What every benchmark result carries: the machine, the versions, the command."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from skewguard.config import Settings, load_settings, repo_root

__all__ = ["local_session", "machine", "timed", "write_result"]

log = logging.getLogger(__name__)


def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    versions = {}
    for dist in ("pyspark", "delta-spark", "elasticsearch", "pyarrow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    env = (repo_root() / "scripts" / "versions.env").read_text().split()
    versions.update(dict(line.split("=", 1) for line in env if "=" in line and not line.startswith("#")))
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def write_result(name: str, result: dict[str, Any], command: str | None = None) -> Path:
    """``benchmarks/results/<name>.json``: ``result`` with the command (default ``make bench-<name>``)."""
    path = repo_root() / "benchmarks" / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**result, "command": command or f"make bench-{name}", "argv": sys.argv[1:], "machine": machine()}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    log.info("wrote %s", path)
    return path


def local_session(app_name: str, lakehouse: Path, driver_memory: str = "6g") -> tuple[Settings, Any]:
    """Settings (``local`` profile, ``local[2]``, the given driver memory) with the lakehouse at
    ``lakehouse`` (also exported as ``SKEWGUARD_LAKEHOUSE`` for the jobs a benchmark calls),
    and a Spark session built from them."""
    from jobs.lib.session import get_session

    os.environ["SKEWGUARD_LAKEHOUSE"] = str(lakehouse)
    base = load_settings("local")
    settings = base.model_copy(
        update={"spark": base.spark.model_copy(update={"master": "local[2]", "driver_memory": driver_memory})}
    )
    return settings, get_session(settings, app_name=app_name)


def timed(label: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of ``fn()``, logged under ``label``."""
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    log.info("%s: %.2f s", label, seconds)
    return seconds, out
