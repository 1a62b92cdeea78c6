"""Message contracts between producers and workers, and the enrichment schema.

Every message travels as a plain dict (msgpack on the wire): `to_wire()` on the
sending side, `from_wire()` on the receiving side, which validates and names
the offending field when a message is malformed.
"""

from __future__ import annotations

import zlib
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import BadInputError

MESSAGE_VERSION = 1
ZLIB_LEVEL = 6  # zlib's default: ~4× on source code at ~20 MB/s, far from the producer's bottleneck


class WireModel(BaseModel):
    """A message or record that travels as a plain dict."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The dict that goes on the wire (msgpack-safe types only)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_wire(cls, payload: Any) -> Self:
        """Validate a received dict; a malformed one raises BadInputError naming the fields."""
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in err["loc"]) or "<root>" for err in exc.errors())
            raise BadInputError(f"malformed {cls.__name__}: bad field(s) {fields}") from exc


class Complexity(WireModel):
    """Figures that describe how hard a span is; the router reads them."""

    lines: int = Field(ge=0)
    nesting_depth: int = Field(default=0, ge=0)
    branches: int = Field(default=0, ge=0)
    parameters: int = Field(default=0, ge=0)
    nested_defs: int = Field(default=0, ge=0)
    token_estimate: int = Field(default=0, ge=0)


class StaticFacts(WireModel):
    """Facts read from the code itself: what the static tier reports and the LLM tiers are checked against."""

    signature: str | None = None
    parameters: list[str] = Field(default_factory=list)
    returns: str | None = None
    raises: list[str] = Field(default_factory=list)
    side_effect_calls: list[str] = Field(default_factory=list)
    calls: list[str] = Field(default_factory=list)
    docstring: str | None = None
    decorators: list[str] = Field(default_factory=list)
    is_async: bool = False


class Enrichment(WireModel):
    """The enrichment output schema (LLM tiers and the static tier alike)."""

    summary: str
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    side_effects: list[str] = Field(default_factory=list)
    pitfalls: list[str] = Field(default_factory=list)
    usage_snippet: str = ""
    tags: list[str] = Field(default_factory=list)

    @field_validator("summary")
    @classmethod
    def _summary_at_most_120_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("summary is empty")
        if len(value.split()) > 120:
            raise ValueError("summary is longer than 120 words")
        return value


class Attempt(WireModel):
    """One try at enriching a span, kept in the span message's history."""

    tier: str
    host: str = ""
    error_class: str = ""
    message: str = ""
    duration_ms: int = 0
    at: str = ""


class FileMessage(WireModel):
    """Per-file message to the `chunk` queue: everything a worker on another host needs.

    The message carries the file's text itself, so a chunk worker on any host can chunk it without
    reading the producer's disk (or a shared volume, or object storage: nothing else to deploy, secure
    or clean up). Text above `walk.compress_above_bytes` (64 KiB by default) travels zlib-compressed in
    `content_zlib` (msgpack carries bytes as they are; `content` is then empty); `text()` returns the
    text either way. Limits: one message holds at most `walk.max_file_bytes` of text (1 MB by default;
    larger files are skipped by the walker), and every waiting message sits in the broker's memory, so
    a queue of N files costs the broker up to N × their compressed size — the producer publishes as it
    walks, so a large repo's backlog lives in the broker, not in the producer.
    """

    version: int = MESSAGE_VERSION
    repo: str
    path: str
    content_hash: str
    language: str
    size_bytes: int = Field(ge=0)
    content: str
    content_zlib: bytes | None = None
    """The text, UTF-8 encoded and zlib-compressed (then `content` is empty)."""

    @classmethod
    def with_text(cls, text: str, *, compress_above_bytes: int, **fields: Any) -> FileMessage:
        """A message carrying `text`, compressed when its UTF-8 form is larger than `compress_above_bytes`."""
        data = text.encode("utf-8")
        if len(data) > compress_above_bytes:
            return cls(content="", content_zlib=zlib.compress(data, ZLIB_LEVEL), **fields)
        return cls(content=text, **fields)

    def text(self) -> str:
        """The file's text, decompressed if it travelled compressed; BadInputError when it cannot be read."""
        if self.content_zlib is None:
            return self.content
        if self.content:
            raise BadInputError(f"malformed FileMessage for {self.path}: both content and content_zlib are set")
        # Bounded, so a forged message cannot inflate into gigabytes (UTF-8 needs at most 2× a UTF-16 file's bytes).
        limit = 2 * self.size_bytes + 1024
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(self.content_zlib, limit)
        except zlib.error as exc:
            raise BadInputError(
                f"malformed FileMessage for {self.path}: content_zlib does not inflate ({exc})"
            ) from exc
        if inflater.unconsumed_tail or not inflater.eof:
            raise BadInputError(
                f"malformed FileMessage for {self.path}: content_zlib inflates beyond {limit} bytes or is truncated"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError(f"malformed FileMessage for {self.path}: content_zlib is not UTF-8 ({exc})") from exc

    def to_wire(self) -> dict[str, Any]:
        """The dict that goes on the wire; compressed content stays bytes (msgpack's bin type)."""
        wire = self.model_dump(mode="python")
        if wire["content_zlib"] is None:
            del wire["content_zlib"]
        return wire


class SpanMessage(WireModel):
    """Per-span message to an `enrich.*` queue and then to `embed`."""

    version: int = MESSAGE_VERSION
    tier: str
    """The tier whose queue this message is on (`7b`, `14b`, `api`)."""
    span_id: int
    repo: str
    path: str
    language: str
    kind: str
    name: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    content_hash: str
    content: str
    complexity: Complexity
    attempts: list[Attempt] = Field(default_factory=list)


class EmbedMessage(WireModel):
    """Per-span message to the `embed` queue: the text to embed and whose it is."""

    version: int = MESSAGE_VERSION
    span_id: int
    repo: str
    path: str
    content_hash: str
    text: str


class BacklogDocument(WireModel):
    """One document of a msgpack backlog, as the `embed` queue carries it."""

    content_hash: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str = ""
    batch_tag: str = ""


class EmbedDocumentsMessage(WireModel):
    """Many backlog documents for the `embed` queue: one message is one model call's worth of texts.

    `model` is the embedding model the producer expects (the fleet's configured one): a worker
    configured with another refuses the message rather than mix two vector spaces in one table.
    """

    version: int = MESSAGE_VERSION
    model: str
    prompt_version: str = ""
    origin: str = ""
    """The backlog file the documents came from (for logs and dead letters)."""
    documents: list[BacklogDocument] = Field(min_length=1)
