"""Fixtures shared by unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAGFLEET_* variable and no .env file: settings come from their defaults and the test's own overrides."""
    for key in list(os.environ):
        if key.startswith("RAGFLEET_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
