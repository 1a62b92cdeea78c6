"""Embedders behind one small interface; heavy imports live in each implementation module."""

from __future__ import annotations

from shared.embedders.base import Embedder
from shared.settings import EmbeddingSettings


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings name (only the local sentence-transformers one so far)."""
    from shared.embedders.sentence_transformers import SentenceTransformersEmbedder

    return SentenceTransformersEmbedder(model=settings.model, device=settings.device, batch_size=settings.batch_size)


__all__ = ["Embedder", "make_embedder"]
