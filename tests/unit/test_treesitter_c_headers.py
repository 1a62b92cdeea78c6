"""C headers nobody here wrote: the running Python's own C API headers (sysconfig's `include`).

Most of them do not parse as C for tree-sitter, which sees macros unexpanded: `PyAPI_FUNC(int)
f(void);`, and `extern "C" {` opened in one `#ifdef __cplusplus` and closed in another. The
chunker keeps the definitions that parse and windows only the damaged regions (code.py). The
independent check: a small test-side preprocessor expands CPython's export macros and drops the
`extern "C"` guards, keeping every line where it was; where the expanded header then parses
cleanly, the definitions kept from the unexpanded one must be exactly its definitions, lines
included.
"""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

import pytest

from tests.unit.test_chunking_properties import check
from workers.chunking import ChunkResult, chunk_text

INCLUDE = Path(sysconfig.get_path("include"))
HEADERS = sorted(INCLUDE.rglob("*.h")) if INCLUDE.is_dir() else []
# Spans that are not definitions: the code between them and the windows over damaged regions.
NOT_DEFINITIONS = frozenset({"code", "window"})

_FUNC = re.compile(r"PyAPI_FUNC\(((?:[^()]|\([^()]*\))*)\)")
_DATA = re.compile(r"PyAPI_DATA\(((?:[^()]|\([^()]*\))*)\)")
_ATTRIBUTES = re.compile(r"Py_DEPRECATED\([^()]*\)|Py_GCC_ATTRIBUTE\(\((?:[^()]|\([^()]*\))*\)\)")
_CPLUSPLUS_GUARD = re.compile(r'#ifdef __cplusplus\n(?:extern "C" \{|\})\n#endif')


def expand(text: str) -> str:
    """The header with CPython's export macros expanded and no `extern "C"` guard, line for line."""
    text = _FUNC.sub(lambda m: m.group(1), text)
    text = _DATA.sub(lambda m: f"extern {m.group(1)}", text)
    text = _ATTRIBUTES.sub(lambda m: " " * len(m.group(0)), text)
    return _CPLUSPLUS_GUARD.sub("\n\n", text)


def definitions(result: ChunkResult) -> set[tuple[str, str, int, int]]:
    return {(s.kind, s.name, s.start_line, s.end_line) for s in result.spans if s.kind not in NOT_DEFINITIONS}


@pytest.fixture(scope="module")
def headers() -> list[Path]:
    if not HEADERS:
        if os.environ.get("CI"):
            pytest.fail(f"no C headers under {INCLUDE}")
        pytest.skip(f"no C headers under {INCLUDE}")
    return HEADERS


def test_every_header_is_chunked_within_the_limits_and_covered(headers: list[Path]) -> None:
    partial = 0
    for path in headers:
        text = path.read_text(encoding="utf-8")
        result = chunk_text(str(path), text)
        check(str(path), text, result)
        # A C syntax error windows its own region only: never the whole file.
        if result.fallback_reason is not None:
            assert ": partial, " in result.fallback_reason, (path, result.fallback_reason)
            assert any(s.kind == "window" for s in result.spans), path
            partial += 1
    assert partial >= 10  # the check above must have had something to check


def test_kept_definitions_are_those_of_the_expanded_header(headers: list[Path]) -> None:
    compared = reference_total = 0
    for path in headers:
        text = path.read_text(encoding="utf-8")
        result = chunk_text(str(path), text)
        if result.fallback_reason is None:
            continue
        reference = chunk_text(str(path), expand(text))
        if reference.fallback_reason is not None:  # a macro this small preprocessor does not know
            continue
        assert definitions(result) == definitions(reference), path
        compared += 1
        reference_total += len(definitions(reference))
    assert compared >= 20 and reference_total >= 50, (compared, reference_total)


HEADER = """\
#ifndef API_H
#define API_H
#ifdef __cplusplus
extern "C" {
#endif

/* A point. */
typedef struct {
    int x;
    int y;
} point;

API_FUNC(int) api_init(void);

static inline int
api_sum(point p)
{
    return p.x + p.y;
}

#ifdef __cplusplus
}
#endif
#endif
"""


def test_a_header_with_a_cplusplus_guard_keeps_its_definitions() -> None:
    result = chunk_text("include/api.h", HEADER)
    assert result.fallback_reason == (
        "c syntax error at line 21: partial, 1 of 24 lines in 1 damaged regions windowed, 2 definitions kept"
    )
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("code", "module code 1-5", 1, 5),
        ("struct", "point", 7, 11),
        ("code", "module code 13-13", 13, 13),
        ("function", "api_sum", 15, 19),
        ("window", "lines 21-21", 21, 21),
        ("code", "module code 22-24", 22, 24),
    ]


def test_a_broken_definition_is_windowed_and_its_neighbours_kept() -> None:
    text = (
        "int good(void)\n{\n    return 1;\n}\n\nint bad(void)\n{\n    return (1;\n}\n\nint after(void) { return 2; }\n"
    )
    result = chunk_text("src/a.c", text)
    assert result.fallback_reason is not None and ": partial, " in result.fallback_reason
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("function", "good", 1, 4),
        ("window", "lines 6-9", 6, 9),
        ("function", "after", 11, 11),
    ]


def test_other_languages_still_fall_back_whole() -> None:
    text = "function good() {\n  return 1;\n}\n\nfunction bad( {\n"
    result = chunk_text("a.js", text)
    assert result.fallback_reason == "javascript syntax error at line 5"
    assert [s.kind for s in result.spans] == ["window"]
