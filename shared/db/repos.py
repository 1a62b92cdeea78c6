"""Repositories and their files: what the producer's sync planner reads and writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from shared.db.gc import collect_orphans
from shared.errors import NotFoundError


@dataclass(frozen=True)
class PlannedFile:
    """A file the producer is about to publish for chunking."""

    path: str
    content_hash: str
    size_bytes: int
    language: str


def ensure_repo(conn: psycopg.Connection, name: str, root: str) -> int:
    """The repo's id, creating the row on first sight (and recording where it was last read from)."""
    row = conn.execute(
        "INSERT INTO repos (name, root) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET root = EXCLUDED.root RETURNING id",
        (name, root),
    ).fetchone()
    assert row is not None
    return int(row[0])


def repo_id(conn: psycopg.Connection, name: str) -> int:
    """The id of an existing repo; NotFoundError naming it otherwise."""
    row = conn.execute("SELECT id FROM repos WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise NotFoundError(f"repo {name!r} is not indexed")
    return int(row[0])


def stored_hashes(conn: psycopg.Connection, repo_id: int) -> dict[str, str | None]:
    """path -> hash of the version whose spans are stored (None: published, never chunked)."""
    rows = conn.execute("SELECT path, chunked_hash FROM files WHERE repo_id = %s", (repo_id,))
    return {path: chunked for path, chunked in rows}


def record_planned(conn: psycopg.Connection, repo_id: int, repo: str, files: Iterable[PlannedFile]) -> None:
    """Upsert the files about to be published; their stored spans stay until the new ones land."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO files (repo_id, repo, path, content_hash, size_bytes, language, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'queued')"
            " ON CONFLICT (repo_id, path) DO UPDATE SET content_hash = EXCLUDED.content_hash,"
            " size_bytes = EXCLUDED.size_bytes, language = EXCLUDED.language, status = 'queued',"
            " error = NULL, updated_at = now()",
            [(repo_id, repo, f.path, f.content_hash, f.size_bytes, f.language) for f in files],
        )
    conn.execute("UPDATE repos SET enqueued_at = now() WHERE id = %s", (repo_id,))


def delete_files(conn: psycopg.Connection, repo_id: int, paths: Iterable[str]) -> int:
    """Delete files with their spans, and the enrichments and embeddings no other span shares."""
    paths = list(paths)
    if not paths:
        return 0
    hashes = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT s.content_hash FROM spans s JOIN files f ON f.id = s.file_id"
            " WHERE f.repo_id = %s AND f.path = ANY(%s)",
            (repo_id, paths),
        )
    ]
    deleted = conn.execute("DELETE FROM files WHERE repo_id = %s AND path = ANY(%s)", (repo_id, paths)).rowcount
    collect_orphans(conn, hashes)
    return deleted


def move_file(
    conn: psycopg.Connection, repo_id: int, old_path: str, new_path: str, *, content_hash: str, language: str
) -> bool:
    """Move a chunked file's row and its spans to a new path (a rename without changes); False when it cannot.

    The spans keep their ids, so their enrichments and embeddings (keyed by content) stay in use and no
    model sees the file again. It cannot when the stored version is not `content_hash`, or when the new
    name gives the file another language (it must be chunked again then). A message still queued for the
    old path finds no row there and is ignored as stale.
    """
    row = conn.execute(
        "UPDATE files SET path = %s, content_hash = chunked_hash, status = 'chunked', error = NULL, updated_at = now()"
        " WHERE repo_id = %s AND path = %s AND chunked_hash = %s"
        " AND language = %s RETURNING id",
        (new_path, repo_id, old_path, content_hash, language),
    ).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE spans SET path = %s WHERE file_id = %s", (new_path, row[0]))
    return True
