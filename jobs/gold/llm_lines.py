"""The JSONL lines of the LLM datasets, built as Spark columns from ``silver.llm_interactions``.

* **chat fine-tuning shape**: ``{"messages": [request messages…, response message], "tools": […]}``
  (``tools`` only when the request offered some); tool-call ``arguments`` are the normalised
  JSON text as a string, as the OpenAI fine-tuning format expects;
* **evaluation shape**: ``{"request": {"model", "messages", "tools", "temperature",
  "max_tokens"}, "response": {"model", "choices": [{"index": 0, "message", "finish_reason"}],
  "usage"}}``: what was asked and the answer it is expected to match.

A message's ``content`` is a string or a list of parts, so a message is rendered by one of
two ``to_json`` structs; whole lines are assembled from JSON object texts (fields absent
when null, as ``to_json`` does).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

__all__ = ["chat_line", "chat_line_of", "eval_line", "eval_line_of", "message_json"]


def _calls(message: Column) -> Column:
    return F.transform(
        message["tool_calls"],
        lambda c: F.struct(
            c["id"].alias("id"),
            c["type"].alias("type"),
            F.struct(c["name"].alias("name"), c["arguments"].alias("arguments")).alias("function"),
        ),
    )


def message_json(message: Column) -> Column:
    """One message as OpenAI chat JSON: string content, or the list of parts as logged."""
    calls = _calls(message).alias("tool_calls")

    def render(content: Column) -> Column:
        return F.to_json(
            F.struct(
                message["role"].alias("role"),
                content.alias("content"),
                message["name"].alias("name"),
                message["tool_call_id"].alias("tool_call_id"),
                calls,
            )
        )

    parts = message["content_parts"]
    return F.when(parts.isNull(), render(message["content"])).otherwise(render(parts))


def _json_array(items: Column) -> Column:
    return F.concat(F.lit("["), F.array_join(items, ","), F.lit("]"))


def _member(name: str, json_text: Column) -> Column:
    """``{"name": <json_text>}``, or ``{}`` when the text is null."""
    return F.coalesce(F.concat(F.lit(f'{{"{name}":'), json_text, F.lit("}")), F.lit("{}"))


def _merge(*objects: Column) -> Column:
    """The members of JSON object texts, in order, as one object (``{}`` texts add nothing)."""
    bodies = [F.regexp_replace(o, r"^\{|\}$", "") for o in objects]
    return F.concat(F.lit("{"), F.concat_ws(",", *[F.when(b != "", b) for b in bodies]), F.lit("}"))


def _messages_json(messages: Column) -> Column:
    return _json_array(F.transform(messages, message_json))


def chat_line(messages: Column, response_message: Column, tools_json: Column) -> Column:
    """The chat fine-tuning line of a record."""
    conversation = F.concat(messages, F.array(response_message))
    return _merge(_member("messages", _messages_json(conversation)), _member("tools", tools_json))


def eval_line(
    request_model: Column,
    messages: Column,
    tools_json: Column,
    temperature: Column,
    max_tokens: Column,
    response_model: Column,
    response_message: Column,
    finish_reason: Column,
    usage: Column,
) -> Column:
    """The evaluation line of a record: the request and the response it is expected to match."""
    request = _merge(
        F.to_json(F.struct(request_model.alias("model"))),
        _member("messages", _messages_json(messages)),
        _member("tools", tools_json),
        F.to_json(F.struct(temperature.alias("temperature"), max_tokens.alias("max_tokens"))),
    )
    choice = _merge(
        F.lit('{"index":0}'),
        _member("message", message_json(response_message)),
        F.to_json(F.struct(finish_reason.alias("finish_reason"))),
    )
    response = _merge(
        F.to_json(F.struct(response_model.alias("model"))),
        _member("choices", _json_array(F.array(choice))),
        F.to_json(F.struct(usage.alias("usage"))),
    )
    return _merge(_member("request", request), _member("response", response))


def chat_line_of() -> Column:
    """:func:`chat_line` of a ``silver.llm_interactions`` row."""
    return chat_line(F.col("messages"), F.col("response_message"), F.col("tools_json"))


def eval_line_of() -> Column:
    """:func:`eval_line` of a ``silver.llm_interactions`` row."""
    return eval_line(
        F.col("request_model"),
        F.col("messages"),
        F.col("tools_json"),
        F.col("temperature"),
        F.col("max_tokens"),
        F.col("response_model"),
        F.col("response_message"),
        F.col("finish_reason"),
        F.struct("prompt_tokens", "completion_tokens", "total_tokens"),
    )
