"""JSON encoding of what serving passes to the logger, done at the call.

Serving applications hand the logger numpy scalars and arrays, ``Decimal``, ``datetime``
and non-finite floats as readily as plain numbers. :func:`encode` turns any of them into
JSON text (orjson, several times quicker than the standard library) or raises
:class:`UnencodableValue` naming the value's path, so a record that cannot be logged is
refused in the caller's thread, never a batch later in the sender.

How values are written:

* numpy scalars and arrays: the Python numbers they convert to (``float32`` widened to
  the float64 it is exactly, ``bool_`` as a boolean), arrays as lists;
* ``Decimal``: its exact digits as a JSON number;
* ``datetime``: RFC 3339, a naive one read as UTC (``2024-11-23T10:00:00Z``); ``date`` as
  ``2024-11-23``;
* NaN, +inf and -inf (float, numpy or ``Decimal``): the strings ``"NaN"``, ``"Infinity"``
  and ``"-Infinity"`` — JSON has no literal for them. Spark's cast to double, Python's
  ``float()`` and the shared transforms read those strings back as the same value;
* dict keys that are not strings (ints, bools): their JSON text, as ``json`` does.

Anything else (sets, bytes, arbitrary objects, integers beyond 64 bits, strings with lone
surrogates) is refused.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

__all__ = ["NON_FINITE", "UnencodableValue", "decode", "encode", "render_for_report"]

#: How a non-finite number is written (and read back by the parse and the transforms).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

_NEVER_NON_FINITE = frozenset({str, int, bool, type(None)})
_STR_KEYS_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_OPTIONS = orjson.OPT_NON_STR_KEYS | _STR_KEYS_OPTIONS


class UnencodableValue(ValueError):
    """A value the logger cannot write as JSON; the message names where it is."""


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else value.astype("datetime64[us]").item()
        return value.tolist()
    if isinstance(value, decimal.Decimal):
        if value.is_finite():
            return orjson.Fragment(str(value))
        return NON_FINITE["nan"] if value.is_nan() else NON_FINITE["-inf" if value.is_signed() else "inf"]
    raise TypeError(f"Type is not JSON serializable: {type(value).__module__}.{type(value).__qualname__}")


def _non_finite_name(value: float) -> str:
    return NON_FINITE["nan" if math.isnan(value) else ("-inf" if value < 0 else "inf")]


def _has_non_finite(value: Any) -> bool:
    # The plain types first, by exact type: this runs on every record that holds a null.
    kind = type(value)
    if kind is float:
        return bool(value - value != 0.0)  # NaN and ±inf give NaN; a finite number gives 0.0
    if kind is dict or kind is list or kind is tuple:
        for v in value.values() if kind is dict else value:
            kind = type(v)
            if kind is float:
                if v - v != 0.0:
                    return True
            elif kind not in _NEVER_NON_FINITE and _has_non_finite(v):
                return True
        return False
    if kind in _NEVER_NON_FINITE:
        return False
    if isinstance(value, float | np.floating):
        return not math.isfinite(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return True
        return value.dtype.kind in "fc" and not bool(np.isfinite(value).all())
    if isinstance(value, Mapping):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


def _finite_copy(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string (see :data:`NON_FINITE`)."""
    if isinstance(value, float | np.floating):
        return value if math.isfinite(value) else _non_finite_name(float(value))
    if isinstance(value, Mapping):
        return {k: _finite_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_copy(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_finite_copy(v) for v in value.tolist()]
    return value


def encode(value: Any) -> bytes:
    """The JSON text of ``value`` (see the module docstring); raises :class:`UnencodableValue`."""
    try:
        try:
            text = orjson.dumps(value, default=_default, option=_STR_KEYS_OPTIONS)
        except TypeError:  # maybe a key that is not a string; the option that allows them is slower
            text = orjson.dumps(value, default=_default, option=_OPTIONS)
        # orjson writes NaN and ±inf as null; only then is the value walked to keep them.
        if b"null" in text and _has_non_finite(value):
            text = orjson.dumps(_finite_copy(value), default=_default, option=_OPTIONS)
        return text
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise UnencodableValue(f"{_where(value)}: {_cause(exc)}") from None


def decode(text: bytes | str) -> Any:
    """Parse JSON text written by :func:`encode`."""
    return orjson.loads(text)


def render_for_report(value: Any) -> bytes:
    """JSON text of a value that :func:`encode` refused, with each part it cannot write
    replaced by ``"<unencodable TYPE>"`` — for the dead-letter file, never for Elasticsearch."""

    def placeholder(part: Any) -> Any:
        try:
            return _default(part)
        except TypeError:
            return f"<unencodable {type(part).__qualname__}>"

    try:
        return orjson.dumps(_finite_copy(_replace_bad(value)), default=placeholder, option=_OPTIONS)
    except (TypeError, ValueError):
        return orjson.dumps(f"<unencodable {type(value).__qualname__}>")


def _encodes(value: Any) -> bool:
    try:
        orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, ValueError):
        return False
    return True


def _replace_bad(value: Any) -> Any:
    """``value`` with the parts orjson refuses even with the default (huge ints, bad strings)
    replaced by placeholders, so the rest can still be shown."""
    if isinstance(value, Mapping):
        return {(k if _encodes({k: 0}) else repr(k)): _replace_bad(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_bad(v) for v in value]
    if _encodes(value):
        return value
    return f"<unencodable {type(value).__qualname__}>"


def _where(value: Any, path: str = "") -> str:
    """The path of the first part of ``value`` that cannot be encoded (slow: only on failure)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not _encodes({k: 0}):
                return f"{path or 'record'}: key {k!r:.40}"
            if not _encodes(v):
                return _where(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if not _encodes(v):
                return _where(v, f"{path}[{i}]")
    return path or "record"


def _cause(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
