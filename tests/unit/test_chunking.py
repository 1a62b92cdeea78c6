"""The chunkers against real standard-library code, line windows, Markdown and bad content."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from workers.chunking import ChunkResult, Span, chunk_text, detect_language
from workers.chunking.base import split_lines
from workers.chunking.long_lines import char_pieces
from workers.chunking.windows import window_ranges

# Standard-library modules nobody here wrote; every def and class in them sits at module level or
# directly in a class body (a def inside a top-level `if`/`try` is module code, not a span).
STDLIB_MODULES = [
    "json.decoder",
    "textwrap",
    "argparse",
    "dataclasses",
    "asyncio.queues",
    "enum",
    "pathlib",
    "tokenize",
    "functools",
]


def _chunk_module(module: ModuleType) -> tuple[list[str], ChunkResult]:
    path = Path(str(module.__file__))
    text = path.read_text(encoding="utf-8")
    return split_lines(text), chunk_text(str(path), text)


# A C class that claims this module (functools' _lru_cache_wrapper, which replaces a Python def of
# the same name) has no source to compare with; C classes are immutable types, Python classes not.
_IMMUTABLE_TYPE = 1 << 8


def _defined_objects(module: ModuleType) -> Iterator[tuple[str, Any]]:
    """(qualified name, object) of every function, class and method the module itself defines."""
    source_file = str(module.__file__)
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__ or getattr(obj, "__qualname__", None) != name:
            continue  # re-exports and aliases
        if inspect.isfunction(obj) and _defined_in(obj, source_file):
            yield name, obj
        elif inspect.isclass(obj) and not obj.__flags__ & _IMMUTABLE_TYPE:
            yield name, obj
            for attr, value in vars(obj).items():
                function = _underlying_function(value)
                if (
                    function is not None
                    and function.__qualname__ == f"{name}.{attr}"
                    and _defined_in(function, source_file)
                ):
                    yield function.__qualname__, function


def _underlying_function(value: Any) -> Any:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    return value if inspect.isfunction(value) else None


def _defined_in(function: Any, source_file: str) -> bool:
    # Generated code (namedtuple methods) and wrappers made elsewhere have no lines in this file.
    return bool(inspect.unwrap(function).__code__.co_filename == source_file)


def _inspect_lines(obj: Any) -> tuple[int, int]:
    """The (start, end) lines inspect finds for `obj`, decorators included.

    inspect (3.11+) lets a block run on over trailing comments indented like its body, where
    ast's end_lineno, which the chunker follows, stops at the last statement; those trailing
    comment lines are dropped here so both describe the code itself.
    """
    source, start = inspect.getsourcelines(obj)
    while source and (not source[-1].strip() or source[-1].lstrip().startswith("#")):
        source.pop()
    return start, start + len(source) - 1


def _symbol_ranges(result: ChunkResult) -> dict[str, list[tuple[int, int]]]:
    """(start, end) of each span by name; a split symbol's parts as one range under its own name."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    parts: dict[str, list[Span]] = {}
    for span in result.spans:
        match = _PART.fullmatch(span.name)
        if match is None:
            ranges.setdefault(span.name, []).append((span.start_line, span.end_line))
        else:
            parts.setdefault(match.group(1), []).append(span)
    for name, pieces in parts.items():
        # A class's parts leave out a method too big for one (its own parts hold it): the class
        # runs on to the end of its last member.
        members = [span.end_line for span in result.spans if span.name.startswith(name + ".")]
        ranges.setdefault(name, []).append((pieces[0].start_line, max([pieces[-1].end_line, *members])))
    return ranges


_PART = re.compile(r"(.+) \(part \d+/\d+\)")


