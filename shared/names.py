"""Queue and task names, and the one routing table (declared here, used by both sides)."""

from __future__ import annotations

from shared.errors import BadInputError

QUEUE_CHUNK = "chunk"
QUEUE_ENRICH_7B = "enrich.7b"
QUEUE_ENRICH_14B = "enrich.14b"
QUEUE_ENRICH_API = "enrich.api"
QUEUE_EMBED = "embed"

TIERS: tuple[str, ...] = ("7b", "14b", "api")
"""LLM tiers, weakest first: escalation walks this order."""

STATIC_TIER = "static"
STATIC_MODEL = "static-analysis"

ENRICH_QUEUES: dict[str, str] = {"7b": QUEUE_ENRICH_7B, "14b": QUEUE_ENRICH_14B, "api": QUEUE_ENRICH_API}
ALL_QUEUES: tuple[str, ...] = (QUEUE_CHUNK, QUEUE_ENRICH_7B, QUEUE_ENRICH_14B, QUEUE_ENRICH_API, QUEUE_EMBED)

TASK_CHUNK_FILE = "ragfleet.chunk_file"
TASK_ENRICH_SPAN = "ragfleet.enrich_span"
TASK_EMBED_SPAN = "ragfleet.embed_span"

# enrich_span is one task served by three queues: the producer of a span message
# picks the queue (the tier) explicitly, so it has no static route.
TASK_ROUTES: dict[str, dict[str, str]] = {
    TASK_CHUNK_FILE: {"queue": QUEUE_CHUNK},
    TASK_EMBED_SPAN: {"queue": QUEUE_EMBED},
}


def check_tier(tier: str) -> str:
    """`tier` itself, or a BadInputError naming it and the tiers there are (for `--tier` options)."""
    if tier not in TIERS:
        raise BadInputError(f"--tier {tier}: unknown tier; expected one of {', '.join(TIERS)}")
    return tier


def enrich_queue(tier: str) -> str:
    """The queue that serves enrichment for one LLM tier."""
    try:
        return ENRICH_QUEUES[tier]
    except KeyError:
        raise ValueError(f"unknown tier {tier!r}: expected one of {', '.join(TIERS)}") from None


# msgpack backlogs (`ragfleet enqueue msgpack`): many documents per message, on the embed queue.
TASK_EMBED_DOCUMENTS = "ragfleet.embed_documents"
TASK_ROUTES[TASK_EMBED_DOCUMENTS] = {"queue": QUEUE_EMBED}
