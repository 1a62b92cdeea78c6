"""Embedding settings: the backend's default endpoint, the plain EMBED_ENDPOINT variable, a key never shown."""

import pytest

from shared.errors import ConfigurationError
from shared.settings import read_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMBED_ENDPOINT", "RAGFLEET_EMBEDDING__ENDPOINT", "RAGFLEET_EMBEDDING__BACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("backend", "endpoint"),
    [
        ("http", "http://127.0.0.1:8000/model/embed"),
        ("ollama", "http://127.0.0.1:11434"),
        ("openai", "http://127.0.0.1:8000/v1"),
    ],
)
def test_each_http_backend_has_a_default_endpoint(backend: str, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_EMBEDDING__BACKEND", backend)
    assert read_settings().embedding.resolved_endpoint == endpoint


def test_plain_embed_endpoint_is_honoured_and_the_ragfleet_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_ENDPOINT", "http://embedder:9000/model/embed")
    assert read_settings().embedding.endpoint == "http://embedder:9000/model/embed"
    monkeypatch.setenv("RAGFLEET_EMBEDDING__ENDPOINT", "http://other:9000/embed")
    assert read_settings().embedding.endpoint == "http://other:9000/embed"


def test_a_bad_embed_endpoint_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_ENDPOINT", "ftp://user:hunter2@host/embed")
    with pytest.raises(ConfigurationError, match="EMBED_ENDPOINT") as caught:
        read_settings()
    assert "hunter2" not in str(caught.value)


def test_the_api_key_is_not_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_EMBEDDING__API_KEY", "sk-secret-embed")
    settings = read_settings()
    assert settings.embedding.api_key is not None and settings.embedding.api_key.get_secret_value() == "sk-secret-embed"
    assert "sk-secret-embed" not in repr(settings)
