"""LLM interaction tables: the typed silver form of Data Flywheel records and the gold
fine-tuning / evaluation datasets built from it, plus the per-record features the drift job
monitors for LLM workloads."""

from __future__ import annotations

from schemas.core import Column, TableSchema
from schemas.lineage import PARSE_LINEAGE

__all__ = [
    "GOLD_LLM_DATASETS",
    "LLM_DRIFT_FEATURES",
    "LLM_SPLITS",
    "MESSAGE_TYPE",
    "SILVER_LLM_INTERACTIONS",
    "TOOL_CALL_TYPE",
    "VALID_ROLES",
    "WORKLOAD_TYPES",
]

#: roles a chat message may have (OpenAI chat format; ``function`` is the legacy tool role)
VALID_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
#: ``tool_calling`` when any record of the workload calls a tool, else ``generic``
WORKLOAD_TYPES = ("tool_calling", "generic")
LLM_SPLITS = ("train", "val", "eval")

TOOL_CALL_TYPE = "struct<id:string,type:string,name:string,arguments:string,arguments_raw:string>"
_PART_TYPE = "struct<type:string,text:string,image_url:struct<url:string,detail:string>>"
MESSAGE_TYPE = (
    f"struct<role:string,content:string,content_parts:array<{_PART_TYPE}>,name:string,tool_call_id:string,"
    f"tool_calls:array<{TOOL_CALL_TYPE}>>"
)
_MESSAGE_DOC = (
    "`role`; `content` when it is a string, else `content_parts` (the list of parts: `type`, `text`, "
    "`image_url`{`url`, `detail`}); `name`; `tool_call_id`; `tool_calls`: `id`, `type`, `name`, `arguments` "
    "(the arguments object, parsed and re-rendered as compact JSON: the same text whether it was logged as an "
    "object or as a JSON string; null when they are neither) and `arguments_raw` (as logged: the string when "
    "they were a string, else the object's compact JSON text)"
)

SILVER_LLM_INTERACTIONS = TableSchema(
    name="silver.llm_interactions",
    doc=(
        "Every bronze LLM interaction that passes the OpenAI chat-format validation, typed: the request's "
        "messages and tools, the response message, finish reason and token usage, and derived columns for "
        "datasets and drift. Written by `parse_logs --kind llm`; re-parsing a window replaces exactly that window."
    ),
    columns=(
        Column("event_id", "string", "the record's bronze `event_id` (its Elasticsearch `_id`)", False),
        Column("event_ts", "timestamp", "when the completion was logged (UTC)", False),
        Column("event_date", "date", "UTC day of `event_ts`", False),
        Column("workload_id", "string", "the workload (use case)", False),
        Column("client_id", "string", "the calling application (null when absent)"),
        Column("request_model", "string", "`request.model`: the model the application asked for"),
        Column("messages", f"array<{MESSAGE_TYPE}>", f"`request.messages` in order; each: {_MESSAGE_DOC}", False),
        Column("tools_json", "string", "`request.tools` as compact JSON text (null when no tools were offered)"),
        Column("tools_offered", "array<string>", "names of the functions in `request.tools` (empty: none)", False),
        Column("temperature", "double", "`request.temperature` (null when absent)"),
        Column("max_tokens", "long", "`request.max_tokens` (null when absent)"),
        Column("response_model", "string", "`response.model`: the model that answered"),
        Column("response_message", MESSAGE_TYPE, "`response.choices[0].message`, typed like `messages`", False),
        Column("finish_reason", "string", "`response.choices[0].finish_reason` (e.g. `stop`, `tool_calls`)"),
        Column("choice_count", "long", "number of `response.choices`", False),
        Column("prompt_tokens", "long", "`response.usage.prompt_tokens` (null when absent)"),
        Column("completion_tokens", "long", "`response.usage.completion_tokens` (null when absent)"),
        Column("total_tokens", "long", "`response.usage.total_tokens` (null when absent)"),
        Column(
            "workload_type",
            "string",
            "`tool_calling` when any record of the workload in the parsed window calls a tool, else `generic`",
            False,
        ),
        Column(
            "tool_names_called",
            "array<string>",
            "names of the tools the response's choices call, in order (the first choice's first)",
            False,
        ),
        Column("first_tool", "string", "the first tool the first choice calls (null: none); the split's stratum"),
        Column("turn_count", "long", "number of `user` messages in the request", False),
        Column("message_count", "long", "number of request messages", False),
        Column("prompt_chars", "long", "characters of text in the request messages (content and text parts)", False),
        Column(
            "completion_chars", "long", "characters of the response: its content plus its tool calls' arguments", False
        ),
        Column(
            "dedup_key",
            "string",
            "SHA-256 of the user messages' text in order (text parts and image URLs for list content): "
            "records with the same key ask the same thing",
            False,
        ),
        *PARSE_LINEAGE,
    ),
    partition_by=("event_date", "workload_id"),
)

GOLD_LLM_DATASETS = TableSchema(
    name="gold.llm_datasets",
    doc=(
        "Fine-tuning and evaluation datasets per workload: the validated, quality-filtered, deduplicated "
        "records of a window, each in one split, with the exact lines exported as JSONL. Rebuilding a "
        "workload replaces exactly its rows; the Delta version and the export path are in `metrics.job_runs`."
    ),
    columns=(
        Column("workload_id", "string", "the workload", False),
        Column("split", "string", "`train`, `val` or `eval`", False),
        Column("event_id", "string", "lineage: the record's `event_id` in `silver.llm_interactions` and bronze", False),
        Column("event_ts", "timestamp", "when the completion was logged (UTC)", False),
        Column("event_date", "date", "UTC day of `event_ts`", False),
        Column(
            "workload_type",
            "string",
            "`tool_calling` or `generic` over the dataset's window, from every record (quarantined ones too)",
            False,
        ),
        Column(
            "stratum",
            "string",
            "the first tool called (`__rare__` for tools called first by fewer than `llm.rare_tool_records` "
            "records, `__none__` when no tool is called)",
            False,
        ),
        Column(
            "dedup_key",
            "string",
            "the record's `dedup_key` (unique per workload here, but for records without a user message)",
            False,
        ),
        Column(
            "line_shape",
            "string",
            "`chat` (train, val: the fine-tuning shape) or `eval` (eval: the evaluation shape)",
            False,
        ),
        Column(
            "line_json",
            "string",
            'the exported JSONL line. chat: `{"messages": [request messages…, response message], "tools": […]}`; '
            'eval: `{"request": {model, messages, tools, temperature, max_tokens}, "response": '
            "{model, choices, usage}}`",
            False,
            payload=True,
        ),
        Column("window_start", "date", "first day of the window the dataset was built from", False),
        Column("window_end", "date", "last day of that window", False),
        Column("source_version", "long", "Delta version of `silver.llm_interactions` that was read", False),
        Column("build_run_id", "string", "the `build_llm_datasets` run that wrote the row", False),
        Column("built_at", "timestamp", "when that run started (UTC)", False),
    ),
    partition_by=("workload_id",),
)

#: Per-record features of ``silver.llm_interactions`` that drift monitoring watches for LLM
#: workloads: column → ``numeric`` or ``categorical`` (array columns count each element).
LLM_DRIFT_FEATURES: dict[str, str] = {
    "prompt_tokens": "numeric",
    "completion_tokens": "numeric",
    "turn_count": "numeric",
    "message_count": "numeric",
    "prompt_chars": "numeric",
    "completion_chars": "numeric",
    "finish_reason": "categorical",
    "first_tool": "categorical",
    "tool_names_called": "categorical",
    "request_model": "categorical",
}
