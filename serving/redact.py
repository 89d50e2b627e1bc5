"""PII redaction applied to every serving record before it leaves the process.

The redactor runs in the logging SDK's background thread on every record, so it is built for the common case:
most strings hold no PII and are returned after a couple of cheap C-level scans (a digit count and an ``'@'``
test) without running any regular expression.

Detectors are tuned against the things that fill these logs and are *not* PII: ISO timestamps, epoch seconds /
milliseconds, UUIDs, hex digests, float feature values and version strings. Every digit-based detector refuses to
start or end inside a longer word, number, float or dashed id, and the bare-digit forms are validated (Luhn for
cards, the INSEE control key for bare French NIRs) so that random ids are not redacted.

Known trade-offs (deliberate, see the detector comments):

* card numbers must start with 2–6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay);
  this is what keeps Luhn-valid epoch milliseconds/microseconds (which start with 1 until 2033) unredacted, at the
  cost of missing UATP airline cards (prefix 1);
* phone numbers need separators or a leading ``+``: a bare ``5551234567`` is indistinguishable from an id;
* a phone detector match may swallow a short trailing number group (``+33 6 12 34 56 78 10``) — over-redaction
  is preferred to leaking the number; over-long international matches are trimmed back to 15 digits and the rest
  is re-scanned, but two numbers written back to back with no punctuation between them may leave part of the
  second one in clear;
* NINO letters are matched case-insensitively (users type ``ab123456c``), so a standalone 9-character token of that
  exact shape is redacted even if it is something else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DETECTORS", "HASHED_FIELD", "RedactionConfig", "Redactor", "canonical_json", "keyed_hash", "luhn_valid"]

#: Built-in detector names, in the order they are applied (card and national_id before phone so that a card
#: number or an NIR is labelled as such rather than as a phone number).
DETECTORS: tuple[str, ...] = ("email", "national_id", "card", "phone")
#: Key of :attr:`Redactor.counts` that counts values replaced by a keyed hash.
HASHED_FIELD = "hashed_field"

_HASH_PREFIX = "hmac-sha256:"
_HASH_HEX_CHARS = 32
# str.translate table deleting ASCII digits: len(text) - len(text.translate(...)) counts digits in one C pass.
_DROP_DIGITS = dict.fromkeys(range(ord("0"), ord("9") + 1))
# The shortest string that can hold detected PII is an email like "a@b.co".
_MIN_PII_LEN = 6
# Cheapest detector needs 6 digits (a NINO); anything with fewer digits and no '@' cannot contain PII we detect.
_MIN_DIGITS = {"national_id": 6, "phone": 7, "card": 13}

# Shared boundaries for digit-based detectors. Not after a word character, '+' or '-' (inside ids, UUIDs, hex,
# signed numbers) nor after "<digit>." / "<digit>," (fraction part of a float, a version string or an IP);
# and not followed by a word character or by [.,-]<digit> (the match would be a prefix of a longer number).
_L = r"(?<![\w+\-])(?<!\d[.,])"
_R = r"(?!\w)(?![.,\-]\d)"

_EMAIL_RE = re.compile(
    # Anchored at a token start so a long '@'-less run is scanned once (no quadratic retry at every offset).
    # An apostrophe is allowed only inside the local part (o'neil@…), so quotes around an address are kept; the
    # second look-behind stops a retry after every inner apostrophe (which would make a long o'o'o'… run quadratic).
    r"(?<![\w.%+\-])(?<![\w.%+\-]')"
    r"[A-Za-z0-9._%+\-]+(?:'[A-Za-z0-9._%+\-]+)*"  # local part
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w\-])",  # domain labels + TLD
    re.ASCII,
)

_CARD_RE = re.compile(
    _L + r"(?:"
    r"\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"  # 4-4-4-4 (16) and 4-4-4-4-x (17–19)
    r"|\d{4}([ \-])\d{6}\2\d{4,5}"  # Amex 4-6-5 (15), Diners 4-6-4 (14)
    r"|\d{4}([ \-])\d{4}\3\d{4}\3\d"  # old Visa 4-4-4-1 (13)
    r"|\d{13,19}"  # no separators
    r")" + _R,
    re.ASCII,
)

_NATIONAL_ID_RE = re.compile(
    _L + r"(?:"
    # US SSN: area not 000/666/9xx, group not 00, serial not 0000.
    r"(?P<ssn>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})"
    # UK NINO: HMRC prefix letters (QQ is HMRC's documented example prefix), never the reserved pairs.
    r"|(?P<nino>(?!BG|GB|KN|NK|NT|TN|ZZ)(?:QQ|[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])"
    r"(?P<nsep> ?)\d{2}(?P=nsep)\d{2}(?P=nsep)\d{2}(?P=nsep)[A-D])"
    # French INSEE/NIR: sex 1|2, year, month (01–12, or 20–99 for unknown/overseas births), department (2A/2B for
    # Corsica), commune, order, key; spaced 1 22 22 333 333 22 or bare 15 characters.
    r"|(?P<insee>[12](?P<isep> ?)\d{2}(?P=isep)(?:0[1-9]|1[0-2]|[2-9]\d)(?P=isep)(?:\d{2}|2[AB])"
    r"(?P=isep)\d{3}(?P=isep)\d{3}(?P=isep)\d{2})"
    r")" + _R,
    re.ASCII | re.IGNORECASE,
)

_PHONE_RE = re.compile(
    _L + r"(?:"
    # International: +<country code> then 1–7 groups, optionally separated, area code maybe in parentheses.
    r"(?P<intl>\+[1-9]\d{0,2}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,4})){1,7})"
    # North America: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 1-555-123-4567.
    r"|(?P<nanp>(?:1[ .\-])?(?:\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}|\d{3}(?P<usep>[ .\-])\d{3}(?P=usep)\d{4}))"
    # France: 06 12 34 56 78 / 06.12.34.56.78 / 06-12-34-56-78.
    r"|(?P<fr>0[1-9](?P<fsep>[ .\-])\d{2}(?:(?P=fsep)\d{2}){3})"
    # UK: 020 7946 0958, 0161 496 0000, 07700 900123.
    r"|(?P<uk>0\d{2,4}[ \-]\d{3,6}(?:[ \-]\d{3,4})?)"
    r")" + _R,
    re.ASCII,
)

_TOKENS = {name: f"[REDACTED:{name}]" for name in DETECTORS}


# Cheap superset of what the digit detectors can match: six digits in a run (separators
# allowed) not glued to a word or dash, or the letters-then-digits shape of a NINO.
_CANDIDATE = re.compile(r"(?<![\w\-])[+(]?\d(?:[ ().\-/]{0,2}\d){5}|[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2}")


# A bare JSON number that may be a card number (checked in full by Redactor._redact_number).
_CARD_NUMBER = re.compile(r"(?<![\w.+\-])[2-6]\d{12,18}(?![\d])")
_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
_THIRTEEN_DIGITS = "0" * 13


def _count_digits(text: str) -> int:
    """Number of ASCII digits in ``text``."""
    return len(text) - len(text.translate(_DROP_DIGITS))


def luhn_valid(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _insee_key_valid(nir: str) -> bool:
    """True when the last two digits of a 15-character NIR are its control key (97 - body mod 97)."""
    body = nir[:13].upper()
    # Corsican departments: 2A and 2B are computed as 19 and 18 (per INSEE) once the letter is replaced by 0.
    if "A" in body:
        number = int(body.replace("A", "0")) - 1_000_000
    elif "B" in body:
        number = int(body.replace("B", "0")) - 2_000_000
    else:
        number = int(body)
    return 97 - number % 97 == int(nir[13:])


def canonical_json(value: Any) -> str:
    """The JSON form that keyed hashes are computed on (sorted keys, no whitespace, UTF-8 kept as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def keyed_hash(value: Any, key: bytes) -> str:
    """``hmac-sha256:<32 hex>`` of the canonical JSON of ``value``: stable per key, so hashed ids still join."""
    digest = hmac.new(key, canonical_json(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return _HASH_PREFIX + digest[:_HASH_HEX_CHARS]


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
            (name, _MIN_DIGITS.get(name, 0), getattr(self, f"_sub_{name}")) for name in DETECTORS if name in active
        ]
        self._hash_fields = frozenset(config.hash_fields) if config.enabled else frozenset()
        self._key = bytes(config.key) if config.key else b""
        self.counts: dict[str, int] = {name: 0 for name, _, _ in self._detectors}
        if self._hash_fields:
            self.counts[HASHED_FIELD] = 0
        patterns = {"card": _CARD_RE, "national_id": _NATIONAL_ID_RE, "phone": _PHONE_RE}
        self._scan = [patterns[name] for name, _, _ in self._detectors if name in patterns]
        self._scan_email = "email" in active
        self._scan_numbers = "card" in active

    # -- public API ---------------------------------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """Return ``text`` with every detected PII span replaced by its ``[REDACTED:<detector>]`` token."""
        if not self._detectors:
            return text
        # Cheap pre-checks (C-level scans) so that the usual PII-free string never reaches a regex.
        if len(text) < _MIN_PII_LEN:
            return text
        digits = _count_digits(text)
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
        numbers_may_hold_a_card = self._scan_numbers and _THIRTEEN_DIGITS in text.translate(_DIGITS_TO_ZERO)
        if numbers_may_hold_a_card and _CARD_NUMBER.search("\x00".join(pieces[0::2])):
            return False
        strings = "\x00".join(pieces[1::2])
        if not _CANDIDATE.search(strings):
            return True
        return not any(pattern.search(strings) for pattern in self._scan)

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
            return _TOKENS["card"]
        return value

    # -- detectors ----------------------------------------------------------------------------------------------

    def _count(self, name: str, n: int) -> None:
        if n:
            self.counts[name] += n

    def _sub_email(self, text: str) -> str:
        text, n = _EMAIL_RE.subn(_TOKENS["email"], text)
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
                return _TOKENS["card"]
            # The grouped 17–19 digit form may have swallowed a following short number (a CVV or "12/27" expiry
            # month after a 16-digit card); the regex cannot backtrack on a failed Luhn check, so retry without it.
            sep = m.group(1)
            if sep and span.count(sep) == 4:
                head, tail = span.rsplit(sep, 1)
                if is_card(head):
                    hits += 1
                    return _TOKENS["card"] + sep + tail
            return span

        text = _CARD_RE.sub(repl, text)
        self._count("card", hits)
        return text

    def _sub_national_id(self, text: str) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            insee = m.group("insee")
            # A bare 15-digit run is only an NIR if its control key matches (otherwise it is some other id); the
            # spaced 1-2-2-2-3-3-2 grouping is distinctive enough on its own, and a typo in the key is still PII.
            if insee is not None and not m.group("isep") and not _insee_key_valid(insee):
                return m.group(0)
            hits += 1
            return _TOKENS["national_id"]

        text = _NATIONAL_ID_RE.sub(repl, text)
        self._count("national_id", hits)
        return text

    def _sub_phone(self, text: str) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            span = m.group(0)
            n = _count_digits(span)
            tail = ""
            if m.group("intl") is not None:
                # E.164 allows at most 15 digits. A longer match has swallowed following numbers ("+1 555 123 4567
                # 2024 1234"): drop trailing groups until it fits rather than leak the whole number.
                while n > 15:
                    cut = max(span.rfind(" "), span.rfind("."), span.rfind("-"), span.rfind("("))
                    if cut <= 0:
                        return m.group(0)
                    span, tail = span[:cut], span[cut:] + tail
                    n = _count_digits(span)
                # Fewer than 7 digits is a score or an offset like "+1.5" or "+10", not a phone number.
                if n < 7:
                    return m.group(0)
            elif m.group("uk") is not None and not 10 <= n <= 11:
                return span
            hits += 1
            # The dropped groups may start another number ("+1 (555) 123-4567 (555) 123-4567"); scan them too.
            return _TOKENS["phone"] + (_PHONE_RE.sub(repl, tail) if tail else "")

        text = _PHONE_RE.sub(repl, text)
        self._count("phone", hits)
        return text
