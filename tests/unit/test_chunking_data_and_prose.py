"""YAML, TOML and JSON by top-level key; reStructuredText by section title."""

from __future__ import annotations

from workers.chunking import ChunkResult, chunk_text


def _spans(result: ChunkResult) -> list[tuple[str, str, int, int]]:
    return [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans]


YAML = """\
# CI for the project.
name: ci

# When it runs.
on:
  push:
    branches: [main]

jobs:
  test:
    runs-on: ubuntu-latest
---
second: document
"""


def test_yaml_top_level_keys_with_their_comments() -> None:
    result = chunk_text(".github/workflows/ci.yml", YAML)
    assert result.language == "yaml"
    assert result.fallback_reason is None
    assert _spans(result) == [
        ("key", "name", 1, 2),
        ("key", "on", 4, 7),
        ("key", "jobs", 9, 11),
        # The document separator joins the next key rather than make a span of its own.
        ("key", "second", 12, 13),
    ]


def test_yaml_list_at_the_top_is_windows_without_a_reason() -> None:
    result = chunk_text("playbook.yaml", "- hosts: all\n  tasks: []\n- hosts: db\n")
    assert result.fallback_reason is None
    assert _spans(result) == [("window", "lines 1-3", 1, 3)]


TOML = """\
# top comment
title = "x"

[tool.ruff]
line-length = 120

# about mypy
[tool.mypy]
strict = true

[[package]]
name = "a"

[[package]]
name = "b"
"""


def test_toml_tables_and_top_level_keys() -> None:
    result = chunk_text("pyproject.toml", TOML)
    assert result.fallback_reason is None
    assert _spans(result) == [
        ("key", "title", 1, 2),
        ("table", "tool.ruff", 4, 5),
        ("table", "tool.mypy", 7, 9),
        ("table", "package[0]", 11, 12),
        ("table", "package[1]", 14, 15),
    ]


JSON = """\
{
  "name": "x",
  "scripts": {
    "test": "jest"
  },
  "n": 1
}
"""


def test_json_top_level_keys_take_in_the_braces() -> None:
    result = chunk_text("package.json", JSON)
    assert result.fallback_reason is None
    assert _spans(result) == [("key", "name", 1, 2), ("key", "scripts", 3, 5), ("key", "n", 6, 7)]
    assert result.spans[0].content == '{\n  "name": "x",'


def test_json_array_is_windows_without_a_reason() -> None:
    result = chunk_text("data.json", "[\n  1,\n  2\n]\n")
    assert result.fallback_reason is None
    assert _spans(result) == [("window", "lines 1-4", 1, 4)]


def test_a_big_key_is_split_into_parts_that_start_with_the_key() -> None:
    text = "small: 1\nbig:\n" + "".join(f"  k{i}: {i}\n" for i in range(20))
    result = chunk_text("a.yaml", text, window_lines=8, overlap_lines=2)
    assert [s.name for s in result.spans] == [
        "small",
        "big (part 1/4)",
        "big (part 2/4)",
        "big (part 3/4)",
        "big (part 4/4)",
    ]
    assert all(s.content.startswith("big:\n") for s in result.spans[1:])


RST = """\
.. comment before any title

=========
 Project
=========

Intro text.

Install
-------

pip install it::

    Indented
    --------
    not a title

----

Use
~~~
Text.
"""


def test_rst_sections_by_title() -> None:
    result = chunk_text("docs/index.rst", RST)
    assert result.language == "rst"
    assert _spans(result) == [
        ("section", "preamble", 1, 2),
        ("section", "Project", 3, 8),
        ("section", "Install", 9, 19),
        ("section", "Use", 20, 22),
    ]


def test_rst_long_section_parts_start_with_the_title() -> None:
    text = "Title\n=====\n" + "".join(f"line {i}\n" for i in range(12))
    result = chunk_text("a.rst", text, window_lines=6, overlap_lines=1)
    assert [s.name for s in result.spans][:2] == ["Title (part 1/3)", "Title (part 2/3)"]
    assert result.spans[1].content.startswith("Title\nline ")
