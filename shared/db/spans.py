"""Spans: a file's new spans replace its old ones in one transaction, so no file is ever without spans."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.db.gc import collect_orphans
from shared.messages import Complexity


@dataclass(frozen=True)
class SpanRow:
    """A span as the chunk worker hands it to storage."""

    kind: str
    name: str
    start_line: int
    end_line: int
    content: str
    content_hash: str
    complexity: Complexity
    start_tier: str


@dataclass(frozen=True)
class StoredSpan:
    """A stored span's id, with whether its content already has an embedding (then it needs no work)."""

    span_id: int
    row: SpanRow
    embedded: bool


def replace_file_spans(
    conn: psycopg.Connection,
    *,
    repo: str,
    path: str,
    content_hash: str,
    spans: Sequence[SpanRow],
    fallback: str | None,
    embed_model: str,
) -> list[StoredSpan] | None:
    """Swap in a file version's spans; None when the message is stale (the file moved on or was deleted)."""
    row = conn.execute(
        "SELECT f.id, f.language FROM files f WHERE f.repo = %s AND f.path = %s AND f.content_hash = %s FOR UPDATE",
        (repo, path, content_hash),
    ).fetchone()
    if row is None:
        return None
    file_id, language = row
    stored: list[StoredSpan] = []
    with conn.cursor() as cur:
        for span in spans:
            c = span.complexity
            cur.execute(
                "INSERT INTO spans (file_id, repo, path, language, kind, name, start_line, end_line, content,"
                " content_hash, lines, nesting_depth, branches, parameters, nested_defs, token_estimate,"
                " start_tier) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT (file_id, kind, name, start_line, end_line) DO UPDATE SET"
                " content = EXCLUDED.content, content_hash = EXCLUDED.content_hash, lines = EXCLUDED.lines,"
                " nesting_depth = EXCLUDED.nesting_depth, branches = EXCLUDED.branches,"
                " parameters = EXCLUDED.parameters, nested_defs = EXCLUDED.nested_defs,"
                " token_estimate = EXCLUDED.token_estimate, start_tier = EXCLUDED.start_tier"
                " RETURNING id, EXISTS (SELECT 1 FROM embeddings e"
                "   WHERE e.content_hash = spans.content_hash AND e.model = %s)",
                (
                    file_id,
                    repo,
                    path,
                    language,
                    span.kind,
                    span.name,
                    span.start_line,
                    span.end_line,
                    span.content,
                    span.content_hash,
                    c.lines,
                    c.nesting_depth,
                    c.branches,
                    c.parameters,
                    c.nested_defs,
                    c.token_estimate,
                    span.start_tier,
                    embed_model,
                ),
            )
            span_id, embedded = cur.fetchone()  # type: ignore[misc]
            stored.append(StoredSpan(int(span_id), span, bool(embedded)))
    gone = [
        r[0]
        for r in conn.execute(
            "DELETE FROM spans WHERE file_id = %s AND NOT (id = ANY(%s)) RETURNING content_hash",
            (file_id, [s.span_id for s in stored]),
        )
    ]
    conn.execute(
        "UPDATE files SET chunked_hash = content_hash, status = 'chunked', error = NULL,"
        " chunk_fallback = %s, updated_at = now() WHERE id = %s",
        (fallback, file_id),
    )
    collect_orphans(conn, gone)
    return stored


def mark_file_failed(conn: psycopg.Connection, *, repo: str, path: str, content_hash: str, error: str) -> None:
    """Record that this version of the file could not be chunked (its old spans, if any, stay)."""
    conn.execute(
        "UPDATE files SET status = 'failed', error = %s, updated_at = now()"
        " WHERE repo = %s AND path = %s AND content_hash = %s",
        (error, repo, path, content_hash),
    )


@dataclass(frozen=True)
class SpanFilter:
    """Which spans `ragfleet enqueue spans` selects.

    With neither `stale` nor `failed`, every span of the repo/path; with either or both, the spans that
    match any of them. `stale`: enriched, but not under the current prompt version by a current model.
    `failed`: the span's content has an enrich or embed dead letter.
    """

    repo: str | None = None
    path_glob: str | None = None
    """fnmatch-style: `*` and `?` also match `/` (so `src/*.py` includes subdirectories), `[...]` classes."""
    stale: bool = False
    failed: bool = False
    prompt_version: str = ""
    current_models: tuple[str, ...] = ()


def select_spans(conn: psycopg.Connection, where: SpanFilter) -> Iterator[dict[str, Any]]:
    """The selected spans, one row per distinct content (identical code is enriched once), streamed."""
    selectors = []
    if where.stale:
        selectors.append(
            "(EXISTS (SELECT 1 FROM enrichments e WHERE e.content_hash = s.content_hash)"
            " AND NOT EXISTS (SELECT 1 FROM enrichments e WHERE e.content_hash = s.content_hash"
            "  AND e.prompt_version = %(pv)s AND e.model = ANY(%(models)s)))"
        )
    if where.failed:
        selectors.append(
            "EXISTS (SELECT 1 FROM dead_letters d WHERE d.key = s.content_hash AND d.stage IN ('enrich', 'embed'))"
        )
    query = (
        "SELECT DISTINCT ON (s.content_hash) s.id, s.repo, s.path, s.language, s.kind, s.name, s.start_line,"
        " s.end_line, s.content_hash, s.content, s.lines, s.nesting_depth, s.branches, s.parameters,"
        " s.nested_defs, s.token_estimate FROM spans s WHERE (%(repo)s::text IS NULL OR s.repo = %(repo)s)"
        " AND (%(path)s::text IS NULL OR s.path ~ %(path)s)"
        + (f" AND ({' OR '.join(selectors)})" if selectors else "")
        + " ORDER BY s.content_hash, s.repo, s.path, s.start_line"
    )
    path = glob_regex(where.path_glob) if where.path_glob else None
    params = {"repo": where.repo, "path": path, "pv": where.prompt_version, "models": list(where.current_models)}
    with conn.cursor(name="select_spans", row_factory=dict_row) as cur:  # server-side: bounded memory
        cur.execute(query, params)
        yield from cur


def glob_regex(glob: str) -> str:
    """An anchored PostgreSQL regular expression matching what `fnmatch` matches for `glob`."""
    out, i = ["^"], 0
    while i < len(glob):
        ch = glob[i]
        close = glob.find("]", i + 2) if ch == "[" else -1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif close != -1:  # a character class, with fnmatch's `!` for negation
            body = glob[i + 1 : close]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out) + "$"
