"""OpenAI-compatible `/v1/embeddings` (vLLM, TEI, llama.cpp server, LM Studio, gateways, the OpenAI API)."""

from __future__ import annotations

from typing import Any

from shared.embedders.remote import RemoteEmbedder
from shared.errors import InvalidOutputError
from shared.redact import redact_url


class OpenAICompatEmbedder(RemoteEmbedder):
    """One OpenAI-compatible server; `endpoint` is the server or its /v1."""

    @property
    def url(self) -> str:
        """The server's /v1/embeddings."""
        base = self.endpoint if self.endpoint.endswith("/v1") else f"{self.endpoint}/v1"
        return f"{base}/embeddings"

    def request(self, texts: list[str]) -> dict[str, Any]:
        """Floats, not base64: every server of this family speaks them."""
        return {"model": self.model, "input": texts, "encoding_format": "float"}

    def vectors(self, body: dict[str, Any]) -> Any:
        """`data[*].embedding`, put back in input order by `index` (the API does not promise the order)."""
        data = body.get("data")
        try:
            ordered = sorted(data, key=lambda item: int(item["index"]))  # type: ignore[arg-type]
            return [item["embedding"] for item in ordered]
        except (TypeError, KeyError, ValueError) as exc:
            raise InvalidOutputError(f"{redact_url(self.url)}: answer has no data[].index/embedding") from exc
