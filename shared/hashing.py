"""Content hashes: sha256 of the UTF-8 text, hex — the natural key of files, spans and documents."""

from __future__ import annotations

import hashlib


def content_hash(text: str) -> str:
    """sha256 hex digest of the text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bytes_hash(data: bytes) -> str:
    """sha256 hex digest of raw bytes."""
    return hashlib.sha256(data).hexdigest()
