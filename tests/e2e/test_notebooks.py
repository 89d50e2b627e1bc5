"""Every notebook in notebooks/ runs top to bottom against a small real lakehouse."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jobs import ingest_logs, join_labels, parse_logs
from ops.synthetic import GeneratorConfig, generate
from ops.synthetic_labels import LabelConfig, write_labels
from skewguard.config import load_settings, repo_root
from tests.helpers import conf_overlay, load_records

pytestmark = [pytest.mark.es, pytest.mark.spark]

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def small_lakehouse(local_es, spark, tmp_path_factory):  # type: ignore[no-untyped-def]
    """What ``make demo`` leaves behind, small: bronze, silver predictions and LLM interactions, labeled examples
    (built once for every notebook; the kernels inherit the environment set here). The jobs here write by
    path only; each kernel opens the lakehouse's own metastore (the first one registers what it finds) and
    reads the tables by name."""
    from elasticsearch import Elasticsearch

    tmp = tmp_path_factory.mktemp("notebooks")
    index = f"test-nb-{uuid.uuid4().hex[:8]}"
    config = GeneratorConfig(
        seed=2, start_date=dt.date(2024, 11, 20), days=2, records_per_day=100, malformed_fraction=0.05
    )
    records = [g.record for g in generate(config)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKEWGUARD_LAKEHOUSE", str(tmp / "lakehouse"))
        mp.setenv("ES_COLLECTION_NAME", index)
        settings = load_settings()
        load_records(settings, iter(records), tmp / "nb.jsonl")
        window = ["--start", "2024-11-20", "--end", "2024-11-21"]
        assert ingest_logs.main(window) == 0
        assert parse_logs.main(window) == 0
        write_labels(iter(records), tmp / "labels.jsonl", LabelConfig(seed=2))
        assert join_labels.main([*window, "--labels", str(tmp / "labels.jsonl")]) == 0
        mp.setenv("SKEWGUARD_CATALOG", "true")
        # the kernels run Spark as users do: compiled code (the test profile interprets it)
        default_codegen = {"spark": {"extra_conf": {"spark.sql.codegen.factoryMode": "FALLBACK"}}}
        mp.setenv("SKEWGUARD_CONF_DIR", str(conf_overlay(tmp, default_codegen)))
        yield settings.lakehouse.root
    with Elasticsearch(local_es) as client:
        client.options(ignore_status=404).indices.delete(index=index)


#: text each notebook's outputs must contain (beyond the lakehouse path and no traceback)
EXPECTED = {
    "01_getting_started.ipynb": [
        "bronze.serving_logs",
        "silver tables: ['labeled_examples', 'llm_interactions', 'predictions', 'quarantine']",
    ],
    "02_training_sets_and_bundles.ipynb": ["same params: True", "validation AUC", "logged_score", "Δ v2 − v1"],
    "03_llm_datasets.ipynb": ["silver.llm_interactions:", "tool_calling", "succeeded", "train.jsonl"],
    "04_drift.ipynb": ["metrics.reference_profiles", "psi", "trend of", "drift report:"],
}


def test_there_are_notebooks() -> None:
    assert sorted(p.name for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, small_lakehouse: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(repo_root())}}
    ).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert str(small_lakehouse) in outputs and "Traceback" not in outputs
    for text in EXPECTED[path.name]:
        assert text in outputs, text
