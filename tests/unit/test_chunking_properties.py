"""Properties every chunker keeps, on every file the tests have: real code (the standard library,
npm packages), the hand-written samples of each language, and awkward content.

* spans are sorted, named (one line, not empty) and within the file;
* a span holds exactly its lines, or, as a later part of a split symbol, its header line and then
  its lines; a line too long for the token limit is cut into pieces (`NAME (chars A-B)`) that put
  together are what the span would have held; no span is over the line limit or the token limit;
* every line is in some span except blank lines and lines of nothing but brackets (a closing `}`
  between definitions);
* bad content (a syntax error, text that is not UTF-8) falls back to windows with a reason and
  never raises; empty files, comment-only files, CRLF and lone-CR line breaks and a BOM are fine.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

import pytest

from workers.chunking import ChunkResult, Span, chunk_text, measure_complexity
from workers.chunking.base import split_lines

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAMPLES = sorted((FIXTURES / "samples").iterdir())
NPM = sorted(p for p in (FIXTURES / "npm").rglob("*") if p.suffix in (".js", ".ts", ".tsx"))
STDLIB = [
    "json",
    "json.decoder",
    "argparse",
    "asyncio.base_events",
    "asyncio.tasks",
    "asyncio.streams",
    "typing",
    "email.message",
]
_PART = re.compile(r"(.+) \(part (\d+)/(\d+)\)")
_CHARS = re.compile(r"(.+) \(chars (\d+)-(\d+)\)")
_PUNCTUATION = re.compile(r"^[\s{}\[\](),;:.\-]*$")


def check(path: str, text: str, result: ChunkResult, *, window_lines: int = 60, max_tokens: int | None = None) -> None:
    """Assert every property in the module docstring of one file's result."""
    max_tokens = max_tokens if max_tokens is not None else window_lines * 25
    lines = split_lines(text.removeprefix("\ufeff"))
    assert result.spans == sorted(result.spans, key=lambda s: (s.start_line, s.end_line))
    covered: set[int] = set()
    # A long line's pieces, put back together: (name, start line, end line) -> contents in order.
    pieces: dict[tuple[str, int, int], list[str]] = {}
    wholes: list[tuple[str, int, int, str]] = []
    for span in result.spans:
        assert span.name.strip() and "\n" not in span.name, span
        assert 1 <= span.start_line <= span.end_line <= len(lines), span
        assert span.end_line - span.start_line + 1 <= window_lines, span.name
        assert math.ceil(len(span.content) / 4) <= max_tokens, span.name
        chars = _CHARS.fullmatch(span.name)
        if chars is None:
            wholes.append((span.name, span.start_line, span.end_line, span.content))
        else:
            assert span.start_line == span.end_line, span.name
            assert int(chars.group(3)) - int(chars.group(2)) + 1 == len(span.content), span.name
            pieces.setdefault((chars.group(1), span.start_line, span.end_line), []).append(span.content)
        covered.update(range(span.start_line, span.end_line + 1))
        figures = measure_complexity(span, result.language)
        assert figures.lines == span.end_line - span.start_line + 1
    wholes.extend((name, start, end, "".join(parts)) for (name, start, end), parts in pieces.items())
    for name, start, end, content in wholes:
        body = "\n".join(lines[start - 1 : end])
        if content != body:
            # A later part: the symbol's header line, from before the part, then the part's lines.
            part = _PART.fullmatch(name)
            assert part is not None and int(part.group(2)) > 1, name
            header, _, rest = content.partition("\n")
            assert rest == body and header in lines[: start - 1], name
    uncovered = [n for n, line in enumerate(lines, 1) if n not in covered and not _PUNCTUATION.match(line)]
    assert not uncovered, f"{path}: lines {uncovered[:10]} are in no span"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SAMPLES + NPM, ids=lambda p: p.name)
@pytest.mark.parametrize(("window_lines", "overlap_lines"), [(60, 10), (8, 2), (3, 2)])
def test_fixtures(path: Path, window_lines: int, overlap_lines: int) -> None:
    text = _read(path)
    result = chunk_text(str(path), text, window_lines=window_lines, overlap_lines=overlap_lines)
    assert result.fallback_reason is None
    check(str(path), text, result, window_lines=window_lines)


@pytest.mark.parametrize("module_name", STDLIB)
@pytest.mark.parametrize("window_lines", [60, 12])
def test_standard_library(module_name: str, window_lines: int) -> None:
    path = Path(str(importlib.import_module(module_name).__file__))
    text = _read(path)
    result = chunk_text(str(path), text, window_lines=window_lines, overlap_lines=3)
    assert result.fallback_reason is None
    check(str(path), text, result, window_lines=window_lines)


