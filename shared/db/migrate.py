"""Versioned SQL migrations: `NNNN_name.sql` files applied once each, in order, under an advisory lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from shared.db.connect import connect
from shared.db.hnsw import restore_dropped_indexes
from shared.errors import ConfigurationError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant will do; it only has to be the same in every process that migrates.
_LOCK_ID = 0x7261_6766


@dataclass(frozen=True)
class Migration:
    """One SQL file of the schema's history."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped with this version of ragfleet, oldest first."""
    found = []
    for entry in resources.files("shared.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(url: str) -> list[Migration]:
    """Apply the migrations this database lacks; returns those applied (none on a second run)."""
    applied: list[Migration] = []
    with connect(url, vector=False, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            newest_known = max((m.version for m in available_migrations()), default=0)
            if done and max(done) > newest_known:
                raise ConfigurationError(
                    f"database schema is at version {max(done)}, newer than this ragfleet knows "
                    f"({newest_known}): upgrade ragfleet"
                )
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied.append(migration)
            # An HNSW index that a crashed backfill dropped is rebuilt here (see shared.db.hnsw).
            restore_dropped_indexes(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied
