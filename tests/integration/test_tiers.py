"""LLM tiers through real workers and real HTTP: failover, escalation and dead letters with their history.

Fake servers (tests/fake_llm.py) stand in for two Ollama 7b hosts, one Ollama 14b host and an
OpenAI-compatible api host; faults are scripted per host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared.settings import Settings
from tests.fake_llm import FakeLLMServer, Fault
from tests.integration.conftest import ragfleet, running_fleet

API_KEY = "sk-test-never-logged"


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
        "RAGFLEET_TIERS__14B__PROTOCOL": "ollama",
        "RAGFLEET_TIERS__14B__MODEL": "fake-14b",
        "RAGFLEET_TIERS__14B__ENDPOINTS": servers["14b"].url,
        "RAGFLEET_TIERS__API__PROTOCOL": "openai",
        "RAGFLEET_TIERS__API__MODEL": "fake-api",
        "RAGFLEET_TIERS__API__ENDPOINTS": servers["api"].url,
        "RAGFLEET_TIERS__API__API_KEY": API_KEY,
        "RAGFLEET_TIERS__API__PRICE_IN_PER_MTOK": "0.15",
        "RAGFLEET_TIERS__API__PRICE_OUT_PER_MTOK": "0.6",
    }
    with running_fleet(tmp_path_factory.mktemp("llm-state"), env) as settings:
        yield settings


def _repo(root: Path, name: str, functions: int) -> Path:
    repo = root / name
    repo.mkdir()
    # The repo's name is in the code: identical code would reuse another repo's enrichment.
    body = "\n\n".join(
        f"def step_{i}(value, factor):\n    return value * factor + {i}  # {name}\n" for i in range(functions)
    )
    (repo / "steps.py").write_text(body)
    return repo


def test_a_failing_host_fails_over_to_its_peer(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], tmp_path: Path
) -> None:
    servers["7b-a"].script(Fault("http_500", times=-1))
    result = ragfleet("index", str(_repo(tmp_path, "failover", 4)), "--timeout", "180")
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(llm_fleet.require_database_url()) as conn:
        tiers = conn.execute(
            "SELECT e.tier, e.model, e.host, e.tokens_in > 0, s.name FROM spans s JOIN enrichments e"
            " ON e.content_hash = s.content_hash WHERE s.repo = 'failover' AND s.kind = 'function'"
        ).fetchall()
        assert len(tiers) == 4
        assert {(t, m, h, counted) for t, m, h, counted, _ in tiers} == {("7b", "fake-7b", servers["7b-b"].url, True)}
        failures = conn.execute(
            "SELECT DISTINCT host, error_class FROM attempts WHERE stage = 'enrich' AND NOT ok"
        ).fetchall()
        assert failures and {h for h, _ in failures} == {servers["7b-a"].url}
        assert {e for _, e in failures} == {"BackendUnavailableError"}
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
    inputs_ok = [
        r["body"] for r in servers["7b-b"].requests if r["body"] and "Parameters: value, factor" in str(r["body"])
    ]
    assert inputs_ok


def test_bad_output_escalates_through_every_tier_to_a_dead_letter(
    llm_fleet: Settings, servers: dict[str, FakeLLMServer], tmp_path: Path
) -> None:
    servers["7b-a"].script(Fault("invalid_json", times=-1))
    servers["7b-b"].script(Fault("invalid_json", times=-1))
    servers["14b"].script(Fault("schema_violation", times=-1))
    servers["api"].script(Fault("invented_parameter", times=-1))
    result = ragfleet("index", str(_repo(tmp_path, "doomed", 1)), "--timeout", "180")
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(llm_fleet.require_database_url()) as conn:
        rows = conn.execute(
            "SELECT d.error_class, d.reason, d.history, d.queue FROM dead_letters d"
            " JOIN spans s ON s.content_hash = d.key WHERE s.repo = 'doomed' AND s.name = 'step_0'"
        ).fetchall()
        assert len(rows) == 1
        error_class, reason, history, queue = rows[0]
        assert error_class == "InvalidOutputError" and "ghost_param" in reason and queue == "enrich.api"
        assert [a["tier"] for a in history] == ["7b", "14b", "api"]
        assert all(a["error_class"] == "InvalidOutputError" for a in history)
        text = str(conn.execute("SELECT array_agg(message) FROM attempts").fetchone()) + str(history)
        assert API_KEY not in text
    assert any(r.get("authorized") for r in servers["api"].requests)