@pytest.mark.parametrize("path", SAMPLES + NPM[:3], ids=lambda p: p.name)
def test_a_split_symbol_keeps_its_name_and_starts_each_part_with_its_header(path: Path) -> None:
    text = _read(path)
    lines = split_lines(text)
    # (kind, name): a Rust struct and its impl share a name.
    whole = {(s.kind, s.name): s for s in chunk_text(str(path), text).spans}
    # Where a symbol fits only without its comment block, the comment is a span of its own.
    comment_start = {
        s.name.removeprefix("comment above "): s.start_line
        for s in chunk_text(str(path), text).spans
        if s.name.startswith("comment above ")
    }
    small = chunk_text(str(path), text, window_lines=4, overlap_lines=1).spans
    parts: dict[tuple[str, str], list[tuple[int, Span]]] = {}
    extents: dict[str, tuple[int, int]] = {}  # every symbol's lines, its parts joined
    for span in small:
        match = _PART.fullmatch(span.name)
        if match:
            parts.setdefault((span.kind, match.group(1)), []).append((int(match.group(2)), span))
        name = match.group(1) if match else span.name
        first, _ = extents.get(name, (span.start_line, span.end_line))
        extents[name] = (first, span.end_line)
    assert parts
    for key, numbered in parts.items():
        symbol = whole.get(key)
        if symbol is None:  # split at the default size already
            continue
        assert [number for number, _ in numbered] == list(range(1, len(numbered) + 1))
        pieces = [piece for _, piece in numbered]
        assert pieces[0].start_line in (symbol.start_line, comment_start.get(key[1])), key
        assert pieces[-1].end_line <= symbol.end_line
        for before, after in zip(pieces, pieces[1:], strict=False):
            assert before.start_line < after.start_line
        # A class-like's parts break only between its members (which have spans of their own), never
        # inside one, and with them cover it.
        # (A member that fits only without its comment block has that comment as a span of its own.)
        members = [
            extent for name, extent in extents.items() if name.startswith((f"{key[1]}.", f"comment above {key[1]}."))
        ]
        for piece in pieces:
            for first, last in members:
                assert (
                    last < piece.start_line
                    or first > piece.end_line
                    or piece.start_line <= first <= last <= (piece.end_line)
                ), (piece.name, (first, last))
        covered = {
            n
            for first, last in [*members, *((p.start_line, p.end_line) for p in pieces)]
            for n in range(first, last + 1)
        }
        rest = range(symbol.start_line, symbol.end_line + 1)
        assert all(n in covered or _PUNCTUATION.match(lines[n - 1]) for n in rest), key


BROKEN = {
    "a.js": "const a = 1;\nfunction f( {\n",
    "a.ts": "const a = 1;\nlet x: = 1;\n",
    "a.tsx": "const a = 1;\nconst b = <div>;\n",
    "a.go": "package a\nfunc f( {\n",
    "a.rs": "use a;\nfn f( {\n",
    "A.java": "import a;\nclass A { void f( }\n",
    "a.c": "#include <a.h>\nint f( {\n",
    "a.cpp": "#include <a>\nint f( {\n",
    "a.cs": "using A;\nclass A { void F( }\n",
    "a.rb": 'require "a"\nclass A def f(\n',
    "a.php": "<?php\nfunction f( {\n",
    "a.kt": "import a\nfun f( {\n",
    "a.swift": "import A\nfunc f( {\n",
    "a.scala": "import a\ndef f( = {\n",
    "a.sh": "set -e\nf() {\n",
    "a.toml": "a = 1\n[b\n",
    "a.json": '{"a": 1,\n"b": }\n',
}


# C and C++ window only the damaged lines (code.py): their grammars see macros unexpanded.
PARTIAL = {"a.c", "a.cpp"}


@pytest.mark.parametrize("path", sorted(set(BROKEN) - PARTIAL))
def test_a_syntax_error_falls_back_to_windows_with_a_reason(path: str) -> None:
    result = chunk_text(path, BROKEN[path])
    assert result.fallback_reason is not None
    assert result.fallback_reason.endswith("syntax error at line 2"), result.fallback_reason
    assert [(s.kind, s.name) for s in result.spans] == [("window", "lines 1-2")]


@pytest.mark.parametrize("path", sorted(PARTIAL))
def test_a_c_syntax_error_windows_only_the_damaged_lines(path: str) -> None:
    result = chunk_text(path, BROKEN[path])
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith(f"{result.language} syntax error at line 2: partial, 1 of 2 lines")
    assert [(s.kind, s.name) for s in result.spans] == [("code", "module code 1-1"), ("window", "lines 2-2")]


def test_broken_yaml_falls_back_too() -> None:
    result = chunk_text("a.yaml", "a: 1\nb: [1, 2\n")
    assert result.fallback_reason is not None and result.fallback_reason.startswith("yaml syntax error at line")
    assert [s.kind for s in result.spans] == ["window"]


