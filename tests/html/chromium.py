"""Headless Chromium for tests that check a page as a browser renders it: the DOM after load,
and a screenshot. The browser is Debian's chromium package, installed by scripts/browser.sh."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "dump_dom", "screenshot"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# The network is closed here: without these, Chromium keeps trying its own services (sync,
# component updates, QUIC probes) and floods the log with refused connections.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_ensured = False


def _chromium() -> Path:
    """The browser, installed once per test run by scripts/browser.sh if it is missing."""
    global _ensured
    if CHROMIUM.is_file():
        return CHROMIUM
    reason = ""
    if not _ensured:
        _ensured = True
        log.info("chromium missing: running scripts/browser.sh ensure")
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "browser.sh"), "ensure"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        reason = proc.stderr.strip()[-1000:]
    if not CHROMIUM.is_file():
        pytest.fail(f"headless Chromium is not available at {CHROMIUM}: {reason or 'scripts/browser.sh ensure failed'}")
    return CHROMIUM


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="skewguard-chromium-") as profile:
        cmd = [str(_chromium()), *_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish within {timeout_s:.0f}s: {' '.join(cmd)}")
    if proc.returncode != 0:
        pytest.fail(f"chromium exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc


def dump_dom(html_path: Path, timeout_s: float = 60) -> str:
    """The page's DOM, serialised by Chromium after the page has loaded."""
    proc = _run(["--dump-dom", html_path.resolve().as_uri()], timeout_s)
    if not proc.stdout.strip():
        pytest.fail(f"chromium printed no DOM for {html_path}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def screenshot(html_path: Path, png_path: Path, timeout_s: float = 60) -> Path:
    """A 1400×2000 PNG of the page's top as Chromium renders it; returns ``png_path``."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--screenshot={png_path.resolve()}", "--window-size=1400,2000", html_path.resolve().as_uri()], timeout_s)
    if not png_path.is_file() or png_path.stat().st_size == 0:
        pytest.fail(f"chromium wrote no screenshot to {png_path}")
    return png_path
