"""The repo walker: every indexable text file under a root, and a counted reason for each file skipped.

Rules: `.gitignore` files (at any depth) are honoured, as are the directory names
in `walk.ignore_dirs`; symbolic links are never followed (a link is skipped with
its reason, so nothing outside the root is ever read and loops cannot happen);
files over `walk.max_file_bytes`, binary files (a NUL byte in the first 8 KiB)
and files that are not valid UTF-8 are skipped with a reason.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from shared.errors import BadInputError
from shared.hashing import content_hash
from shared.languages import detect_language
from shared.settings import WalkSettings

BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class WalkedFile:
    """A text file to index: its path relative to the root (POSIX separators) and its content."""

    path: str
    text: str
    content_hash: str
    size_bytes: int
    language: str


@dataclass
class Skips:
    """Files not indexed, counted by reason, with a few example paths per reason."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, path: str) -> None:
        """Count one skipped file."""
        self.counts[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(path)

    @property
    def total(self) -> int:
        """How many files were skipped."""
        return sum(self.counts.values())


def resolve_root(path: str | Path) -> Path:
    """The repo root as an absolute path; BadInputError naming it when it is not a readable directory."""
    root = Path(path).expanduser()
    if not root.exists():
        raise BadInputError(f"{path}: no such directory")
    if not root.is_dir():
        raise BadInputError(f"{path}: not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise BadInputError(f"{path}: permission denied")
    return root.resolve()


def walk_repo(root: Path, settings: WalkSettings, skips: Skips) -> Iterator[WalkedFile]:
    """Yield the root's indexable files in a stable order, counting every skip in `skips`."""
    ignore_dirs = set(settings.ignore_dirs)
    specs: list[tuple[str, pathspec.PathSpec[Any]]] = []  # (directory relative to root, its .gitignore)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        specs = [(base, spec) for base, spec in specs if _is_within(rel_dir, base)]
        if ".gitignore" in filenames:
            spec = _read_gitignore(Path(dirpath) / ".gitignore")
            if spec is not None:
                specs.append((rel_dir, spec))
        kept = []
        for name in sorted(dirnames):
            rel = _join(rel_dir, name)
            full = Path(dirpath) / name
            if name in ignore_dirs or _ignored(specs, rel + "/"):
                continue
            if full.is_symlink():
                skips.add("symlink (not followed)", rel)
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = _join(rel_dir, name)
            if _ignored(specs, rel):
                continue
            walked = _read_file(Path(dirpath) / name, rel, settings, skips)
            if walked is not None:
                yield walked


def _read_file(full: Path, rel: str, settings: WalkSettings, skips: Skips) -> WalkedFile | None:
    try:
        info = full.lstat()
        if stat.S_ISLNK(info.st_mode):
            skips.add("symlink (not followed)", rel)
            return None
        if not stat.S_ISREG(info.st_mode):
            skips.add("not a regular file", rel)
            return None
        if info.st_size > settings.max_file_bytes:
            skips.add(f"larger than {settings.max_file_bytes} bytes", rel)
            return None
        with full.open("rb") as handle:
            data = handle.read(settings.max_file_bytes + 1)
    except OSError as exc:
        skips.add(f"unreadable ({exc.strerror or type(exc).__name__})", rel)
        return None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        skips.add("binary", rel)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        skips.add("not valid UTF-8", rel)
        return None
    return WalkedFile(rel, text, content_hash(text), len(data), detect_language(rel))


def _read_gitignore(path: Path) -> pathspec.PathSpec[Any] | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(specs: list[tuple[str, pathspec.PathSpec[Any]]], rel: str) -> bool:
    return any(spec.match_file(rel[len(base) + 1 :] if base else rel) for base, spec in specs)


def _is_within(rel_dir: str, base: str) -> bool:
    return base == "" or rel_dir == base or rel_dir.startswith(base + "/")


def _join(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name
