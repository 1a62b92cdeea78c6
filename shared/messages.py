"""Message contracts between producers and workers, and the enrichment schema.

Every message travels as a plain dict (msgpack on the wire): `to_wire()` on the
sending side, `from_wire()` on the receiving side, which validates and names
the offending field when a message is malformed.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import BadInputError

MESSAGE_VERSION = 1


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
    """Per-file message to the `chunk` queue: everything a worker on another host needs."""

    version: int = MESSAGE_VERSION
    repo: str
    path: str
    content_hash: str
    language: str
    size_bytes: int = Field(ge=0)
    content: str


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
