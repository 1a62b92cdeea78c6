"""Embedders behind one small interface; heavy imports live in each implementation module."""

from __future__ import annotations

from shared.embedders.base import Embedder
from shared.errors import ConfigurationError
from shared.settings import EmbeddingSettings


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings name, its dimension checked against `embedding.dim`."""
    if settings.backend == "sentence-transformers":
        from shared.embedders.sentence_transformers import SentenceTransformersEmbedder

        local = SentenceTransformersEmbedder(
            model=settings.model, device=settings.device, batch_size=settings.batch_size
        )
        if local.dim != settings.dim:
            raise ConfigurationError(
                f"embedding model {settings.model!r} makes {local.dim}-d vectors but RAGFLEET_EMBEDDING__DIM is "
                f"{settings.dim}: configure the model whose dimension the table has"
            )
        return local
    from shared.embedders.http_endpoint import HttpEndpointEmbedder
    from shared.embedders.ollama import OllamaEmbedder
    from shared.embedders.openai_compat import OpenAICompatEmbedder

    remote = {"ollama": OllamaEmbedder, "openai": OpenAICompatEmbedder, "http": HttpEndpointEmbedder}[settings.backend]
    # An HTTP model's dimension is the configured one until its first answer, which is checked against it.
    return remote(
        settings.resolved_endpoint,
        model=settings.model,
        dim=settings.dim,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        timeout_s=settings.timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
    )


__all__ = ["Embedder", "make_embedder"]
