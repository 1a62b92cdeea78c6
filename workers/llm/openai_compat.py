"""OpenAI-compatible `/v1/chat/completions` (vLLM, llama.cpp server, LM Studio, gateways, the OpenAI API)."""

from __future__ import annotations

import httpx

from shared.errors import InvalidOutputError
from shared.http import check_status, json_body, translated
from workers.llm.base import Completion, CompletionRequest


class OpenAICompatBackend:
    """One OpenAI-compatible host; the bearer key is sent, never logged."""

    def __init__(
        self, host: str, client: httpx.Client, *, api_key: str | None = None, timeout: httpx.Timeout | None = None
    ) -> None:
        self.host = host.rstrip("/")
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout or client.timeout

    def complete(self, request: CompletionRequest) -> Completion:
        """POST /v1/chat/completions with a json_schema response format."""
        payload = {
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "enrichment", "schema": request.schema, "strict": True},
            },
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        base = self.host if self.host.endswith("/v1") else f"{self.host}/v1"
        with translated(self.host):
            response = self._client.post(
                f"{base}/chat/completions", json=payload, headers=self._headers, timeout=self._timeout
            )
        check_status(response, self.host)
        body = json_body(response, self.host)
        try:
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise InvalidOutputError(f"{self.host}: answer has no choices[0].message.content") from exc
        if not isinstance(content, str):
            raise InvalidOutputError(f"{self.host}: message content is not text")
        usage = body.get("usage") or {}
        return Completion(
            content=content,
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            stop_reason=str(choice.get("finish_reason") or "stop"),
            host=self.host,
        )
