"""`ragfleet enqueue msgpack GLOB --watch`: poll a glob, replay new backlog files, remember the finished ones.

- A file is read only once it is stable: its size and modification time are the same at two polls
  in a row (`interval_s` apart), so a file that is still being written is not read half-way. A
  file seen for the first time (also after a restart) therefore waits one interval. Writers that
  can should still write under another name and rename into the glob (ragfleet's own export does).
- A file that changes while it is read is not marked finished; it is read again once stable (its
  rows are upserts, so nothing is duplicated).
- The state file is JSON, rewritten atomically (temporary file, fsync, rename) after each finished
  file: `{"version": 1, "finished": {path: {size, mtime_ns, inode, finished_at, counts}}}`. A file
  whose path, size, mtime and inode match an entry is not replayed again, so a restarted watcher
  resumes where it stopped; a file stopped half-way (Ctrl-C, SIGTERM, crash) is replayed again in
  full (idempotent).
- One poll is one replay set: duplicates are counted within the files a poll replays.
"""

from __future__ import annotations

import glob
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.doc_backlog import BacklogReplayer, FileReport
from shared.errors import BadInputError

STATE_VERSION = 1


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file without reading it."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        """The file's stamp, or None when it is gone or not a regular file."""
        try:
            st = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


def expand(patterns: Sequence[str]) -> list[Path]:
    """The regular files the patterns match (`**` crosses directories), sorted, each once.

    `*.partial` files are never matched: they are files still being written by `export --msgpack`.
    """
    found: set[str] = set()
    for pattern in patterns:
        found.update(glob.glob(os.path.expanduser(pattern), recursive=True))
    return [Path(p) for p in sorted(found) if not p.endswith(".partial") and os.path.isfile(p)]


class WatchState:
    """The finished files, kept in a JSON state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: unreadable state file ({exc}); move it away to start afresh") from exc
        if (
            not isinstance(data, dict)
            or data.get("version") != STATE_VERSION
            or not isinstance(data.get("finished"), dict)
        ):
            raise BadInputError(f"{path}: not a ragfleet watch state file (version {STATE_VERSION})")
        self.finished = data["finished"]

    def is_finished(self, path: Path, stamp: FileStamp) -> bool:
        """True when this very version of the file was replayed to its end."""
        entry = self.finished.get(str(path.resolve()))
        return entry is not None and all(entry.get(k) == v for k, v in asdict(stamp).items())

    def mark_finished(self, path: Path, stamp: FileStamp, report: FileReport) -> None:
        """Record the file and save the state atomically."""
        self.finished[str(path.resolve())] = {
            **asdict(stamp),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": {
                "records": report.records,
                "ingested": report.ingested,
                "duplicates": report.duplicates,
                "skipped_existing": report.skipped_existing,
                "rejected": report.rejected,
            },
        }
        self.save()

    def save(self) -> None:
        """Write to a temporary file beside the state file, fsync, and rename over it."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump({"version": STATE_VERSION, "finished": self.finished}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def replay_pending(
    replayer: BacklogReplayer,
    paths: Sequence[Path],
    state: WatchState | None,
    *,
    ready: Callable[[Path, FileStamp], bool] = lambda _p, _s: True,
    on_file: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """One replay set: every ready file not yet finished; each marked finished when read whole and unchanged."""
    reports = []
    with replayer.replay_set():
        for path in paths:
            stamp = FileStamp.of(path)
            if stamp is None or not ready(path, stamp) or (state is not None and state.is_finished(path, stamp)):
                continue
            report = replayer.replay_file(path)
            reports.append(report)
            if on_file:
                on_file(report)
            if state is not None and not report.interrupted and FileStamp.of(path) == stamp:
                state.mark_finished(path, stamp, report)
            if replayer.stop.is_set():
                break
    return reports


def watch(
    replayer: BacklogReplayer,
    patterns: Sequence[str],
    state: WatchState,
    *,
    interval_s: float,
    stop: threading.Event,
    on_file: Callable[[FileReport], None] | None = None,
) -> None:
    """Poll until `stop` is set; replay each file once it has been stable for one poll."""
    previous: dict[Path, FileStamp] = {}
    while not stop.is_set():
        paths = expand(patterns)
        current = {p: s for p in paths if (s := FileStamp.of(p)) is not None}
        replay_pending(replayer, paths, state, ready=_stable_since(previous, current), on_file=on_file)
        previous = current
        stop.wait(interval_s)


def _stable_since(previous: dict[Path, FileStamp], current: dict[Path, FileStamp]) -> Callable[[Path, FileStamp], bool]:
    """A file is ready when this poll and the one before saw the same stamp, and it still has it."""
    return lambda path, stamp: previous.get(path) == stamp == current.get(path)
