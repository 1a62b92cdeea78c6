"""Every answer is validated — JSON, schema, stop reason, truncation and the code's own facts — even when
the server claims to enforce the schema."""

from __future__ import annotations

import json

from pydantic import ValidationError

from shared.errors import ContextTooLongError, InvalidOutputError
from shared.messages import Enrichment, StaticFacts
from workers.llm.base import Completion

# Ollama truncates a prompt that exceeds num_ctx without an error; the only trace is a
# prompt_eval_count far below what the prompt should cost.
SILENT_TRUNCATION_RATIO = 0.5


def validate_completion(completion: Completion, facts: StaticFacts, *, estimated_tokens_in: int) -> Enrichment:
    """The enrichment in the answer; EscalateError subclasses say why a stronger tier should try."""
    if completion.stop_reason == "length":
        raise InvalidOutputError(f"{completion.host}: answer cut off by the token limit (stop reason 'length')")
    if 0 < completion.tokens_in < SILENT_TRUNCATION_RATIO * estimated_tokens_in:
        raise ContextTooLongError(
            f"{completion.host}: prompt silently truncated ({completion.tokens_in} tokens read of "
            f"~{estimated_tokens_in})"
        )
    try:
        data = json.loads(completion.content)
    except ValueError as exc:
        raise InvalidOutputError(f"{completion.host}: answer is not JSON: {completion.content[:80]!r}") from exc
    try:
        enrichment = Enrichment.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors())
        raise InvalidOutputError(f"{completion.host}: answer fails the schema ({fields})") from exc
    invented = invented_parameters(enrichment, facts)
    if invented:
        raise InvalidOutputError(f"{completion.host}: answer names parameters the code lacks: {', '.join(invented)}")
    return enrichment


def invented_parameters(enrichment: Enrichment, facts: StaticFacts) -> list[str]:
    """Names in `inputs` that are not parameters of the code (only checked where the code has a signature)."""
    if facts.signature is None:
        return []
    real = set(facts.parameters)
    named = [entry.split(":", 1)[0].strip().lstrip("*") for entry in enrichment.inputs]
    return [name for name in named if name and name not in real]
