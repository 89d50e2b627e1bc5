"""The PII detectors the serving redactor applies (``serving.redact``): their patterns, checks and tokens.

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
from typing import Any

__all__ = [
    "CANDIDATE",
    "CARD_NUMBER",
    "CARD_RE",
    "DETECTORS",
    "DIGITS_TO_ZERO",
    "EMAIL_RE",
    "HASHED_FIELD",
    "MIN_DIGITS",
    "MIN_PII_LEN",
    "NATIONAL_ID_RE",
    "PHONE_RE",
    "THIRTEEN_DIGITS",
    "TOKENS",
    "canonical_json",
    "count_digits",
    "insee_key_valid",
    "keyed_hash",
    "luhn_valid",
]

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
MIN_PII_LEN = 6
# Cheapest detector needs 6 digits (a NINO); anything with fewer digits and no '@' cannot contain PII we detect.
MIN_DIGITS = {"national_id": 6, "phone": 7, "card": 13}

# Shared boundaries for digit-based detectors. Not after a word character, '+' or '-' (inside ids, UUIDs, hex,
# signed numbers) nor after "<digit>." / "<digit>," (fraction part of a float, a version string or an IP);
# and not followed by a word character or by [.,-]<digit> (the match would be a prefix of a longer number).
_L = r"(?<![\w+\-])(?<!\d[.,])"
_R = r"(?!\w)(?![.,\-]\d)"

EMAIL_RE = re.compile(
    # Anchored at a token start so a long '@'-less run is scanned once (no quadratic retry at every offset).
    # An apostrophe is allowed only inside the local part (o'neil@…), so quotes around an address are kept; the
    # second look-behind stops a retry after every inner apostrophe (which would make a long o'o'o'… run quadratic).
    r"(?<![\w.%+\-])(?<![\w.%+\-]')"
    r"[A-Za-z0-9._%+\-]+(?:'[A-Za-z0-9._%+\-]+)*"  # local part
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w\-])",  # domain labels + TLD
    re.ASCII,
)

CARD_RE = re.compile(
    _L + r"(?:"
    r"\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"  # 4-4-4-4 (16) and 4-4-4-4-x (17–19)
    r"|\d{4}([ \-])\d{6}\2\d{4,5}"  # Amex 4-6-5 (15), Diners 4-6-4 (14)
    r"|\d{4}([ \-])\d{4}\3\d{4}\3\d"  # old Visa 4-4-4-1 (13)
    r"|\d{13,19}"  # no separators
    r")" + _R,
    re.ASCII,
)

NATIONAL_ID_RE = re.compile(
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

PHONE_RE = re.compile(
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

TOKENS = {name: f"[REDACTED:{name}]" for name in DETECTORS}


# Cheap superset of what the digit detectors can match: six digits in a run (separators
# allowed) not glued to a word or dash, or the letters-then-digits shape of a NINO.
CANDIDATE = re.compile(r"(?<![\w\-])[+(]?\d(?:[ ().\-/]{0,2}\d){5}|[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2}")


# A bare JSON number that may be a card number (checked in full by Redactor._redact_number).
CARD_NUMBER = re.compile(r"(?<![\w.+\-])[2-6]\d{12,18}(?![\d])")
DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
THIRTEEN_DIGITS = "0" * 13


def count_digits(text: str) -> int:
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


def insee_key_valid(nir: str) -> bool:
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
