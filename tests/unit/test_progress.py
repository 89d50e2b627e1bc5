"""Progress bars show on a terminal and stay out of pipes and log files."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import tempfile
import termios

import pytest

from skewguard.progress import is_terminal, progress


def _drain(fd: int) -> bytes:
    out = b""
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 65536):
            out += chunk
    except (BlockingIOError, OSError):
        pass
    return out


def test_quiet_without_a_terminal() -> None:
    with tempfile.TemporaryFile("w+") as log_file:  # stderr sent to a log, and a captured stream
        for stream in (log_file, io.StringIO()):
            assert not is_terminal(stream)
            assert list(progress(range(5), total=5, desc="loading", stream=stream)) == [0, 1, 2, 3, 4]
            stream.seek(0)
            assert stream.read() == ""


def test_shows_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows × 100 columns
    with os.fdopen(terminal, "w") as stream:
        assert is_terminal(stream)
        assert list(progress(range(7), total=7, desc="loading", unit="rec", stream=stream)) == list(range(7))
        stream.flush()
        shown = _drain(controller).decode()
        # a dumb terminal (an editor's output pane) gets no bar either
        monkeypatch.setenv("TERM", "dumb")
        assert not is_terminal(stream)
    os.close(controller)
    assert "loading" in shown and "/7 [" in shown
