"""The document backlog batch format and the checks every record gets.

A batch (DESIGN.md § "Embeddings and storage"):
`{version, source, batch_tag, created_at, embedding_dim, records: [{text, embedding?, metadata, source, batch_tag}]}`.
A file holds one batch map or several back to back (a producer may append batches; ragfleet's
own export writes one per 10,000 records). Optional header fields ragfleet adds and reads:
`model` and `prompt_version` (what made the vectors); a file without them is taken to be
embedded by the fleet's configured model.

Each record is checked on its own, so one bad record is rejected with its reason and the
records around it go on: `text` a non-empty string without NUL characters and valid UTF-8;
`embedding` absent/nil or a list of `embedding_dim` finite numbers (float32 range); `metadata`
absent (taken as {}) or a map of JSON values (jsonb holds it); `source`/`batch_tag` strings
(absent: the batch's). `metadata.content_hash` is kept when it is a non-empty string, and set
to sha256(text) when absent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.hashing import content_hash

SUPPORTED_VERSIONS = (1,)
WRITTEN_VERSION = 1
_NUMBER_TYPES = {float, int}


class ExtValue:
    """A msgpack extension value: never decoded into anything richer (a record holding one is rejected)."""

    def __init__(self, code: int, data: bytes) -> None:
        self.code = code
        self.size = len(data)

    def __repr__(self) -> str:
        return f"msgpack ext type {self.code}"


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """One batch map's fields other than its records."""

    number: int
    """1-based position of the batch in its file."""
    version: int
    source: str
    batch_tag: str
    created_at: str
    embedding_dim: int
    declared_records: int
    model: str | None = None
    prompt_version: str | None = None


@dataclass(slots=True)
class DocRecord:
    """A record that passed every check."""

    number: int
    """1-based position of the record in its file (across batches)."""
    content_hash: str
    text: str
    metadata: dict[str, Any]
    source: str
    batch_tag: str
    embedding: np.ndarray | None
    header: BatchHeader


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record (or, when `records` > 1, the rest of a file) that cannot be ingested, and why."""

    reason: str
    """Short and categorical, for counting: "wrong embedding dimension"."""
    detail: str
    """Where and what exactly: "record 12: embedding has 383 values, expected 384"."""
    records: int = 1
    """Records this rejection stands for (0: a file rejected before any record could be counted)."""


def check_record(raw: Any, header: BatchHeader, number: int) -> DocRecord | Rejection:
    """The record as a DocRecord, or the first reason it cannot be ingested."""
    where = f"record {number}"
    if not isinstance(raw, dict):
        return Rejection("record is not a map", f"{where}: a {_type(raw)}")
    text = raw.get("text")
    if not isinstance(text, str):
        return Rejection("text missing or not a string", f"{where}: text is {_type(text)}")
    if not text.strip():
        return Rejection("empty text", f"{where}: text is empty or blank")
    problem = _string_problem(text)
    if problem:
        return Rejection(f"text {problem}", f"{where}: text {problem}")
    metadata = raw.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return Rejection("metadata is not a map", f"{where}: metadata is {_type(metadata)}")
    if not _plainly_json(metadata):
        problem = _json_problem(metadata, "metadata")
        if problem:
            return Rejection("metadata is not JSON", f"{where}: {problem}")
    source, tag = raw.get("source", header.source), raw.get("batch_tag", header.batch_tag)
    for name, value, default in (("source", source, header.source), ("batch_tag", tag, header.batch_tag)):
        if value is not default and (not isinstance(value, str) or _string_problem(value)):
            return Rejection(f"{name} is not a string", f"{where}: {name} is {_type(value)}")
    digest = metadata.get("content_hash")
    if digest is None:
        digest = content_hash(text)
        metadata = {**metadata, "content_hash": digest}
    elif not isinstance(digest, str) or not digest:
        return Rejection("bad metadata.content_hash", f"{where}: metadata.content_hash is {_type(digest)}")
    embedding = raw.get("embedding")
    vector = None
    if embedding is not None:
        checked = check_embedding(embedding, header.embedding_dim)
        if isinstance(checked, tuple):
            return Rejection(checked[0], f"{where}: {checked[1]}")
        vector = checked
    return DocRecord(number, digest, text, metadata, source, tag, vector, header)


def check_embedding(value: Any, dim: int) -> np.ndarray | tuple[str, str]:
    """A float32 vector, or (reason, detail) when `value` is not `dim` finite numbers."""
    if not isinstance(value, list):
        return "embedding is not a list of numbers", f"embedding is {_type(value)}"
    if len(value) != dim:
        return "wrong embedding dimension", f"embedding has {len(value)} values, batch embedding_dim is {dim}"
    # Exact types: bool is an int subclass, and numpy would read "1.5" or True as numbers.
    if not set(map(type, value)) <= _NUMBER_TYPES:
        odd = next(v for v in value if type(v) not in _NUMBER_TYPES)
        return "embedding is not a list of numbers", f"embedding holds a {_type(odd)}"
    with np.errstate(over="ignore"):
        vector = np.fromiter(value, dtype=np.float32, count=dim)
    # A float64 sum is finite exactly when every element is (dim × float32 max cannot overflow it).
    if not math.isfinite(np.add.reduce(vector, dtype=np.float64)):
        return "embedding has NaN or infinite values", "embedding has NaN, infinite or out-of-float32-range values"
    return vector


def _string_problem(value: str) -> str | None:
    """Why Postgres cannot store this string (it reads invalid UTF-8 as lone surrogates), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def _plainly_json(value: dict[str, Any]) -> bool:
    """The fast check (C code only) that most metadata passes; False sends it to `_json_problem` for the reason.

    Postgres refuses NUL characters (JSON escapes them as \\u0000) and lone surrogates; a map whose JSON
    text reads back unequal had keys that are not strings.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError):  # bytes, ext values, NaN, surrogates (UnicodeEncodeError is a ValueError)
        return False
    return "\\u0000" not in text and json.loads(text) == value


def _json_problem(value: Any, path: str) -> str | None:
    """Why jsonb cannot hold `value` exactly (bytes, ext types, NaN, non-string keys, ...), or None."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value}"
    if isinstance(value, str):
        problem = _string_problem(value)
        return f"{path} {problem}" if problem else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _string_problem(key):
                return f"{path} has a {_type(key)} key"
            problem = _json_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    return f"{path} is {_type(value)}"


def _type(value: Any) -> str:
    if value is None:
        return "missing (nil)"
    if isinstance(value, ExtValue):
        return repr(value)
    return {dict: "map", list: "list", str: "string", bytes: "bytes", float: "float", int: "int", bool: "bool"}.get(
        type(value), type(value).__name__
    )
