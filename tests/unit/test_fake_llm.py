"""The fake LLM server answers both chat protocols over real HTTP, serves scripted faults in order, and keeps slots."""

import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fake_llm import FakeLLMServer, Fault

OLLAMA = "/api/chat"
OPENAI = "/v1/chat/completions"
SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
SYSTEM = "You describe code spans as JSON."
USER = "Symbol: parse_file\nParameters: path, encoding\n\ndef parse_file(path, encoding):\n    return open(path).read()"


def _body(path: str, user: str = USER, model: str = "fake-7b") -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    if path == OLLAMA:
        return {
            "model": model,
            "messages": messages,
            "format": SCHEMA,
            "options": {"num_ctx": 8192, "temperature": 0},
            "stream": False,
            "keep_alive": "5m",
        }
    return {
        "model": model,
        "messages": messages,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "enrichment", "schema": SCHEMA, "strict": True},
        },
        "temperature": 0,
        "max_tokens": 512,
    }


def _content(path: str, data: dict[str, Any]) -> str:
    content = data["message"]["content"] if path == OLLAMA else data["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def _finish(path: str, data: dict[str, Any]) -> str:
    return str(data["done_reason"] if path == OLLAMA else data["choices"][0]["finish_reason"])


def _prompt_count(path: str, data: dict[str, Any]) -> int:
    return int(data["prompt_eval_count"] if path == OLLAMA else data["usage"]["prompt_tokens"])


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def client(fake: FakeLLMServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=5.0) as http:
        yield http


def test_ollama_normal_answer(fake: FakeLLMServer, client: httpx.Client) -> None:
    response = client.post(OLLAMA, json=_body(OLLAMA, model="qwen2.5:7b"))
    assert response.status_code == 200
    data = response.json()
    content = data["message"]["content"]
    answer = json.loads(content)
    assert answer == {
        "summary": "Fake summary of parse_file.",
        "inputs": ["path", "encoding"],
        "outputs": ["the result"],
        "side_effects": [],
        "pitfalls": [],
        "usage_snippet": "parse_file(path, encoding)",
        "tags": ["fake"],
    }
    assert data["model"] == "qwen2.5:7b"
    assert data["message"]["role"] == "assistant"
    assert (data["done"], data["done_reason"]) == (True, "stop")
    assert data["prompt_eval_count"] == math.ceil((len(SYSTEM) + len(USER)) / 4)
    assert data["eval_count"] == math.ceil(len(content) / 4)
    assert data["total_duration"] >= 0 and data["eval_duration"] >= 0
    assert data["created_at"].endswith("Z")


def test_openai_normal_answer(fake: FakeLLMServer, client: httpx.Client) -> None:
    response = client.post(OPENAI, json=_body(OPENAI), headers={"Authorization": "Bearer sk-secret-token"})
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("chatcmpl-fake-")
    assert (data["object"], data["model"]) == ("chat.completion", "fake-7b")
    assert isinstance(data["created"], int)
    choice = data["choices"][0]
    assert (choice["index"], choice["finish_reason"], choice["message"]["role"]) == (0, "stop", "assistant")
    content = choice["message"]["content"]
    assert json.loads(content)["inputs"] == ["path", "encoding"]
    prompt, completion = math.ceil((len(SYSTEM) + len(USER)) / 4), math.ceil(len(content) / 4)
    assert data["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert fake.requests[-1]["authorized"] is True
    assert "sk-secret-token" not in repr(fake.requests)


@pytest.mark.parametrize(
    ("user", "inputs", "summary"),
    [
        ("Symbol: f\nParameters: a, b", ["a", "b"], "Fake summary of f."),
        ("  Parameters:  x ,y,  z  \nSymbol: g", ["x", "y", "z"], "Fake summary of g."),
        ("Symbol: h\nParameters: none", [], "Fake summary of h."),
        ("Symbol: k\nParameters:", [], "Fake summary of k."),
        ("def anonymous(): pass", [], "Fake summary of the span."),
    ],
)
@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_inputs_follow_the_parameters_line(
    client: httpx.Client, path: str, user: str, inputs: list[str], summary: str
) -> None:
    answer = json.loads(_content(path, client.post(path, json=_body(path, user=user)).json()))
    assert (answer["inputs"], answer["summary"]) == (inputs, summary)


def test_only_the_last_user_message_counts(client: httpx.Client) -> None:
    body = _body(OLLAMA)
    body["messages"] += [{"role": "assistant", "content": "{}"}, {"role": "user", "content": "Parameters: only"}]
    assert json.loads(_content(OLLAMA, client.post(OLLAMA, json=body).json()))["inputs"] == ["only"]


def test_model_lists_and_health(fake: FakeLLMServer, client: httpx.Client) -> None:
    assert client.get("/api/tags").json()["models"][0]["name"] == "fake-7b"
    assert client.get("/v1/models").json()["data"][0]["id"] == "fake-7b"
    assert client.get("/health").status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert [r["path"] for r in fake.requests] == ["/api/tags", "/v1/models", "/health", "/nowhere"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [("http_500", 500), ("http_503", 503), ("http_429", 429), ("http_400", 400), ("http_401", 401), ("http_404", 404)],
)
@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_http_faults(fake: FakeLLMServer, client: httpx.Client, path: str, kind: str, status: int) -> None:
    fake.script(Fault(kind))
    response = client.post(path, json=_body(path))
    assert response.status_code == status
    error = response.json()["error"]
    if path == OLLAMA:
        assert isinstance(error, str) and error.startswith(f"fake {status}")
    else:
        assert error["message"].startswith(f"fake {status}") and error["type"]
    assert "Retry-After" not in response.headers
    assert (fake.requests[-1]["fault"], fake.requests[-1]["status"]) == (kind, status)


@pytest.mark.parametrize(("kind", "status"), [("http_429", 429), ("http_503", 503)])
def test_retry_after_header(fake: FakeLLMServer, client: httpx.Client, kind: str, status: int) -> None:
    fake.script(Fault(kind, retry_after_s=2), Fault(kind, retry_after_s=0.5))
    first, second = client.post(OPENAI, json=_body(OPENAI)), client.post(OLLAMA, json=_body(OLLAMA))
    assert (first.status_code, first.headers["Retry-After"]) == (status, "2")
    assert (second.status_code, second.headers["Retry-After"]) == (status, "0.5")


@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_content_faults(fake: FakeLLMServer, client: httpx.Client, path: str) -> None:
    fake.script(
        Fault("invalid_json"),
        Fault("prose"),
        Fault("schema_violation"),
        Fault("wrong_types"),
        Fault("invented_parameter"),
    )
    contents = [_content(path, client.post(path, json=_body(path)).json()) for _ in range(5)]
    with pytest.raises(json.JSONDecodeError):
        json.loads(contents[0])
    assert contents[1] == "Sure! This function parses a file and returns its lines."
    violation = json.loads(contents[2])
    assert "summary" not in violation and violation["inputs"] == ["path", "encoding"]
    wrong = json.loads(contents[3])
    assert isinstance(wrong["inputs"], str) and isinstance(wrong["tags"], int)
    assert json.loads(contents[4])["inputs"] == ["path", "encoding", "ghost_param"]
    assert [r["fault"] for r in fake.requests] == [
        "invalid_json",
        "prose",
        "schema_violation",
        "wrong_types",
        "invented_parameter",
    ]


@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_empty_body(fake: FakeLLMServer, client: httpx.Client, path: str) -> None:
    fake.script(Fault("empty_body"))
    response = client.post(path, json=_body(path))
    assert (response.status_code, response.content, response.headers["Content-Length"]) == (200, b"", "0")
    assert client.post(path, json=_body(path)).status_code == 200  # the kept-alive connection still works


@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_truncated(fake: FakeLLMServer, client: httpx.Client, path: str) -> None:
    fake.script(Fault("truncated"))
    data = client.post(path, json=_body(path)).json()
    content = _content(path, data)
    assert _finish(path, data) == "length"
    assert content.startswith('{"summary": "Fake su') and not content.endswith('"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_silent_truncation_reports_few_prompt_tokens(fake: FakeLLMServer, client: httpx.Client, path: str) -> None:
    user = USER + "\n" + "x = 1\n" * 200
    estimate = math.ceil((len(SYSTEM) + len(user)) / 4)
    fake.script(Fault("silent_truncation"))
    data = client.post(path, json=_body(path, user=user)).json()
    assert estimate > 64 and _prompt_count(path, data) == 64
    assert _finish(path, data) == "stop" and json.loads(_content(path, data))["summary"]
    assert _prompt_count(path, client.post(path, json=_body(path, user=user)).json()) == estimate


def test_context_too_long_scripted(fake: FakeLLMServer, client: httpx.Client) -> None:
    fake.script(Fault("context_too_long", times=2))
    estimate = math.ceil((len(SYSTEM) + len(USER)) / 4)
    ollama = client.post(OLLAMA, json=_body(OLLAMA))
    assert ollama.status_code == 400
    assert ollama.json() == {"error": f"prompt is too long: {estimate} tokens > context length 8192"}
    openai = client.post(OPENAI, json=_body(OPENAI))
    assert openai.status_code == 400
    error = openai.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "context_length_exceeded")
    assert (
        "maximum context length is 8192 tokens" in error["message"]
        and f"resulted in {estimate} tokens" in error["message"]
    )


def test_context_too_long_when_the_prompt_exceeds_the_context() -> None:
    with FakeLLMServer(context_tokens=50) as fake, httpx.Client(base_url=fake.url, timeout=5.0) as http:
        short = http.post(OLLAMA, json=_body(OLLAMA, user="Symbol: f"))
        long = http.post(OPENAI, json=_body(OPENAI, user="y" * 400))
    assert short.status_code == 200
    assert long.status_code == 400 and long.json()["error"]["code"] == "context_length_exceeded"
    assert fake.requests[-1]["fault"] is None  # nothing was scripted: the size alone refused it


@pytest.mark.parametrize("path", [OLLAMA, OPENAI])
def test_timeout_fires_and_stop_is_prompt(path: str) -> None:
    fake = FakeLLMServer().start()
    try:
        fake.script(Fault("timeout"))
        with httpx.Client(base_url=fake.url, timeout=httpx.Timeout(5.0, read=0.5)) as http:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                http.post(path, json=_body(path))
            assert time.monotonic() - started < 2.0
            assert http.post(path, json=_body(path)).status_code == 200  # served normally again
        assert fake.requests[0]["fault"] == "timeout" and fake.requests[0]["status"] is None
    finally:
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "fake-llm"]


def test_stop_releases_a_held_request_promptly() -> None:
    fake = FakeLLMServer().start()
    fake.script(Fault("timeout"))
    errors: list[BaseException] = []

    def call() -> None:
        with httpx.Client(base_url=fake.url, timeout=10.0) as http:
            try:
                http.post(OLLAMA, json=_body(OLLAMA))
            except httpx.HTTPError as error:
                errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 2.0
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    caller.join(timeout=2.0)
    assert time.monotonic() - started < 1.0 and not caller.is_alive()
    assert len(errors) == 1  # the connection was dropped unanswered


def test_faults_are_consumed_in_order_then_service_resumes(fake: FakeLLMServer, client: httpx.Client) -> None:
    fake.script(Fault("http_500"), Fault("prose"), Fault("http_429", times=2))
    fake.script(Fault("http_503"))
    paths = [OLLAMA, OPENAI, OLLAMA, OPENAI, OLLAMA, OPENAI, OLLAMA]
    statuses = [client.post(path, json=_body(path)).status_code for path in paths]
    assert statuses == [500, 200, 429, 429, 503, 200, 200]
    assert [r["fault"] for r in fake.requests] == [
        "http_500",
        "prose",
        "http_429",
        "http_429",
        "http_503",
        None,
        None,
    ]
    assert [r["protocol"] for r in fake.requests] == ["ollama", "openai"] * 3 + ["ollama"]


def test_forever_fault_never_runs_out(fake: FakeLLMServer, client: httpx.Client) -> None:
    fake.script(Fault("http_503", times=-1))
    assert {client.post(OLLAMA, json=_body(OLLAMA)).status_code for _ in range(5)} == {503}


def test_gets_consume_no_fault(fake: FakeLLMServer, client: httpx.Client) -> None:
    fake.script(Fault("http_500"))
    assert client.get("/api/tags").status_code == 200
    assert client.post(OLLAMA, json=_body(OLLAMA)).status_code == 500


def test_slots_limit_concurrency() -> None:
    with FakeLLMServer(latency_s=0.3, slots=2) as fake, httpx.Client(base_url=fake.url, timeout=5.0) as http:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda i: http.post(OLLAMA, json=_body(OLLAMA)).status_code, range(6)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 6
    assert elapsed >= 0.9
    assert fake.max_in_flight == 2
    samples = fake.in_flight_samples()
    assert max(count for _, count in samples) == 2 and samples[-1][1] == 0
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)


