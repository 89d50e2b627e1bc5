"""The serving side of the parity gate: send examples to a model bundle in a separate plain
Python process (``python -m serving.replay``) and read back what it answered; and the request
serving received, rebuilt from what it logged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jobs.parity.comparison import OfflineExample

__all__ = ["Replay", "ReplayError", "request_from_logged", "run_replay"]

_ROOT = Path(__file__).resolve().parents[2]

_INT_LITERAL = re.compile(r"-?[0-9]+")


def request_from_logged(
    features: Mapping[str, str | None], contract: Mapping[str, str], timestamp: Any, time_column: str = "event_ts"
) -> dict[str, Any]:
    """The request serving received, rebuilt from the logged feature text (``silver``'s
    ``features`` map): a double input is a JSON number (an integer literal stays an integer,
    text that is no number is sent as it was, for the bundle to refuse), a string input the
    text; an absent or null feature stays absent; ``time_column`` is the event's time."""
    request: dict[str, Any] = {}
    for name, dtype in contract.items():
        if name == time_column:
            request[name] = timestamp
            continue
        text = features.get(name)
        if text is None:
            continue
        if dtype == "double":
            if _INT_LITERAL.fullmatch(text):
                request[name] = int(text)
                continue
            try:
                request[name] = float(text)
            except ValueError:
                request[name] = text
        else:
            request[name] = text
    return request


class ReplayError(RuntimeError):
    """The serving process could not run (bad bundle, crash): the gate cannot decide."""


def _request_lines(examples: Iterable[OfflineExample]) -> Iterator[str]:
    for example in examples:
        if "\t" in example.id or "\n" in example.id:
            raise ValueError(f"example id {example.id!r} contains a tab or a newline")
        yield f"{example.id}\t{json.dumps(example.request)}\n"


class Replay:
    """A serving process (``python -m serving.replay``) started early: it imports numpy and
    pyarrow and loads the bundle while Spark is still sampling; :meth:`send` hands it the
    requests and waits for its outputs."""

    def __init__(self, bundle: Path, out_dir: Path, modes: Sequence[str], batch_size: int = 256) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir, self.modes = out_dir, list(modes)
        cmd = [sys.executable, "-m", "serving.replay", "--bundle", str(bundle), "--requests", "-"]
        cmd += ["--out-dir", str(out_dir), "--modes", ",".join(modes), "--batch-size", str(batch_size)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        self._stderr = (out_dir / "replay.log").open("w")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._stderr, text=True, env=env)

    def send(
        self, examples: Iterable[OfflineExample], keep: Path | None = None
    ) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
        """Outputs by mode, then by example id; and the process's summary. ``keep`` also
        gets the requests sent (``<id> TAB <request JSON>`` lines), for the report."""
        lines = list(_request_lines(examples))
        if keep is not None:
            keep.write_text("".join(lines))
        try:
            if self._proc.stdin is None:
                raise ReplayError("the serving process has no input pipe")
            try:
                self._proc.stdin.writelines(lines)
                self._proc.stdin.close()
            except BrokenPipeError:
                pass  # the process died early: its exit code and log say why
            code = self._proc.wait()
        finally:
            self.close()
        if code != 0:
            lines = [line for line in (self.out_dir / "replay.log").read_text().splitlines() if line.strip()]
            raise ReplayError(f"the serving process failed: {lines[-1] if lines else f'exit {code}'}")
        outputs: dict[str, dict[str, dict[str, Any]]] = {}
        for mode in self.modes:
            with (self.out_dir / f"{mode}.jsonl").open() as stream:
                outputs[mode] = {r["id"]: r for r in map(json.loads, stream)}
        summary: dict[str, Any] = json.loads((self.out_dir / "summary.json").read_text())
        if summary.get("spark_imported"):
            raise ReplayError("the serving process imported Spark; it must run the bundle alone")
        return outputs, summary

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


def run_replay(
    bundle: Path, examples: Iterable[OfflineExample], out_dir: Path, modes: Sequence[str], batch_size: int = 256
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
    """Start a serving process, send it ``examples`` and return its outputs (see :class:`Replay`)."""
    return Replay(bundle, out_dir, modes, batch_size).send(examples)
