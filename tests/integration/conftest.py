"""One embedded stack (Redis + PostgreSQL/pgvector) and one real worker per queue for the whole session.

RAGFLEET_TEST_BROKER_URL / RAGFLEET_TEST_DATABASE_URL point the suite at servers of your own
instead (the database needs pgvector). Tables are truncated before the session starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops import fleet, stack
from shared.celery_config import make_celery
from shared.settings import Settings, load_settings

RAGFLEET = str(Path(sys.executable).parent / "ragfleet")
TABLES = (
    "repos, files, spans, enrichments, embeddings, attempts, dead_letters, deliveries, paused_consumers,"
    " gpu_samples, worker_events, doc_embeddings"
)


@contextmanager
def running_fleet(state_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Settings]:
    """An embedded stack and one real worker per queue; the process environment points `ragfleet` at it."""
    env = {"RAGFLEET_STATE_DIR": str(state_dir), **(extra_env or {})}
    if os.environ.get("RAGFLEET_TEST_BROKER_URL"):
        env["RAGFLEET_BROKER_URL"] = os.environ["RAGFLEET_TEST_BROKER_URL"]
    if os.environ.get("RAGFLEET_TEST_DATABASE_URL"):
        env["RAGFLEET_DATABASE_URL"] = os.environ["RAGFLEET_TEST_DATABASE_URL"]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        stack.up(Settings())
        settings = load_settings()
        with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
            conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        fleet.start_workers(settings)
        _wait_for_workers(settings, timeout_s=90)
        yield settings
    finally:
        settings = load_settings()
        fleet.stop_workers(settings)
        _dump_worker_errors(settings)
        stack.down(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def fleet_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a running fleet with no LLM tier configured (the static tier serves every queue)."""
    with running_fleet(tmp_path_factory.mktemp("state")) as settings:
        yield settings


@pytest.fixture
def db(fleet_settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection to the fleet's database (autocommit: every query sees the workers' latest rows)."""
    with psycopg.connect(fleet_settings.require_database_url(), autocommit=True) as conn:
        yield conn


def one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    """The query's single row (the test fails if there is none)."""
    row = cursor.fetchone()
    assert row is not None
    return row


def ragfleet(*args: str, env: dict[str, str] | None = None, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `ragfleet` command."""
    return subprocess.run(
        [RAGFLEET, *args], capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})}
    )


def copy_stdlib_package(name: str, dest: Path) -> Path:
    """A small real repository: a standard-library package's sources, with a README of our own."""
    import importlib

    package = Path(importlib.import_module(name).__file__ or "").parent
    root = dest / f"{name}-repo"
    shutil.copytree(package, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "README.md").write_text(f"# {name}\n\nThe standard library's {name} package.\n\n## Usage\n\nImport it.\n")
    return root


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


def _wait_for_workers(settings: Settings, *, timeout_s: float) -> None:
    app = make_celery(settings)
    deadline = time.monotonic() + timeout_s
    expected = len(fleet.running_workers(settings))
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= expected:
            return
    raise AssertionError(f"workers did not come online within {timeout_s}s (logs: {fleet.worker_logs(settings)})")


def _dump_worker_errors(settings: Settings) -> None:
    """Print worker tracebacks into the test output, so a CI failure explains itself."""
    for log in sorted(fleet.worker_logs(settings).glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"\n==== {log.name} (tracebacks) ====\n" + text[-4000:])
