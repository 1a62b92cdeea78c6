"""The generic embedding endpoint (`EMBED_ENDPOINT`): POST {"model", "texts"} -> {"embeddings"}.

For an in-house model server: any service that takes a JSON list of texts and answers one vector
per text, in order, under `embeddings`. The URL is used as given.
"""

from __future__ import annotations

from typing import Any

from shared.embedders.remote import RemoteEmbedder


class HttpEndpointEmbedder(RemoteEmbedder):
    """One generic embedding endpoint at a full URL."""

    def request(self, texts: list[str]) -> dict[str, Any]:
        """The model name goes along so that one server can host several."""
        return {"model": self.model, "texts": texts}
