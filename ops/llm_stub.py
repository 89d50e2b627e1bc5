"""A local OpenAI-compatible endpoint (``POST /v1/chat/completions``) whose answers are a
function of the request: a stand-in for a candidate model where none is reachable, so that
``evaluate_llm`` is exercised by the real ``openai`` client over real HTTP.

A *router* maps each request body (and how many times that same body has been sent, so a
first attempt can fail and a retry succeed) to a :class:`Reply`: a chat completion, or an
HTTP error status, optionally after a delay (a delay beyond the client's timeout is a
timeout). :func:`echo_router` is a generic one (the benchmark's); tests bring their own.

    with StubServer(echo_router()) as server:
        client = OpenAI(base_url=server.base_url, api_key="EMPTY")

or, as a process of its own with :func:`echo_router` (to try ``skewguard-evaluate-llm`` by hand;
the benchmark runs it so, apart from the client's process):

    python -m ops.llm_stub --port 8000 [--delay-ms 50]    # prints its base URL, serves until stopped

Standard library only; one thread per connection (``ThreadingHTTPServer``), HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Router", "StubServer", "chat_completion", "echo_router", "last_user_text"]


@dataclass(frozen=True)
class Reply:
    """What the server answers: ``body`` (JSON) with HTTP ``status`` and ``headers``, after ``delay_s``."""

    body: dict[str, Any]
    status: int = 200
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


#: (request body, attempt: 1 for the first time this exact body arrives, 2 for the next, …) → reply
Router = Callable[[dict[str, Any], int], Reply]


def chat_completion(
    message: dict[str, Any], model: str = "stub-model", usage: tuple[int, int] = (50, 5), finish: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion`` body answering ``message`` (its finish reason from whether it calls a tool)."""
    reason = finish or ("tool_calls" if message.get("tool_calls") else "stop")
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1732104000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": reason}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "stub_error", "code": status}}


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the request's last ``user`` message (text parts joined), or ``""``."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


def echo_router(delay_s: float = 0.0) -> Router:
    """A deterministic tool router: a request offering tools gets a call of the first one with
    ``{"query": <last user text>}``, any other request its last user text back as the answer."""

    def route(body: dict[str, Any], attempt: int) -> Reply:
        text = last_user_text(body)
        tools = body.get("tools") or []
        if tools:
            name = tools[0].get("function", {}).get("name", "tool")
            call = {
                "id": "call_0",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"query": text})},
            }
            message: dict[str, Any] = {"content": None, "tool_calls": [call]}
        else:
            message = {"content": text}
        return Reply(chat_completion(message, model=str(body.get("model", "stub-model"))), delay_s=delay_s)

    return route


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read the state instead
        return

    def _send(self, status: int, body: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, error_body(404, f"no route {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, error_body(400, "body is not JSON"))
            return
        reply = self.server.stub.handle(body, self.headers.get("Authorization"))
        try:
            if reply.delay_s:
                time.sleep(reply.delay_s)
            self._send(reply.status, reply.body, reply.headers)
        finally:
            self.server.stub.done()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    stub: StubServer


class StubServer:
    """The endpoint on ``127.0.0.1`` (a free port unless given), served from a thread; every
    request body received is kept in :attr:`requests` (in arrival order)."""

    def __init__(self, router: Router, port: int = 0) -> None:
        self.router = router
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-stub", daemon=True
        )
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def handle(self, body: dict[str, Any], authorization: str | None) -> Reply:
        key = json.dumps(body, sort_keys=True)
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            self.requests.append(body)
            self.authorizations.append(authorization)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self.router(body, attempt)
        except Exception as exc:  # a router bug shows as a 500 naming it, not as a hung client
            return Reply(error_body(500, f"router failed: {exc!r}"), status=500)

    def done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.llm_stub", description="a local stub of an OpenAI-compatible "
                                     "endpoint answering with echo_router (see the module)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before each answer, standing in for a model")
    args = parser.parse_args(argv)
    server = StubServer(echo_router(delay_s=args.delay_ms / 1000), port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        sys.stdout.write(f"{server.base_url}\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
