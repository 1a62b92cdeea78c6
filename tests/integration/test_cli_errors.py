"""Bad input and unreachable services: one clear line naming the input, a non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings
from tests.integration.conftest import ragfleet


def _one_clear_line(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert stderr.strip().startswith("error:"), stderr
    for needle in needles:
        assert needle in stderr, stderr


def test_path_that_does_not_exist(fleet_settings: Settings, tmp_path: Path) -> None:
    _one_clear_line(ragfleet("enqueue", "repo", str(tmp_path / "missing")), "missing: no such directory")


def test_unreachable_broker_is_named_without_its_password(fleet_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    result = ragfleet("enqueue", "repo", str(tmp_path), env={"RAGFLEET_BROKER_URL": "redis://:hunter2@127.0.0.1:9/0"})
    _one_clear_line(result, "broker redis://:***@127.0.0.1:9/0 is unreachable")
    assert "hunter2" not in result.stderr + result.stdout


def test_unreachable_database_is_named(fleet_settings: Settings, tmp_path: Path) -> None:
    result = ragfleet("search", "anything", env={"RAGFLEET_DATABASE_URL": "postgresql://bob:pw@127.0.0.1:9/none"})
    _one_clear_line(result, "database postgresql://bob:***@127.0.0.1:9/none is unreachable")


def test_unknown_queue_is_refused(fleet_settings: Settings) -> None:
    _one_clear_line(ragfleet("worker", "--queues", "enrich.70b"), "--queues enrich.70b")


def test_debug_shows_the_traceback(fleet_settings: Settings, tmp_path: Path) -> None:
    result = ragfleet("--debug", "enqueue", "repo", str(tmp_path / "missing"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_second_up_is_a_no_op_that_says_what_runs(fleet_settings: Settings) -> None:
    result = ragfleet("up", "--workers")
    assert result.returncode == 0, result.stderr
    assert "started" not in result.stdout.replace("already running", "")
    assert result.stdout.count("already running") >= 7  # redis, postgres, five workers


def test_db_url_prints_a_url_psql_accepts(fleet_settings: Settings) -> None:
    import psycopg

    result = ragfleet("db", "url")
    assert result.returncode == 0
    with psycopg.connect(result.stdout.strip()) as conn:
        from shared.db.migrate import available_migrations

        applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert applied == (len(available_migrations()),)
    migrate = ragfleet("db", "migrate")
    assert migrate.returncode == 0 and "schema is up to date" in migrate.stdout


def test_queue_maintenance_commands_name_bad_input(fleet_settings: Settings, tmp_path: Path) -> None:
    _one_clear_line(ragfleet("purge", "chunks", "--yes"), "chunks", "chunk, enrich.7b")
    _one_clear_line(ragfleet("drain", "chunks", "--dry-run"), "chunks")
    (tmp_path / "notes.msgpack").write_text("not a backlog\n")
    _one_clear_line(ragfleet("enqueue", "backlog", str(tmp_path / "notes.msgpack")), "notes.msgpack")
    _one_clear_line(ragfleet("requeue-dead", "--stage", "index"), "--stage index: unknown stage")
    _one_clear_line(ragfleet("enqueue", "spans", "--tier", "70b"), "--tier 70b: unknown tier")


def test_queue_maintenance_commands_are_idempotent_on_an_idle_fleet(fleet_settings: Settings) -> None:
    purge = ragfleet("purge", "enrich.api")
    assert purge.returncode == 0 and "0 messages waiting in enrich.api" in purge.stdout, purge.stderr
    resume = ragfleet("resume", "enrich.api")
    assert resume.returncode == 0 and "nothing to resume" in resume.stdout, resume.stderr
    dry = ragfleet("drain", "enrich.api", "--dry-run")
    assert dry.returncode == 0 and "would stop the consumers of enrich.api: enrich.api@" in dry.stdout, dry.stderr
