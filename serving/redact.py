"""PII redaction applied to every serving record before it leaves the process: the
:class:`Redactor` and its :class:`RedactionConfig`. The detectors themselves, what they are
tuned against and their known trade-offs are in ``serving.pii_patterns``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serving.pii_patterns import (
    CANDIDATE,
    CARD_NUMBER,
    CARD_RE,
    DETECTORS,
    DIGITS_TO_ZERO,
    EMAIL_RE,
    HASHED_FIELD,
    MIN_DIGITS,
    MIN_PII_LEN,
    NATIONAL_ID_RE,
    PHONE_RE,
    THIRTEEN_DIGITS,
    TOKENS,
    canonical_json,
    count_digits,
    insee_key_valid,
    keyed_hash,
    luhn_valid,
)

__all__ = ["DETECTORS", "HASHED_FIELD", "RedactionConfig", "Redactor", "canonical_json", "keyed_hash", "luhn_valid"]


@dataclass(frozen=True)
class RedactionConfig:
    """What to redact.

    ``patterns`` selects built-in detectors (see :data:`DETECTORS`); ``hash_fields`` names dict keys, at any depth,
    whose whole value is replaced by an HMAC-SHA256 keyed hash with ``key`` (required when ``hash_fields`` is set).
    """

    enabled: bool = True
    patterns: tuple[str, ...] = ("email", "phone", "card", "national_id")
    hash_fields: tuple[str, ...] = ()
    key: bytes | None = None

    def __post_init__(self) -> None:
        # A bare string would otherwise be iterated character by character.
        for name in ("patterns", "hash_fields"):
            raw = getattr(self, name)
            if isinstance(raw, str):
                raise ValueError(f"RedactionConfig.{name} must be a sequence of names, not the string {raw!r}")
            object.__setattr__(self, name, tuple(raw))
        unknown = sorted(set(self.patterns) - set(DETECTORS))
        if unknown:
            raise ValueError(f"RedactionConfig.patterns: unknown detector(s) {unknown}; known: {list(DETECTORS)}")
        if self.key is not None and not isinstance(self.key, bytes | bytearray):
            raise ValueError("RedactionConfig.key must be bytes")
        if self.hash_fields and not self.key:
            raise ValueError(f"RedactionConfig.hash_fields {list(self.hash_fields)} needs a non-empty HMAC key")


class Redactor:
    """Redacts PII from strings and nested JSON-like structures according to a :class:`RedactionConfig`.

    ``counts`` accumulates the number of replacements per detector and per hashed field (best effort: it is not
    locked, so concurrent use from several threads may lose increments but never corrupts records).
    """

    def __init__(self, config: RedactionConfig) -> None:
        self.config = config
        active = set(config.patterns) if config.enabled else set()
        # Keep the fixed application order whatever order the config lists them in.
        self._detectors: list[tuple[str, int, Callable[[str], str]]] = [
            (name, MIN_DIGITS.get(name, 0), getattr(self, f"_sub_{name}")) for name in DETECTORS if name in active
        ]
        self._hash_fields = frozenset(config.hash_fields) if config.enabled else frozenset()
        self._key = bytes(config.key) if config.key else b""
        self.counts: dict[str, int] = {name: 0 for name, _, _ in self._detectors}
        if self._hash_fields:
            self.counts[HASHED_FIELD] = 0
        patterns = {"card": CARD_RE, "national_id": NATIONAL_ID_RE, "phone": PHONE_RE}
        self._scan = [patterns[name] for name, _, _ in self._detectors if name in patterns]
        self._scan_email = "email" in active
        self._scan_numbers = "card" in active

    # -- public API ---------------------------------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """Return ``text`` with every detected PII span replaced by its ``[REDACTED:<detector>]`` token."""
        if not self._detectors:
            return text
        # Cheap pre-checks (C-level scans) so that the usual PII-free string never reaches a regex.
        if len(text) < MIN_PII_LEN:
            return text
        digits = count_digits(text)
        if digits < 6 and "@" not in text:
            return text
        for name, min_digits, sub in self._detectors:
            if name == "email":
                if "@" in text:
                    text = sub(text)
            elif digits >= min_digits:
                text = sub(text)
        return text

    def is_clean_json(self, text: str) -> bool:
        """True when the JSON text of a record certainly needs no redaction, so it can be sent as is.

        Each detector's pattern is searched once over the whole text (in C); the detectors
        themselves only ever replace a subset of those matches. Only string contents are
        scanned, each apart (joined by NUL, which no pattern crosses). Text with escapes (``\\n``
        etc.) or any candidate match, or a config with hashed fields, is not judged clean:
        :meth:`redact` then walks the record.
        """
        if self._hash_fields:
            return False
        if not self._detectors:
            return True
        if "\\" in text or (self._scan_email and "@" in text):
            return False
        pieces = text.split('"')  # escape-free JSON: odd pieces are the strings (keys too)
        # A card number sent as a number has 13+ digits in a row: a C-level substring test on
        # the text with every digit made '0' rules it out before any regular expression runs.
        numbers_may_hold_a_card = self._scan_numbers and THIRTEEN_DIGITS in text.translate(DIGITS_TO_ZERO)
        if numbers_may_hold_a_card and CARD_NUMBER.search("\x00".join(pieces[0::2])):
            return False
        strings = "\x00".join(pieces[1::2])
        if not CANDIDATE.search(strings):
            return True
        return not any(pattern.search(strings) for pattern in self._scan)

    def is_clean_value(self, value: Any, skip: tuple[str, ...] = ()) -> bool:
        """True when ``value`` (a record, without its top-level keys in ``skip``) certainly
        needs no redaction, judged on the Python objects before they are encoded: the walk the
        sender would do is then skipped. Anything it cannot judge cheaply (numbers of 13 or
        more digits, keys that are not strings, numpy or other non-JSON types, hashed fields)
        is not clean, and :meth:`redact` walks the encoded record."""
        if self._hash_fields:
            return False
        if not self._detectors:
            return True
        if skip and type(value) is dict:
            value = {k: v for k, v in value.items() if k not in skip}
        return self._clean(value)

    def _clean(self, value: Any) -> bool:
        # Runs in the logging call on every record: plain types by exact type, inline.
        kind = type(value)
        if kind is dict:
            for k, v in value.items():
                if type(k) is not str or (len(k) >= MIN_PII_LEN and not self._clean_text(k)):
                    return False
                kind = type(v)
                if kind is float:
                    if v >= 1e12:
                        return False
                elif kind is str:
                    if len(v) >= MIN_PII_LEN and not self._clean_text(v):
                        return False
                elif kind is int:
                    if v >= 10**12:
                        return False
                elif not (v is None or kind is bool or self._clean(v)):
                    return False
            return True
        if kind is list or kind is tuple:
            return all(self._clean(v) for v in value)
        if kind is str:
            return len(value) < MIN_PII_LEN or self._clean_text(value)
        if kind is float:
            return not value >= 1e12  # NaN compares false: clean
        if kind is int:
            return value < 10**12
        return value is None or kind is bool

    def _clean_text(self, text: str) -> bool:
        if self._scan_email and "@" in text:
            return False
        if count_digits(text) < 6:
            return True
        if not CANDIDATE.search(text):
            return True
        return not any(pattern.search(text) for pattern in self._scan)

    def redact(self, value: Any) -> Any:
        """Return a new structure with strings redacted and ``hash_fields`` values hashed; ``value`` is not mutated.

        Dicts, lists and tuples are rebuilt (keys are redacted like strings; ``hash_fields`` match the key), strings
        are redacted, numbers that are card numbers become the card token, every other value (other numbers, bools,
        None, other objects) is passed through unchanged.
        """
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                if k in self._hash_fields:
                    out[self._redact_key(k, out)] = keyed_hash(v, self._key)
                    self.counts[HASHED_FIELD] += 1
                else:
                    out[self._redact_key(k, out)] = self.redact(v)
            return out
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.redact(v) for v in value)
        if isinstance(value, int | float) and not isinstance(value, bool) and self._scan_numbers:
            return self._redact_number(value)
        return value

    def _redact_key(self, key: Any, taken: dict[Any, Any]) -> Any:
        """A dict key with its PII redacted; a numbered suffix keeps two redacted keys apart."""
        if not isinstance(key, str):
            return key
        clean = self.redact_text(key)
        if clean == key:
            return key
        unique, n = clean, 1
        while unique in taken:
            n += 1
            unique = f"{clean}#{n}"
        return unique

    def _redact_number(self, value: float) -> Any:
        """A card number sent as a JSON number (13–19 digits, issuer prefix 2–6, Luhn-valid)."""
        if isinstance(value, float):
            if not (1e12 <= value < 1e19 and value.is_integer()):
                return value
            value = int(value)
        digits = str(value)
        if 13 <= len(digits) <= 19 and "2" <= digits[0] <= "6" and luhn_valid(digits):
            self.counts["card"] += 1
            return TOKENS["card"]
        return value

    # -- detectors ----------------------------------------------------------------------------------------------

    def _count(self, name: str, n: int) -> None:
        if n:
            self.counts[name] += n

    def _sub_email(self, text: str) -> str:
        text, n = EMAIL_RE.subn(TOKENS["email"], text)
        self._count("email", n)
        return text

    def _sub_card(self, text: str) -> str:
        hits = 0

        def is_card(span: str) -> bool:
            digits = span.replace(" ", "").replace("-", "")
            # Issuer prefixes 2–6 only: epoch ms/µs/ns values start with 1 and are Luhn-valid one time in ten.
            return "2" <= digits[0] <= "6" and luhn_valid(digits)

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            span = m.group(0)
            if is_card(span):
                hits += 1
                return TOKENS["card"]
            # The grouped 17–19 digit form may have swallowed a following short number (a CVV or "12/27" expiry
            # month after a 16-digit card); the regex cannot backtrack on a failed Luhn check, so retry without it.
            sep = m.group(1)
            if sep and span.count(sep) == 4:
                head, tail = span.rsplit(sep, 1)
                if is_card(head):
                    hits += 1
                    return TOKENS["card"] + sep + tail
            return span

        text = CARD_RE.sub(repl, text)
        self._count("card", hits)
        return text

    def _sub_national_id(self, text: str) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            insee = m.group("insee")
            # A bare 15-digit run is only an NIR if its control key matches (otherwise it is some other id); the
            # spaced 1-2-2-2-3-3-2 grouping is distinctive enough on its own, and a typo in the key is still PII.
            if insee is not None and not m.group("isep") and not insee_key_valid(insee):
                return m.group(0)
            hits += 1
            return TOKENS["national_id"]

        text = NATIONAL_ID_RE.sub(repl, text)
        self._count("national_id", hits)
        return text

    def _sub_phone(self, text: str) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            span = m.group(0)
            n = count_digits(span)
            tail = ""
            if m.group("intl") is not None:
                # E.164 allows at most 15 digits. A longer match has swallowed following numbers ("+1 555 123 4567
                # 2024 1234"): drop trailing groups until it fits rather than leak the whole number.
                while n > 15:
                    cut = max(span.rfind(" "), span.rfind("."), span.rfind("-"), span.rfind("("))
                    if cut <= 0:
                        return m.group(0)
                    span, tail = span[:cut], span[cut:] + tail
                    n = count_digits(span)
                # Fewer than 7 digits is a score or an offset like "+1.5" or "+10", not a phone number.
                if n < 7:
                    return m.group(0)
            elif m.group("uk") is not None and not 10 <= n <= 11:
                return span
            hits += 1
            # The dropped groups may start another number ("+1 (555) 123-4567 (555) 123-4567"); scan them too.
            return TOKENS["phone"] + (PHONE_RE.sub(repl, tail) if tail else "")

        text = PHONE_RE.sub(repl, text)
        self._count("phone", hits)
        return text
