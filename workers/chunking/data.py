"""YAML, TOML and JSON by top-level keys: one span per key (per table in TOML), parsed by tree-sitter.

A key's span runs from its `#` comment block (no blank line between) to the end of its value; a
TOML table's from its header to its last key. Lines that are only brackets and separators (a
JSON object's braces, YAML's `---`) join the next key's span, or the last one's at the end of the
file, rather than make spans of their own. A file whose top level is not a mapping (a JSON array,
a YAML list) has no keys and is cut into windows like any other text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from workers.chunking.base import Span, Symbol, trim_blank_edges
from workers.chunking.code import encode, parse_clean
from workers.chunking.parts import Limits, code_spans, is_punctuation, symbol_spans
from workers.chunking.rules import COMMENTS
from workers.chunking.treesitter import end_line_of, line_of, text_of

_COMMENT_LINE = re.compile(r"^\s*(#|//)")


def _json_entries(root: Node) -> Iterator[tuple[str, str, Node, int]]:
    for value in root.named_children:
        if value.type == "object":
            for pair in value.named_children:
                if pair.type == "pair":
                    key = pair.child_by_field_name("key")
                    yield "key", text_of(key).strip("\"'"), pair, end_line_of(pair)


def _yaml_entries(root: Node) -> Iterator[tuple[str, str, Node, int]]:
    for document in root.named_children:
        for block in document.named_children:
            for mapping in block.named_children:
                if mapping.type != "block_mapping":
                    continue
                for pair in mapping.named_children:
                    if pair.type == "block_mapping_pair":
                        key = pair.child_by_field_name("key")
                        yield "key", text_of(key).strip("\"'"), pair, end_line_of(pair)


def _toml_entries(root: Node) -> Iterator[tuple[str, str, Node, int]]:
    seen: dict[str, int] = {}
    for entry in root.named_children:
        if entry.type not in ("pair", "table", "table_array_element"):
            continue
        content = [child for child in entry.named_children if child.type not in COMMENTS]
        key = text_of(content[0]) if content else ""
        end = max(end_line_of(child) for child in content) if content else line_of(entry)
        if entry.type == "pair":
            yield "key", key, entry, end
        elif entry.type == "table":
            yield "table", key, entry, end
        else:
            index = seen[key] = seen.get(key, -1) + 1
            yield "table", f"{key}[{index}]", entry, end


_ENTRIES = {"json": _json_entries, "yaml": _yaml_entries, "toml": _toml_entries}


def _punctuation_run(lines: list[str], start: int, end: int) -> tuple[int, int] | None:
    """The non-blank part of lines start..end when there is one and it is only brackets and separators."""
    trimmed = trim_blank_edges(lines, start, end)
    if trimmed is None or not is_punctuation(lines, *trimmed):
        return None
    return trimmed


def data_symbols(language: str, root: Node, lines: list[str]) -> list[Symbol]:
    """One symbol per top-level key, with its comments and any bracket-only lines around it."""
    symbols: list[Symbol] = []
    previous_end = 0
    for kind, name, node, end in _ENTRIES[language](root):
        start = line_of(node)
        while start - 1 > previous_end and _COMMENT_LINE.match(lines[start - 2]):
            start -= 1
        before = _punctuation_run(lines, previous_end + 1, start - 1)
        start = before[0] if before is not None else start
        symbols.append(Symbol(kind, name or f"(empty key at line {line_of(node)})", start, end, line_of(node)))
        previous_end = end
    after = _punctuation_run(lines, previous_end + 1, len(lines))
    if symbols and after is not None:
        last = symbols[-1]
        symbols[-1] = Symbol(last.kind, last.name, last.start_line, after[1], last.header_line)
    return symbols


def chunk_data(language: str, path: str, lines: list[str], limits: Limits) -> list[Span] | None:
    """Spans of a YAML/TOML/JSON file by top-level key; None when it has no keys; ChunkError when
    it does not parse."""
    tree, _ = parse_clean(language, (language,), encode(lines))
    symbols = data_symbols(language, tree.root_node, lines)
    if not symbols:
        return None
    spans = [span for symbol in symbols for span in symbol_spans(lines, symbol, limits)]
    spans.extend(code_spans(lines, [(s.start_line, s.end_line) for s in symbols], limits))
    return spans
