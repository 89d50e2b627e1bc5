"""Every notebook in notebooks/ runs top to bottom against a small real lakehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jobs import ingest_logs
from skewguard.config import repo_root
from skewguard.synth import GeneratorConfig, generate
from tests.helpers import load_records

pytestmark = [pytest.mark.es, pytest.mark.spark]

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))


@pytest.fixture()
def small_lakehouse(settings, spark, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = GeneratorConfig(
        seed=2, start_date=dt.date(2024, 11, 20), days=2, records_per_day=100, malformed_fraction=0.05
    )
    load_records(settings, (g.record for g in generate(config)), tmp_path / "nb.jsonl")
    assert ingest_logs.main(["--start", "2024-11-20", "--end", "2024-11-21"]) == 0
    return settings.lakehouse.root


def test_there_are_notebooks() -> None:
    assert any(p.name == "01_getting_started.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, small_lakehouse: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(repo_root())}}
    ).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert str(small_lakehouse) in outputs
    assert "bronze.serving_logs" in outputs and "Traceback" not in outputs
