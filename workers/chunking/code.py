"""The tree-sitter chunker for code: one span per definition, the code between them as `code` spans.

Kinds: function, method (a function in a class-like), class, struct, union, interface, enum,
trait, impl, object, protocol, extension, record, module (Ruby modules, Rust `mod`, TS
namespaces), type (Go types other than structs and interfaces, TS type aliases) and macro (Rust
`macro_rules!`). A class-like span holds its members, which also get spans of their own, as the
Python chunker does with classes and methods. C++, C# and PHP namespaces are not spans: what they
hold is (they are the package, like a Python module's dotted path).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from tree_sitter import Tree

from workers.chunking.base import ChunkError, Span
from workers.chunking.parts import Limits, code_spans, symbol_spans
from workers.chunking.rules import RULES
from workers.chunking.symbols import find_symbols
from workers.chunking.treesitter import first_error_line, parse, source_of

# A .h file is claimed by C, but as often holds C++: when C cannot parse it, C++ gets a try.
_BY_SUFFIX: dict[str, tuple[str, ...]] = {".tsx": ("tsx",), ".h": ("c", "cpp")}


def grammars_for(language: str, path: str) -> tuple[str, ...]:
    """The grammars to parse a file with, in order: the first one without a syntax error wins."""
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    return _BY_SUFFIX.get(suffix, RULES[language].grammars)


def encode(lines: list[str]) -> bytes:
    """The file as tree-sitter reads it, or ChunkError when it cannot be UTF-8 (lone surrogates)."""
    try:
        return source_of(lines)
    except UnicodeEncodeError as exc:
        raise ChunkError(f"text cannot be encoded as UTF-8 at character {exc.start}: {exc.reason}") from exc


def parse_clean(language: str, grammars: tuple[str, ...], source: bytes) -> tuple[Tree, str]:
    """The first tree without a syntax error and its grammar; ChunkError naming the first grammar's
    first error."""
    first: Tree | None = None
    for name in grammars:
        tree = parse(name, source)
        if not tree.root_node.has_error:
            return tree, name
        first = first or tree
    line = first_error_line(first.root_node) if first is not None else 1
    raise ChunkError(f"{language} syntax error at line {line}")


def chunk_code(language: str, path: str, lines: list[str], limits: Limits) -> list[Span]:
    """Spans of a file in a tree-sitter language (see rules.RULES); ChunkError on a syntax error."""
    tree, grammar = parse_clean(language, grammars_for(language, path), encode(lines))
    # A .h read as C++ has C++'s definitions (classes, templates, namespaces).
    symbols = find_symbols(tree.root_node, RULES["cpp" if grammar == "cpp" else language])
    spans = [span for symbol in symbols for span in symbol_spans(lines, symbol, limits)]
    spans.extend(code_spans(lines, [(s.start_line, s.end_line) for s in symbols], limits))
    return spans
