"""Bronze LLM interaction rows (Data Flywheel format) → ``silver.llm_interactions``' columns,
with the OpenAI chat-format validation that quarantines a record with one reason code.

All native Spark (``from_json`` with explicit schemas, higher-order functions; no Python UDF).
The **typed read** gives every field, reading message ``content`` and tool-call
``arguments`` as text: Spark renders a JSON list or object there as compact JSON text and a
JSON string as its value. Two things that rendering cannot tell apart are settled exactly:

* **list content or a string that looks like one** — only for records whose source has a
  ``"content": [`` at all, the messages are read again as their JSON text, where
  ``$.content[0]`` exists only for a list; those contents are then read as parts. (Reading
  content as a list for every record would cost an exception per string content: Spark's
  partial-result path throws and catches on each mismatch, which made the parse 2.5× slower.)
* **arguments as an object or as a string holding one** — both are normalised by reading
  ``{"v": <text>}`` and re-rendering ``v``, which gives the same compact JSON text either way;
  the text as logged is kept next to it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.lib.steps import require_columns
from schemas.core import spark_type
from schemas.llm import MESSAGE_TYPE, TOOL_CALL_TYPE, VALID_ROLES, WORKLOAD_TYPES
from skewguard.config import Settings

__all__ = ["RECORD_SCHEMA", "parse_llm_interactions", "with_workload_type"]

_BRONZE_NEEDED = ("event_id", "event_ts", "event_date", "workload_id", "client_id", "record_kind", "source_json")

_FUNCTION_TEXT = "struct<name:string,arguments:string>"
_MESSAGE_READ = (
    "struct<role:string,content:string,name:string,tool_call_id:string,"
    f"tool_calls:array<struct<id:string,type:string,function:{_FUNCTION_TEXT}>>>"
)
RECORD_SCHEMA = spark_type(
    "struct<"
    f"request:struct<model:string,messages:array<{_MESSAGE_READ}>,tools:string,temperature:double,max_tokens:long>,"
    f"response:struct<model:string,choices:array<struct<message:{_MESSAGE_READ},finish_reason:string>>,"
    "usage:struct<prompt_tokens:long,completion_tokens:long,total_tokens:long>>>"
)
# the messages again, as JSON text: only for records with list content somewhere
_MESSAGE_TEXTS = spark_type(
    "struct<request:struct<messages:array<string>>,response:struct<choices:array<struct<message:string>>>>"
)
_PARTS = "array<struct<type:string,text:string,image_url:struct<url:string,detail:string>>>"
_TOOLS = "array<struct<function:struct<name:string,parameters:struct<properties:string>>>>"
_LIST_CONTENT = r'"content"\s*:\s*\['
_CALL_TYPE = spark_type(TOOL_CALL_TYPE)
_MESSAGE_TYPE = spark_type(MESSAGE_TYPE)


def _no_calls() -> Column:
    return F.array().cast(T.ArrayType(_CALL_TYPE))


def _tool_call(call: Column) -> Column:
    """One tool call, typed, with its arguments normalised (null when they are not a JSON object)."""
    raw = call["function"]["arguments"]
    normalised = F.from_json(F.concat(F.lit('{"v":'), raw, F.lit("}")), "v string")["v"]
    # json_object_keys is null unless the text is a JSON object; checking the logged text
    # too rejects a string that only reads as an object once wrapped (e.g. `1,"v":{}`).
    is_object = (
        normalised.startswith("{")
        & F.json_object_keys(normalised).isNotNull()
        & ((raw == normalised) | F.json_object_keys(raw).isNotNull())
    )
    return F.struct(
        call["id"].alias("id"),
        call["type"].alias("type"),
        call["function"]["name"].alias("name"),
        F.when(is_object, normalised).alias("arguments"),
        raw.alias("arguments_raw"),
    )


def _message(message: Column, text: Column) -> Column:
    """One chat message: string content or its list of parts (``text``: the message's JSON
    text when the record has list content anywhere, else null), and its typed tool calls."""
    is_list = F.coalesce(F.get_json_object(text, "$.content[0]").isNotNull(), F.lit(False))
    return F.struct(
        message["role"].alias("role"),
        F.when(~is_list, message["content"]).alias("content"),
        F.when(is_list, F.from_json(message["content"], _PARTS)).alias("content_parts"),
        message["name"].alias("name"),
        message["tool_call_id"].alias("tool_call_id"),
        F.transform(message["tool_calls"], _tool_call).alias("tool_calls"),
    ).cast(_MESSAGE_TYPE)


def _chars(texts: Column) -> Column:
    """Characters in an array of strings (nulls count 0). Field extraction and ``concat_ws``
    are compiled by Spark; lambdas (``aggregate``, ``exists``) are interpreted, so the
    per-record columns avoid them where they can."""
    return F.coalesce(F.length(F.concat_ws("", texts)), F.lit(0)).cast("long")


def _parts_text(messages: Column) -> Column:
    """The ``text`` of every part of every message with list content."""
    return F.flatten(F.array_compact(messages["content_parts"]))["text"]


def _user_text(message: Column) -> Column:
    """What a user message says: its string content, or its parts' text and image URLs."""
    parts = F.transform(
        message["content_parts"], lambda p: F.coalesce(p["text"], p["image_url"]["url"], p["type"], F.lit(""))
    )
    return F.coalesce(message["content"], F.array_join(parts, "\n"), F.lit(""))


