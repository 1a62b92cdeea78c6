"""The repo walker: every indexable text file under a root, and a counted reason for each file skipped.

Rules:
- `.gitignore` and `.ragfleetignore` files (gitignore syntax, at any depth, each applying below its own
  directory) are honoured, as are the directory names in `walk.ignore_dirs`. Ignored paths are not counted:
  the repo asked for them to be left out.
- Generated and vendored paths (`walk.generated_globs`: vendor/, dist/, lockfiles, *.min.js, *_pb2.py, ...)
  and files whose first comment lines carry a marker (`walk.generated_markers`) are skipped and counted under
  "generated or vendored"; `walk.skip_generated=false` indexes them.
- Symbolic links are never followed (each is skipped with its reason), so nothing outside the root is ever
  read and loops cannot happen. FIFOs, sockets and devices are skipped without being opened.
- Files over `walk.max_file_bytes` are skipped by their size (a sparse 2 GB file is never read), binary
  files (a NUL byte in the first 8 KiB) and files whose name is not UTF-8 are skipped with a reason.
- Text is UTF-8; a UTF-8, UTF-16 or UTF-32 byte-order mark is honoured (the text is stored as UTF-8 without
  it); anything else that is not valid UTF-8 is skipped as "not valid UTF-8" (no guessing of legacy code pages).
- Unreadable files and directories are skipped with the OS's reason; nothing is dropped silently.
"""

from __future__ import annotations

import codecs
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
IGNORE_FILES = (".gitignore", ".ragfleetignore")
MAX_IGNORE_FILE_BYTES = 1024 * 1024
GENERATED = "generated or vendored"
# Longest first: a UTF-32-LE mark begins with the UTF-16-LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
COMMENT_PREFIXES = ("#", "//", "/*", "*", "<!--", "--", ";", "%", "'", "rem ", "(*", "{-")


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
    """Yield the root's indexable files in a stable order, counting every skip in `skips`.

    A generator: the caller may publish each file before the next one is read, so memory stays bounded.
    """
    ignore_dirs = set(settings.ignore_dirs)
    generated = _Generated(settings)
    specs: list[tuple[str, pathspec.PathSpec[Any]]] = []  # (directory relative to root, its ignore file)

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "?"
        skips.add(f"unreadable directory ({exc.strerror or type(exc).__name__})", where)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=on_error):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        specs = [(base, spec) for base, spec in specs if _is_within(rel_dir, base)]
        for ignore_file in IGNORE_FILES:
            if ignore_file in filenames:
                spec = _read_gitignore(Path(dirpath) / ignore_file)
                if spec is not None:
                    specs.append((rel_dir, spec))
        kept = []
        for name in sorted(dirnames):
            rel = _join(rel_dir, name)
            full = Path(dirpath) / name
            if name in ignore_dirs or _ignored(specs, rel + "/"):
                continue
            if not _utf8_name(rel):
                skips.add("name is not valid UTF-8", _printable(rel) + "/")
                continue
            if full.is_symlink():
                skips.add("symlink (not followed)", rel)
                continue
            if generated.path(rel + "/"):
                skips.add(f"{GENERATED} (directory)", rel + "/")
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = _join(rel_dir, name)
            if _ignored(specs, rel):
                continue
            if not _utf8_name(rel):
                skips.add("name is not valid UTF-8", _printable(rel))
                continue
            if generated.path(rel):
                skips.add(GENERATED, rel)
                continue
            walked = _read_file(Path(dirpath) / name, rel, settings, skips)
            if walked is None:
                continue
            if generated.marked(walked.text):
                skips.add(GENERATED, rel)
                continue
            yield walked


def read_walked_file(root: Path, rel: str, settings: WalkSettings, skips: Skips) -> WalkedFile | None:
    """Read one file again by its root-relative path (the producer re-reads a file it deferred): the same reading
    rules (links, size, binary, encoding); the walk already applied the ignore and generated rules to the path."""
    full = root / rel
    if any(part.is_symlink() for part in [full, *full.parents] if part != root and _is_under(part, root)):
        skips.add("symlink (not followed)", rel)
        return None
    return _read_file(full, rel, settings, skips)


class _Generated:
    """Recognises generated and vendored files by path and by a marker in their first comment lines."""

    def __init__(self, settings: WalkSettings) -> None:
        self.enabled = settings.skip_generated
        self.spec = pathspec.GitIgnoreSpec.from_lines(settings.generated_globs)
        self.markers = [m.lower() for m in settings.generated_markers if m.strip()]
        self.lines = settings.generated_marker_lines

    def path(self, rel: str) -> bool:
        return self.enabled and self.spec.match_file(rel)

    def marked(self, text: str) -> bool:
        if not self.enabled or not self.markers or not self.lines:
            return False
        for line in text[: 200 * self.lines].splitlines()[: self.lines]:
            stripped = line.strip().lower()
            # Only comments count: a docstring or a string that mentions "do not edit" is ordinary code.
            if stripped.startswith(COMMENT_PREFIXES) and any(m in stripped for m in self.markers):
                return True
        return False


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
        # O_NOFOLLOW: a file swapped for a link after the lstat is refused, not followed.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(settings.max_file_bytes + 1)
    except OSError as exc:
        skips.add(f"unreadable ({exc.strerror or type(exc).__name__})", rel)
        return None
    if len(data) > settings.max_file_bytes:  # it grew after the lstat
        skips.add(f"larger than {settings.max_file_bytes} bytes", rel)
        return None
    text = _decode(data)
    if text is None:
        if b"\0" in data[:BINARY_SNIFF_BYTES]:
            skips.add("binary", rel)
        else:
            skips.add("not valid UTF-8", rel)
        return None
    return WalkedFile(rel, text, content_hash(text), len(data), detect_language(rel))


def _decode(data: bytes) -> str | None:
    """The text of a file: UTF-8, or the encoding its byte-order mark names; None when it is neither (or binary)."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                return None
            return None if "\0" in text else text
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read_gitignore(path: Path) -> pathspec.PathSpec[Any] | None:
    # An ignore file is read like any file: never through a link, never a FIFO (it would block), bounded.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(MAX_IGNORE_FILE_BYTES)
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", errors="replace").splitlines())


def _ignored(specs: list[tuple[str, pathspec.PathSpec[Any]]], rel: str) -> bool:
    return any(spec.match_file(rel[len(base) + 1 :] if base else rel) for base, spec in specs)


def _is_within(rel_dir: str, base: str) -> bool:
    return base == "" or rel_dir == base or rel_dir.startswith(base + "/")


def _utf8_name(rel: str) -> bool:
    # os.walk hands out undecodable bytes as surrogates: neither the database nor msgpack can carry them.
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(rel: str) -> str:
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _join(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name
