"""LLM tiers through real workers and real HTTP: every failure class, its action and the rows it writes.

Fake servers (tests/fake_llm.py) stand in for two Ollama 7b hosts, one Ollama 14b host and an
OpenAI-compatible api host; faults are scripted per host. Each test indexes a repo of its own whose
code holds the repo's name, so no test reuses another's enrichments by accident.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from ops import fleet
from ops.queues import count_waiting
from shared.celery_config import make_celery
from shared.settings import Settings
from tests.fake_llm import FakeLLMServer, Fault
from tests.integration.conftest import RAGFLEET, ragfleet, running_fleet, wait_until
from workers.tiers import TRIES_PER_HOST

API_KEY = "sk-test-never-logged"
VISIBILITY_TIMEOUT_S = 15


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeLLMServer]]:
    started = {
        "7b-a": FakeLLMServer(model="fake-7b", slots=2).start(),
        "7b-b": FakeLLMServer(model="fake-7b", slots=2).start(),
        "14b": FakeLLMServer(model="fake-14b", slots=2).start(),
        "api": FakeLLMServer(model="fake-api", slots=4).start(),
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def llm_fleet(servers: dict[str, FakeLLMServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    env = {
        "RAGFLEET_TIERS__7B__PROTOCOL": "ollama",
        "RAGFLEET_TIERS__7B__MODEL": "fake-7b",
        "RAGFLEET_TIERS__7B__ENDPOINTS": f"{servers['7b-a'].url},{servers['7b-b'].url}",
        "RAGFLEET_TIERS__7B__CONCURRENCY": "2",
        "RAGFLEET_TIERS__7B__CONTEXT_TOKENS": "4096",
        "RAGFLEET_TIERS__7B__TIMEOUT_S": "1",
        "RAGFLEET_TIERS__14B__PROTOCOL": "ollama",
        "RAGFLEET_TIERS__14B__MODEL": "fake-14b",
        "RAGFLEET_TIERS__14B__ENDPOINTS": servers["14b"].url,
        "RAGFLEET_TIERS__14B__CONTEXT_TOKENS": "16384",
        "RAGFLEET_TIERS__API__PROTOCOL": "openai",
        "RAGFLEET_TIERS__API__MODEL": "fake-api",
        "RAGFLEET_TIERS__API__ENDPOINTS": servers["api"].url,
        "RAGFLEET_TIERS__API__API_KEY": API_KEY,
        "RAGFLEET_TIERS__API__CONTEXT_TOKENS": "128000",
        "RAGFLEET_TIERS__API__PRICE_IN_PER_MTOK": "0.15",
        "RAGFLEET_TIERS__API__PRICE_OUT_PER_MTOK": "0.6",
        # Short, so the killed-worker test sees Redis hand back the dead worker's messages soon.
        "RAGFLEET_BROKER__VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
    }
    with running_fleet(tmp_path_factory.mktemp("llm-state"), env) as settings:
        yield settings


@pytest.fixture(autouse=True)
def _fresh_servers(servers: dict[str, FakeLLMServer], llm_fleet: Settings) -> Iterator[None]:
    """Each test scripts its own faults; none outlives it, nor does a host's cooldown."""
    yield
    for server in servers.values():
        server.clear_faults()
        server.set_latency(0.0)
    client = redis.Redis.from_url(llm_fleet.require_broker_url())
    for key in client.scan_iter("ragfleet:cooldown:*"):
        client.delete(key)


