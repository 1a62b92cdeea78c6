"""`ragfleet index URL` through the real fleet: a token from the environment reaches the git server and nowhere
else (output, rows, logs, the cache's config), a push is synced by hash on the next index, and bad URLs fail
with a clear line.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from shared.settings import Settings
from tests.git_http import GitHttpServer
from tests.integration.conftest import ragfleet
from tests.integration.test_git_source import commit, git

TOKEN = "glpat-INTEGRATION-5ecret-token-42"


@pytest.fixture(scope="module")
def served(fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("served")
    bare = base / "service.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = base / "work"
    git("clone", "-q", str(bare), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    commit(
        work,
        {
            "service/api.py": "def create_order(cart):\n    return {'items': cart}\n",
            "service/old.py": "def legacy():\n    return None\n",
            "README.md": "# service\n\nOrders.\n",
        },
        "first",
    )
    return bare, work


def _all_text(db: psycopg.Connection, repo: str) -> str:
    rows = [
        *db.execute("SELECT name, root FROM repos WHERE name = %s", (repo,)),
        *db.execute("SELECT path, content_hash, coalesce(error, '') FROM files WHERE repo = %s", (repo,)),
        *db.execute("SELECT path, name, content FROM spans WHERE repo = %s", (repo,)),
        *db.execute("SELECT key, reason, payload::text FROM dead_letters"),
    ]
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


def test_index_a_url_with_a_token_from_the_environment(
    served: tuple[Path, Path], fleet_settings: Settings, db: psycopg.Connection
) -> None:
    bare, work = served
    env = {"RAGFLEET_GIT__TOKEN": TOKEN}
    with GitHttpServer(bare.parent, token=TOKEN) as server:
        url = server.url("service.git")
        first = ragfleet("index", "--timeout", "300", "--", url, env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "indexed service" in first.stdout and "add 3, update 0, delete 0" in first.stdout
        commit(
            work,
            {"service/old.py": None, "service/api.py": "def create_order(cart, user):\n    return cart\n",
             "service/new.py": "def cancel_order(order):\n    return False\n"},
            "second",
        )  # fmt: skip
        second = ragfleet("index", "--ref", "main", "--timeout", "300", "--", url, env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "add 1, update 1, delete 1, unchanged 1" in second.stdout
        refused = ragfleet("enqueue", "repo", url, env={"RAGFLEET_GIT__TOKEN": "not-the-token"})
    assert server.authorizations  # the token did travel, in a header
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "authentication failed" in refused.stderr
    assert "not-the-token" not in refused.stderr + refused.stdout
    names = {name for (name,) in db.execute("SELECT name FROM spans WHERE repo = 'service'")}
    assert {"create_order", "cancel_order"} <= names and "legacy" not in names
    (root,) = db.execute("SELECT root FROM repos WHERE name = 'service'").fetchone() or ("",)
    assert root == f"{url}#main"
    logs = "".join(p.read_text(errors="replace") for p in (fleet_settings.state_dir / "logs").glob("*.log"))
    cache_configs = "".join(p.read_text() for p in (fleet_settings.state_dir / "git").glob("*/.git/config"))
    for text in (first.stdout, first.stderr, second.stdout, second.stderr, _all_text(db, "service"), logs,
                 cache_configs):  # fmt: skip
        assert TOKEN not in text


def test_bad_urls_fail_with_one_clear_line(fleet_settings: Settings, tmp_path: Path) -> None:
    option = ragfleet("enqueue", "repo", "--", "--upload-pack=touch /tmp/ragfleet-pwned")
    assert option.returncode == 1 and "No such option" not in option.stderr
    assert option.stderr.strip() == "error: --upload-pack=touch /tmp/ragfleet-pwned: no such directory"
    assert not Path("/tmp/ragfleet-pwned").exists()
    missing = ragfleet("enqueue", "repo", (tmp_path / "absent.git").as_uri())
    assert missing.returncode == 1 and "repository not found" in missing.stderr
    creds = ragfleet("enqueue", "repo", "https://someone:hunter2@example.com/x.git")
    assert creds.returncode == 1 and "carries credentials" in creds.stderr and "hunter2" not in creds.stderr
    local_ref = ragfleet("enqueue", "repo", str(tmp_path), "--ref", "main")
    assert local_ref.returncode == 1 and "only a git URL has refs" in local_ref.stderr
