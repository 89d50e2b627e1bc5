"""MurmurHash3 x86_32: published vectors, the vectorised version equal to the reference on
every shape of Arrow input, and no dependence on Python's per-process hash salt."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from transforms import hashing, murmur3_32, murmur3_32_array

ROOT = Path(__file__).resolve().parents[2]

# (data, seed, hash): MurmurHash3_x86_32 reference values
KNOWN = [
    ("", 0, 0),
    ("", 1, 0x514E28B7),
    ("", 0xFFFFFFFF, 0x81F16F39),
    ("hello", 0, 0x248BFA47),
    ("The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
    ("aaaa", 0x9747B28C, 0x5A97808A),
    ("aaa", 0x9747B28C, 0x283E0130),
    ("aa", 0x9747B28C, 0x5D211726),
    ("a", 0x9747B28C, 0x7FA09EA6),
    ("abcd", 0x9747B28C, 0xF0478627),
    ("abc", 0x9747B28C, 0xC84A62DD),
    ("ab", 0x9747B28C, 0x74875592),
    ("Hello, world!", 0x9747B28C, 0x24884CBA),
    ("ππππππππ", 0x9747B28C, 0xD58063C1),  # UTF-8: two bytes per character
]


@pytest.mark.parametrize(("data", "seed", "expected"), KNOWN)
def test_murmur3_32_known_vectors(data: str, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected
    assert murmur3_32(data.encode("utf-8"), seed) == expected
    hashes, is_null = murmur3_32_array(pa.array([data]), seed)
    assert hashes.dtype == np.uint32
    assert hashes.tolist() == [expected]
    assert is_null.tolist() == [False]


def test_murmur3_32_known_vectors_in_one_array() -> None:
    for seed in sorted({s for _, s, _ in KNOWN}):
        rows = [(d, h) for d, s, h in KNOWN if s == seed]
        hashes, _ = murmur3_32_array(pa.array([d for d, _ in rows]), seed)
        assert hashes.tolist() == [h for _, h in rows]


def test_seed_is_taken_modulo_2_32() -> None:
    assert murmur3_32("hello", 2**32) == murmur3_32("hello", 0)
    assert murmur3_32("hello", -1) == murmur3_32("hello", 0xFFFFFFFF)
    assert murmur3_32_array(pa.array(["hello"]), -1)[0].tolist() == [murmur3_32("hello", 0xFFFFFFFF)]


ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789 ",
    "éàüßøñç",  # 2-byte UTF-8
    "€中文日本語ह",  # 3-byte
    "😀🚀𝄞",  # 4-byte
    "\x00\x7f\x80\xff",
]


def random_strings(rng: random.Random, count: int) -> list[str]:
    out = []
    for i in range(count):
        length = i % 41  # every length 0..40, in characters
        out.append("".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(length)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 0x9747B28C, 0xFFFFFFFF])
def test_array_equals_reference_on_random_unicode(seed: int) -> None:
    rng = random.Random(seed)
    ascii_each_length = ["".join(rng.choice(ALPHABETS[0]) for _ in range(n)) for n in range(41)]
    strings = random_strings(rng, 41 * 6) + ascii_each_length
    byte_lengths = {len(s.encode("utf-8")) for s in strings}
    assert set(range(0, 41)) <= byte_lengths  # every tail length, and blocks up to 40 bytes
    hashes, is_null = murmur3_32_array(pa.array(strings, pa.string()), seed)
    assert hashes.tolist() == [murmur3_32(s, seed) for s in strings]
    assert not is_null.any()


def test_array_with_nulls_duplicates_and_large_string_type() -> None:
    strings = ["a", None, "b", "a", None, "", "b", "ccccc", ""]
    expected = [None if s is None else murmur3_32(s, 42) for s in strings]
    for typ in (pa.string(), pa.large_string()):
        hashes, is_null = murmur3_32_array(pa.array(strings, typ), 42)
        assert is_null.tolist() == [s is None for s in strings]
        assert [None if n else int(h) for h, n in zip(hashes, is_null, strict=True)] == expected


def test_array_of_only_nulls_and_of_nothing() -> None:
    hashes, is_null = murmur3_32_array(pa.array([None, None], pa.string()))
    assert is_null.tolist() == [True, True]
    assert hashes.shape == (2,)
    hashes, is_null = murmur3_32_array(pa.array([], pa.string()))
    assert hashes.shape == (0,) and is_null.shape == (0,)
    hashes, is_null = murmur3_32_array(pa.chunked_array([], pa.string()))
    assert hashes.shape == (0,) and is_null.shape == (0,)


def test_sliced_array() -> None:
    strings = random_strings(random.Random(5), 60)
    strings[20] = None  # type: ignore[call-overload]
    arr = pa.array(strings, pa.string())
    for offset, length in [(0, 60), (1, 10), (13, 30), (59, 1), (20, 5), (30, 0)]:
        part = arr.slice(offset, length)
        hashes, is_null = murmur3_32_array(part, 7)
        want = strings[offset : offset + length]
        assert is_null.tolist() == [s is None for s in want]
        got = [None if n else int(h) for h, n in zip(hashes, is_null, strict=True)]
        assert got == [None if s is None else murmur3_32(s, 7) for s in want]


def test_chunked_array() -> None:
    strings = random_strings(random.Random(6), 80)
    chunks = [strings[:3], [], strings[3:50], [None, "x"], strings[50:]]
    arr = pa.chunked_array([pa.array(c, pa.string()) for c in chunks], type=pa.string())
    flat = [s for c in chunks for s in c]
    hashes, is_null = murmur3_32_array(arr)
    assert is_null.tolist() == [s is None for s in flat]
    assert [None if n else int(h) for h, n in zip(hashes, is_null, strict=True)] == [
        None if s is None else murmur3_32(s) for s in flat
    ]
    # a slice of a chunk inside a chunked array
    sliced = pa.chunked_array([arr.chunk(2).slice(5, 9), arr.chunk(0)])
    want = strings[3 + 5 : 3 + 14] + strings[:3]
    assert murmur3_32_array(sliced)[0].tolist() == [murmur3_32(s) for s in want]


def test_long_strings_and_more_distinct_values_than_one_chunk() -> None:
    rng = random.Random(8)
    long_ones = ["x" * 10_000, "é" * 4097, "".join(rng.choice(ALPHABETS[2]) for _ in range(3001)), "a" * 4 * 1000 + "b"]
    many = [f"value-{i}" for i in range(9000)]  # > 4096 distinct values: several row chunks
    strings = [*many[:100], *long_ones, *many[100:], *long_ones]
    hashes, _ = murmur3_32_array(pa.array(strings), 3)
    assert hashes.tolist() == [murmur3_32(s, 3) for s in strings]


def test_non_string_input_is_hashed_as_its_text() -> None:
    hashes, is_null = murmur3_32_array(pa.array([1, None, 23], pa.int64()))
    assert is_null.tolist() == [False, True, False]
    assert hashes[[0, 2]].tolist() == [murmur3_32("1"), murmur3_32("23")]


def test_hashes_do_not_depend_on_python_hash_seed() -> None:
    strings = [*random_strings(random.Random(9), 82), "hello", "The quick brown fox jumps over the lazy dog"]
    here = murmur3_32_array(pa.array(strings), 11)[0].tolist()
    assert here == [murmur3_32(s, 11) for s in strings]
    script = (
        "import json, sys\n"
        "import pyarrow as pa\n"
        "from transforms import murmur3_32, murmur3_32_array\n"
        "strings = json.loads(sys.stdin.read())\n"
        "print(json.dumps([hash('salted?'), murmur3_32_array(pa.array(strings), 11)[0].tolist(),"
        " [murmur3_32(s, 11) for s in strings]]))\n"
    )
    salts = []
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(strings),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
        )
        salt, vectorised, reference = json.loads(proc.stdout)
        salts.append(salt)
        assert vectorised == here
        assert reference == here
    assert salts[0] != salts[1]  # the subprocesses really had different str hashes


def test_a_few_long_strings_do_not_widen_the_chunks_of_short_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # free text in a hashed column: a padded matrix of 4096 rows as wide as the longest one
    # would take gigabytes; each chunk must stay within the byte budget (or be one row)
    original = hashing._hash_rows
    widths: list[tuple[int, int]] = []

    def checked(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, seed: int) -> np.ndarray:
        rows, longest = lengths.size, int(lengths.max(initial=0))
        widths.append((rows, longest))
        assert rows == 1 or rows * (longest + 8) <= hashing._CHUNK_BYTES, (rows, longest)
        return original(data, starts, lengths, seed)

    monkeypatch.setattr(hashing, "_hash_rows", checked)
    long_ones = ["y" * 50_000, "z" * 70_001]
    short = [f"short-{i}" for i in range(6000)]
    strings = [*short[:3000], *long_ones, *short[3000:]]
    hashes, _ = murmur3_32_array(pa.array(strings), 5)
    assert hashes.tolist() == [murmur3_32(s, 5) for s in strings]
    assert sum(rows for rows, _ in widths) == len(strings)


def test_dictionary_encoded_input() -> None:
    strings = ["zz", "a", "b", None, "a", "été"]
    encoded = pa.array(strings, pa.string()).dictionary_encode()
    for arr, want in [(encoded, strings), (encoded.slice(1), strings[1:])]:
        hashes, is_null = murmur3_32_array(arr, 2)
        assert is_null.tolist() == [s is None for s in want]
        got = [None if n else int(h) for h, n in zip(hashes, is_null, strict=True)]
        assert got == [None if s is None else murmur3_32(s, 2) for s in want]