@pytest.mark.parametrize("module_name", STDLIB_MODULES)
def test_python_spans_match_inspect(module_name: str) -> None:
    module = importlib.import_module(module_name)
    lines, result = _chunk_module(module)
    assert result.language == "python"
    assert result.fallback_reason is None
    by_name = _symbol_ranges(result)
    checked = 0
    for qualname, obj in _defined_objects(module):
        start, end = _inspect_lines(obj)
        # Several spans can share a name (a property's getter and setter); one must match. A span
        # may start earlier than inspect's lines only with the `#` comment block right above them.
        matches = [
            (first, last)
            for first, last in by_name.get(qualname, [])
            if last == end
            and first <= start
            and all(line.lstrip().startswith("#") for line in lines[first - 1 : start - 1])
        ]
        assert matches, (qualname, (start, end), by_name.get(qualname))
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("module_name", STDLIB_MODULES)
def test_python_spans_content_order_and_coverage(module_name: str) -> None:
    lines, result = _chunk_module(importlib.import_module(module_name))
    assert result.spans == sorted(result.spans, key=lambda s: (s.start_line, s.end_line))
    covered: set[int] = set()
    for span in result.spans:
        assert 1 <= span.start_line <= span.end_line <= len(lines)
        assert span.end_line - span.start_line + 1 <= 60
        body = "\n".join(lines[span.start_line - 1 : span.end_line])
        # A part after the first starts with its def's signature line, then carries on with its lines.
        assert span.content == body or (_PART.fullmatch(span.name) and span.content.endswith("\n" + body))
        covered.update(range(span.start_line, span.end_line + 1))
    # Every non-blank line lands in some span: module code between defs is not lost.
    assert {n for n, line in enumerate(lines, 1) if line.strip()} <= covered


PY_SAMPLE = '''\
"""Walk a tree.

More words.
"""

import os
from pathlib import Path

LIMIT = 10


@decorator
@other(1)
def walk(root: Path) -> list[Path]:
    def inner() -> None:
        pass

    return []


async def fetch(url):
    return url


class Outer(Base):
    """An outer class."""

    x = 1

    def meth(self):
        return 1

    class Inner:
        @property
        def prop(self):
            return 2

        async def ameth(self):
            return 3


if __name__ == "__main__":
    walk(Path("."))
'''


def test_python_kinds_names_and_lines() -> None:
    result = chunk_text("pkg/walker.py", PY_SAMPLE)
    got = [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans]
    assert got == [
        ("module_doc", "walker", 1, 4),
        ("code", "module code 6-9", 6, 9),
        ("function", "walk", 12, 18),
        ("function", "fetch", 21, 22),
        ("class", "Outer", 25, 39),
        ("method", "Outer.meth", 30, 31),
        ("class", "Outer.Inner", 33, 39),
        ("method", "Outer.Inner.prop", 34, 36),
        ("method", "Outer.Inner.ameth", 38, 39),
        ("code", "module code 42-43", 42, 43),
    ]
    assert result.fallback_reason is None
    assert result.spans[2].content.startswith("@decorator\n@other(1)\ndef walk")


def test_python_init_module_named_after_package() -> None:
    result = chunk_text("src/ragfleet/__init__.py", '"""Package."""\n')
    assert [(s.kind, s.name) for s in result.spans] == [("module_doc", "ragfleet")]


def test_python_long_module_code_is_split() -> None:
    text = "\n".join(f"X{i} = {i}" for i in range(25)) + "\n"
    result = chunk_text("consts.py", text, window_lines=10, overlap_lines=2)
    assert [(s.kind, s.start_line, s.end_line) for s in result.spans] == [
        ("code", 1, 10),
        ("code", 11, 20),
        ("code", 21, 25),
    ]
    assert result.spans[0].name == "module code 1-10"


def test_python_comment_only_gap_is_code_and_blank_gap_is_nothing() -> None:
    text = "def a():\n    pass\n\n\n# helpers below\n\ndef b():\n    pass\n\n\n\ndef c():\n    pass\n"
    result = chunk_text("m.py", text)
    assert [(s.kind, s.name) for s in result.spans] == [
        ("function", "a"),
        ("code", "module code 5-5"),
        ("function", "b"),
        ("function", "c"),
    ]


def test_lines_break_like_the_python_tokenizer() -> None:
    # \x0c and \u2028 are line breaks to str.splitlines() but not to ast; line numbers must agree.
    text = "X = '\u2028'\r\n\x0c\r\ndef f():\r    return 1\n"
    result = chunk_text("m.py", text)
    function = next(s for s in result.spans if s.kind == "function")
    assert (function.start_line, function.end_line) == (3, 4)
    assert function.content == "def f():\n    return 1"


def test_byte_order_mark_is_ignored() -> None:
    result = chunk_text("m.py", "\ufeffdef f():\n    return 1\n")
    assert result.fallback_reason is None
    assert [(s.kind, s.content) for s in result.spans] == [("function", "def f():\n    return 1")]


def test_python_syntax_error_falls_back_to_windows() -> None:
    text = "import os\n\ndef broken(:\n    pass\n" + "x = 1\n" * 100
    result = chunk_text("bad.py", text, window_lines=60, overlap_lines=10)
    assert result.language == "python"
    assert result.fallback_reason is not None
    assert "syntax error at line 3" in result.fallback_reason
    assert [(s.kind, s.name) for s in result.spans] == [("window", "lines 1-60"), ("window", "lines 51-104")]


