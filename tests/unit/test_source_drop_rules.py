"""What a re-ingest may delete from bronze when Elasticsearch holds fewer documents (pure rules)."""

from __future__ import annotations

from jobs.bronze.source_drop import FLAG, CellCheck, decide

EMPTY = CellCheck("2024-11-20|w", bronze=300, gone=300, source=0)
PARTIAL = CellCheck("2024-11-21|w", bronze=100, gone=3, source=97)
MOVED = CellCheck("2024-11-22|w", bronze=10, gone=0, source=0)  # every record now in another cell of the window
SAME = CellCheck("2024-11-22|v", bronze=10, gone=0, source=12)


def test_source_drop_rules() -> None:
    default = decide([EMPTY, PARTIAL, MOVED, SAME], max_share=0.0, allow_drop=False)
    assert default.kept == {EMPTY.cell: 300} and default.dropped == {}
    assert default.refused == [PARTIAL]
    line = default.refusal("flywheel")
    assert line is not None and "\n" not in line and FLAG in line and PARTIAL.cell in line and "3 of the 100" in line

    small = decide([EMPTY, PARTIAL], max_share=0.05, allow_drop=False)
    assert small.refusal("flywheel") is None and small.kept == {EMPTY.cell: 300} and small.dropped == {PARTIAL.cell: 3}
    assert decide([PARTIAL], max_share=0.02, allow_drop=False).refused == [PARTIAL]

    forced = decide([EMPTY, PARTIAL, SAME], max_share=0.0, allow_drop=True)
    assert forced.refusal("flywheel") is None and forced.kept == {}
    assert forced.dropped == {EMPTY.cell: 300, PARTIAL.cell: 3}
    assert forced.details() == {"kept_source_empty": {}, "source_dropped": forced.dropped}
