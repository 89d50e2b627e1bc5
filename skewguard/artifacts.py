"""Where the lakehouse keeps what is not a table: training-set folders (manifest, fitted
pipeline), trained models and model bundles. Every stage and the operator commands find
them here, so a folder's layout is decided in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skewguard.config import Settings

__all__ = ["bundle_dir", "load_manifest", "model_dir", "training_set_dir"]


def training_set_dir(settings: Settings, name: str) -> Path:
    return settings.artifacts_path() / "training_sets" / name


def load_manifest(settings: Settings, name: str) -> dict[str, Any]:
    """The manifest of a built training set (raises ``FileNotFoundError`` naming it)."""
    path = training_set_dir(settings, name) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"training set {name!r} has no manifest at {path}; build it first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def model_dir(settings: Settings, name: str, version: str) -> Path:
    return settings.artifacts_path() / "models" / name / version


def bundle_dir(settings: Settings, name: str, version: str) -> Path:
    return settings.artifacts_path() / "bundles" / f"{name}-{version}"
