"""Batching by count and token budget, bisection down to the bad item, per-item vector checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from shared.errors import BackendUnavailableError, BackendUnreachableError, ConfigurationError, RateLimitedError
from workers.embed_batches import embed_in_batches, estimate_tokens, plan_batches

DIM = 4


@dataclass(frozen=True)
class Item:
    text: str


class FakeEmbedder:
    """A real Embedder: a deterministic vector per text; texts containing a trigger misbehave."""

    model = "fake"
    dim = DIM

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self.error = error or ValueError("the model choked")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if any("FAIL" in t for t in texts):
            raise self.error
        rows = [[float(len(t)), float(sum(map(ord, t)) % 97), 1.0, float("nan") if "NAN" in t else 0.0] for t in texts]
        if any("SHORT" in t for t in texts):
            rows = rows[:-1]
        return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize(
    ("tokens", "batch_size", "budget", "expected"),
    [
        ([], 3, 100, []),
        ([1, 1, 1, 1, 1], 2, 100, [(0, 2), (2, 4), (4, 5)]),
        ([40, 40, 40, 10], 10, 100, [(0, 2), (2, 4)]),
        ([150, 10, 10], 10, 100, [(0, 1), (1, 3)]),  # over the budget alone: a call of its own
        ([10, 150, 10], 10, 100, [(0, 1), (1, 2), (2, 3)]),
        ([50, 50, 1], 10, 100, [(0, 2), (2, 3)]),  # the budget is inclusive
    ],
)
def test_plan_batches_by_count_and_token_budget(
    tokens: list[int], batch_size: int, budget: int, expected: list[tuple[int, int]]
) -> None:
    plan = plan_batches(tokens, batch_size=batch_size, max_batch_tokens=budget)
    assert [(r.start, r.stop) for r in plan] == expected


def test_plan_batches_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        plan_batches([1], batch_size=0, max_batch_tokens=10)


def test_token_estimate_is_four_characters_per_token() -> None:
    assert [estimate_tokens(t) for t in ("", "abcd", "abcde")] == [1, 1, 2]


def test_many_texts_per_call_in_order() -> None:
    embedder = FakeEmbedder()
    items = [Item(f"text {i}") for i in range(10)]
    good, bad = embed_in_batches(embedder, items, batch_size=4, max_batch_tokens=1000)
    assert bad == []
    assert [item for item, _ in good] == items
    assert [len(c) for c in embedder.calls] == [4, 4, 2]
    assert all(v.dtype == np.float32 and v.shape == (DIM,) for _, v in good)
    assert good[3][1][0] == len("text 3")


def test_token_budget_splits_calls() -> None:
    embedder = FakeEmbedder()
    items = [Item("x" * 400)] * 5  # 100 tokens each
    embed_in_batches(embedder, items, batch_size=64, max_batch_tokens=250)
    assert [len(c) for c in embedder.calls] == [2, 2, 1]


def test_one_bad_text_is_bisected_out_and_named() -> None:
    embedder = FakeEmbedder()
    items = [Item(f"ok {i}") for i in range(8)]
    items[5] = Item("FAIL here")
    good, bad = embed_in_batches(embedder, items, batch_size=8, max_batch_tokens=1000)
    assert [item for item, _ in good] == [it for i, it in enumerate(items) if i != 5]
    assert bad == [(items[5], "ValueError: the model choked")]
    # 8 → 4+4 → 2+2 → 1+1: the good halves are called once each, not one text per call.
    assert len(embedder.calls) == 7


def test_nan_rejects_only_its_own_item_without_recalling() -> None:
    embedder = FakeEmbedder()
    items = [Item("a"), Item("NAN b"), Item("c")]
    good, bad = embed_in_batches(embedder, items, batch_size=8, max_batch_tokens=1000)
    assert [item for item, _ in good] == [items[0], items[2]]
    assert bad == [(items[1], "embedder returned NaN or infinite values")]
    assert len(embedder.calls) == 1


def test_wrong_row_count_is_bisected() -> None:
    embedder = FakeEmbedder()
    items = [Item("a"), Item("b"), Item("SHORT c"), Item("d")]
    good, bad = embed_in_batches(embedder, items, batch_size=8, max_batch_tokens=1000)
    assert [item for item, _ in good] == [items[0], items[1], items[3]]
    assert bad[0][0] == items[2] and "expected (1, 4)" in bad[0][1]


def test_server_error_on_one_text_rejects_that_text_only() -> None:
    embedder = FakeEmbedder(BackendUnavailableError("http://h/embed: HTTP 500: boom"))
    items = [Item("a"), Item("FAIL b"), Item("c")]
    good, bad = embed_in_batches(embedder, items, batch_size=8, max_batch_tokens=1000)
    assert [item for item, _ in good] == [items[0], items[2]]
    assert bad == [(items[1], "BackendUnavailableError: http://h/embed: HTTP 500: boom")]


def test_a_server_failing_every_call_is_down_not_every_text_bad() -> None:
    embedder = FakeEmbedder(BackendUnavailableError("HTTP 500"))
    with pytest.raises(BackendUnavailableError):
        embed_in_batches(embedder, [Item("FAIL a"), Item("FAIL b")], batch_size=8, max_batch_tokens=1000)


@pytest.mark.parametrize(
    "error", [BackendUnreachableError("timed out"), RateLimitedError("slow down", 2.0), ConfigurationError("dim")]
)
def test_errors_that_blame_no_text_propagate_at_once(error: Exception) -> None:
    embedder = FakeEmbedder(error)
    with pytest.raises(type(error)):
        embed_in_batches(embedder, [Item("a"), Item("FAIL b")], batch_size=8, max_batch_tokens=1000)
    assert len(embedder.calls) == 1