ALL_PATHS = ["a.py", "a.md", "a.rst", "a.yaml", "a.txt", *sorted(BROKEN)]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_empty_and_blank_files_have_no_spans(path: str) -> None:
    for text in ("", "\n", "\n \n\t\n", "\ufeff"):
        result = chunk_text(path, text)
        assert result.spans == [] and result.fallback_reason is None, (path, text)


COMMENTS = {".py": "#", ".rb": "#", ".sh": "#", ".toml": "#", ".yaml": "#"}


@pytest.mark.parametrize("path", [p for p in ALL_PATHS if not p.endswith((".md", ".rst", ".txt", ".json"))])
def test_a_file_of_comments_is_one_code_span(path: str) -> None:
    marker = COMMENTS.get(Path(path).suffix, "//")
    prefix = "<?php\n" if path.endswith(".php") else ""
    text = f"{prefix}{marker} one\n{marker} two\n\n{marker} three\n"
    result = chunk_text(path, text)
    assert result.fallback_reason is None, result.fallback_reason
    last = 4 if prefix else 3
    if path.endswith((".yaml", ".toml")):  # no keys: plain windows
        assert [(s.kind, s.start_line, s.end_line) for s in result.spans] == [("window", 1, last + 1)]
    else:
        assert [(s.kind, s.start_line, s.end_line) for s in result.spans] == [("code", 1, last + 1)]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("variant", ["crlf", "cr", "bom"])
def test_line_breaks_and_a_bom_change_nothing(path: Path, variant: str) -> None:
    text = _read(path)
    changed = {
        "crlf": text.replace("\n", "\r\n"),
        "cr": text.replace("\n", "\r"),
        "bom": "\ufeff" + text,
    }[variant]
    expected = chunk_text(path.name, text)
    got = chunk_text(path.name, changed)
    assert got == expected
    check(path.name, changed, got)


def test_text_that_is_not_utf8_falls_back_with_a_reason() -> None:
    result = chunk_text("a.go", 'package a\n\nvar s = "\udcff"\n')
    assert result.fallback_reason is not None and "UTF-8" in result.fallback_reason
    assert [s.kind for s in result.spans] == ["window"]


def test_non_ascii_text_keeps_its_lines() -> None:
    text = '// Grüße — 日本語\nfunc grüß() string {\n\treturn "ñ"\n}\n\nfunc b() {}\n'
    result = chunk_text("a.go", text)
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("function", "grüß", 1, 4),
        ("function", "b", 6, 6),
    ]


def test_a_chunker_that_raises_falls_back_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("workers.chunking.code.find_symbols", explode)
    result = chunk_text("a.go", "package a\n\nfunc f() {}\n")
    assert result.fallback_reason == "go chunker failed: RuntimeError: boom"
    assert [s.kind for s in result.spans] == ["window"]


def test_long_lines_split_by_tokens() -> None:
    body = "".join(f'\tx{i} := "{"a" * 200}"\n' for i in range(10))
    text = f'package a\n\nfunc f() {{\n{body}}}\n\nvar long = "{"b" * 5000}"\n'
    result = chunk_text("a.go", text, max_tokens=200)
    check("a.go", text, result, max_tokens=200)
    parts = [s for s in result.spans if s.name.startswith("f (part ")]
    assert len(parts) > 3
    assert all(p.content.startswith("func f() {") for p in parts)
    # One line over the limit is cut into pieces of characters, each within it (800 characters).
    long_line = [s for s in result.spans if s.start_line == 16]
    assert [s.name for s in long_line] == [
        "module code 16-16 (chars 1-800)",
        "module code 16-16 (chars 801-1600)",
        "module code 16-16 (chars 1601-2400)",
        "module code 16-16 (chars 2401-3200)",
        "module code 16-16 (chars 3201-4000)",
        "module code 16-16 (chars 4001-4800)",
        "module code 16-16 (chars 4801-5013)",
    ]
    assert "".join(s.content for s in long_line) == f'var long = "{"b" * 5000}"'


def test_python_big_def_parts_start_with_the_def_line() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(30))
    text = f"# Why it exists.\n@cache\ndef big(a, b):\n{body}    return a\n"
    result = chunk_text("m.py", text, window_lines=10, overlap_lines=2)
    check("m.py", text, result, window_lines=10)
    assert [(s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("big (part 1/5)", 1, 10),
        ("big (part 2/5)", 9, 17),
        ("big (part 3/5)", 16, 24),
        ("big (part 4/5)", 23, 31),
        ("big (part 5/5)", 30, 34),
    ]
    assert result.spans[0].content.startswith("# Why it exists.\n@cache\ndef big(a, b):\n")
    assert all(s.content.startswith("def big(a, b):\n    x") for s in result.spans[1:])


def test_max_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_tokens=0"):
        chunk_text("a.go", "package a\n", max_tokens=0)