def _reason(messages: Column, response_message: Column, choices: Column, tool_param_counts: Column, cap: int) -> Column:
    """The first rule of the LLM part of ``SILVER_QUARANTINE_REASONS`` the record breaks (null: none)."""
    r = F.col("r")
    roles = F.array(*[F.lit(role) for role in VALID_ROLES])
    calls = F.concat(
        F.flatten(F.array_compact(messages["tool_calls"])), F.coalesce(response_message["tool_calls"], _no_calls())
    )
    n_calls = F.size(calls)
    bad_call = (
        (F.size(F.array_remove(calls["type"], "function")) > 0)  # nulls are kept, so a missing type counts
        | (F.size(F.array_compact(calls["name"])) < n_calls)
        | F.array_contains(calls["name"], "")
        | (F.size(F.array_compact(calls["arguments"])) < n_calls)
    )
    too_many = F.exists(calls, lambda c: F.size(F.json_object_keys(c["arguments"])) > cap) | F.exists(
        tool_param_counts, lambda n: n > cap
    )
    return (
        F.when(r["request"].isNull() | r["response"].isNull(), F.lit("missing_request_response"))
        .when(
            ~F.coalesce(
                # a null message has a null role, which array_except keeps
                (F.size(messages) > 0) & (F.size(F.array_except(messages["role"], roles)) == 0),
                F.lit(False),
            ),
            F.lit("invalid_messages"),
        )
        .when(
            # every choice needs a message, as the Data Flywheel's validator checks
            ~F.coalesce((F.size(choices) > 0) & F.forall(choices, lambda c: c["message"].isNotNull()), F.lit(False)),
            F.lit("invalid_choices"),
        )
        .when(F.coalesce(bad_call, F.lit(True)), F.lit("invalid_tool_call"))
        .when(F.coalesce(too_many, F.lit(False)), F.lit("too_many_tool_parameters"))
    )


def _offered_tools() -> Column:
    """The request's ``tools`` read as the functions it offers."""
    return F.from_json(F.col("r")["request"]["tools"], _TOOLS)


def _with_typed_messages(bronze_df: DataFrame) -> DataFrame:
    """Add ``r`` (the typed record), ``texts`` (the messages as JSON text, only for records
    with list content), and the typed ``messages`` and ``response_message``."""
    r, texts = F.col("r"), F.col("texts")
    message_texts = texts["request"]["messages"]
    response_choice = r["response"]["choices"][0]["message"]
    return (
        bronze_df.withColumn("r", F.from_json("source_json", RECORD_SCHEMA))
        .withColumn(
            "texts", F.when(F.col("source_json").rlike(_LIST_CONTENT), F.from_json("source_json", _MESSAGE_TEXTS))
        )
        .withColumn("messages", F.transform(r["request"]["messages"], lambda m, i: _message(m, message_texts[i])))
        .withColumn(
            "response_message",
            F.when(
                response_choice.isNotNull(),
                _message(response_choice, texts["response"]["choices"][0]["message"]),
            ),
        )
    )


def _with_reason(parsed_df: DataFrame, cap: int) -> DataFrame:
    """Add ``reason``: the first validation rule the record breaks (null: none)."""
    tool_param_counts = F.transform(
        _offered_tools(),
        lambda t: F.coalesce(F.size(F.json_object_keys(t["function"]["parameters"]["properties"])), F.lit(0)),
    )
    return parsed_df.withColumn(
        "reason",
        _reason(
            F.col("messages"), F.col("response_message"), F.col("r")["response"]["choices"], tool_param_counts, cap
        ),
    )


