"""The LLM side of the synthetic serving logs: chat-completion requests and responses.

Support workloads call tools (order lookups, refunds, …) over one or two turns; the others
summarise documents. The text pools are fixed; only the choices among them depend on the seed
(the one ``random.Random`` of :func:`ops.synthetic.generate`, shared with the prediction side).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

__all__ = ["ConversationBuilder"]

_LLM_MODELS = ("meta/llama-3.1-8b-instruct",) * 5 + ("meta/llama-3.1-70b-instruct", "meta/llama-3.2-3b-instruct")

# --- text pools (fixed; only the choices among them depend on the seed) -------------------------
_SUPPORT_SYSTEM = (
    "You are Ava, the support assistant for Northwind Outfitters. Be polite and concise. Use the "
    "tools to look up orders, shipments and refunds instead of guessing; never reveal other "
    "customers' data and offer to escalate when a request is outside policy.",
    "You are a support agent for an online electronics store. Answer in the customer's language, "
    "verify order details with a tool call before promising anything, keep answers short.",
)
_SUMMARY_SYSTEM = (
    "You are a careful summarization assistant. Preserve names, numbers and dates exactly and do "
    "not add facts that are not in the source.",
    "Summarize documents for busy executives: lead with the decision, then the key risks.",
)
_SUMMARY_PROMPTS = (
    "Summarize the following text in two sentences:\n\n",
    "TL;DR this please:\n",
    "Give me a bullet-point summary of the notes below.\n\n",
    "Résumé en une phrase, s'il vous plaît :\n\n",
)
_DOC_SENTENCES = (
    "The quarterly review showed revenue up 12% year over year, driven by the subscription tier.",
    "Churn in the enterprise segment stayed flat at 3.1% despite the price change in September.",
    "The infrastructure team migrated the ingestion cluster to the new region without downtime.",
    "Two incidents were caused by an expired TLS certificate on the internal metrics gateway.",
    "Marketing proposes shifting 20% of the paid-search budget to partner referrals.",
    "Legal flagged that the data retention policy must be updated before the EU launch.",
    "Latency of the checkout API regressed by 40 ms after the fraud model update.",
    "Warehouse capacity in Rotterdam will hit 95% during the holiday peak; overflow goes to Lyon.",
    "Feedback from São Paulo stores says the mobile app needs an offline mode for stock counts.",
    "The board approved the budget on condition that cloud spend stays below 18% of revenue.",
)
_SUMMARIES = (
    "Revenue grew 12% while enterprise churn stayed flat.",
    "The team asks for budget approval and flags one compliance risk before launch.",
    "Infra work finished on time; two incidents came from an expired certificate.",
    "Holiday capacity is tight and overflow will be routed to a second warehouse.",
    "- Budget approved\n- Hiring plan adds six engineers\n- Pilot starts in January",
)
_FOLLOWUPS = ("Can you make it shorter?", "Now translate that summary into German.", "Which risk is the most urgent?")
_SUPPORT_ANSWERS = (
    "I checked your order: it left our warehouse yesterday and should arrive within two business "
    "days. Anything else I can help with?",
    "I'm sorry about the trouble. The refund is started; expect it on your statement in 3-5 days.",
    "I couldn't find that order number. Could you share the email address used at checkout?",
)
# name -> (description, parameters as "name:json-type", user message templates, tool result)
_TOOLS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "get_order_status": (
        "Look up the current status of a customer order.",
        ("order_id:string",),
        ("Hi, where is my order {order_id}? It still says processing.",),
        '{"status":"shipped","carrier":"ups","eta":"2024-11-22"}',
    ),
    "track_shipment": (
        "Get tracking events for a shipment.",
        ("tracking_number:string", "carrier:string"),
        ("My {carrier} tracking number {tracking_number} hasn't updated in 4 days, why?",),
        '{"events":[{"status":"in_transit","location":"Memphis, TN"}]}',
    ),
    "issue_refund": (
        "Issue a full or partial refund for an order.",
        ("order_id:string", "amount:number", "reason:string"),
        ("The jacket from order {order_id} arrived damaged ({reason}), I want my {amount} back.",),
        '{"refund_id":"rf_8812","status":"pending"}',
    ),
    "find_nearest_store": (
        "Find the nearest physical store to a city.",
        ("city:string", "open_now:boolean"),
        ("Is there a store near {city} where I can return something today?",),
        '{"stores":[{"name":"Northwind Central","distance_km":2.4}]}',
    ),
    "search_knowledge_base": (
        "Search help-center articles.",
        ("query:string", "top_k:integer"),
        ("How do I {query}?", "Quick question: {query}?"),
        '{"articles":[{"id":"kb-231","title":"Returns and exchanges"}]}',
    ),
}
_ENUMS: dict[str, tuple[str, ...]] = {
    "carrier": ("ups", "fedex", "dhl", "usps"),
    "reason": ("damaged", "late", "wrong_item", "other"),
    "city": ("Paris", "Berlin", "Austin", "São Paulo", "Osaka", "Lagos", "Düsseldorf"),
    "query": ("return an item without a receipt", "change my password", "cancel a subscription"),
}
_ARG_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "order_id": lambda r: f"NW-{r.randrange(100000, 999999)}",
    "tracking_number": lambda r: f"1Z{r.getrandbits(40):010X}",
    "amount": lambda r: round(r.uniform(5, 400), 2),
    "open_now": lambda r: r.random() < 0.5,
    "top_k": lambda r: r.randrange(1, 6),
}


class ConversationBuilder:
    """Builds the ``request`` and ``response`` of LLM records from the shared RNG."""

    def __init__(self, rng: random.Random, llm_workloads: tuple[str, ...]) -> None:
        self.rng = rng
        self.tool_names = tuple(_TOOLS)
        # Workloads with "tool" in the name call tools; if none does, the first LLM workload does.
        tools = {w for w in llm_workloads if "tool" in w}
        self.tool_workloads = tools or set(llm_workloads[:1])

    def _args(self, tool: str) -> dict[str, Any]:
        r = self.rng
        args: dict[str, Any] = {}
        for spec in _TOOLS[tool][1]:
            name = spec.split(":", 1)[0]
            args[name] = r.choice(_ENUMS[name]) if name in _ENUMS else _ARG_VALUES[name](r)
        return args

    def _call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """A tool call; ``arguments`` is a JSON string or a JSON object, 50/50."""
        r = self.rng
        arguments: Any = json.dumps(args, separators=(",", ":"), ensure_ascii=False) if r.random() < 0.5 else args
        return {
            "id": f"call_{r.getrandbits(64):016x}",
            "type": "function",
            "function": {"name": tool, "arguments": arguments},
        }

    def _user(self, text: str) -> dict[str, Any]:
        if self.rng.random() < 0.25:
            return {"role": "user", "content": [{"type": "text", "text": text}]}
        return {"role": "user", "content": text}

    def _support(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]] | None]:
        r = self.rng
        tool = r.choice(self.tool_names)
        args = self._args(tool)
        messages: list[dict[str, Any]] = [{"role": "system", "content": r.choice(_SUPPORT_SYSTEM)}]
        roll = r.random()
        if roll < 0.2:  # an earlier turn with a completed tool round-trip
            prev = r.choice(self.tool_names)
            call = self._call(prev, self._args(prev))
            messages += [
                self._user(r.choice(_TOOLS[prev][2]).format_map(self._args(prev))),
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": _TOOLS[prev][3]},
                {"role": "assistant", "content": r.choice(_SUPPORT_ANSWERS)},
            ]
        messages.append(self._user(r.choice(_TOOLS[tool][2]).format_map(args)))
        calls: list[dict[str, Any]] | None = None
        if roll > 0.85:  # ends with a tool result, so the model answers in text
            call = self._call(tool, args)
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": _TOOLS[tool][3]},
            ]
        elif r.random() < 0.8:
            calls = [self._call(tool, args)]
        k = 1 if r.random() < 0.7 else 2
        defs = [tool, *[t for t in r.sample(self.tool_names, k + 1) if t != tool][:k]]
        r.shuffle(defs)
        if calls and r.random() < 0.1:  # parallel tool calls
            calls.append(self._call(defs[-1], self._args(defs[-1])))
        request["tools"] = [_tool_def(t) for t in defs]
        return messages, None if calls else r.choice(_SUPPORT_ANSWERS), calls

    def chat_completion(self, workload: str, created: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return ``(request, response)`` for one chat completion."""
        r = self.rng
        model = r.choice(_LLM_MODELS)
        request: dict[str, Any] = {"model": model}
        calls: list[dict[str, Any]] | None = None
        if workload in self.tool_workloads:
            messages, content, calls = self._support(request)
        else:
            doc = " ".join(r.choices(_DOC_SENTENCES, k=r.randrange(2, 6)))
            messages = [
                {"role": "system", "content": r.choice(_SUMMARY_SYSTEM)},
                self._user(r.choice(_SUMMARY_PROMPTS) + doc),
            ]
            if r.random() < 0.2:
                messages += [{"role": "assistant", "content": r.choice(_SUMMARIES)}, self._user(r.choice(_FOLLOWUPS))]
            content = " ".join(r.choices(_SUMMARIES, k=r.randrange(1, 3)))
        request["messages"] = messages
        request["temperature"] = r.choice((0.0, 0.2, 0.7, 1.0))
        request["max_tokens"] = r.choice((256, 512, 1024))
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        prompt = 40 * len(messages) + r.randrange(20, 400)
        completion = 12 * len(calls) if calls else len(content or "") // 4 + 1
        return request, {
            "id": f"chatcmpl-{r.getrandbits(96):024x}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }


def _tool_def(tool: str) -> dict[str, Any]:
    desc, params, _templates, _result = _TOOLS[tool]
    props: dict[str, Any] = {}
    for spec in params:
        name, typ = spec.split(":", 1)
        props[name] = {"type": typ, "description": name.replace("_", " ")}
        if name in _ENUMS:
            props[name]["enum"] = list(_ENUMS[name])
    return {
        "type": "function",
        "function": {
            "name": tool,
            "description": desc,
            "parameters": {"type": "object", "properties": props, "required": [p.split(":")[0] for p in params]},
        },
    }
