"""Schema minimisation: short feature ids and numeric category codes in logged predictions.

A prediction's ``features`` usually repeat the same long names and category labels in every
record; with an :class:`IdMap` the logger writes ``{"3": 0.25, "7": 2}`` instead of
``{"account_age_days": 0.25, "country": "FR"}`` and names the map in the record
(``"id_map": "<map id>"``). The map is a small JSON file, kept where the parse finds it
(``serving.id_maps_dir``, one ``*.json`` per map); its id is a hash of its content, so a changed
map is a new id and a record always names the exact map that minimised it::

    {"features": {"account_age_days": "3", "country": "7"},
     "categories": {"country": {"US": 0, "FR": 2}}}

``features``: feature name → short id (unique); ``categories``: for a categorical feature, label →
integer code (unique per feature). Features the map does not name are logged under their own
name, labels it does not code (new categories) as they are, so a map never loses a value
(:meth:`IdMap.minimise` refuses the rare one that would read back as something else).
``parse_logs`` expands a minimised record back to names and labels, and ``silver.predictions``
holds exactly what the full record would have given; a record naming a map the parse does not
have is quarantined (``invalid_id_map``), never guessed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ID_MAP_FIELD", "IdMap", "load_id_maps"]

ID_MAP_FIELD = "id_map"
"""The top-level field of a minimised prediction that names its map."""

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _short_id(n: int) -> str:
    digits = ""
    while True:
        n, rest = divmod(n, len(_ALPHABET))
        digits = _ALPHABET[rest] + digits
        if n == 0:
            return digits


@dataclass(frozen=True)
class IdMap:
    """Feature name → short id, and per categorical feature label → code (see the module doc)."""

    features: dict[str, str]
    categories: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = list(self.features.values())
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("feature ids must be unique non-empty strings")
        if set(ids) & set(self.features):
            # an id that is also a name would make an unminimised feature ambiguous on expansion
            raise ValueError(f"ids that are also feature names: {sorted(set(ids) & set(self.features))}")
        for name, codes in self.categories.items():
            if name not in self.features:
                raise ValueError(f"categories of {name!r}, a feature the map does not name")
            values = list(codes.values())
            if any(type(c) is not int for c in values) or len(set(values)) != len(values):
                raise ValueError(f"codes of {name!r} must be unique integers")
        object.__setattr__(self, "_ids", {v: k for k, v in self.features.items()})
        object.__setattr__(self, "_labels", {n: {c: lab for lab, c in cs.items()} for n, cs in self.categories.items()})

    @classmethod
    def build(cls, names: list[str], categories: Mapping[str, list[str]] | None = None) -> IdMap:
        """A map giving ``names`` the ids ``0, 1, …, z, 10, …`` in order, and each categorical
        feature's labels the codes ``0, 1, …`` in order."""
        cats = {n: {label: i for i, label in enumerate(labels)} for n, labels in (categories or {}).items()}
        return cls({n: _short_id(i) for i, n in enumerate(names)}, cats)

    @property
    def map_id(self) -> str:
        """Content hash: the same map is the same id on every machine."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({"features": self.features, "categories": self.categories}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False)  # fmt: skip

    def save(self, directory: Path) -> Path:
        """Write the map as ``<directory>/<map id>.json``; returns the path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.map_id}.json"
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> IdMap:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
            raise ValueError(f"{path}: not an id map (needs a 'features' object)")
        return cls(dict(data["features"]), {k: dict(v) for k, v in data.get("categories", {}).items()})

    def minimise(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """``features`` with the map's short ids and category codes.

        A feature the map does not name keeps its name, and a label it does not code (a new
        category) stays a string, unless either could be read back as something else: a name
        that is another feature's id, a label that is the text of a code. Those raise
        ``ValueError`` (the logger refuses the call) rather than parse back wrong."""
        ids: dict[str, str] = object.__getattribute__(self, "_ids")
        out: dict[str, Any] = {}
        for name, value in features.items():
            short = self.features.get(name)
            if short is None:
                if name in ids:
                    raise ValueError(f"feature {name!r} is not in id map {self.map_id} but is the id of {ids[name]!r}")
                short = name
            codes = self.categories.get(name)
            if codes is not None and isinstance(value, str):
                if value in codes:
                    value = codes[value]
                elif value.strip().lstrip("+-").isdigit():
                    raise ValueError(f"label {value!r} of {name!r} is not in id map {self.map_id} and reads as a code")
            out[short] = value
        return out

    def expand(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """The inverse of :meth:`minimise`, as the parse does it in Spark (for tests and notebooks)."""
        ids: dict[str, str] = object.__getattribute__(self, "_ids")
        labels: dict[str, dict[int, str]] = object.__getattribute__(self, "_labels")
        out: dict[str, Any] = {}
        for key, value in features.items():
            name = ids.get(key, key)
            coded = labels.get(name)
            if coded is not None and type(value) is int and value in coded:
                value = coded[value]
            out[name] = value
        return out


def load_id_maps(directory: Path) -> dict[str, IdMap]:
    """Every map under ``directory`` (``*.json``) by its id; empty when the folder is missing."""
    if not directory.is_dir():
        return {}
    maps = [IdMap.load(p) for p in sorted(directory.glob("*.json"))]
    return {m.map_id: m for m in maps}
