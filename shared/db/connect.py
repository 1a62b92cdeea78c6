"""Connections to Postgres with pgvector types registered, and errors translated at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.errors import StorageUnavailableError
from shared.redact import redact_url


def connect(url: str, *, vector: bool = True, autocommit: bool = False) -> psycopg.Connection:
    """One connection; StorageUnavailableError (naming the redacted URL) when the database is unreachable."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StorageUnavailableError(f"database {redact_url(url)} is unreachable: {_first_line(exc)}") from exc
    if vector:
        register_vector(conn)
    return conn


class Database:
    """A small pool of connections to one database, opened lazily, shared by a process's threads."""

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=0,
            max_size=max_size,
            open=False,
            configure=register_vector,
            kwargs={"connect_timeout": 10},
            check=ConnectionPool.check_connection,
        )
        self._opened = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside a transaction that commits on success and rolls back on error."""
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True
        try:
            with self._pool.connection(timeout=30) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailableError(
                f"database {redact_url(self.url)} is unreachable: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        """Close every pooled connection."""
        if self._opened:
            self._pool.close()
            self._opened = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
