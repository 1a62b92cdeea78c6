"""The enrichment prompt. Changing its text means bumping the `prompt_version` setting (stored with every row)."""

from __future__ import annotations

from typing import Any

from shared.messages import Enrichment, SpanMessage, StaticFacts
from workers.llm.base import CompletionRequest

SYSTEM = (
    "You document source code for a code-search index. Answer with one JSON object that matches the "
    "given schema: summary (at most 120 words, what the code does and why), inputs (one entry per real "
    "parameter, 'name: meaning'), outputs, side_effects, pitfalls, usage_snippet, tags. Use only facts "
    "visible in the code; never invent parameters."
)


def enrichment_schema() -> dict[str, Any]:
    """The JSON schema servers are asked to follow (and that every answer is validated against)."""
    schema = Enrichment.model_json_schema()
    schema["additionalProperties"] = False
    schema["required"] = list(schema["properties"])
    return schema


def user_prompt(msg: SpanMessage, facts: StaticFacts) -> str:
    """The span with its location and the facts read from the code itself."""
    params = ", ".join(facts.parameters) or "none"
    lines = [
        f"Path: {msg.path} (lines {msg.start_line}-{msg.end_line}, {msg.language})",
        f"Symbol: {msg.name} ({msg.kind})",
        f"Parameters: {params}",
    ]
    if facts.signature:
        lines.append(f"Signature: {facts.signature}")
    if facts.returns:
        lines.append(f"Returns: {facts.returns}")
    if facts.raises:
        lines.append(f"Raises: {', '.join(facts.raises)}")
    if facts.side_effect_calls:
        lines.append(f"Calls with side effects: {', '.join(facts.side_effect_calls)}")
    lines += ["Code:", "```", msg.content, "```"]
    return "\n".join(lines)


def build_request(msg: SpanMessage, facts: StaticFacts, *, model: str, context_tokens: int) -> CompletionRequest:
    """The complete request for one span on one tier."""
    return CompletionRequest(
        model=model,
        system=SYSTEM,
        user=user_prompt(msg, facts),
        schema=enrichment_schema(),
        context_tokens=context_tokens,
    )


def estimate_tokens(request: CompletionRequest) -> int:
    """≈ 4 characters per token: what the server should report as prompt tokens, give or take."""
    return (len(request.system) + len(request.user) + 3) // 4
