"""The sync planner decides, file by file as the walk streams, what a re-index publishes, moves and deletes."""

import pytest

from producers.sync import SyncPlanner


def _plan(walked: dict[str, str], stored: dict[str, str | None]) -> tuple[dict[str, str], dict[str, int], list[str]]:
    planner = SyncPlanner(stored)
    actions: dict[str, str] = {path: planner.classify(path, digest) for path, digest in walked.items()}
    for path, action in actions.items():
        if action == "maybe_rename":
            old = planner.rename_source(walked[path])
            if old is None:
                planner.added()
                actions[path] = "add (copy)"
            else:
                planner.renamed(old)
                actions[path] = f"renamed from {old}"
    deleted = planner.to_delete()
    return actions, planner.counts.as_dict(), deleted


@pytest.mark.parametrize(
    ("walked", "stored", "actions", "deleted"),
    [
        ({"a.py": "h1"}, {}, {"a.py": "add"}, []),
        ({"a.py": "h1"}, {"a.py": "h1"}, {"a.py": "unchanged"}, []),
        ({"a.py": "h2"}, {"a.py": "h1"}, {"a.py": "update"}, []),
        ({}, {"a.py": "h1"}, {}, ["a.py"]),
        # published once but never chunked: publish again
        ({"a.py": "h1"}, {"a.py": None}, {"a.py": "update"}, []),
        # moved without changes: the stored row moves, nothing is deleted or published
        ({"b.py": "h1"}, {"a.py": "h1"}, {"b.py": "renamed from a.py"}, []),
        # copied: the original is still there, so the copy is an add
        ({"a.py": "h1", "b.py": "h1"}, {"a.py": "h1"}, {"a.py": "unchanged", "b.py": "add (copy)"}, []),
        # the copy comes first in the walk: still a copy, settled only after the walk
        ({"0.py": "h1", "a.py": "h1"}, {"a.py": "h1"}, {"0.py": "add (copy)", "a.py": "unchanged"}, []),
        # one file moved to two places: one rename, one add
        ({"b.py": "h1", "c.py": "h1"}, {"a.py": "h1"}, {"b.py": "renamed from a.py", "c.py": "add (copy)"}, []),
        # moved and edited: an add and a delete
        ({"b.py": "h2"}, {"a.py": "h1"}, {"b.py": "add"}, ["a.py"]),
        # the old path now holds other content: an update, and the new path is a copy of nothing stored
        ({"a.py": "h2", "b.py": "h1"}, {"a.py": "h1"}, {"a.py": "update", "b.py": "add (copy)"}, []),
        (
            {"b.py": "x", "a.py": "y", "c.md": "z"},
            {"a.py": "y", "b.py": "old", "gone.py": "g"},
            {"b.py": "update", "a.py": "unchanged", "c.md": "add"},
            ["gone.py"],
        ),
    ],
)
def test_sync_planner(
    walked: dict[str, str], stored: dict[str, str | None], actions: dict[str, str], deleted: list[str]
) -> None:
    got, counts, got_deleted = _plan(walked, stored)
    assert got == actions
    assert got_deleted == deleted
    assert counts["delete"] == len(deleted)
    assert counts["add"] == sum(a.startswith("add") for a in actions.values())
    assert counts["update"] == sum(a == "update" for a in actions.values())
    assert counts["unchanged"] == sum(a == "unchanged" for a in actions.values())
    assert counts["renamed"] == sum(a.startswith("renamed") for a in actions.values())
