"""A fake LLM server for tests and benchmarks: Ollama's native chat API and the OpenAI-compatible one over real HTTP.

This is a test tool, never a product feature. It binds 127.0.0.1 only, serves in background threads and answers
with enrichment JSON built from the prompt, or with the failure a test scripted (see ``Fault``).

Endpoints
    POST /api/chat              Ollama chat (``stream`` is ignored: the answer is always one JSON object)
    POST /v1/chat/completions   OpenAI chat completions
    GET  /api/tags              Ollama model list: ``{"models": [{"name": model}]}``
    GET  /v1/models             OpenAI model list: ``{"data": [{"id": model}]}``
    GET  /health                200 ``{"status": "ok"}``
    POST /api/embed             Ollama embeddings: ``{"model", "input": str | [str]}`` -> ``{"embeddings": [[float]]}``
    POST /v1/embeddings         OpenAI embeddings: ``{"model", "input"}`` -> ``{"data": [{"index", "embedding"}]}``
    POST /model/embed           generic: ``{"model", "texts": [str]}`` -> ``{"embeddings": [[float]]}``

Embeddings: ``fake_embedding(text, embed_dim)``, a unit vector seeded by the text's sha256 (same text, same
vector). A text containing ``FAIL_TEXT`` makes the whole request answer 500 (as a server that chokes on one
input does); one containing ``NAN_TEXT`` gets a vector of NaN (sent as JSON ``NaN``, which Python's json reads).
Set ``embed_dim`` to answer with another dimension than the client expects. Embed requests consume scripted
faults like chat requests; of the kinds, HTTP statuses, ``timeout``, ``invalid_json`` and ``empty_body`` apply.
With ``api_key`` set, every POST without ``Authorization: Bearer <api_key>`` gets 401, and the message echoes
the key it was sent, as some servers do (clients must not pass it on).

Prompt contract (what the fake reads from the *last user message*; everything else in the prompt is ignored)
    ``Symbol: <name>``          the span's name; the summary becomes ``"Fake summary of <name>."``
                                (default name: ``the span``) and the usage snippet ``<name>(<params>)``.
    ``Parameters: a, b, c``     comma-separated parameter names, copied into ``inputs`` in order;
                                ``Parameters: none`` or no such line gives ``inputs == []``.
    Each marker must start its line (leading whitespace is allowed); the first matching line wins.

Token accounting: the prompt estimate P is ceil(total characters of all message contents / 4) and the completion
count E is ceil(len(content) / 4). With no fault scripted, a prompt whose P exceeds ``context_tokens`` is refused
as ``context_too_long`` is.

Slots: at most ``slots`` chat requests are served at once (each sleeps ``latency_s``, then answers); the rest wait
for a slot, as with OLLAMA_NUM_PARALLEL. Faults that real servers raise before generating (HTTP errors,
``context_too_long``) answer at once without a slot; ``timeout`` holds the request without a slot (until 30 s pass
or the server stops) and then closes the connection unanswered. The other faults are "generated": they take a slot
and the latency like a normal answer.

Faults are consumed one per chat or embed request (any protocol), in script order; GET requests consume none.

Run it by hand:  python -m tests.fake_llm --port 11434 --latency 0.5 --slots 4 --model qwen2.5:7b-instruct-q4_K_M
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import random
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

FAULT_KINDS = frozenset(
    {
        "http_500",
        "http_503",
        "http_429",
        "http_400",
        "http_401",
        "http_404",
        "timeout",
        "invalid_json",
        "prose",
        "empty_body",
        "schema_violation",
        "wrong_types",
        "truncated",
        "silent_truncation",
        "context_too_long",
        "invented_parameter",
    }
)

HTTP_FAULT_STATUS = {
    "http_500": 500,
    "http_503": 503,
    "http_429": 429,
    "http_400": 400,
    "http_401": 401,
    "http_404": 404,
}

_STATUS_TEXT = {
    400: ("bad request", "invalid_request_error"),
    401: ("unauthorized", "authentication_error"),
    404: ("model not found", "not_found_error"),
    429: ("too many requests", "rate_limit_error"),
    500: ("internal server error", "server_error"),
    503: ("service unavailable", "server_error"),
}

TIMEOUT_HOLD_S = 30.0
SILENT_TRUNCATION_TOKENS = 64
INVALID_JSON_CONTENT = '{"summary": "unterminated'
PROSE_CONTENT = "Sure! This function parses a file and returns its lines."
GHOST_PARAMETER = "ghost_param"
EMBED_PATHS = ("/api/embed", "/v1/embeddings", "/model/embed")
FAIL_TEXT = "[[fake-embed:fail]]"
NAN_TEXT = "[[fake-embed:nan]]"


@dataclass
class Fault:
    """One scripted failure, served to the next ``times`` chat requests (``-1``: forever)."""

    kind: str
    times: int = 1
    retry_after_s: float | None = None  # sent as Retry-After for http_429 / http_503

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times < 1 and self.times != -1:
            raise ValueError(f"fault times must be >= 1 or -1 (forever), got {self.times}")


def estimate_tokens(text_length: int) -> int:
    """The fake's token estimate: one token per four characters, rounded up."""
    return math.ceil(text_length / 4)


