"""The embedder interface: many texts in, one float32 row per text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into vectors, many at a time."""

    model: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 array, row i for text i; called with whole batches."""
        ...
