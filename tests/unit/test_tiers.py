"""The failure policy of one tier: retry, fail over, cool down, escalate, reject — each attempt recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from shared.errors import BackendRejectedError, BackendUnavailableError, ContextTooLongError, RateLimitedError
from shared.messages import Attempt, Complexity, SpanMessage, StaticFacts
from shared.settings import TierSettings, TiersSettings
from workers.cooldown import LocalCooldowns
from workers.llm.base import Completion, CompletionRequest
from workers.shutdown import HandBack
from workers.tiers import Enriched, Escalate, Rejected, TierRun

GOOD = json.dumps({"summary": "Adds.", "inputs": ["a"], "outputs": [], "side_effects": [], "pitfalls": [],
                   "usage_snippet": "f(a)", "tags": []})  # fmt: skip


class ScriptedBackend:
    """A backend double that answers from a script: an exception to raise or content to return."""

    def __init__(self, host: str, script: list[object]) -> None:
        self.host = host
        self.script = script
        self.calls = 0

    def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        step = self.script.pop(0) if self.script else GOOD
        if isinstance(step, Exception):
            raise step
        tokens = (len(request.system) + len(request.user)) // 4
        return Completion(content=str(step), tokens_in=tokens, tokens_out=10, stop_reason="stop", host=self.host)


def _msg(tier: str = "7b", content: str = "def f(a):\n    return a\n") -> SpanMessage:
    return SpanMessage(tier=tier, span_id=1, repo="r", path="a.py", language="python", kind="function", name="f",
                       start_line=1, end_line=2, content_hash="ab" * 32, content=content,
                       complexity=Complexity(lines=2))  # fmt: skip


def _tiers(**context: int) -> TiersSettings:
    def tier(name: str, hosts: list[str]) -> dict[str, object]:
        settings = TierSettings(
            model=f"m-{name}",
            endpoints=hosts,
            context_tokens=context.get(name, 8192),
            price_in_per_mtok=1.0,
            price_out_per_mtok=2.0,
        )
        return settings.model_dump()

    return TiersSettings.model_validate({"7b": tier("7b", ["http://a", "http://b"]), "14b": tier("14b", ["http://c"]),
                                         "api": tier("api", ["http://d"])})  # fmt: skip


def _run(
    backends: dict[str, ScriptedBackend],
    tiers: TiersSettings | None = None,
    msg: SpanMessage | None = None,
    sleep: Callable[[float], None] | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> tuple[TierRun, object]:
    recorded: list[Attempt] = []
    sleeps: list[float] = []

    def lookup(host: str) -> ScriptedBackend:
        return backends.setdefault(host, ScriptedBackend(host, []))

    run = TierRun(
        msg=msg or _msg(),
        facts=StaticFacts(signature="def f(a)", parameters=["a"]),
        tiers=tiers or _tiers(),
        backend_for=lookup,
        cooldowns=LocalCooldowns(),
        record=recorded.append,
        sleep=sleep or sleeps.append,
        stopping=stopping,
    )
    return run, run.run()


def _first_host() -> str:
    run, _ = _run({})
    return run.attempts[0].host


def test_success_is_accounted() -> None:
    run, outcome = _run({})
    assert isinstance(outcome, Enriched) and outcome.tokens_in > 0
    assert outcome.cost_usd == pytest.approx(outcome.tokens_in * 1e-6 + outcome.tokens_out * 2e-6, rel=0.01)
    assert [a.error_class for a in run.attempts] == [""]


def test_unavailable_host_is_retried_then_failed_over() -> None:
    first = _first_host()
    other = "http://b" if first == "http://a" else "http://a"
    down = ScriptedBackend(first, [BackendUnavailableError("timed out"), BackendUnavailableError("refused")])
    run, outcome = _run({first: down})
    assert isinstance(outcome, Enriched) and outcome.host == other
    assert [(a.host, a.error_class) for a in run.attempts] == [
        (first, "BackendUnavailableError"), (first, "BackendUnavailableError"), (other, "")]  # fmt: skip


def test_a_stopping_worker_finishes_its_call_then_hands_the_span_back() -> None:
    first = _first_host()
    calls: list[str] = []

    class Failing(ScriptedBackend):
        def complete(self, request: CompletionRequest) -> Completion:
            calls.append(self.host)
            raise BackendUnavailableError("timed out")

    with pytest.raises(HandBack, match="worker is stopping"):
        _run({first: Failing(first, [])}, stopping=lambda: len(calls) >= 1)
    assert calls == [first]  # the call in flight ended; no retry, no other host, no escalation


def test_rate_limited_host_cools_down_and_the_next_serves() -> None:
    first = _first_host()
    run, outcome = _run({first: ScriptedBackend(first, [RateLimitedError("429", retry_after_s=30)])})
    assert isinstance(outcome, Enriched) and outcome.host != first
    assert run.cooldowns.remaining_s(first) > 25


def test_all_hosts_cooling_waits_for_the_earliest() -> None:
    backends = {h: ScriptedBackend(h, [RateLimitedError("503", retry_after_s=0.3)]) for h in ("http://a", "http://b")}
    run, outcome = _run(backends, sleep=time.sleep)
    assert isinstance(outcome, Enriched)
    assert sum(b.calls for b in backends.values()) == 3


@pytest.mark.parametrize("bad", ["not json at all", json.dumps({"summary": "x", "inputs": ["ghost"]})])
def test_invalid_output_escalates_to_the_next_tier(bad: str) -> None:
    first = _first_host()
    run, outcome = _run({first: ScriptedBackend(first, [bad])})
    assert isinstance(outcome, Escalate) and outcome.to == "14b" and outcome.error_class == "InvalidOutputError"


def test_context_too_long_skips_to_a_tier_with_a_larger_context() -> None:
    first = _first_host()
    run, outcome = _run({first: ScriptedBackend(first, [ContextTooLongError("too long")])},
                        tiers=_tiers(**{"7b": 4096, "14b": 4096, "api": 128000}))  # fmt: skip
    assert isinstance(outcome, Escalate) and outcome.to == "api"


def test_a_prompt_over_the_context_is_not_sent() -> None:
    backends: dict[str, ScriptedBackend] = {}
    run, outcome = _run(backends, tiers=_tiers(**{"7b": 256}), msg=_msg(content="x = 1\n" * 300))
    assert isinstance(outcome, Escalate) and outcome.to == "14b" and not backends


def test_rejected_request_fails_fast() -> None:
    first = _first_host()
    run, outcome = _run({first: ScriptedBackend(first, [BackendRejectedError("HTTP 401: bad key")])})
    assert isinstance(outcome, Rejected) and "401" in outcome.reason and len(run.attempts) == 1


def test_a_dead_tier_escalates_and_the_last_tier_has_nowhere_to_go() -> None:
    backends = {h: ScriptedBackend(h, [BackendUnavailableError("down")] * 10) for h in ("http://a", "http://b")}
    run, outcome = _run(backends)
    assert isinstance(outcome, Escalate) and outcome.to == "14b" and len(run.attempts) == 4
    last = TierRun(
        msg=_msg("api"),
        facts=StaticFacts(),
        tiers=_tiers(),
        backend_for=lambda h: ScriptedBackend(h, ["x"]),
        cooldowns=LocalCooldowns(),
        record=lambda a: None,
        sleep=lambda s: None,
    )
    outcome = last.run()
    assert isinstance(outcome, Escalate) and outcome.to is None
