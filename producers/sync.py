"""The sync planner: compare a walk with what is stored, by content hash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SyncPlan:
    """Which paths to publish (add, update), remove (delete) or leave alone (unchanged)."""

    add: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def to_publish(self) -> list[str]:
        """Paths whose content must go to the chunk queue."""
        return self.add + self.update

    def counts(self) -> dict[str, int]:
        """The plan as numbers, for printing."""
        return {k: len(getattr(self, k)) for k in ("add", "update", "delete", "unchanged")}


def plan_sync(walked: Mapping[str, str], stored: Mapping[str, str | None]) -> SyncPlan:
    """Plan a sync. `walked`: path -> hash on disk; `stored`: path -> hash whose spans are stored (None: none yet).

    A stored file whose chunking never finished (None, or an older hash) is published again.
    """
    plan = SyncPlan()
    for path in sorted(walked):
        if path not in stored:
            plan.add.append(path)
        elif stored[path] != walked[path]:
            plan.update.append(path)
        else:
            plan.unchanged.append(path)
    plan.delete.extend(sorted(p for p in stored if p not in walked))
    return plan
