"""The sync planner decides what a re-index publishes and deletes."""

import pytest

from producers.sync import plan_sync


@pytest.mark.parametrize(
    ("walked", "stored", "expected"),
    [
        ({"a.py": "h1"}, {}, {"add": ["a.py"], "update": [], "delete": [], "unchanged": []}),
        ({"a.py": "h1"}, {"a.py": "h1"}, {"add": [], "update": [], "delete": [], "unchanged": ["a.py"]}),
        ({"a.py": "h2"}, {"a.py": "h1"}, {"add": [], "update": ["a.py"], "delete": [], "unchanged": []}),
        ({}, {"a.py": "h1"}, {"add": [], "update": [], "delete": ["a.py"], "unchanged": []}),
        # published once but never chunked: publish again
        ({"a.py": "h1"}, {"a.py": None}, {"add": [], "update": ["a.py"], "delete": [], "unchanged": []}),
        (
            {"b.py": "x", "a.py": "y", "c.md": "z"},
            {"a.py": "y", "b.py": "old", "gone.py": "g"},
            {"add": ["c.md"], "update": ["b.py"], "delete": ["gone.py"], "unchanged": ["a.py"]},
        ),
    ],
)
def test_plan_sync(walked: dict[str, str], stored: dict[str, str | None], expected: dict[str, list[str]]) -> None:
    plan = plan_sync(walked, stored)
    assert {k: getattr(plan, k) for k in expected} == expected
    assert plan.to_publish == plan.add + plan.update
    assert plan.counts() == {k: len(v) for k, v in expected.items()}
