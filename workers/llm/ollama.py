"""Ollama's native `/api/chat`: `format` carries the JSON schema; token counts from prompt_eval_count/eval_count."""

from __future__ import annotations

import httpx

from shared.errors import InvalidOutputError
from shared.http import check_status, json_body, translated
from workers.llm.base import Completion, CompletionRequest


class OllamaBackend:
    """One Ollama host."""

    def __init__(self, host: str, client: httpx.Client, *, timeout: httpx.Timeout | None = None) -> None:
        self.host = host.rstrip("/")
        self._client = client
        self._timeout = timeout or client.timeout

    def complete(self, request: CompletionRequest) -> Completion:
        """POST /api/chat without streaming."""
        payload = {
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
            "format": request.schema,
            "stream": False,
            "keep_alive": request.keep_alive,
            # Sent explicitly: Ollama's default context is small and it truncates silently.
            "options": {"num_ctx": request.context_tokens, "temperature": request.temperature,
                        "num_predict": request.max_tokens},
        }  # fmt: skip
        with translated(self.host):
            response = self._client.post(f"{self.host}/api/chat", json=payload, timeout=self._timeout)
        check_status(response, self.host)
        body = json_body(response, self.host)
        message = body.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise InvalidOutputError(f"{self.host}: answer has no message content")
        return Completion(
            content=message["content"],
            tokens_in=int(body.get("prompt_eval_count") or 0),
            tokens_out=int(body.get("eval_count") or 0),
            stop_reason=str(body.get("done_reason") or "stop"),
            host=self.host,
            server_ms=int(body["total_duration"]) // 1_000_000 if isinstance(body.get("total_duration"), int) else None,
        )