@pytest.mark.parametrize(
    "text",
    [
        "x = 1\0\n",
        "def f(:\n",
        "\tif x:\n  y\n",
        "(" * 500 + ")" * 500 + "\n",
        "x = " + "-" * 100_000 + "1\n",
        "if 1:\n" * 120 + "    pass\n",
        "\udcff = 1\n",
    ],
    ids=["null-byte", "syntax", "indentation", "deep-parens", "deep-unary", "too-many-indents", "surrogate"],
)
def test_invalid_python_never_raises(text: str) -> None:
    result = chunk_text("bad.py", text)
    assert result.fallback_reason is not None
    assert result.spans
    assert all(span.kind == "window" for span in result.spans)


def test_empty_and_blank_text_give_no_spans() -> None:
    for path in ("a.py", "a.md", "a.go", "a.txt"):
        assert chunk_text(path, "").spans == []
        assert chunk_text(path, "\n \n\t\n").spans == []


@pytest.mark.parametrize(
    ("n_lines", "window", "overlap", "expected"),
    [
        (1, 60, 10, [(1, 1)]),
        (60, 60, 10, [(1, 60)]),
        (61, 60, 10, [(1, 60), (51, 61)]),
        (100, 60, 10, [(1, 60), (51, 100)]),
        (110, 60, 10, [(1, 60), (51, 110)]),
        (111, 60, 10, [(1, 60), (51, 110), (101, 111)]),
        (10, 4, 0, [(1, 4), (5, 8), (9, 10)]),
        (10, 4, 3, [(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9), (7, 10)]),
        (7, 3, 1, [(1, 3), (3, 5), (5, 7)]),
    ],
)
def test_window_ranges(n_lines: int, window: int, overlap: int, expected: list[tuple[int, int]]) -> None:
    assert window_ranges(1, n_lines, window, overlap) == expected
    text = "".join(f"line {i}\n" for i in range(1, n_lines + 1))
    result = chunk_text("data.txt", text, window_lines=window, overlap_lines=overlap)
    assert [(s.start_line, s.end_line) for s in result.spans] == expected
    covered = {n for s in result.spans for n in range(s.start_line, s.end_line + 1)}
    assert covered == set(range(1, n_lines + 1))
    for span in result.spans:
        assert span.kind == "window"
        assert span.name == f"lines {span.start_line}-{span.end_line}"
        assert span.content == "\n".join(f"line {i}" for i in range(span.start_line, span.end_line + 1))
        assert span.end_line - span.start_line + 1 <= window


def test_trailing_blank_windows_are_dropped() -> None:
    text = "a\nb\n" + "\n" * 30
    result = chunk_text("notes.txt", text, window_lines=10, overlap_lines=2)
    assert [(s.start_line, s.end_line) for s in result.spans] == [(1, 10)]


@pytest.mark.parametrize(("window", "overlap"), [(10, 10), (10, 11), (10, -1), (0, 0)])
def test_bad_window_settings_raise(window: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=rf"window_lines={window}, overlap_lines={overlap}"):
        chunk_text("a.go", "package main\n", window_lines=window, overlap_lines=overlap)


MD_SAMPLE = """\
Intro text.

# Title

Some words.

## Install ##

```bash
# not a header
pip install x
```

~~~~
# still not a header
```
# nor this
~~~~

### Use
####### seven hashes is text
#hashtag is text
"""


def test_markdown_sections() -> None:
    result = chunk_text("docs/README.md", MD_SAMPLE)
    assert result.language == "markdown"
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("section", "preamble", 1, 2),
        ("section", "Title", 3, 6),
        ("section", "Install", 7, 19),
        ("section", "Use", 20, 22),
    ]
    assert result.spans[2].content.endswith("# nor this\n~~~~\n")


def test_markdown_without_preamble_and_blank_preamble() -> None:
    assert [s.name for s in chunk_text("a.md", "# A\ntext\n").spans] == ["A"]
    assert [s.name for s in chunk_text("a.md", "\n\n# A\ntext\n").spans] == ["A"]
    assert [s.name for s in chunk_text("a.md", "just text\n").spans] == ["preamble"]


def test_markdown_unclosed_fence_hides_later_headers() -> None:
    result = chunk_text("a.md", "# A\n```\n# B\n")
    assert [(s.name, s.end_line) for s in result.spans] == [("A", 3)]


