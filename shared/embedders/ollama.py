"""Ollama's `/api/embed`: a list of texts in, `embeddings` out (one request per batch, not per text)."""

from __future__ import annotations

from typing import Any

from shared.embedders.remote import RemoteEmbedder


class OllamaEmbedder(RemoteEmbedder):
    """One Ollama server; `endpoint` is the server (http://host:11434)."""

    @property
    def url(self) -> str:
        """The server's /api/embed."""
        return f"{self.endpoint}/api/embed"

    def request(self, texts: list[str]) -> dict[str, Any]:
        """`input` as a list embeds the whole batch in one call; over-long texts are truncated by the server."""
        return {"model": self.model, "input": texts, "truncate": True}
