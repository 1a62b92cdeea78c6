"""The sync planner: compare a walk with what is stored, by content hash, one file at a time.

The walk streams, so the planner never sees the whole tree at once: it holds the stored path -> hash
map (and its inverse) and nothing else. Each walked file is classified as it arrives (add, update,
unchanged). A new path whose hash some stored file has may be that file moved: it is settled after the
walk, when it is known whether the stored path is gone (a rename: the file's row, spans and enrichments
move with it, nothing is re-chunked or re-enriched) or still there (a copy: an add). Stored paths the
walk never saw are deleted, after the walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

Action = Literal["add", "update", "unchanged", "maybe_rename"]


@dataclass
class SyncCounts:
    """What a sync did, as numbers."""

    add: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0
    renamed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name, for printing."""
        return asdict(self)


class SyncPlanner:
    """Classifies walked files against the stored hashes (path -> hash whose spans are stored; None: none yet).

    A stored file whose chunking never finished (None, or an older hash) counts as an update: published again.
    """

    def __init__(self, stored: Mapping[str, str | None]) -> None:
        self._unseen: dict[str, str | None] = dict(stored)
        self._by_hash: dict[str, list[str]] = {}
        for path, digest in stored.items():
            if digest is not None:
                self._by_hash.setdefault(digest, []).append(path)
        self.counts = SyncCounts()

    def classify(self, path: str, digest: str) -> Action:
        """What to do with a walked file: publish it (add, update), leave it, or settle it after the walk."""
        if path not in self._unseen:
            if digest in self._by_hash:
                return "maybe_rename"
            self.counts.add += 1
            return "add"
        stored = self._unseen.pop(path)
        if stored == digest:
            self.counts.unchanged += 1
            return "unchanged"
        self.counts.update += 1
        return "update"

    def rename_source(self, digest: str) -> str | None:
        """After the walk: a stored path with this hash that the walk did not see (the file moved there), or None."""
        return next((p for p in self._by_hash.get(digest, ()) if p in self._unseen), None)

    def renamed(self, old_path: str) -> None:
        """Record that the stored file at `old_path` moved (so it is not deleted)."""
        del self._unseen[old_path]
        self.counts.renamed += 1

    def added(self) -> None:
        """Record that a `maybe_rename` file turned out to be new (a copy, or a move that could not be applied)."""
        self.counts.add += 1

    def to_delete(self) -> list[str]:
        """After the walk: the stored paths the walk never saw."""
        paths = sorted(self._unseen)
        self.counts.delete = len(paths)
        return paths
