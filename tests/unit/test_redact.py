"""PII redaction: every PII form in the corpus disappears, non-PII log content is left byte-for-byte alone."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.redact import HASHED_FIELD, RedactionConfig, Redactor, keyed_hash, luhn_valid

# (PII substring, detector that must replace it, sentence embedding it)
PII_CORPUS: list[tuple[str, str, str]] = [
    ("john.doe@example.com", "email", "Contact me at john.doe@example.com please."),
    ("jane_o'neil+ml@mail.co.uk", "email", "cc jane_o'neil+ml@mail.co.uk, thanks"),
    ("ops-team@sub.domain.io", "email", "<ops-team@sub.domain.io>"),
    ("+33 6 12 34 56 78", "phone", "Mon numéro est le +33 6 12 34 56 78."),
    ("+44 20 7946 0958", "phone", "London office: +44 20 7946 0958"),
    ("+1 (555) 123-4567", "phone", "call +1 (555) 123-4567 after 5pm"),
    ("+14155552671", "phone", "whatsapp:+14155552671"),
    ("(555) 123-4567", "phone", "My cell is (555) 123-4567."),
    ("555-123-4567", "phone", "text 555-123-4567 tomorrow"),
    ("06 12 34 56 78", "phone", "appelez le 06 12 34 56 78 svp"),
    ("020 7946 0958", "phone", "ring 020 7946 0958 today"),
    ("4111 1111 1111 1111", "card", "my card 4111 1111 1111 1111 was declined"),
    ("4111-1111-1111-1111", "card", "card=4111-1111-1111-1111"),
    ("5105 1051 0510 5100", "card", "card 5105 1051 0510 5100 12/27 cvv 123"),
    ("5555555555554444", "card", "MC 5555555555554444 exp 12/27"),
    ("378282246310005", "card", "amex:378282246310005"),
    ("3782 822463 10005", "card", "Amex 3782 822463 10005."),
    ("6011111111111117", "card", "Discover 6011111111111117"),
    ("4222222222222", "card", "old visa 4222222222222"),
    ("123-45-6789", "national_id", "SSN 123-45-6789 on file"),
    ("QQ 12 34 56 C", "national_id", "NI number QQ 12 34 56 C"),
    ("QQ123456C", "national_id", "NINO:QQ123456C"),
    ("1 84 12 76 451 089 46", "national_id", "NIR 1 84 12 76 451 089 46."),
    ("184127645108946", "national_id", "sécu 184127645108946"),
    ("269052A12345688", "national_id", "NIR (Corse) 269052A12345688"),
]

NON_PII: list[object] = [
    "2024-11-20T12:00:00Z",
    "2024-11-20T12:00:00.123+01:00",
    "2024-11-20 12:00:00.123456",
    "1732104000",
    "1732104000123",
    "1732104000002",  # Luhn-valid epoch ms: must not look like a card
    "1732104000123456",
    1732104000,
    1732104000123,
    "550e8400-e29b-41d4-a716-446655440000",
    "12345678-1234-1234-1234-123456789012",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "0.123456789",
    "0.1234567890123456",
    "1732104000.123456",
    0.123456789,
    "3.1.0",
    "v1.2.3456789",
    "gpt-4o-2024-08-06",
    "4111111111111112",  # Luhn-invalid
    "4111 1111 1111 1112",
    "5555-5555-5555-5555",
    "192.168.100.200",
    "processed 1234567 rows in 12.5 s",
    "score +1.5, offset +10:00",
    "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
    {"f001": 0.123, "f002": 1732104000, "f003": "1732104000123", "f004": True, "f005": None},
    {"messages": [{"role": "user", "content": "What is 2+2? Version 3.1.0 released 2024-11-20."}]},
]


@pytest.fixture()
def redactor() -> Redactor:
    return Redactor(RedactionConfig())


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize(("pii", "detector", "sentence"), PII_CORPUS, ids=[p for p, _, _ in PII_CORPUS])
def test_each_pii_form_is_replaced_by_its_token(redactor: Redactor, pii: str, detector: str, sentence: str) -> None:
    out = redactor.redact_text(sentence)
    assert pii not in out
    assert f"[REDACTED:{detector}]" in out
    assert out == sentence.replace(pii, f"[REDACTED:{detector}]")


def test_nested_chat_record_has_no_pii_left(redactor: Redactor) -> None:
    record = {
        "request_id": "550e8400-e29b-41d4-a716-446655440000",
        "timestamp": "2024-11-20T12:00:00Z",
        "request": {
            "messages": [
                {"role": "system", "content": "You are a support bot."},
                *({"role": "user", "content": sentence} for _, _, sentence in PII_CORPUS),
            ],
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "ssn 123-45-6789"}}],
        },
        "response": {"choices": [{"message": {"content": " / ".join(p for p, _, _ in PII_CORPUS)}}]},
        "tags": [["nested", ["deeper", "john.doe@example.com"]]],
        "latency_ms": 812,
    }
    before = copy.deepcopy(record)
    result = redactor.redact(record)
    dumped = json.dumps(result, ensure_ascii=False)
    for pii, _, _ in PII_CORPUS:
        assert pii not in dumped, pii
    assert record == before  # input untouched
    assert result["request_id"] == record["request_id"] and result["timestamp"] == record["timestamp"]
    assert result["latency_ms"] == 812
    assert set(result) == set(record)  # keys never rewritten
    for name in ("email", "phone", "card", "national_id"):
        assert redactor.counts[name] > 0


def test_overlong_matches_are_trimmed_not_leaked(redactor: Redactor) -> None:
    # A greedy match can swallow numbers that follow the PII; the PII must still go.
    assert redactor.redact_text("reach me at +1 555 123 4567 2024 1234") == "reach me at [REDACTED:phone] 1234"
    assert redactor.redact_text("+1 555 123 4567 +44 20 7946 0958") == "[REDACTED:phone] [REDACTED:phone]"
    assert redactor.redact_text("+1 (555) 123-4567, (555) 765-4321") == "[REDACTED:phone], [REDACTED:phone]"
    assert redactor.redact_text("card 5105 1051 0510 5100 123") == "card [REDACTED:card] 123"


def test_dict_keys_are_scanned_and_kept_apart(redactor: Redactor) -> None:
    record = {"john.doe@example.com": "john.doe@example.com", "jane@example.org": 1, "f001": 2}
    assert redactor.redact(record) == {"[REDACTED:email]": "[REDACTED:email]", "[REDACTED:email]#2": 1, "f001": 2}
    assert not redactor.is_clean_json(json.dumps({"tel +33 6 12 34 56 78": 1}))


def test_card_numbers_sent_as_numbers_are_redacted(redactor: Redactor) -> None:
    record = {"card": 4111111111111111, "amex": 378282246310005, "as_float": 5500000000000004.0, "n": 42,
              "epoch_ms": 1732104000123, "epoch_us": 1732104000123456, "not_luhn": 4111111111111112}  # fmt: skip
    assert not redactor.is_clean_json(json.dumps(record))
    assert redactor.redact(record) == {**record, "card": "[REDACTED:card]", "amex": "[REDACTED:card]",
                                       "as_float": "[REDACTED:card]"}  # fmt: skip
    assert redactor.is_clean_json(json.dumps({"epoch_ms": 1732104000123, "n": 42, "s": "x"}))


@pytest.mark.parametrize("value", NON_PII, ids=[str(v)[:40] for v in NON_PII])
def test_non_pii_is_unchanged(redactor: Redactor, value: object) -> None:
    assert redactor.redact(value) == value
    assert all(n == 0 for n in redactor.counts.values())


def test_hash_fields_deterministic_per_key_any_depth_no_mutation() -> None:
    record = {
        "user_id": "u-42",
        "session": {"meta": [{"user_id": "u-42", "account": {"id": 7, "plan": "pro"}}]},
        "text": "hello",
    }
    before = copy.deepcopy(record)
    a = Redactor(RedactionConfig(hash_fields=("user_id", "account"), key=b"key-a"))
    b = Redactor(RedactionConfig(hash_fields=("user_id", "account"), key=b"key-b"))
    ra1, ra2, rb = a.redact(record), a.redact(record), b.redact(record)
    assert record == before
    assert ra1 == ra2  # deterministic for the same key
    top, deep = ra1["user_id"], ra1["session"]["meta"][0]["user_id"]
    assert top == deep and top.startswith("hmac-sha256:") and len(top) == len("hmac-sha256:") + 32
    assert top == keyed_hash("u-42", b"key-a")
    assert rb["user_id"] != top  # different key, different hash
    assert ra1["session"]["meta"][0]["account"] == keyed_hash({"plan": "pro", "id": 7}, b"key-a")
    assert ra1["text"] == "hello"
    assert a.counts[HASHED_FIELD] == 6


def test_hash_fields_require_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        RedactionConfig(hash_fields=("user_id",))
    with pytest.raises(ValueError, match="key"):
        RedactionConfig(hash_fields=("user_id",), key=b"")


def test_invalid_config() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        RedactionConfig(patterns=("email", "passport"))
    with pytest.raises(ValueError, match="sequence"):
        RedactionConfig(patterns="email")  # type: ignore[arg-type]


def test_disabled_returns_equal_new_structure() -> None:
    record = {"email": "john.doe@example.com", "items": [1, "4111 1111 1111 1111", {"user_id": "u"}]}
    redactor = Redactor(RedactionConfig(enabled=False, hash_fields=("user_id",), key=b"k"))
    result = redactor.redact(record)
    assert result == record
    assert result is not record and result["items"] is not record["items"]


def test_pattern_subset_only_runs_selected_detectors() -> None:
    redactor = Redactor(RedactionConfig(patterns=("email",)))
    assert redactor.redact_text("a@b.co 555-123-4567") == "[REDACTED:email] 555-123-4567"


def test_is_clean_json_only_passes_text_with_nothing_to_redact() -> None:
    redactor = Redactor(RedactionConfig())
    clean = {
        "event_id": "550e8400-e29b-41d4-a716-446655440000",
        "timestamp": 1732104000123,
        "features": {"f001": 0.123456789, "f002": 1732104000, "f003": "FR"},
        "model": {"version": "3.1.0"},
    }
    assert redactor.is_clean_json(json.dumps(clean))
    for dirty in ({"note": "mail jane@example.com"}, {"card": "4111 1111 1111 1111"}, {"ssn": "123-45-6789"},
                  {"phone": "+33 6 12 34 56 78"}, {"text": "line\\nbreak"}):  # fmt: skip
        assert not redactor.is_clean_json(json.dumps(dirty)), dirty
    keyed = Redactor(RedactionConfig(hash_fields=("customer_id",), key=b"k"))
    assert not keyed.is_clean_json(json.dumps(clean))
    assert Redactor(RedactionConfig(enabled=False)).is_clean_json(json.dumps({"note": "jane@example.com"}))


def test_every_pii_string_of_the_corpus_defeats_the_clean_json_shortcut() -> None:
    redactor = Redactor(RedactionConfig())
    for text, _, _ in PII_CORPUS:
        assert not redactor.is_clean_json(json.dumps({"x": {"y": [f"see {text} now"]}})), text


_PII_SAMPLES = ["jane.doe@example.com", "+33 6 12 34 56 78", "4111 1111 1111 1111", "123-45-6789", "QQ 12 34 56 C",
                "(555) 123-4567", "1 84 12 76 451 089 46"]  # fmt: skip
_TEXT = st.one_of(
    st.text(max_size=12), st.sampled_from(_PII_SAMPLES), st.sampled_from(_PII_SAMPLES).map(lambda p: f"x {p} y")
)
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _TEXT, st.sampled_from([4111111111111111, 5.5e15])),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_TEXT, c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_JSONISH)
def test_a_value_judged_clean_on_its_objects_is_one_redaction_leaves_unchanged(value: object) -> None:
    redactor = Redactor(RedactionConfig())
    if redactor.is_clean_value(value):  # then the walk it lets the sender skip would change nothing
        assert json.dumps(redactor.redact(value)) == json.dumps(value)
    assert not redactor.is_clean_value({"note": "call +33 6 12 34 56 78"}) and not redactor.is_clean_value(
        [4111111111111111]
    )
