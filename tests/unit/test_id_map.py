"""Schema minimisation's id map: round trip, stable ids, and the values it refuses to minimise."""

from __future__ import annotations

import pytest

from serving.id_map import IdMap, load_id_maps
from serving.record_builders import prediction_record

MAP = IdMap.build(["account_age_days", "country", "device"], {"country": ["US", "FR"]})


def test_minimise_and_expand_round_trip() -> None:
    features = {"account_age_days": 4.5, "country": "FR", "device": None, "new_feature": 1}
    minimised = MAP.minimise(features)
    assert minimised == {"0": 4.5, "1": 1, "2": None, "new_feature": 1}
    assert MAP.expand(minimised) == features
    assert MAP.expand(MAP.minimise({"country": "BR"})) == {"country": "BR"}  # a new category is kept


def test_values_that_would_read_back_wrong_are_refused() -> None:
    with pytest.raises(ValueError, match="is the id of 'account_age_days'"):
        MAP.minimise({"0": 1.0})
    with pytest.raises(ValueError, match="reads as a code"):
        MAP.minimise({"country": "7"})
    with pytest.raises(ValueError, match="logger refuses|not in id map"):
        prediction_record(workload_id="w", features={"country": "12"}, outputs={}, model={}, sampling_rate=1.0,
                          id_map=MAP)  # fmt: skip


def test_invalid_maps_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="unique"):
        IdMap({"a": "x", "b": "x"})
    with pytest.raises(ValueError, match="also feature names"):
        IdMap({"a": "b", "b": "c"})
    with pytest.raises(ValueError, match="codes of 'a'"):
        IdMap({"a": "0"}, {"a": {"x": 1, "y": 1}})


def test_map_id_is_the_content_and_maps_load_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert IdMap.build(["account_age_days", "country", "device"], {"country": ["US", "FR"]}).map_id == MAP.map_id
    assert IdMap.build(["country", "account_age_days", "device"]).map_id != MAP.map_id
    path = MAP.save(tmp_path)
    assert path.name == f"{MAP.map_id}.json"
    assert load_id_maps(tmp_path) == {MAP.map_id: MAP}
    assert load_id_maps(tmp_path / "missing") == {}
