"""Schema minimisation, read side: a minimised prediction's short feature ids and category
codes expanded back to names and labels in Spark (``serving.id_map`` is the Python twin and
the documentation of the map), so ``silver.predictions`` holds what the full record gives."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from serving.id_map import IdMap

__all__ = ["has_known_id_map", "with_expanded_features"]

_SEP = "\u0001"  # never in a map id, a feature id or the text of a code


def _literal_map(entries: dict[str, str]) -> Column:
    return F.create_map(*[F.lit(x) for kv in sorted(entries.items()) for x in kv])


def has_known_id_map(map_id: Column, maps: dict[str, IdMap]) -> Column:
    """True when the record names no map or one of ``maps``."""
    return map_id.isNull() | map_id.isin(sorted(maps)) if maps else map_id.isNull()


def with_expanded_features(features: Column, map_id: Column, maps: dict[str, IdMap]) -> Column:
    """``features`` (a ``map<string,string>``) with ids and codes of the record's map expanded.

    Keys not in the map and values it does not code are kept as they are (see
    ``IdMap.minimise``). A record whose expanded names would repeat (a hand-made record
    holding both a feature's id and its name) gets null, which the parse quarantines as
    ``invalid_features``; a record naming an unknown map is left as it is, and quarantined as
    ``invalid_id_map`` by :func:`has_known_id_map`."""
    if not maps:
        return features
    names = {f"{m}{_SEP}{short}": name for m, idm in maps.items() for name, short in idm.features.items()}
    labels = {
        f"{m}{_SEP}{idm.features[name]}{_SEP}{code}": label
        for m, idm in maps.items()
        for name, codes in idm.categories.items()
        for label, code in codes.items()
    }
    names_map, labels_map = _literal_map(names), _literal_map(labels) if labels else None
    prefix = F.concat(map_id, F.lit(_SEP))
    keys = F.transform(F.map_keys(features), lambda k: F.coalesce(F.try_element_at(names_map, F.concat(prefix, k)), k))
    if labels_map is None:
        values = F.map_values(features)
    else:
        values = F.transform(
            F.map_entries(features),
            lambda e: F.coalesce(
                F.try_element_at(labels_map, F.concat(prefix, e["key"], F.lit(_SEP), e["value"])), e["value"]
            ),
        )
    distinct = F.size(F.array_distinct(keys)) == F.size(keys)
    return F.when(map_id.isNull(), features).when(distinct, F.map_from_arrays(keys, values))
