"""The walker skips what must not be indexed, with a counted reason, and never leaves the root."""

import os
from pathlib import Path

import pytest

from producers.walker import Skips, resolve_root, walk_repo
from shared.errors import BadInputError
from shared.hashing import content_hash
from shared.settings import WalkSettings


def _walk(root: Path, **kw: object) -> tuple[dict[str, str], Skips]:
    skips = Skips()
    files = {f.path: f.text for f in walk_repo(root, WalkSettings(**kw), skips)}  # type: ignore[arg-type]
    return files, skips


def test_walk_honours_gitignore_at_any_depth(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / ".gitignore").write_text("secret.py\n")
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "secret.py").write_text("y = 2\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.py").write_text("z = 3\n")
    (tmp_path / "run.log").write_text("log\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    files, skips = _walk(tmp_path)
    assert sorted(files) == [".gitignore", "pkg/.gitignore", "pkg/a.py"]
    assert skips.total == 0


def test_walk_counts_each_skip_reason(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("def f():\n    return 1\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "big.txt").write_text("x" * 2000)
    os.symlink("/etc/passwd", tmp_path / "escape")
    os.symlink("/etc", tmp_path / "etcdir")
    os.symlink(tmp_path, tmp_path / "loop")
    os.mkfifo(tmp_path / "pipe")
    files, skips = _walk(tmp_path, max_file_bytes=1000)
    assert list(files) == ["ok.py"]
    assert skips.counts == {
        "binary": 1,
        "not valid UTF-8": 1,
        "larger than 1000 bytes": 1,
        "symlink (not followed)": 3,
        "not a regular file": 1,
    }
    assert skips.examples["binary"] == ["blob.bin"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    locked = tmp_path / "locked.py"
    locked.write_text("b = 2\n")
    locked.chmod(0)
    files, skips = _walk(tmp_path)
    assert list(files) == ["a.py"]
    assert sum(n for r, n in skips.counts.items() if r.startswith("unreadable")) == 1


def test_walked_file_carries_hash_and_language(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Title\n")
    skips = Skips()
    [walked] = list(walk_repo(tmp_path, WalkSettings(), skips))
    assert walked.language == "markdown"
    assert walked.content_hash == content_hash("# Title\n")
    assert walked.size_bytes == 8


def test_resolve_root_names_the_bad_path(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="nope: no such directory"):
        resolve_root(tmp_path / "nope")
    (tmp_path / "f").write_text("")
    with pytest.raises(BadInputError, match="not a directory"):
        resolve_root(tmp_path / "f")
