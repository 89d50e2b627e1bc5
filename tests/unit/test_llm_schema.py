"""The LLM table declarations: nested logical types, their Arrow forms, the drift features
they expose, and the llm settings' validation."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.core import Column
from schemas.llm import GOLD_LLM_DATASETS, LLM_DRIFT_FEATURES, MESSAGE_TYPE, SILVER_LLM_INTERACTIONS
from schemas.records import SILVER_QUARANTINE_REASONS
from schemas.tables import TABLES
from skewguard.config import ConfigError, load_settings


def test_nested_types_map_to_arrow() -> None:
    arrow = SILVER_LLM_INTERACTIONS.arrow_schema()
    message = arrow.field("messages").type.value_type
    assert message.names == ["role", "content", "content_parts", "name", "tool_call_id", "tool_calls"]
    part = message.field("content_parts").type.value_type
    assert part.field("image_url").type == pa.struct([pa.field("url", pa.string()), pa.field("detail", pa.string())])
    call = message.field("tool_calls").type.value_type
    assert call.names == ["id", "type", "name", "arguments", "arguments_raw"]
    assert arrow.field("response_message").type == message


@pytest.mark.parametrize(
    "bad", ["struct<a>", "struct<a:int>", "array<struct<a:string>", "struct<a:string,a:long>", "map<long,string>"]
)
def test_bad_nested_types_are_refused_with_the_column(bad: str) -> None:
    with pytest.raises(ValueError, match=r"column c: .*known"):
        Column("c", bad, "doc")


def test_tables_are_registered_and_payloads_skip_statistics() -> None:
    assert SILVER_LLM_INTERACTIONS in TABLES and GOLD_LLM_DATASETS in TABLES
    stats = GOLD_LLM_DATASETS.table_properties()["delta.dataSkippingStatsColumns"].split(",")
    assert "chat_json" not in stats and "eval_json" not in stats and "event_id" in stats
    assert "messages" not in SILVER_LLM_INTERACTIONS.table_properties()["delta.dataSkippingStatsColumns"]
    assert MESSAGE_TYPE.startswith("struct<role:string,")


def test_drift_features_are_typed_columns_of_silver() -> None:
    types = {c.name: c.type for c in SILVER_LLM_INTERACTIONS.columns}
    for name, kind in LLM_DRIFT_FEATURES.items():
        allowed = {"long", "double"} if kind == "numeric" else {"string", "array<string>"}
        assert types[name] in allowed, (name, types[name])


def test_llm_reason_codes_are_documented() -> None:
    llm = {k for k, v in SILVER_QUARANTINE_REASONS.items() if v.startswith("LLM:")}
    assert llm == {
        "missing_request_response", "invalid_messages", "invalid_choices", "invalid_tool_call",
        "too_many_tool_parameters",
    }  # fmt: skip


def test_llm_settings_validate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "local.yaml").write_text("{}\n")
    (tmp_path / "base.yaml").write_text("llm:\n  val_ratio: 1.0\n")
    with pytest.raises(ConfigError, match=r"llm.val_ratio"):
        load_settings("local", conf_dir=tmp_path, env={})
    (tmp_path / "base.yaml").write_text("llm:\n  export_dir: /data/exports\n")
    assert load_settings("local", conf_dir=tmp_path, env={}).llm_export_root() == "/data/exports"
    settings = load_settings("local", env={"SKEWGUARD_LAKEHOUSE": "s3a://bucket/lake"})
    assert settings.llm_export_root() == "s3a://bucket/lake/exports/llm_datasets"
