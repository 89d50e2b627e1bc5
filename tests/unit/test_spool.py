"""The disk spool: ordered batches, a disk cap, and survival across restarts."""

from __future__ import annotations

from pathlib import Path

from serving.spool import Spool


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
    assert reopened.append(_batch(0, 1)) and reopened.pending()[0].stem == "000000000013"


def test_the_disk_cap_refuses_whole_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2000)
    accepted = [spool.append(_batch(k * 10, 10)) for k in range(10)]
    assert accepted[0] and not accepted[-1]
    assert spool.size_bytes <= 2000
    assert sum(len(spool.read(p)) for p in spool.pending()) == 10 * accepted.count(True)
    assert not list(tmp_path.glob("*.tmp"))
