"""The JVM side of the stack: which jars Spark needs and how they reach it.

Python-started sessions (tests, notebooks, ``python -m jobs.…``) get the jars through
``spark.jars``; ``spark-submit`` needs them on its own command line, which
:func:`submit_args` prints. Nothing is downloaded when a job runs: the jars come from
``scripts/fetch_jars.sh``.
"""

from __future__ import annotations

import shlex
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

from skewguard.config import Settings, repo_root

__all__ = ["DELTA_CONF", "STORAGE_CONF", "JarsMissing", "build_pyfiles_zip", "jar_paths", "submit_args"]

DELTA_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
#: Parquet in zstd rather than Spark's default snappy: bronze, mostly JSON text, takes about half
#: the bytes (``make bench-storage``: 0.145 × the raw JSON against 0.28) for a little CPU.
STORAGE_CONF: dict[str, str] = {"spark.sql.parquet.compression.codec": "zstd"}
_PACKAGES = ("skewguard", "jobs", "schemas", "transforms", "serving", "ops")


class JarsMissing(RuntimeError):
    """The Delta/ES-Hadoop jars have not been fetched."""


def jar_paths(settings: Settings) -> list[str]:
    """Absolute paths of the jars listed by ``scripts/fetch_jars.sh``."""
    manifest = settings.spark.jars_manifest
    if not manifest.is_file():
        raise JarsMissing(f"jar list {manifest} not found: run `make jars` (scripts/fetch_jars.sh) first")
    jars = [line.strip() for line in manifest.read_text().splitlines() if line.strip()]
    missing = [j for j in jars if not Path(j).is_file()]
    if missing or not jars:
        raise JarsMissing(f"jars missing ({', '.join(missing) or 'empty list'}): run `make jars` again")
    return jars


def _package_data(root: Path) -> Iterator[Path]:
    """The files ``[tool.setuptools.package-data]`` ships next to the modules (the wheel's)."""
    table = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, patterns in table.items():
        folder = root.joinpath(*package.split("."))
        for pattern in patterns:
            yield from (p for p in folder.glob(pattern) if p.is_file())


def build_pyfiles_zip(target: Path | None = None) -> Path:
    """Zip the project's packages for ``--py-files`` (executors on other machines import them),
    with their package data (the reports' templates: ``jinja2.PackageLoader`` reads them from
    the zip)."""
    root = repo_root()
    target = target or root / ".cache" / "dist" / "skewguard-py.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    files = {p for package in _PACKAGES for p in (root / package).rglob("*.py")} | set(_package_data(root))
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files):
            zf.write(path, path.relative_to(root).as_posix())
    tmp.replace(target)
    return target


def submit_args(settings: Settings, with_py_files: bool = True) -> list[str]:
    """``spark-submit`` arguments that give a job the jars, Delta and the project's code."""
    args = ["--jars", ",".join(jar_paths(settings))]
    for key, value in {**DELTA_CONF, **STORAGE_CONF, "spark.sql.session.timeZone": "UTC"}.items():
        args += ["--conf", f"{key}={value}"]
    if with_py_files:
        args += ["--py-files", str(build_pyfiles_zip())]
    return args


def submit_args_shell(settings: Settings, with_py_files: bool = True) -> str:
    return " ".join(shlex.quote(a) for a in submit_args(settings, with_py_files))
