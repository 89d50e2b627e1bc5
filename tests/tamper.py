"""Tampering with a built model bundle the way an attacker or a careless edit would (no Spark)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from serving.bundle import source_files_hash


def plant_marker(folder: Path, marker: Path) -> None:
    """Make the bundle's transforms create ``marker`` when imported, and the bundle
    self-consistent again (its manifest's source hashes updated), so that only the build
    record can tell it was changed."""
    init = folder / "transforms" / "__init__.py"
    init.write_text(init.read_text() + f"\nopen({str(marker)!r}, 'w').write('imported')\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    files = sorted((folder / "transforms").glob("*.py"))
    manifest["transform_source"]["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    manifest["transform_source"]["content_hash"] = source_files_hash(folder / "transforms")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
