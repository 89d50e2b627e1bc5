"""AIVA-style workload ids: requests are grouped by the set of tools (functions) they offer the model.

Two requests offering the same tools belong to the same workload whatever the order or duplication of the tool
list, so per-workload sampling rates and drift baselines stay stable across clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_WORKLOAD_ID_LEN", "tool_names", "workload_id_from_tools"]

#: Longest readable id; longer tool sets are summarised as ``<prefix>-<count>-<sha256[:16]>``.
MAX_WORKLOAD_ID_LEN = 64


def _entry_name(entry: Any) -> str | None:
    """Function name of one tool / legacy function entry, or None when the entry is malformed or not a function."""
    if not isinstance(entry, Mapping):
        return None
    function = entry.get("function")
    if isinstance(function, Mapping):
        name = function.get("name")
    elif entry.get("type", "function") == "function":
        # Legacy ``functions`` entries and the flat Responses-API form {"type": "function", "name": ...}.
        name = entry.get("name")
    else:
        # Built-in tools such as {"type": "file_search"} carry no function name.
        return None
    return name if isinstance(name, str) and name else None


def tool_names(request: Mapping[str, Any]) -> list[str]:
    """Sorted, de-duplicated function names offered by ``request["tools"]`` and legacy ``request["functions"]``."""
    names: set[str] = set()
    for key in ("tools", "functions"):
        entries = request.get(key)
        # Only real sequences of entries: a string or a dict here is malformed, not a list of tools.
        if not isinstance(entries, list | tuple):
            continue
        for entry in entries:
            name = _entry_name(entry)
            if name is not None:
                names.add(name)
    return sorted(names)


def workload_id_from_tools(request: Mapping[str, Any], prefix: str = "tools", generic: str = "generic") -> str:
    """Stable workload id from the set of tool names.

    ``generic`` when the request offers no tools; ``"<prefix>-name1+name2"`` when that whole id fits in
    :data:`MAX_WORKLOAD_ID_LEN` (64) characters; otherwise ``"<prefix>-<count>-<first 16 hex of sha256>"`` of the
    ``+``-joined names.
    """
    names = tool_names(request)
    if not names:
        return generic
    joined = "+".join(names)
    readable = f"{prefix}-{joined}"
    if len(readable) <= MAX_WORKLOAD_ID_LEN:
        return readable
    return f"{prefix}-{len(names)}-{hashlib.sha256(joined.encode()).hexdigest()[:16]}"