def test_set_latency(fake: FakeLLMServer, client: httpx.Client) -> None:
    fake.set_latency(0.2)
    started = time.monotonic()
    assert client.post(OPENAI, json=_body(OPENAI)).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_requests_are_recorded(fake: FakeLLMServer, client: httpx.Client) -> None:
    before = time.monotonic()
    client.post(OLLAMA, json=_body(OLLAMA, model="m1"))
    client.post(OPENAI, json=_body(OPENAI, model="m2"))
    ollama, openai = fake.requests
    assert (ollama["path"], ollama["protocol"], ollama["model"], ollama["status"]) == (OLLAMA, "ollama", "m1", 200)
    assert (openai["path"], openai["protocol"], openai["model"], openai["status"]) == (OPENAI, "openai", "m2", 200)
    assert ollama["body"] == _body(OLLAMA, model="m1") and openai["body"]["response_format"]["type"] == "json_schema"
    assert before <= ollama["at"] <= openai["at"]
    assert ollama["fault"] is None and ollama["authorized"] is False and openai["authorized"] is False


def test_bad_request_body(client: httpx.Client) -> None:
    assert client.post(OLLAMA, content=b"not json").status_code == 400
    assert client.post(OPENAI, json={"model": "m"}).status_code == 400


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault("meteor_strike")
    with pytest.raises(ValueError):
        Fault("http_500", times=0)


def test_url_needs_a_running_server() -> None:
    fake = FakeLLMServer()
    with pytest.raises(RuntimeError):
        _ = fake.url
    fake.stop()  # stopping a server that never started is harmless
