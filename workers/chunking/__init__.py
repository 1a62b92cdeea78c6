"""Split a file into spans, by the structure its language has.

* Python: defs, classes and methods from the standard library's `ast` (python_ast.py says why
  not tree-sitter);
* JavaScript, TypeScript/TSX, Go, Rust, Java, C, C++, C#, Ruby, PHP, Kotlin, Swift, Scala and
  shell: functions, methods, classes and their kin from tree-sitter (code.py, rules.py; the
  grammar packaging is explained in treesitter.py);
* Markdown and reStructuredText: sections by header;
* YAML, TOML and JSON: top-level keys (tables in TOML);
* anything else: overlapping windows of lines.

Every definition's span takes in its doc comment, decorators and attributes; code between
definitions becomes `code` spans, so every non-blank line is in some span. A span over
`window_lines` lines or `max_tokens` tokens is split into parts (parts.py); a single line over
`max_tokens` is cut into pieces of characters, so no span is over the limit. Content a structural
chunker cannot take (a syntax error, text that is not UTF-8, anything it raises) falls back to
windows with the reason in `fallback_reason`: chunk_text() never raises on content. In C and C++
only the damaged regions of a file with a syntax error become windows (code.py), and the reason
says so (`... partial, N of M lines in K damaged regions windowed ...`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from shared.languages import detect_language
from workers.chunking.base import ChunkError, ChunkResult, PartialSpans, Span, sort_spans, split_lines
from workers.chunking.code import chunk_code
from workers.chunking.complexity import measure_complexity
from workers.chunking.data import chunk_data
from workers.chunking.long_lines import cut_long_spans
from workers.chunking.markdown import chunk_markdown
from workers.chunking.parts import Limits, make_limits
from workers.chunking.python_ast import chunk_python
from workers.chunking.rst import chunk_rst
from workers.chunking.rules import RULES
from workers.chunking.windows import chunk_windows

__all__ = ["ChunkResult", "Span", "chunk_text", "detect_language", "measure_complexity"]

# (path, text, lines, limits) -> spans; None means "no structure here": plain windows, no reason;
# PartialSpans: spans, some of them windows over damaged regions, and the reason.
Chunker = Callable[[str, str, list[str], Limits], list[Span] | PartialSpans | None]


def _code(language: str, path: str, text: str, lines: list[str], limits: Limits) -> list[Span] | PartialSpans:
    return chunk_code(language, path, lines, limits)


def _data(language: str, path: str, text: str, lines: list[str], limits: Limits) -> list[Span] | None:
    return chunk_data(language, path, lines, limits)


_CHUNKERS: dict[str, Chunker] = {
    "python": chunk_python,
    "markdown": chunk_markdown,
    "rst": chunk_rst,
    **{language: partial(_code, language) for language in RULES},
    **{language: partial(_data, language) for language in ("yaml", "toml", "json")},
}


def chunk_text(
    path: str, text: str, *, window_lines: int = 60, overlap_lines: int = 10, max_tokens: int | None = None
) -> ChunkResult:
    """Spans of a file, chosen by its language; bad content falls back to windows, never raises.

    max_tokens (estimated as characters / 4) defaults to window_lines * 25. Raises ValueError only
    for bad settings (overlap_lines not below window_lines, max_tokens below 1).
    """
    limits = make_limits(window_lines, overlap_lines, max_tokens)
    language = detect_language(path)
    # A byte-order mark is an encoding artefact, not content (and ast rejects it inside a str).
    text = text.removeprefix("\ufeff")
    lines = split_lines(text)
    fallback_reason: str | None = None
    spans: list[Span] | None = None
    chunker = _CHUNKERS.get(language)
    if chunker is not None:
        try:
            chunked = chunker(path, text, lines, limits)
            if isinstance(chunked, PartialSpans):
                spans, fallback_reason = chunked.spans, chunked.reason
            else:
                spans = chunked
        except ChunkError as exc:
            fallback_reason = str(exc)
        except Exception as exc:  # a chunker bug or a pathological file must not lose the file
            fallback_reason = f"{language} chunker failed: {type(exc).__name__}: {exc}"
    if spans is None:
        spans = chunk_windows(lines, limits)
    return ChunkResult(
        language=language, spans=cut_long_spans(sort_spans(spans), limits), fallback_reason=fallback_reason
    )
