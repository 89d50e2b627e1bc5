"""The tree keeps the shape the README's "Layout" section describes: every import points down
(stage → plumbing → base), stages import only stages before them in the data flow, no two
modules share a file name, no module outgrows 400 lines, and unit tests run without Spark."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from skewguard.config import repo_root

ROOT = repo_root()
PROJECT = ("transforms", "schemas", "skewguard", "serving", "jobs", "ops", "benchmarks", "tests")
STAGES = ("jobs.bronze", "jobs.silver", "jobs.gold", "jobs.drift", "jobs.parity", "jobs.evaluate")  # in data-flow order
BASE = ("skewguard", "schemas", "transforms")
#: modules of the optional MLflow extra: MLflow imports pyspark whenever it is installed, so these
#: are checked by importing them where pyspark cannot be imported
MLFLOW_EXTRA = {"serving.mlflow_pyfunc", "serving.pyfunc_model_code"}

# what each layer may import of the project (its own layer always)
ALLOWED: dict[str, tuple[str, ...]] = {
    "transforms": (),
    "schemas": (),
    "skewguard": ("schemas", "transforms"),
    "serving": BASE,
    "jobs.lib": ("skewguard", "schemas"),
    **{stage: (*BASE, "serving", "jobs.lib", *STAGES[:i]) for i, stage in enumerate(STAGES)},
    "jobs": (*BASE, "serving", "jobs.lib", *STAGES),  # the entry points, jobs/<name>.py
    "ops": (*BASE, "serving", "jobs"),
    "benchmarks": (*BASE, "serving", "jobs", "ops"),
}


def _library_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in listed.stdout.split() if p.split("/")[0] in PROJECT and not p.startswith("tests/")]


def _layer(module: str) -> str | None:
    """The most specific layer a dotted module name belongs to."""
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every project module ``path`` imports, at module level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT]


def test_every_import_points_down() -> None:
    upward = []
    for path in _library_files():
        own = _layer(_module_of(path))
        assert own is not None, f"{path.relative_to(ROOT)} is in no layer of the layout"
        for line, name in _imports(path):
            target = _layer(name)
            if target is None or target == own:
                continue
            if not any(target == a or target.startswith(a + ".") for a in ALLOWED[own]):
                upward.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {name} ({target})")
    assert upward == []


def test_no_two_modules_share_a_file_name() -> None:
    names = Counter(p.name for p in _library_files() if p.name != "__init__.py")
    assert sorted(n for n, count in names.items() if count > 1) == []


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _library_files() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize("package", ["transforms", "serving", "skewguard", "schemas"])
def test_spark_free_packages_import_without_spark(package: str) -> None:
    """Serving and notebooks' Spark-free helpers load in a process with no pyspark imported."""
    modules = sorted(_module_of(p) for p in _library_files() if _layer(_module_of(p)) == package)
    plain = [m for m in modules if m not in MLFLOW_EXTRA]
    code = f"import sys\nfor m in {plain!r}: __import__(m)\nprint('pyspark' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
    if extra := sorted(MLFLOW_EXTRA.intersection(modules)):
        code = f"import sys\nsys.modules['pyspark'] = None\nfor m in {extra!r}: __import__(m)\nprint('ok')"
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_unit_tests_import_no_spark() -> None:
    modules = sorted(f"tests.unit.{p.stem}" for p in (ROOT / "tests" / "unit").glob("test_*.py"))
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('pyspark' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
