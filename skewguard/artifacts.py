"""Where the lakehouse keeps what is not a table: training-set folders (manifest, fitted
pipeline), trained models, model bundles and the record of each bundle's content hash. Every
stage and the operator commands find them here, so a folder's layout is decided in one place.

Names become folder names, and some come from the logs (a prediction's ``model.name`` and
``model.version``): every name is checked against :data:`NAME_PATTERN` first, so no name can
be a path (``..``, ``/etc``, ``a/b``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from skewguard.config import Settings

__all__ = [
    "NAME_PATTERN",
    "ArtifactNameError",
    "bundle_dir",
    "bundle_record_path",
    "checked_name",
    "load_manifest",
    "model_dir",
    "read_bundle_record",
    "resolved_inside",
    "training_set_dir",
    "write_bundle_record",
]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A name that can be one folder name and nothing else: a letter or digit, then up to 127
letters, digits, ``.``, ``_`` or ``-`` (no ``/``, no leading ``.``, so never ``.`` or ``..``)."""


class ArtifactNameError(ValueError):
    """A name that cannot be used as an artifact's folder name, or a path that leaves its folder."""


def checked_name(what: str, value: object) -> str:
    """``value`` when it matches :data:`NAME_PATTERN`; else :class:`ArtifactNameError` naming ``what``."""
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise ArtifactNameError(
            f"{what} {value!r} is not a valid name (letters, digits, '.', '_', '-'; starting with a letter or digit)"
        )
    return value


def resolved_inside(root: Path, path: Path) -> Path:
    """``path`` with every symlink resolved, when it exists and lies inside ``root`` (resolved
    too); else :class:`ArtifactNameError` (``FileNotFoundError`` when it does not exist)."""
    real_root = root.resolve()
    real = path.resolve(strict=True)
    if not real.is_relative_to(real_root):
        raise ArtifactNameError(f"{path} resolves to {real}, outside {real_root}")
    return real


def training_set_dir(settings: Settings, name: str) -> Path:
    return settings.artifacts_path() / "training_sets" / checked_name("training set", name)


def load_manifest(settings: Settings, name: str) -> dict[str, Any]:
    """The manifest of a built training set (raises ``FileNotFoundError`` naming it)."""
    path = training_set_dir(settings, name) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"training set {name!r} has no manifest at {path}; build it first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def model_dir(settings: Settings, name: str, version: str) -> Path:
    return settings.artifacts_path() / "models" / checked_name("model name", name) / checked_name("version", version)


def _bundle_name(name: str, version: str) -> str:
    return f"{checked_name('model name', name)}-{checked_name('version', version)}"


def bundle_dir(settings: Settings, name: str, version: str) -> Path:
    """``<artifacts>/bundles/<name>-<version>`` (both names checked)."""
    return settings.artifacts_path() / "bundles" / _bundle_name(name, version)


def bundle_record_path(settings: Settings, name: str, version: str) -> Path:
    """Where ``skewguard bundle build`` records the content hash of the bundle it wrote:
    ``<artifacts>/bundle_records/<name>-<version>.json``, outside the bundle's folder, so that
    editing a bundle cannot also edit its record."""
    return settings.artifacts_path() / "bundle_records" / f"{_bundle_name(name, version)}.json"


def write_bundle_record(settings: Settings, name: str, version: str, content_hash: str) -> Path:
    path = bundle_record_path(settings, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "version": version, "content_hash": content_hash}
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def read_bundle_record(settings: Settings, name: str, version: str) -> str:
    """The content hash recorded when the bundle ``name``/``version`` was built
    (``FileNotFoundError`` when it never was)."""
    path = bundle_record_path(settings, name, version)
    if not path.exists():
        raise FileNotFoundError(f"no build record at {path}: build the bundle with `skewguard bundle build`")
    content_hash = json.loads(path.read_text()).get("content_hash")
    if not isinstance(content_hash, str):
        raise ValueError(f"{path}: no content_hash")
    return content_hash
