"""The chunk stage takes its size limits from the one settings object (chunk.* settings)."""

from __future__ import annotations

import json.decoder
import math
import re
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.hashing import content_hash
from shared.messages import FileMessage
from shared.settings import load_settings
from workers.chunk import spans_of
from workers.context import WorkerContext

pytestmark = pytest.mark.usefixtures("clean_env")


def _message() -> FileMessage:
    text = Path(str(json.decoder.__file__)).read_text(encoding="utf-8")
    return FileMessage(
        repo="stdlib",
        path="json/decoder.py",
        content_hash=content_hash(text),
        language="python",
        size_bytes=len(text.encode()),
        content=text,
    )


def test_max_span_tokens_bounds_every_stored_span(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default (window_lines * 25 = 1500 tokens) lets bigger spans through.
    default_rows, _ = spans_of(_message(), WorkerContext(load_settings()))
    assert max(len(r.content) for r in default_rows) > 400
    monkeypatch.setenv("RAGFLEET_CHUNK__MAX_SPAN_TOKENS", "100")
    rows, fallback = spans_of(_message(), WorkerContext(load_settings()))
    assert fallback is None
    assert all(math.ceil(len(r.content) / 4) <= 100 for r in rows)
    assert len(rows) > len(default_rows)


def test_a_minified_line_is_stored_in_pieces_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_CHUNK__MAX_SPAN_TOKENS", "256")
    line = "var a=" + ",".join(f"function f{i}(x){{return x*{i}}}" for i in range(400)) + ";"
    text = f"// bundle\n{line}\n"
    message = FileMessage(
        repo="r",
        path="dist/app.min.js",
        content_hash=content_hash(text),
        language="javascript",
        size_bytes=len(text),
        content=text,
    )
    rows, _ = spans_of(message, WorkerContext(load_settings()))
    pieces = [r for r in rows if r.start_line == 2]
    assert len(pieces) > 10 and all(len(r.content) <= 256 * 4 for r in pieces)
    assert "".join(r.content for r in pieces) == line
    assert len({r.content_hash for r in pieces}) == len(pieces)


def test_window_settings_reach_the_chunker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFLEET_CHUNK__WINDOW_LINES", "12")
    monkeypatch.setenv("RAGFLEET_CHUNK__OVERLAP_LINES", "3")
    rows, _ = spans_of(_message(), WorkerContext(load_settings()))
    assert max(r.end_line - r.start_line + 1 for r in rows) == 12


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RAGFLEET_CHUNK__OVERLAP_LINES", "60", "chunk.overlap_lines (60) must be below chunk.window_lines (60)"),
        ("RAGFLEET_CHUNK__MAX_SPAN_TOKENS", "0", "RAGFLEET_CHUNK__MAX_SPAN_TOKENS"),
    ],
)
def test_bad_chunk_settings_fail_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=r"invalid settings: .*" + re.escape(named)):
        load_settings()
