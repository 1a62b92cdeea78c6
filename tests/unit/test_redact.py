"""Secrets never reach logs, messages, rows or error text."""

from shared.redact import redact_text, redact_url


def test_redact_url_hides_password_and_token() -> None:
    assert redact_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("postgresql://bob:pw@db/x") == "postgresql://bob:***@db/x"
    assert redact_url("https://ghp_token@github.com/o/r.git") == "https://***@github.com/o/r.git"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


def test_redact_text_hides_credentials_inside_messages() -> None:
    text = "fatal: could not read from https://user:tok@github.com/o/r and amqp://guest:guest@localhost//"
    out = redact_text(text)
    assert "tok" not in out and "guest:guest" not in out
    assert "github.com/o/r" in out
