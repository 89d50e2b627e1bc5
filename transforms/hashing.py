"""MurmurHash3 (x86, 32-bit) of UTF-8 strings: seeded and stable across processes,
machines and languages — unlike Python's ``hash``, which is salted per process.

:func:`murmur3_32` is the one-value reference; :func:`murmur3_32_array` hashes an Arrow
string array with numpy, a 4-byte block of every row at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["murmur3_32", "murmur3_32_array"]

_C1, _C2 = 0xCC9E2D51, 0x1B873593
_M32 = 0xFFFFFFFF
_ROWS_PER_CHUNK = 4096
_CHUNK_BYTES = 1 << 22  # bounds the padded byte matrix (and its int64 index) when strings are long


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def murmur3_32(data: str | bytes, seed: int = 0) -> int:
    """Unsigned 32-bit MurmurHash3_x86_32 of ``data`` (strings are UTF-8 encoded)."""
    key = data.encode("utf-8") if isinstance(data, str) else data
    h = seed & _M32
    n_blocks = len(key) // 4
    for i in range(n_blocks):
        k = int.from_bytes(key[4 * i : 4 * i + 4], "little")
        k = (_rotl((k * _C1) & _M32, 15) * _C2) & _M32
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _M32
    tail = key[4 * n_blocks :]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= (_rotl((k * _C1) & _M32, 15) * _C2) & _M32
    return _fmix(h ^ len(key))


def _rotl_np(x: NDArray[Any], r: int) -> NDArray[Any]:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _fmix_np(h: NDArray[Any]) -> NDArray[Any]:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _hash_rows(data: NDArray[Any], starts: NDArray[Any], lengths: NDArray[Any], seed: int) -> NDArray[Any]:
    n = lengths.size
    width = int(-(-int(lengths.max(initial=0)) // 4) * 4) + 4
    cols = np.arange(width)
    mask = cols < lengths[:, None]
    padded = np.zeros((n, width), dtype=np.uint8)
    padded[mask] = data[(starts[:, None] + cols)[mask]]
    words = padded.view("<u4").astype(np.uint32)
    n_blocks = lengths // 4
    h = np.full(n, seed & _M32, dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(int(n_blocks.max(initial=0))):
            active = j < n_blocks
            k = _rotl_np(words[:, j] * np.uint32(_C1), 15) * np.uint32(_C2)
            mixed = _rotl_np(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
            h = np.where(active, mixed, h)
        tail = words[np.arange(n), n_blocks]  # zero padding leaves only the tail bytes
        k = _rotl_np(tail * np.uint32(_C1), 15) * np.uint32(_C2)
        h = np.where((lengths & 3) > 0, h ^ k, h)
        return _fmix_np(h ^ lengths.astype(np.uint32))


def murmur3_32_array(values: pa.Array | pa.ChunkedArray, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    """Hashes (uint32) of every row of a string array, and a mask of the null rows.

    Each distinct value is hashed once (dictionary encoding), so low-cardinality columns
    cost one lookup per row.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(pc.cast(values, pa.large_string()))
    dictionary = encoded.dictionary
    offsets = np.frombuffer(dictionary.buffers()[1], dtype=np.int64)[
        dictionary.offset : dictionary.offset + len(dictionary) + 1
    ]
    data_buf = dictionary.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.empty(len(dictionary), dtype=np.uint32)
    # rows of similar length together, so that one long string does not widen a whole chunk
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < order.size:
        end = min(order.size, i + _ROWS_PER_CHUNK)
        while end - i > 1 and (end - i) * (int(lengths[order[end - 1]]) + 8) > _CHUNK_BYTES:
            end = i + (end - i) // 2
        rows = order[i:end]
        hashes[rows] = _hash_rows(data, starts[rows], lengths[rows], seed)
        i = end
    is_null = encoded.indices.is_null().to_numpy(zero_copy_only=False)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    out = hashes[indices] if len(dictionary) else np.zeros(len(values), dtype=np.uint32)
    return out, is_null
