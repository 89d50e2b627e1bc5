"""The disk spool: ordered batches, a disk cap, survival across restarts, and several
processes sharing one folder (unique names, exclusive claims, corrupt files set aside)."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from serving.spool import CORRUPT, DEAD_LETTER, CorruptSpoolFile, Spool


def _batch(start: int, n: int) -> list[dict]:
    return [{"_id": f"id{i}", "_source": {"i": i, "text": "é" * 10}} for i in range(start, start + n)]


def test_batches_come_back_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for k in range(12):
        assert spool.append(_batch(k * 10, 10))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.size_bytes == spool.size_bytes > 0
    seen = []
    for path in reopened.pending():
        seen += [a["_source"]["i"] for a in reopened.read(path)]
        reopened.remove(path)
    assert seen == list(range(120))
    assert reopened.pending() == [] and reopened.size_bytes == 0
    assert reopened.append(_batch(0, 1))
    assert reopened.pending()[0].name.split("-")[1] == str(os.getpid())


def test_the_disk_cap_refuses_whole_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2000)
    accepted = [spool.append(_batch(k * 10, 10)) for k in range(10)]
    assert accepted[0] and not accepted[-1]
    assert spool.size_bytes <= 2000
    assert sum(len(spool.read(p)) for p in spool.pending()) == 10 * accepted.count(True)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def _write_batches(directory: str, worker: int) -> None:
    spool = Spool(Path(directory), max_bytes=1 << 30)
    for k in range(50):
        spool.append(_batch(worker * 10_000 + k * 10, 10))


def _claim_all(directory: str, out: str) -> None:
    spool = Spool(Path(directory), max_bytes=1 << 30)
    taken = []
    for path in spool.pending():
        claimed = spool.claim(path)
        if claimed is not None:
            taken += [a["_id"] for a in spool.read(claimed)]
            spool.remove(claimed)
    Path(out).write_text(json.dumps(taken))


def _run(target, args_list) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_four_processes_write_and_replay_one_spool_without_losing_or_repeating(tmp_path: Path) -> None:
    _run(_write_batches, [(str(tmp_path), w) for w in range(4)])
    spool = Spool(tmp_path, max_bytes=1 << 30)
    assert len(spool.pending()) == 200  # no process overwrote another's file
    expected = {f"id{w * 10_000 + i}" for w in range(4) for i in range(500)}

    _run(_claim_all, [(str(tmp_path), str(tmp_path / f"taken{w}.json")) for w in range(4)])
    taken = [i for w in range(4) for i in json.loads((tmp_path / f"taken{w}.json").read_text())]
    assert len(taken) == len(expected) and set(taken) == expected  # each file sent by one process
    assert spool.pending() == [] and spool.size_bytes == 0


def test_a_claim_is_released_when_its_process_died_or_it_is_stale(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(_batch(0, 3))
    (path,) = spool.pending()
    dead = multiprocessing.get_context("fork").Process(target=os.getpid)
    dead.start()
    dead.join()
    path.rename(path.with_name(f"{path.name}.claimed-{dead.pid}"))
    assert spool.pending() == []
    assert Spool(tmp_path, max_bytes=1 << 20).pending() == [path]
    claimed = spool.claim(path)
    assert claimed is not None and spool.claim(path) is None  # one claim at a time
    spool.release(claimed)
    assert spool.pending() == [path]
    # a claim held far longer than any send takes is given back too (its pid may be reused)
    held = path.rename(path.with_name(f"{path.name}.claimed-{os.getppid()}"))
    assert Spool(tmp_path, max_bytes=1 << 20).pending() == []
    os.utime(held, (0, 0))
    assert Spool(tmp_path, max_bytes=1 << 20).pending() == [path]


@pytest.mark.parametrize(
    ("damage", "cause"),
    [
        (lambda data: data[:-7], "truncated"),
        (lambda data: data.replace(b"id1", b"\xff\xfe1"), "line 2"),
        (lambda data: data + b'{"no": "action"}\n', "not a spooled action"),
    ],
)
def test_a_corrupt_file_is_set_aside_and_the_next_one_still_reads(tmp_path: Path, damage, cause) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(_batch(0, 3))
    spool.append(_batch(3, 3))
    bad, good = spool.pending()
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(CorruptSpoolFile, match=cause):
        spool.read(bad)
    moved = spool.set_aside(bad, cause)
    assert moved.parent.name == CORRUPT and moved.exists()
    assert spool.pending() == [good] and [a["_id"] for a in spool.read(good)] == ["id3", "id4", "id5"]


def test_dead_letters_from_several_processes_are_whole_lines(tmp_path: Path) -> None:
    def write(worker: int) -> None:
        spool = Spool(tmp_path, max_bytes=1 << 20)
        for i in range(200):
            spool.dead_letter({"_id": f"{worker}-{i}", "reason": "x" * 300})

    _run(write, [(w,) for w in range(4)])
    lines = (tmp_path / DEAD_LETTER).read_text().splitlines()
    assert sorted(json.loads(line)["_id"] for line in lines) == sorted(f"{w}-{i}" for w in range(4) for i in range(200))
