"""Postgres + pgvector: connections, migrations and data access, shared by every process."""

from shared.db.connect import Database, connect

__all__ = ["Database", "connect"]