@pytest.fixture
def db(llm_fleet: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(llm_fleet.require_database_url(), autocommit=True) as conn:
        yield conn


def _repo(root: Path, name: str, functions: int, *, marker: str | None = None) -> Path:
    repo = root / name
    repo.mkdir()
    # The marker (the repo's name by default) is in the code: identical code would reuse another repo's work.
    tag = name if marker is None else marker
    body = "\n\n".join(
        f"def step_{i}(value, factor):\n    return value * factor + {i}  # {tag}\n" for i in range(functions)
    )
    (repo / "steps.py").write_text(body)
    return repo


def _index(repo: Path) -> None:
    result = ragfleet("index", str(repo), "--timeout", "180")
    assert result.returncode == 0, result.stdout + result.stderr


def _index_until_a_call_is_in_flight(repo: Path, hosts: list[FakeLLMServer]) -> subprocess.Popen[str]:
    """`ragfleet index REPO` in the background, returned once one of `hosts` holds a request from it."""
    calls = sum(len(s.requests) for s in hosts)
    indexing = subprocess.Popen(
        [RAGFLEET, "index", str(repo), "--timeout", "240"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wait_until(lambda: sum(len(s.requests) for s in hosts) > calls, 60, "a 7b request in flight")
    return indexing


def _enrichments(db: psycopg.Connection, repo: str) -> dict[str, tuple[str, str, int]]:
    """span name -> (tier, model, attempts) of the span's newest enrichment."""
    rows = db.execute(
        "SELECT DISTINCT ON (s.name) s.name, e.tier, e.model, e.attempts FROM spans s JOIN enrichments e"
        " ON e.content_hash = s.content_hash WHERE s.repo = %s AND s.kind = 'function'"
        " ORDER BY s.name, e.created_at DESC",
        (repo,),
    ).fetchall()
    return {name: (tier, model, attempts) for name, tier, model, attempts in rows}


def _failed_attempts(db: psycopg.Connection, repo: str) -> list[tuple[str, str, str, str]]:
    """(span name, tier, host, error class: message) of every failed try on the repo's spans."""
    return db.execute(
        "SELECT s.name, a.tier, a.host, a.error_class || ': ' || a.message FROM attempts a"
        " JOIN spans s ON s.content_hash = a.key WHERE a.stage = 'enrich' AND NOT a.ok AND s.repo = %s"
        " ORDER BY a.id",
        (repo,),
    ).fetchall()


def _dead_letters(db: psycopg.Connection, repo: str) -> list[tuple[str, str, str, list[dict[str, Any]], str]]:
    return db.execute(
        "SELECT s.name, d.error_class, d.reason, d.history, d.queue FROM dead_letters d"
        " JOIN spans s ON s.content_hash = d.key WHERE s.repo = %s AND s.kind = 'function' ORDER BY s.name",
        (repo,),
    ).fetchall()


@pytest.mark.parametrize("fault", ["http_500", "timeout"])
def test_an_unavailable_host_is_retried_then_failed_over(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path, fault: str
) -> None:
    servers["7b-a"].script(Fault(fault, times=-1))
    name = f"failover-{fault}"
    _index(_repo(tmp_path, name, 6))
    enriched = _enrichments(db, name)
    assert len(enriched) == 6 and set(enriched.values()) <= {("7b", "fake-7b", 1), ("7b", "fake-7b", 3)}
    assert {h for (h,) in db.execute("SELECT DISTINCT host FROM enrichments WHERE tier = '7b'")} >= {
        servers["7b-b"].url
    }
    failures = _failed_attempts(db, name)
    assert failures, "no span started on the failing host"
    assert {host for _, _, host, _ in failures} == {servers["7b-a"].url}
    assert all(msg.startswith("BackendUnavailableError") for *_, msg in failures)
    if fault == "timeout":
        assert all("timed out" in msg for *_, msg in failures)
    per_span: dict[str, int] = {}
    for span, *_ in failures:
        per_span[span] = per_span.get(span, 0) + 1
    assert set(per_span.values()) == {TRIES_PER_HOST}  # retried on the same host, then the next host
    for span in per_span:
        assert enriched[span][2] == TRIES_PER_HOST + 1  # the stored accounting counts every try
    assert _dead_letters(db, name) == []
    assert any("Parameters: value, factor" in str(r["body"]) for r in servers["7b-b"].requests)


def test_bad_output_of_every_kind_escalates_to_the_next_tier(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    kinds = [
        "invalid_json",
        "prose",
        "empty_body",
        "wrong_types",
        "truncated",
        "schema_violation",
        "invented_parameter",
    ]
    # Each 7b host gets every fault once, in opposite orders: however the 7 spans split between the
    # hosts, every 7b answer is bad and every kind of bad answer is served.
    servers["7b-a"].script(*(Fault(k) for k in kinds))
    servers["7b-b"].script(*(Fault(k) for k in reversed(kinds)))
    _index(_repo(tmp_path, "escalated", len(kinds)))
    enriched = _enrichments(db, "escalated")
    assert set(enriched.values()) == {("14b", "fake-14b", 2)} and len(enriched) == len(kinds)
    failures = _failed_attempts(db, "escalated")
    assert len(failures) == len(kinds) and {tier for _, tier, _, _ in failures} == {"7b"}
    reasons = " | ".join(msg for *_, msg in failures)
    assert all(msg.startswith("InvalidOutputError") for *_, msg in failures)
    for expected in ("not JSON", "fails the schema", "stop reason 'length'", "parameters the code lacks: ghost_param"):
        assert expected in reasons


@pytest.mark.parametrize("fault", ["context_too_long", "silent_truncation"])
def test_a_span_too_long_for_the_context_goes_to_a_larger_context(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path, fault: str
) -> None:
    servers["7b-a"].script(Fault(fault, times=-1))
    servers["7b-b"].script(Fault(fault, times=-1))
    name = f"context-{fault}"
    _index(_repo(tmp_path, name, 2))
    assert set(_enrichments(db, name).values()) == {("14b", "fake-14b", 2)}
    failures = _failed_attempts(db, name)
    assert len(failures) == 2 and all(msg.startswith("ContextTooLongError") for *_, msg in failures)


def test_a_rejected_request_fails_fast_with_the_servers_message(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    servers["7b-a"].script(Fault("http_401", times=-1))
    servers["7b-b"].script(Fault("http_401", times=-1))
    calls_14b = len(servers["14b"].requests)
    _index(_repo(tmp_path, "rejected", 2))
    dead = _dead_letters(db, "rejected")
    assert len(dead) == 2
    for _, error_class, reason, history, queue in dead:
        assert error_class == "BackendRejectedError" and "HTTP 401" in reason and queue == "enrich.7b"
        assert len(history) == 1  # no retry, no other host, no other tier: retrying cannot help
    assert len(servers["14b"].requests) == calls_14b
    assert _enrichments(db, "rejected") == {}
    for server in servers.values():  # the operator fixes the credentials, then retries the failures
        server.clear_faults()
    retried = ragfleet("enqueue", "spans", "--repo", "rejected", "--failed")
    assert "published 2 (enrich.7b 2)" in retried.stdout and "cleared 2 dead letters" in retried.stdout, retried.stdout
    wait_until(lambda: len(_enrichments(db, "rejected")) == 2, 60, "the retried spans' enrichments")
    assert _dead_letters(db, "rejected") == []


def test_a_rate_limited_host_cools_down_for_every_worker(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    host = servers["7b-a"]
    host.script(Fault("http_429", times=-1, retry_after_s=120))
    _index(_repo(tmp_path, "cooled-first", 4))  # the fleet's own 7b worker meets the 429 and sets the cooldown
    assert any(msg.startswith("RateLimitedError") for *_, msg in _failed_attempts(db, "cooled-first"))
    ttl_ms = redis.Redis.from_url(llm_fleet.require_broker_url()).pttl(f"ragfleet:cooldown:{host.url}")
    assert 60_000 < int(ttl_ms) <= 120_000  # Retry-After honoured
    # A second 7b worker that never met the 429 joins; with the cooldown shared, neither calls the host.
    second = subprocess.Popen(
        [RAGFLEET, "worker", "--queues", "enrich.7b", "--name", "enrich.7b-second@%h", "--loglevel", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app = make_celery(llm_fleet)
        wait_until(lambda: len(app.control.ping(timeout=1.0) or []) >= 6, 60, "the second 7b worker")
        requests_before = len(host.requests)
        servers["7b-b"].set_latency(0.1)  # long enough for both workers to hold some (under the 1 s timeout)
        _index(_repo(tmp_path, "cooled-second", 12))
        assert len(host.requests) == requests_before
        stats = app.control.inspect(timeout=2.0).stats() or {}
        served = {
            name: int(s.get("total", {}).get("ragfleet.enrich_span", 0)) for name, s in stats.items() if "7b" in name
        }
        assert len(served) == 2 and all(n > 0 for n in served.values()), served
        assert set(_enrichments(db, "cooled-second").values()) == {("7b", "fake-7b", 1)}
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)


def test_escalation_ends_in_a_dead_letter_that_requeue_dead_brings_back(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    servers["7b-a"].script(Fault("invalid_json", times=-1))
    servers["7b-b"].script(Fault("invalid_json", times=-1))
    servers["14b"].script(Fault("schema_violation", times=-1))
    servers["api"].script(Fault("invented_parameter", times=-1))
    _index(_repo(tmp_path, "doomed", 1))
    [(_, error_class, reason, history, queue)] = _dead_letters(db, "doomed")
    assert error_class == "InvalidOutputError" and "ghost_param" in reason and queue == "enrich.api"
    assert [a["tier"] for a in history] == ["7b", "14b", "api"]
    assert all(a["error_class"] == "InvalidOutputError" for a in history)
    text = str(db.execute("SELECT array_agg(message) FROM attempts").fetchone()) + str(history)
    assert API_KEY not in text
    assert any(r.get("authorized") for r in servers["api"].requests)

    dry = ragfleet("requeue-dead", "--tier", "api", "--dry-run")
    assert dry.returncode == 0 and "would requeue 1 dead letters (enrich.api 1)" in dry.stdout, dry.stdout
    assert len(_dead_letters(db, "doomed")) == 1
    servers["api"].clear_faults()  # the operator fixed the api tier
    done = ragfleet("requeue-dead", "--tier", "api")
    assert done.returncode == 0 and "requeued 1 dead letters (enrich.api 1)" in done.stdout, done.stdout
    wait_until(lambda: "step_0" in _enrichments(db, "doomed"), 60, "the requeued span's enrichment")
    assert _enrichments(db, "doomed")["step_0"] == ("api", "fake-api", 4)  # its history came along
    assert _dead_letters(db, "doomed") == []
    again = ragfleet("requeue-dead", "--tier", "api")
    assert "requeued 0 dead letters" in again.stdout  # idempotent: nothing left to publish


def test_identical_code_in_two_repos_is_enriched_once(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    _index(_repo(tmp_path, "twin-a", 3, marker="shared-library-code"))
    calls = sum(len(s.requests) for s in servers.values())
    _index(_repo(tmp_path, "twin-b", 3, marker="shared-library-code"))
    assert sum(len(s.requests) for s in servers.values()) == calls
    assert _enrichments(db, "twin-b") == _enrichments(db, "twin-a") and len(_enrichments(db, "twin-b")) == 3
    assert db.execute(
        "SELECT count(*) FROM spans s WHERE s.repo = 'twin-b' AND NOT EXISTS"
        " (SELECT 1 FROM embeddings e WHERE e.content_hash = s.content_hash)"
    ).fetchone() == (0,)
    result = ragfleet("enqueue", "spans", "--repo", "twin-b")  # asked again: already current, nothing sent
    assert result.returncode == 0 and "published 0, already current 3" in result.stdout, result.stdout


def test_enqueue_spans_re_enriches_stale_spans_and_pushes_spans_to_a_stronger_tier(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    _index(_repo(tmp_path, "prompted", 3))
    hashes: dict[str, str] = dict(
        db.execute("SELECT name, content_hash FROM spans WHERE repo = 'prompted' AND kind = 'function'").fetchall()
    )
    # Rows as an older prompt version and a replaced model left them.
    db.execute("UPDATE enrichments SET prompt_version = 'v0' WHERE content_hash = %s", (hashes["step_0"],))
    db.execute("UPDATE enrichments SET model = 'retired-7b' WHERE content_hash = %s", (hashes["step_1"],))
    calls = len(servers["7b-a"].requests) + len(servers["7b-b"].requests)
    result = ragfleet("enqueue", "spans", "--repo", "prompted", "--stale")
    assert result.returncode == 0
    assert "selected 2 distinct spans: published 2 (enrich.7b 2), already current 0" in result.stdout, result.stdout

    def current() -> int:
        row = db.execute(
            "SELECT count(*) FROM enrichments WHERE content_hash = ANY(%s) AND prompt_version = 'v1'"
            " AND model = 'fake-7b'",
            ([hashes["step_0"], hashes["step_1"]],),
        ).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: current() == 2, 60, "the stale spans' new enrichments")
    assert len(servers["7b-a"].requests) + len(servers["7b-b"].requests) == calls + 2
    assert "selected 0 distinct spans" in ragfleet("enqueue", "spans", "--repo", "prompted", "--stale").stdout

    pushed = ragfleet("enqueue", "spans", "--repo", "prompted", "--path", "src/*.py", "--tier", "14b")
    assert "selected 0 distinct spans" in pushed.stdout  # the glob matches whole paths
    pushed = ragfleet("enqueue", "spans", "--repo", "prompted", "--path", "step[!0-9].p?", "--tier", "14b")
    assert "published 3 (enrich.14b 3)" in pushed.stdout, pushed.stdout
    wait_until(lambda: {t for t, _, _ in _enrichments(db, "prompted").values()} == {"14b"}, 60, "the 14b enrichments")
    refused = ragfleet("enqueue", "spans", "--tier", "70b")
    assert refused.returncode != 0 and refused.stderr.startswith("error: --tier 70b: unknown tier")


def test_a_worker_killed_mid_call_loses_no_span(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    hosts = [servers["7b-a"], servers["7b-b"]]
    for server in hosts:
        server.set_latency(3.0)
    indexing = _index_until_a_call_is_in_flight(_repo(tmp_path, "killed", 6), hosts)
    os.kill(fleet.running_workers(llm_fleet)["enrich.7b"], signal.SIGKILL)  # mid-call: no soft shutdown, no ack
    wait_until(lambda: "enrich.7b" not in fleet.running_workers(llm_fleet), 10, "the 7b worker to die")
    for server in hosts:
        server.set_latency(0.0)
    fleet.start_workers(llm_fleet)  # the operator (or systemd) restarts it
    output, _ = indexing.communicate(timeout=300)
    assert indexing.returncode == 0, output
    assert len(_enrichments(db, "killed")) == 6
    assert _dead_letters(db, "killed") == []
    assert db.execute(
        "SELECT count(*) FROM spans s WHERE s.repo = 'killed' AND NOT EXISTS"
        " (SELECT 1 FROM embeddings e WHERE e.content_hash = s.content_hash)"
    ).fetchone() == (0,)


def test_sigterm_mid_call_hands_the_running_span_back(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    hosts = [servers["7b-a"], servers["7b-b"]]
    for server in hosts:
        server.set_latency(30.0)  # every call times out (1 s): without a hand-back the span would escalate to 14b
    app = make_celery(llm_fleet)
    indexing = _index_until_a_call_is_in_flight(_repo(tmp_path, "rolled", 1), hosts)
    pid = fleet.running_workers(llm_fleet)["enrich.7b"]
    os.kill(pid, signal.SIGTERM)  # a rolling restart: the call in flight ends, no other starts
    wait_until(lambda: "enrich.7b" not in fleet.running_workers(llm_fleet), 30, "the 7b worker to stop")
    assert _enrichments(db, "rolled") == {}  # it did not finish the span ...
    assert count_waiting(app, "enrich.7b") == 1  # ... it handed the message back, at once
    for server in hosts:
        server.set_latency(0.0)
    fleet.start_workers(llm_fleet)
    output, _ = indexing.communicate(timeout=300)
    assert indexing.returncode == 0, output
    assert _enrichments(db, "rolled") == {"step_0": ("7b", "fake-7b", 1)}
    assert _dead_letters(db, "rolled") == []


def test_a_repo_against_faulty_tiers_ends_with_every_span_enriched_or_dead_lettered(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], db: psycopg.Connection, tmp_path: Path
) -> None:
    servers["7b-a"].script(
        Fault("http_500", times=3), Fault("invalid_json", times=2), Fault("http_429", retry_after_s=1)
    )
    servers["7b-b"].script(Fault("timeout"), Fault("schema_violation", times=2), Fault("silent_truncation"))
    servers["14b"].script(Fault("truncated"), Fault("http_503", retry_after_s=1), Fault("wrong_types", times=2))
    servers["api"].script(Fault("invented_parameter", times=2), Fault("http_500", times=4))
    _index(_repo(tmp_path, "faulty", 20))
    enriched, dead = _enrichments(db, "faulty"), _dead_letters(db, "faulty")
    assert len(enriched) + len(dead) == 20 and not set(enriched) & {name for name, *_ in dead}
    assert all(history for _, _, _, history, _ in dead)
    status = ragfleet("status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    rows = {(r["tier"], r["host"]): r for r in data["tiers"]}
    failed = db.execute("SELECT count(*) FROM attempts WHERE stage = 'enrich' AND NOT ok AND tier <> ''").fetchone()
    assert failed and sum(r["attempts_failed"] for r in rows.values()) == failed[0]
    assert rows[("7b", servers["7b-a"].url)]["errors"]["BackendUnavailableError"] >= 3
    assert all(0 <= (r["success_rate"] or 0) <= 1 and r["p50_ms"] is not None for r in rows.values() if r["enriched"])
    api = rows.get(("api", servers["api"].url))
    assert api is None or api["enriched"] == 0 or (api["cost_usd"] > 0 and api["tokens_in"] > 0)
    assert sum(data["dead_letters"].values()) >= len(dead)
