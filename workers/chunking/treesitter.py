"""Tree-sitter grammars: which wheel serves which grammar, one parser per grammar and thread.

Packaging: one grammar wheel per language (`tree-sitter-go`, `tree-sitter-rust`, ...) on
top of the `tree-sitter` 0.26 bindings, all pinned in pyproject.toml. Each wheel is an abi3 binary
with its compiled grammar inside (a few hundred KB each, about 4.5 MB for all of them), loaded
with `Language(module.language())`: nothing is fetched, compiled or cached at run time, so a
worker or CI with no network beyond PyPI at install time parses every language (checked: a fresh
venv with only these wheels loads all 19 grammars in a network namespace with no network). The
alternative, `tree-sitter-language-pack`, was rejected: its 1.x releases (1.23.1 checked) ship a
~6 MB native core and a `DownloadManager`; `get_parser("go")` with no cached grammar fetches a
manifest and the compiled grammar from the project's release downloads, and offline it raises
DownloadError, so CI (PyPI only) could not parse anything and workers would run unpinned binaries
fetched at run time. Its old 0.x releases bundle grammars but pin older tree-sitter bindings. The
individual wheels are published by each grammar's maintainers (most by the tree-sitter
organisation) on their own release cycles; a new language is one more pinned line. Python needs
none (see python_ast.py).

Parsers are not thread-safe, so each thread gets its own (Celery may run a chunk worker's tasks
in threads); Language objects are immutable and shared.
"""

from __future__ import annotations

import functools
import importlib
import threading

from tree_sitter import Language, Node, Parser, Tree

# grammar name -> (module of the wheel, function that returns the language pointer)
_WHEELS: dict[str, tuple[str, str]] = {
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    # PHP files start in HTML and switch to PHP at `<?php`; a span cut out of one is PHP alone.
    "php": ("tree_sitter_php", "language_php"),
    "php_only": ("tree_sitter_php", "language_php_only"),
    "kotlin": ("tree_sitter_kotlin", "language"),
    "swift": ("tree_sitter_swift", "language"),
    "scala": ("tree_sitter_scala", "language"),
    "bash": ("tree_sitter_bash", "language"),
    "yaml": ("tree_sitter_yaml", "language"),
    "toml": ("tree_sitter_toml", "language"),
    "json": ("tree_sitter_json", "language"),
}

GRAMMARS = frozenset(_WHEELS)

_local = threading.local()


@functools.cache
def grammar(name: str) -> Language:
    """The Language of a grammar by name (see GRAMMARS); raises ImportError when its wheel is missing."""
    module_name, function = _WHEELS[name]
    module = importlib.import_module(module_name)
    return Language(getattr(module, function)())


def _parser(name: str) -> Parser:
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(name)
    if parser is None:
        parser = parsers[name] = Parser(grammar(name))
    return parser


def source_of(lines: list[str]) -> bytes:
    """The bytes tree-sitter reads for these lines: one `\\n` after each line, so that its rows are
    our line numbers minus one whatever the file's own line breaks were (CRLF, lone CR)."""
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def parse(name: str, source: bytes) -> Tree:
    """The syntax tree of `source` in grammar `name` (an error-tolerant parse: check has_error)."""
    return _parser(name).parse(source)


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_point.row + 1


def end_line_of(node: Node) -> int:
    """The 1-based line a node ends on; a node that ends with its line break (a `//` comment in
    some grammars) ends on that line, not on the next one at column 0."""
    row, column = node.end_point
    if column == 0 and row > node.start_point.row:
        row -= 1
    return row + 1


def first_error_line(root: Node) -> int:
    """The line of the first syntax error (an ERROR or MISSING node) under a root that has one."""
    node = root
    while True:
        for child in node.children:
            if child.is_error or child.is_missing:
                return line_of(child)
            if child.has_error:
                node = child
                break
        else:
            return line_of(node)


def text_of(node: Node | None) -> str:
    """A node's source text on one line (whitespace runs collapsed), or "" for None."""
    if node is None or node.text is None:
        return ""
    return " ".join(node.text.decode("utf-8", "replace").split())