def test_markdown_long_section_is_split_into_parts() -> None:
    # Each part after the first starts with the section's header line, so it still says where it is.
    text = "# Intro\nhi\n# Long\n" + "".join(f"row {i}\n" for i in range(25)) + "# End\nbye\n"
    result = chunk_text("a.md", text, window_lines=10, overlap_lines=2)
    assert [(s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("Intro", 1, 2),
        ("Long (part 1/4)", 3, 12),
        ("Long (part 2/4)", 11, 19),
        ("Long (part 3/4)", 18, 26),
        ("Long (part 4/4)", 25, 28),
        ("End", 29, 30),
    ]
    assert all(s.kind == "section" for s in result.spans)
    assert result.spans[2].content == "# Long\n" + "\n".join(f"row {i}" for i in range(7, 16))
    assert all(len(s.content.split("\n")) <= 10 for s in result.spans)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b/walker.py", "python"),
        ("types.pyi", "python"),
        ("README.md", "markdown"),
        ("docs/x.MARKDOWN", "markdown"),
        ("app.jsx", "javascript"),
        ("index.mjs", "javascript"),
        ("app.tsx", "typescript"),
        ("main.go", "go"),
        ("lib.rs", "rust"),
        ("Main.java", "java"),
        ("x.c", "c"),
        ("x.h", "c"),
        ("x.cpp", "cpp"),
        ("x.hpp", "cpp"),
        ("x.cs", "csharp"),
        ("x.rb", "ruby"),
        ("Gemfile", "ruby"),
        ("x.php", "php"),
        ("Main.kt", "kotlin"),
        ("build.gradle.kts", "kotlin"),
        ("App.swift", "swift"),
        ("Main.scala", "scala"),
        ("build.sh", "shell"),
        (".bashrc", "shell"),
        ("ci.yml", "yaml"),
        ("ci.yaml", "yaml"),
        ("pyproject.toml", "toml"),
        ("Cargo.lock", "toml"),
        ("package.json", "json"),
        ("index.rst", "rst"),
        ("index.html", "html"),
        ("site.css", "css"),
        ("schema.sql", "sql"),
        ("Makefile", "text"),
        ("LICENSE", "text"),
        ("archive.tar.gz", "text"),
        ("C:\\src\\tool.py", "python"),
    ],
)
def test_detect_language(path: str, language: str) -> None:
    assert detect_language(path) == language


def test_languages_without_a_chunker_use_windows() -> None:
    text = "CREATE TABLE t (\n  id int\n);\n"
    result = chunk_text("schema.sql", text)
    assert result.language == "sql"
    assert result.fallback_reason is None
    assert result.spans == [Span("window", "lines 1-3", 1, 3, text.rstrip("\n"))]


def test_python_class_parts_break_between_methods_and_leave_a_big_one_to_its_own_parts() -> None:
    methods = "".join(f"    def m{i}(self):\n        a = {i}\n        return a\n\n" for i in range(6))
    big = "    def big(self):\n" + "".join(f"        x{i} = {i}\n" for i in range(12)) + "        return 0\n"
    text = 'class C:\n    """Doc."""\n\n' + methods + big
    result = chunk_text("m.py", text, window_lines=10, overlap_lines=2)
    got = [(s.name, s.start_line, s.end_line) for s in result.spans if s.name.startswith(("C (", "C.big"))]
    # m0..m5 are lines 4-6, 8-10, ..., 24-26; big (lines 28-41) is over 10 lines.
    assert got == [
        ("C (part 1/3)", 1, 10),
        ("C (part 2/3)", 11, 19),
        ("C (part 3/3)", 19, 27),
        ("C.big (part 1/2)", 28, 37),
        ("C.big (part 2/2)", 36, 41),
    ]
    assert all(s.content.startswith("class C:\n") for s in result.spans if s.name.startswith("C (part"))


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # nowhere soft to break: hard cuts
        ("aaaa bbbb cccc", 6, ["aaaa ", "bbbb ", "cccc"]),  # after a space in the last fifth
        ("f(a,b);g(c,d);h()", 8, ["f(a,b);", "g(c,d);", "h()"]),  # after a separator
        ("short", 10, ["short"]),
    ],
)
def test_a_long_line_is_cut_after_a_space_or_separator_when_it_can_be(
    text: str, max_chars: int, expected: list[str]
) -> None:
    assert [text[start:end] for start, end in char_pieces(text, max_chars)] == expected