def fake_embedding(text: str, dim: int) -> list[float]:
    """The deterministic unit vector the fake answers for ``text``."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _content_text(content: Any) -> str:
    """A message's text: plain strings, or OpenAI content parts (``[{"type": "text", "text": ...}]``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def prompt_tokens(body: dict[str, Any]) -> int:
    """P: ceil(total characters of all message contents / 4)."""
    return estimate_tokens(sum(len(_content_text(m.get("content"))) for m in _messages(body)))


def _marker(text: str, marker: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(marker):
            return stripped[len(marker) :].strip()
    return None


def parse_prompt(body: dict[str, Any]) -> tuple[str, list[str] | None]:
    """(symbol name, parameter names) from the last user message; parameters is None when no line names them."""
    users = [m for m in _messages(body) if m.get("role") == "user"]
    text = _content_text(users[-1].get("content")) if users else ""
    name = _marker(text, "Symbol:") or ""
    listed = _marker(text, "Parameters:")
    if listed is None:
        return name, None
    params = [p.strip() for p in listed.split(",") if p.strip()]
    if [p.lower() for p in params] in ([], ["none"]):
        params = []
    return name, params


def enrichment(body: dict[str, Any]) -> dict[str, Any]:
    """The normal answer: a valid enrichment object built from the prompt contract."""
    name, params = parse_prompt(body)
    inputs = params or []
    return {
        "summary": f"Fake summary of {name or 'the span'}.",
        "inputs": inputs,
        "outputs": ["the result"],
        "side_effects": [],
        "pitfalls": [],
        "usage_snippet": f"{name}({', '.join(inputs)})" if name else "",
        "tags": ["fake"],
    }


def _retry_after(value: float) -> str:
    return f"{value:g}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # handler threads are still joined by server_close (block_on_close)
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once; the default backlog of 5 drops SYNs
    fake: FakeLLMServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # client went away, or stop() shut the connection: not a server fault
            return
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Ollama; stop() shuts idle connections down
    server_version = "FakeLLM/1.0"
    timeout = 120  # idle keep-alive connections close on their own after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no Nagle / delayed-ACK stall

    @property
    def fake(self) -> FakeLLMServer:
        return cast(_Server, self.server).fake

    # -- plumbing -------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.verbose:
            sys.stderr.write(f"fake-llm {self.address_string()} - {format % args}\n")

    def _send(self, status: int, payload: Any = None, *, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, b"" if payload is None else json.dumps(payload).encode(), headers=headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _protocol(self) -> str:
        if self.path.startswith("/v1/"):
            return "openai"
        if self.path.startswith("/api/"):
            return "ollama"
        return "other"

    # -- routes ---------------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.fake
        path = self.path.split("?", 1)[0]
        record = fake._record(self, path, self._protocol(), None)
        payload: Any
        if path == "/api/tags":
            status, payload = 200, {"models": [{"name": fake.model, "model": fake.model}]}
        elif path == "/v1/models":
            status, payload = 200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]}
        elif path == "/health":
            status, payload = 200, {"status": "ok"}
        else:
            status, payload = self._not_found(path)
        record["status"] = status
        self._send(status, payload)

    def do_POST(self) -> None:
        fake = self.fake
        path = self.path.split("?", 1)[0]
        protocol = self._protocol()
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = fake._record(self, path, protocol, body)
        if fake.api_key is not None and not self._authorized():
            record["status"] = 401
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(401, self._error(protocol, 401, f"Incorrect API key provided: {sent}"))
            return
        if path in EMBED_PATHS:
            self._embed(path, body, record)
            return
        if path not in ("/api/chat", "/v1/chat/completions"):
            status, payload = self._not_found(path)
            record["status"] = status
            self._send(status, payload)
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            record["status"] = 400
            self._send(400, self._error(protocol, 400, "fake 400: the body must be a JSON object with messages"))
            return
        fault = fake._next_fault()
        record["fault"] = fault.kind if fault else None
        openai = protocol == "openai"
        tokens = prompt_tokens(body)
        kind = fault.kind if fault else None
        if kind is None and tokens > fake.context_tokens:
            kind = "context_too_long"

        if kind == "timeout":
            fake._stopping.wait(TIMEOUT_HOLD_S)
            self.close_connection = True  # never answered: the client's read timeout fires (or it sees a drop)
            return
        if kind in HTTP_FAULT_STATUS:
            status = HTTP_FAULT_STATUS[kind]
            headers = {}
            if fault is not None and fault.retry_after_s is not None and status in (429, 503):
                headers["Retry-After"] = _retry_after(fault.retry_after_s)
            text, _ = _STATUS_TEXT[status]
            record["status"] = status
            self._send(status, self._error(protocol, status, f"fake {status} {text}"), headers=headers)
            return
        if kind == "context_too_long":
            record["status"] = 400
            self._send(400, self._context_error(openai, tokens))
            return

        started = time.monotonic()
        with fake._slot():
            status, payload = self._generate(body, openai, kind, tokens, started)
        record["status"] = status
        self._send(status, payload)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.fake.api_key}"

    def _embed(self, path: str, body: Any, record: dict[str, Any]) -> None:
        """Answer one embed request in the protocol of its path (see the module docstring)."""
        fake = self.fake
        protocol = self._protocol()
        field = "texts" if path == "/model/embed" else "input"
        texts = body.get(field) if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            record["status"] = 400
            self._send(400, self._error(protocol, 400, f"fake 400: {field} must be a string or a list of strings"))
            return
        fault = fake._next_fault()
        kind = fault.kind if fault else None
        record["fault"] = kind
        if kind is None and any(FAIL_TEXT in t for t in texts):
            kind = "http_500"
        if kind == "timeout":
            fake._stopping.wait(TIMEOUT_HOLD_S)
            self.close_connection = True
            return
        if kind in HTTP_FAULT_STATUS:
            status = HTTP_FAULT_STATUS[kind]
            record["status"] = status
            self._send(status, self._error(protocol, status, f"fake {status} {_STATUS_TEXT[status][0]}"))
            return
        fake._stopping.wait(fake.latency_s)
        if kind in ("invalid_json", "empty_body"):
            record["status"] = 200
            self._send_raw(200, b"" if kind == "empty_body" else INVALID_JSON_CONTENT.encode())
            return
        vectors = [[math.nan] * fake.embed_dim if NAN_TEXT in t else fake_embedding(t, fake.embed_dim) for t in texts]
        model = body.get("model") or fake.model
        tokens = sum(estimate_tokens(len(t)) for t in texts)
        payload: Any
        if path == "/v1/embeddings":
            payload = {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        elif path == "/api/embed":
            payload = {"model": model, "embeddings": vectors, "prompt_eval_count": tokens}
        else:
            payload = {"model": model, "embeddings": vectors}
        record["status"] = 200
        self._send(200, payload)

    def _send_raw(self, status: int, data: bytes, *, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)
        self.wfile.flush()

    # -- answers --------------------------------------------------------------------------------------------------

    def _not_found(self, path: str) -> tuple[int, Any]:
        return 404, self._error(self._protocol(), 404, f"fake 404: no route {path}")

    @staticmethod
    def _error(protocol: str, status: int, message: str) -> Any:
        if protocol == "openai":
            return {"error": {"message": message, "type": _STATUS_TEXT.get(status, ("", "server_error"))[1]}}
        return {"error": message}

    def _context_error(self, openai: bool, tokens: int) -> Any:
        limit = self.fake.context_tokens
        if openai:
            return {
                "error": {
                    "message": f"This model's maximum context length is {limit} tokens. "
                    f"However, your messages resulted in {tokens} tokens.",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            }
        return {"error": f"prompt is too long: {tokens} tokens > context length {limit}"}

    def _generate(
        self, body: dict[str, Any], openai: bool, kind: str | None, tokens: int, started: float
    ) -> tuple[int, Any]:
        fake = self.fake
        fake._stopping.wait(fake.latency_s)
        if kind == "empty_body":
            return 200, None
        finish = "stop"
        answer = enrichment(body)
        if kind == "invalid_json":
            content = INVALID_JSON_CONTENT
        elif kind == "prose":
            content = PROSE_CONTENT
        elif kind == "schema_violation":
            answer.pop("summary")
            content = json.dumps(answer)
        elif kind == "wrong_types":
            answer["inputs"] = ", ".join(answer["inputs"]) or "none"
            answer["tags"] = 42
            content = json.dumps(answer)
        elif kind == "truncated":
            full = json.dumps(answer)
            content = full[: full.index('"Fake summary') + len('"Fake su')]  # a valid prefix, cut mid-string
            finish = "length"
        elif kind == "invented_parameter":
            answer["inputs"] = [*answer["inputs"], GHOST_PARAMETER]
            content = json.dumps(answer)
        else:
            content = json.dumps(answer)
        if kind == "silent_truncation":
            tokens = min(tokens, SILENT_TRUNCATION_TOKENS)
        completion = estimate_tokens(len(content))
        model = body.get("model") if isinstance(body.get("model"), str) else fake.model
        if openai:
            return 200, {
                "id": f"chatcmpl-fake-{fake._next_id()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": tokens,
                    "completion_tokens": completion,
                    "total_tokens": tokens + completion,
                },
            }
        total_ns = int((time.monotonic() - started) * 1e9)
        return 200, {
            "model": model,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": finish,
            "prompt_eval_count": tokens,
            "eval_count": completion,
            "total_duration": total_ns,
            "eval_duration": int(fake.latency_s * 1e9),
        }


class FakeLLMServer:
    """A fake Ollama / OpenAI-compatible chat server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        slots: int = 4,
        model: str = "fake-7b",
        context_tokens: int = 8192,
        embed_dim: int = 384,
        api_key: str | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.latency_s = latency_s
        self.slots = slots
        self.model = model
        self.context_tokens = context_tokens
        self.embed_dim = embed_dim
        self.api_key = api_key
        self.verbose = False
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._semaphore = threading.Semaphore(slots)
        self._in_flight = 0
        self._samples: list[tuple[float, int]] = []
        self._faults: deque[list[Any]] = deque()  # [Fault, remaining]
        self._ids = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        return self.serve(0)

    def serve(self, port: int) -> FakeLLMServer:
        """Start on ``port`` (0: a free one); ``start()`` is ``serve(0)``."""
        if self._server is not None:
            raise RuntimeError("the fake LLM server is already running")
        self._stopping = threading.Event()
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self
        self._server = server
        with self._lock:
            self._samples.append((time.monotonic(), self._in_flight))
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release held requests, drop open connections, join every thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake LLM server is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- scripting ------------------------------------------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """Queue faults; the next chat or embed requests (any protocol) consume them in order."""
        with self._lock:
            self._faults.extend([fault, fault.times] for fault in faults)

    def clear_faults(self) -> None:
        """Forget every scripted fault not yet consumed (``times=-1`` ones included)."""
        with self._lock:
            self._faults.clear()

    def set_latency(self, latency_s: float) -> None:
        self.latency_s = latency_s

    def in_flight_samples(self) -> list[tuple[float, int]]:
        """(time.monotonic(), requests being served by a slot) at every change, from start()."""
        with self._lock:
            return list(self._samples)

    # -- handler side ---------------------------------------------------------------------------------------------

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            fault = cast(Fault, entry[0])
            if entry[1] != -1:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.popleft()
            return fault

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _record(self, handler: BaseHTTPRequestHandler, path: str, protocol: str, body: Any) -> dict[str, Any]:
        model = body.get("model") if isinstance(body, dict) else None
        record: dict[str, Any] = {
            "path": path,
            "protocol": protocol,
            "model": model,
            "body": body,
            "at": time.monotonic(),
            "fault": None,
            "status": None,
            "authorized": handler.headers.get("Authorization") is not None,
        }
        with self._lock:
            self.requests.append(record)
        return record

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        with self._semaphore:
            self._change_in_flight(+1)
            try:
                yield
            finally:
                self._change_in_flight(-1)

    def _change_in_flight(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._samples.append((time.monotonic(), self._in_flight))


def _fault_arg(value: str) -> Fault:
    kind, _, times = value.partition(":")
    try:
        return Fault(kind, int(times) if times else 1)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_llm", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer takes")
    parser.add_argument("--slots", type=int, default=4, help="requests served at once (OLLAMA_NUM_PARALLEL)")
    parser.add_argument("--model", default="fake-7b")
    parser.add_argument("--context-tokens", type=int, default=8192)
    parser.add_argument("--fault", type=_fault_arg, action="append", default=[], help="KIND[:TIMES], repeatable")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    fake = FakeLLMServer(latency_s=args.latency, slots=args.slots, model=args.model, context_tokens=args.context_tokens)
    fake.verbose = args.verbose
    fake.script(*args.fault)
    fake.serve(args.port)
    print(f"fake LLM serving {args.model} on {fake.url} (slots {args.slots}, latency {args.latency}s)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
