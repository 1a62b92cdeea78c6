"""What the HTTP embedders share: one POST per batch, errors classified, answers checked against the dimension.

A backend module says only where it posts, what it sends and where the vectors are in the answer.
The bearer key is sent in a header and scrubbed from any error text a server echoes it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shared import http
from shared.errors import (
    BackendRejectedError,
    BackendUnavailableError,
    BackendUnreachableError,
    ConfigurationError,
    InvalidOutputError,
    RagfleetError,
)
from shared.redact import redact_url


class RemoteEmbedder:
    """An embedding server over HTTP; subclasses define `request`, and `url` and `vectors` where they differ."""

    def __init__(
        self,
        endpoint: str,
        *,
        model: str,
        dim: int,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.dim = dim
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = http.client(connect_timeout_s=connect_timeout_s, read_timeout_s=timeout_s, pool_size=4)

    @property
    def url(self) -> str:
        """The URL one batch is posted to."""
        return self.endpoint

    def request(self, texts: list[str]) -> dict[str, Any]:
        """The JSON body for one batch."""
        raise NotImplementedError

    def vectors(self, body: dict[str, Any]) -> Any:
        """The list of vectors in the server's answer, in input order: `embeddings` unless a backend says otherwise."""
        if "embeddings" not in body:
            raise InvalidOutputError(f"{redact_url(self.url)}: answer has no embeddings")
        return body["embeddings"]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One POST for the whole batch; a (len(texts), dim) float32 array."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            try:
                with http.translated(self.url):
                    response = self._client.post(self.url, json=self.request(list(texts)), headers=self._headers)
            except BackendUnavailableError as exc:
                # No answer at all: the batch goes back whole, no text is bisected out for it.
                raise BackendUnreachableError(str(exc)) from exc
            try:
                http.check_status(response, self.url)
            except BackendRejectedError as exc:
                if response.status_code in (401, 403, 404):
                    # Credentials, model name or URL: no text is to blame and no retry can help.
                    raise ConfigurationError(f"{exc} (check embedding.endpoint, model and api_key)") from exc
                raise
            return self._matrix(self.vectors(http.json_body(response, self.url)), len(texts))
        except RagfleetError as exc:
            self._scrub(exc)
            raise

    def _scrub(self, exc: BaseException | None) -> None:
        """Mask the key wherever a server echoed it: in the error and in every error it was raised from."""
        seen: set[int] = set()
        while exc is not None and self._api_key and id(exc) not in seen:
            seen.add(id(exc))
            if self._api_key in str(exc):
                exc.args = (str(exc).replace(self._api_key, "***"),)
            exc = exc.__cause__ or exc.__context__

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def _matrix(self, rows: Any, count: int) -> np.ndarray:
        where = redact_url(self.url)
        if not isinstance(rows, list) or len(rows) != count:
            got = len(rows) if isinstance(rows, list) else type(rows).__name__
            raise InvalidOutputError(f"{where}: answered {got} vectors for {count} texts")
        for i, row in enumerate(rows):
            if not isinstance(row, list) or not all(isinstance(x, int | float) for x in row):
                raise InvalidOutputError(f"{where}: vector {i} is not a list of numbers")
        dims = {len(row) for row in rows}
        if len(dims) > 1:
            raise InvalidOutputError(f"{where}: vectors of different lengths {sorted(dims)} in one answer")
        (dim,) = dims
        if dim != self.dim:
            # The model itself differs from the configuration: no text is to blame, stop before any write.
            raise ConfigurationError(
                f"embedding model {self.model!r} at {where} makes {dim}-d vectors but RAGFLEET_EMBEDDING__DIM is "
                f"{self.dim}: configure the model whose dimension the table has"
            )
        return np.asarray(rows, dtype=np.float32)
