"""Git URLs: shallow fetches from real repositories over file://, git:// (git daemon) and smart HTTP with a token.

No fleet needed: these drive `producers.git.checkout` against real git servers on loopback. The fleet-level
tests (the CLI, rows, re-index) are in test_git_index.py.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from producers.git import checkout, is_git_url, repo_name
from shared.errors import AuthenticationError, BadInputError, NotFoundError, SourceUnreachableError
from shared.settings import GitSettings, Settings
from tests.git_http import GitHttpServer

TOKEN = "ghp_TESTTOKEN_0123456789abcdef"


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git for the test's own setup."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit(work: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or delete, for None) files in the work tree, commit, push to origin; the new commit's SHA."""
    for rel, text in files.items():
        if text is None:
            (work / rel).unlink()
        else:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "HEAD:main", "--tags", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository `served/proj.git` (branch main, tag v1 on the first commit) and a work tree pushing to it."""
    bare = tmp_path / "served" / "proj.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git("clone", "-q", str(bare), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    commit(work, {"app.py": "def main():\n    return 1\n", "old.py": "x = 1\n"}, "first")
    git("tag", "v1", cwd=work)
    git("push", "-q", "origin", "v1", cwd=work)
    commit(work, {"lib/util.py": "def util():\n    return 2\n"}, "second")
    return bare, work


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", git=GitSettings(timeout_s=60))


def tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and ".git" not in p.parts)


def test_file_url_is_fetched_shallow_and_refetched_in_place(remote: tuple[Path, Path], settings: Settings) -> None:
    bare, work = remote
    url = bare.as_uri()
    first = checkout(settings, url)
    assert tree(first.path) == ["app.py", "lib/util.py", "old.py"]
    assert first.name == "proj" and first.path.parent == settings.state_dir / "git"
    assert git("rev-parse", "--is-shallow-repository", cwd=first.path) == "true"
    (first.path / "stray.txt").write_text("left by someone\n")
    head = commit(work, {"old.py": None, "new.py": "y = 2\n", "app.py": "def main():\n    return 3\n"}, "third")
    again = checkout(settings, url)
    assert again.path == first.path and again.commit == head
    assert tree(again.path) == ["app.py", "lib/util.py", "new.py"]  # deleted, added, and the stray file cleaned
    assert (again.path / "app.py").read_text().endswith("return 3\n")


def test_ref_may_be_a_branch_a_tag_or_a_full_commit(remote: tuple[Path, Path], settings: Settings) -> None:
    bare, work = remote
    url = bare.as_uri()
    assert tree(checkout(settings, url, ref="v1").path) == ["app.py", "old.py"]
    git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work)
    assert tree(checkout(settings, url, ref="feature").path) == ["app.py", "lib/util.py", "old.py"]
    first_sha = git("rev-list", "--max-parents=0", "HEAD", cwd=work)
    by_sha = checkout(settings, url, ref=first_sha)
    assert by_sha.commit == first_sha and tree(by_sha.path) == ["app.py", "old.py"]
    with pytest.raises(NotFoundError, match=r"no branch, tag or fetchable commit 'no-such-branch' \(--ref\)"):
        checkout(settings, url, ref="no-such-branch")


def test_missing_repository_and_unreachable_host_are_told_apart(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="repository not found"):
        checkout(settings, (tmp_path / "nothing.git").as_uri())
    closed = _free_port()  # bound and released: nothing listens there
    with pytest.raises(SourceUnreachableError, match=rf"127.0.0.1:{closed}/x.git: host unreachable"):
        checkout(settings, f"http://127.0.0.1:{closed}/x.git")
    with pytest.raises(SourceUnreachableError, match="host unreachable"):
        checkout(settings, f"git://127.0.0.1:{closed}/x.git")
    assert not list((settings.state_dir / "git").glob("*.partial"))  # a failed first fetch leaves nothing behind


def test_an_option_given_as_url_or_ref_is_never_an_option(tmp_path: Path, settings: Settings) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(BadInputError, match="not a git URL or repository path"):
        checkout(settings, f"--upload-pack=touch {marker}")
    with pytest.raises(BadInputError, match="--ref '--upload-pack=x': not a branch"):
        checkout(settings, (tmp_path / "x.git").as_uri(), ref="--upload-pack=x")
    with pytest.raises(BadInputError, match="not a branch"):
        checkout(settings, (tmp_path / "x.git").as_uri(), ref="refs/heads/a:refs/heads/b")
    assert not marker.exists()


@pytest.mark.parametrize(
    "url",
    [
        f"https://{TOKEN}@github.com/org/proj.git",
        f"https://user:{TOKEN}@gitlab.example.com/proj.git",
        f"ssh://git:{TOKEN}@host/proj.git",
    ],  # fmt: skip
)
def test_url_with_credentials_is_refused_without_echoing_them(url: str, settings: Settings) -> None:
    with pytest.raises(BadInputError, match="carries credentials.*RAGFLEET_GIT__TOKEN") as caught:
        checkout(settings, url)
    assert TOKEN not in str(caught.value)


def test_git_daemon_url(remote: tuple[Path, Path], settings: Settings) -> None:
    bare, _ = remote
    with _git_daemon(bare.parent) as port:
        fetched = checkout(settings, f"git://127.0.0.1:{port}/proj.git")
    assert tree(fetched.path) == ["app.py", "lib/util.py", "old.py"]


def test_token_from_settings_reaches_the_server_and_nothing_else(
    remote: tuple[Path, Path], tmp_path: Path, settings: Settings
) -> None:
    bare, _ = remote
    # A `git` first on PATH that records every command line it is given, then runs the real git.
    argv_log = tmp_path / "argv.log"
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\nexec {real_git} "$@"\n')
    shim.chmod(0o755)
    path_before = os.environ["PATH"]
    os.environ["PATH"] = f"{shim.parent}:{path_before}"
    try:
        with GitHttpServer(bare.parent, token=TOKEN) as server:
            url = server.url("proj.git")
            with pytest.raises(AuthenticationError, match="set RAGFLEET_GIT__TOKEN") as no_token:
                checkout(settings, url)
            wrong = settings.model_copy(update={"git": GitSettings(token=SecretStr("wrong-token-value"))})
            with pytest.raises(AuthenticationError, match="token in RAGFLEET_GIT__TOKEN.S. was refused") as refused:
                checkout(wrong, url)
            per_host = settings.model_copy(update={"git": GitSettings(tokens={"127.0.0.1": SecretStr(TOKEN)})})
            fetched = checkout(per_host, url)
            with pytest.raises(NotFoundError, match="repository not found") as missing:
                checkout(per_host, server.url("other.git"))
    finally:
        os.environ["PATH"] = path_before
    assert tree(fetched.path) == ["app.py", "lib/util.py", "old.py"]
    assert any(TOKEN in _basic_password(h) for h in server.authorizations)
    assert "wrong-token-value" not in str(refused.value)
    for text in (str(no_token.value), str(refused.value), str(missing.value), argv_log.read_text(),
                 (fetched.path / ".git" / "config").read_text()):  # fmt: skip
        assert TOKEN not in text
    assert "clone" not in argv_log.read_text() and " -- " in argv_log.read_text()


def test_token_is_not_sent_over_plain_http_to_another_host(remote: tuple[Path, Path], settings: Settings) -> None:
    # Plain http would carry the token in clear text: only https, or http to localhost/127.0.0.1/::1, gets it.
    bare, _ = remote
    with_token = settings.model_copy(update={"git": GitSettings(token=SecretStr(TOKEN))})
    with (
        GitHttpServer(bare.parent, token=TOKEN, host="127.0.0.2") as server,
        pytest.raises(AuthenticationError, match="sent over https only") as caught,
    ):
        checkout(with_token, server.url("proj.git"))
    assert server.authorizations == []
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "is_url", "name"),
    [
        ("https://github.com/org/proj.git", True, "proj"),
        ("https://gitlab.com/group/sub/proj", True, "proj"),
        ("ssh://git@host:2222/srv/proj.git/", True, "proj"),
        ("git@github.com:org/proj.git", True, "proj"),
        ("file:///srv/git/proj.git", True, "proj"),
        ("git://127.0.0.1:9418/proj.git", True, "proj"),
        ("./proj", False, "proj"),
        ("/srv/proj", False, "proj"),
        ("--upload-pack=x", False, "--upload-pack=x"),
        ("ftp://host/proj", False, "proj"),
    ],
)
def test_what_counts_as_a_git_url_and_the_name_it_suggests(text: str, is_url: bool, name: str) -> None:
    assert is_git_url(text) is is_url
    assert repo_name(text) == name


# ---------------------------------------------------------------- helpers


def _basic_password(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _git_daemon(base: Path) -> Iterator[int]:
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
         f"--base-path={base}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "git daemon did not start"
            time.sleep(0.05)
        yield port
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
