"""LLM backends behind one small interface: Ollama's native chat API and OpenAI-compatible servers."""

from __future__ import annotations

import httpx

from shared.settings import TierSettings
from workers.llm.base import Completion, CompletionRequest, LLMBackend
from workers.llm.ollama import OllamaBackend
from workers.llm.openai_compat import OpenAICompatBackend


def make_backend(tier: TierSettings, endpoint: str, client: httpx.Client) -> LLMBackend:
    """The backend that speaks this tier's protocol to one of its endpoints."""
    timeout = httpx.Timeout(tier.timeout_s, connect=tier.connect_timeout_s)
    if tier.protocol == "ollama":
        return OllamaBackend(endpoint, client, timeout=timeout)
    key = tier.api_key.get_secret_value() if tier.api_key else None
    return OpenAICompatBackend(endpoint, client, api_key=key, timeout=timeout)


__all__ = ["Completion", "CompletionRequest", "LLMBackend", "make_backend"]
