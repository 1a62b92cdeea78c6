"""One settings object: RAGFLEET_* variables, nested with __, filled from the embedded stack's record."""

import json
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import load_settings

pytestmark = pytest.mark.usefixtures("clean_env")


def test_tier_settings_use_operator_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_TIERS__7B__PROTOCOL", "openai")
    monkeypatch.setenv("RAGFLEET_TIERS__7B__MODEL", "qwen2.5:7b-instruct-q4_K_M")
    monkeypatch.setenv("RAGFLEET_TIERS__7B__ENDPOINTS", "http://gpu1:11434, http://gpu2:11434")
    monkeypatch.setenv("RAGFLEET_TIERS__API__API_KEY", "sk-secret")
    settings = load_settings()
    assert settings.tiers.get("7b").endpoints == ["http://gpu1:11434", "http://gpu2:11434"]
    assert settings.tiers.get("7b").protocol == "openai" and settings.tiers.get("7b").configured
    assert settings.tiers.get("api").protocol == "openai"
    assert not settings.tiers.get("14b").configured
    assert "sk-secret" not in repr(settings)


def test_urls_come_from_stack_record_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(
        json.dumps({"broker_url": "redis://127.0.0.1:1/0", "database_url": "postgresql://x@/db"})
    )
    monkeypatch.setenv("RAGFLEET_STATE_DIR", str(state))
    settings = load_settings()
    assert settings.require_broker_url() == "redis://127.0.0.1:1/0"
    assert settings.require_database_url() == "postgresql://x@/db"
    monkeypatch.setenv("RAGFLEET_BROKER_URL", "amqp://guest:guest@localhost:5672//")
    assert load_settings().require_broker_url().startswith("amqp://")


def test_missing_urls_say_how_to_fix() -> None:
    settings = load_settings()
    with pytest.raises(ConfigurationError, match="ragfleet up"):
        settings.require_broker_url()
    with pytest.raises(ConfigurationError, match="RAGFLEET_DATABASE_URL"):
        settings.require_database_url()


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RAGFLEET_EMBEDDING__BATCH_SIZE=16\n")
    assert load_settings().embedding.batch_size == 16


@pytest.mark.parametrize(
    ("endpoints", "reason"),
    [
        ("gpu1:11434", "not an http(s)://host[:port] URL"),
        ("http://gpu1:port", "is not a URL"),
        ("ftp://gpu1", "not an http(s)://host[:port] URL"),
        ("http://user:s3cret@", "not an http(s)://host[:port] URL"),
    ],
)
def test_a_malformed_endpoint_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, endpoints: str, reason: str
) -> None:
    monkeypatch.setenv("RAGFLEET_TIERS__7B__ENDPOINTS", f"http://ok:11434,{endpoints}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "RAGFLEET_TIERS__7B__ENDPOINTS" in message and reason in message
    assert "s3cret" not in message


def test_git_tokens_come_from_the_environment_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_GIT__TOKEN", "default-secret")
    monkeypatch.setenv("RAGFLEET_GIT__TOKENS", '{"GitLab.Example.com": "gitlab-secret"}')
    settings = load_settings()
    assert settings.git.token_for("gitlab.example.com").get_secret_value() == "gitlab-secret"  # type: ignore[union-attr]
    assert settings.git.token_for("github.com").get_secret_value() == "default-secret"  # type: ignore[union-attr]
    assert "secret" not in repr(settings)
    monkeypatch.delenv("RAGFLEET_GIT__TOKEN")
    assert load_settings().git.token_for("github.com") is None