def _offered_tool_names() -> Column:
    """The names of the offered functions (never null: an empty list when none)."""
    return F.coalesce(
        F.filter(F.transform(_offered_tools(), lambda t: t["function"]["name"]), lambda n: n.isNotNull()),
        F.array().cast("array<string>"),
    )


def _completion_chars(response_message: Column) -> Column:
    return F.coalesce(F.length(response_message["content"]), F.lit(0)).cast("long") + _chars(
        response_message["tool_calls"]["arguments"]
    )


def _dedup_key(user_messages: Column) -> Column:
    # each text prefixed by its length, so that no two different lists join to the same string
    return F.sha2(
        F.concat_ws(
            "",
            F.transform(F.transform(user_messages, _user_text), lambda t: F.concat(F.length(t), F.lit(":"), t)),
        ),
        256,
    )


def _select_silver_columns(parsed_df: DataFrame) -> DataFrame:
    """The parsed record's ``silver.llm_interactions`` columns; ``source_json`` kept only for
    a quarantined record."""
    request, response = F.col("r")["request"], F.col("r")["response"]
    messages, response_message = F.col("messages"), F.col("response_message")
    user_messages = F.filter(messages, lambda m: m["role"] == "user")
    no_names = F.array().cast("array<string>")
    # every choice's calls, in choice order (the Data Flywheel's tool-call filter scans them all)
    called = F.coalesce(
        F.array_compact(
            F.flatten(
                F.transform(
                    response["choices"], lambda c: F.coalesce(c["message"]["tool_calls"]["function"]["name"], no_names)
                )
            )
        ),
        no_names,
    )
    return parsed_df.select(
        "event_id",
        "event_ts",
        "event_date",
        "workload_id",
        "client_id",
        request["model"].alias("request_model"),
        "messages",
        request["tools"].alias("tools_json"),
        _offered_tool_names().alias("tools_offered"),
        request["temperature"].alias("temperature"),
        request["max_tokens"].alias("max_tokens"),
        response["model"].alias("response_model"),
        "response_message",
        response["choices"][0]["finish_reason"].alias("finish_reason"),
        F.coalesce(F.size(response["choices"]), F.lit(0)).cast("long").alias("choice_count"),
        response["usage"]["prompt_tokens"].alias("prompt_tokens"),
        response["usage"]["completion_tokens"].alias("completion_tokens"),
        response["usage"]["total_tokens"].alias("total_tokens"),
        called.alias("tool_names_called"),
        response_message["tool_calls"][0]["name"].alias("first_tool"),
        F.size(user_messages).cast("long").alias("turn_count"),
        F.size(messages).cast("long").alias("message_count"),
        (_chars(messages["content"]) + _chars(_parts_text(messages))).alias("prompt_chars"),
        _completion_chars(response_message).alias("completion_chars"),
        _dedup_key(user_messages).alias("dedup_key"),
        "record_kind",
        "reason",
        F.when(F.col("reason").isNotNull(), F.col("source_json")).alias("source_json"),
    )


def parse_llm_interactions(bronze_df: DataFrame, settings: Settings) -> DataFrame:
    """Bronze LLM rows → ``silver.llm_interactions``' data columns except ``workload_type``
    (see :func:`with_workload_type`), plus ``reason``, ``record_kind`` and ``source_json``
    (kept only where ``reason`` is set)."""
    require_columns(bronze_df, _BRONZE_NEEDED, "parse_llm_interactions")
    return (
        bronze_df.transform(_with_typed_messages)
        .transform(_with_reason, settings.llm.max_tool_parameters)
        .transform(_select_silver_columns)
    )


def with_workload_type(rows_df: DataFrame) -> DataFrame:
    """Add (or replace) ``workload_type``: ``tool_calling`` for a workload when any of its
    rows calls a tool (has a ``first_tool``), else ``generic``.

    Run on materialised rows: it aggregates them once (one small row per workload) and
    broadcasts that back, instead of a window that would put a whole workload in one task.
    """
    tool_calling, generic = WORKLOAD_TYPES
    types_df = rows_df.groupBy("workload_id").agg(
        F.when(F.max(F.col("first_tool").isNotNull()), F.lit(tool_calling))
        .otherwise(F.lit(generic))
        .alias("workload_type")
    )
    return rows_df.drop("workload_type").join(F.broadcast(types_df), "workload_id")
