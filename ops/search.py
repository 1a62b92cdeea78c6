"""`ragfleet search`: embed the query with the fleet's embedder, ask pgvector for the nearest spans."""

from __future__ import annotations

from typing import Any

from shared.db import connect
from shared.db.stats import search_spans
from shared.embedders import make_embedder
from shared.errors import BadInputError
from shared.settings import Settings


def search(settings: Settings, query: str, *, k: int = 5, repo: str | None = None) -> list[dict[str, Any]]:
    """The k spans nearest to the query, best first."""
    if not query.strip():
        raise BadInputError("search query is empty")
    if k < 1:
        raise BadInputError(f"-k {k}: must be at least 1")
    # Connect first: an unreachable database fails in milliseconds, before the model loads.
    with connect(settings.require_database_url()) as conn:
        embedder = make_embedder(settings.embedding)
        vector = embedder.embed([query])[0]
        hits = search_spans(conn, vector, model=embedder.model, k=k, repo=repo)
    for hit in hits:
        hit["score"] = round(float(hit["score"]), 4)
    return hits
