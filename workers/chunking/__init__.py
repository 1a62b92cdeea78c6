"""Split a file into spans: defs and classes for Python, sections for Markdown, windows otherwise."""

from __future__ import annotations

from shared.languages import detect_language
from workers.chunking.base import ChunkResult, Span, sort_spans, split_lines
from workers.chunking.complexity import measure_complexity
from workers.chunking.markdown import chunk_markdown
from workers.chunking.python_ast import PARSE_ERRORS, chunk_python
from workers.chunking.windows import check_window, chunk_windows

__all__ = ["ChunkResult", "Span", "chunk_text", "detect_language", "measure_complexity"]


def chunk_text(path: str, text: str, *, window_lines: int = 60, overlap_lines: int = 10) -> ChunkResult:
    """Spans of a file, chosen by its language; bad content falls back to windows, never raises."""
    check_window(window_lines, overlap_lines)
    language = detect_language(path)
    # A byte-order mark is an encoding artefact, not content (and ast rejects it inside a str).
    text = text.removeprefix("\ufeff")
    lines = split_lines(text)
    fallback_reason: str | None = None
    if language == "python":
        try:
            spans = chunk_python(path, text, lines, window_lines=window_lines)
        except PARSE_ERRORS as exc:
            fallback_reason = _python_failure(exc)
            spans = chunk_windows(lines, window_lines=window_lines, overlap_lines=overlap_lines)
    elif language == "markdown":
        spans = chunk_markdown(lines, window_lines=window_lines, overlap_lines=overlap_lines)
    else:
        spans = chunk_windows(lines, window_lines=window_lines, overlap_lines=overlap_lines)
    return ChunkResult(language=language, spans=sort_spans(spans), fallback_reason=fallback_reason)


def _python_failure(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" at line {exc.lineno}" if exc.lineno is not None else ""
        return f"python syntax error{where}: {exc.msg}"
    if isinstance(exc, RecursionError | MemoryError):
        return "python source nested too deeply to parse"
    return f"python source not parseable: {exc}"
