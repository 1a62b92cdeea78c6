"""The Python chunker: one span per def, class and method, read from the `ast`.

Python stays on the standard library's `ast` rather than tree-sitter: it is the reference parser
(exactly the syntax this interpreter accepts, so a file that does not parse is really broken),
its line numbers are exact (decorators via decorator_list, ends via end_lineno), the static-facts
stage reads the same `ast` nodes (parameters, signatures, docstrings), and it needs no grammar
wheel. tree-sitter-python would add a second, slightly different idea of what parses.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import PurePosixPath

from workers.chunking.base import ChunkError, Span, Symbol
from workers.chunking.parts import Limits, code_spans, spans_of_symbols

DefNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# What ast.parse() raises on content it cannot take: bad syntax (IndentationError and null bytes
# included), ValueError for null bytes on older Pythons, and, for nesting deeper than the parser's
# stack (`x = ----...1`), RecursionError or MemoryError.
PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def module_name(path: str) -> str:
    """The module name a path stands for: the stem, or the package's name for an `__init__.py`."""
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.stem == "__init__" and pure.parent.name:
        return pure.parent.name
    return pure.stem


def first_line(node: DefNode) -> int:
    """The line a def or class starts on: its first decorator's when it has one."""
    return node.decorator_list[0].lineno if node.decorator_list else node.lineno


def last_line(node: ast.stmt) -> int:
    """The last line of a statement (ast's end_lineno, which the parser always sets)."""
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _docstring_node(module: ast.Module) -> ast.Expr | None:
    first = module.body[0] if module.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _indent(line: str) -> int:
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())


def _leading_comments(lines: list[str], node: DefNode, after_line: int) -> int:
    """The first line of the `#` comment block right above a def (same indentation, no blank line
    between), or the def's own first line; nothing at or before after_line (the statement before)."""
    start = first_line(node)
    indent = _indent(lines[start - 1])
    while start - 1 > after_line and lines[start - 2].lstrip().startswith("#") and _indent(lines[start - 2]) == indent:
        start -= 1
    return start


def _def_symbol(kind: str, name: str, node: DefNode, lines: list[str], after_line: int) -> Symbol:
    start = _leading_comments(lines, node, after_line)
    return Symbol(kind, name, start, last_line(node), node.lineno, first_line(node))


def _body_symbols(body: list[ast.stmt], qualname: str, lines: list[str], after_line: int) -> list[Symbol]:
    """Symbols of the defs and classes directly in a module or class body (`qualname.` prefixed)."""
    symbols: list[Symbol] = []
    prefix = f"{qualname}." if qualname else ""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "method" if qualname else "function"
            symbols.append(_def_symbol(kind, prefix + node.name, node, lines, after_line))
        elif isinstance(node, ast.ClassDef):
            symbols.append(_def_symbol("class", prefix + node.name, node, lines, after_line))
            symbols.extend(_body_symbols(node.body, prefix + node.name, lines, node.lineno))
        after_line = last_line(node)
    return symbols


def python_symbols(path: str, module: ast.Module, lines: list[str]) -> list[Symbol]:
    """The module docstring, every top-level def and class, and (recursively) the methods and
    classes directly in a class body; a def nested in a def or inside an `if`/`try` is not one.
    A def's span takes in the `#` comment block right above it and its decorators."""
    symbols: list[Symbol] = []
    doc = _docstring_node(module)
    if doc is not None:
        symbols.append(Symbol("module_doc", module_name(path), doc.lineno, last_line(doc), None))
    symbols.extend(_body_symbols(module.body, "", lines, 0))
    return symbols


def chunk_python(path: str, text: str, lines: list[str], limits: Limits) -> list[Span]:
    """Spans of a Python file; raises ChunkError (the reason) on content ast.parse() refuses."""
    try:
        module = ast.parse(text)
    except PARSE_ERRORS as exc:
        raise ChunkError(python_failure(exc)) from exc
    symbols = python_symbols(path, module, lines)
    spans = spans_of_symbols(lines, symbols, limits)
    spans.extend(code_spans(lines, [(s.start_line, s.end_line) for s in symbols], limits))
    return spans


def python_failure(exc: BaseException) -> str:
    """The fallback reason for what ast.parse() raised."""
    if isinstance(exc, SyntaxError):
        where = f" at line {exc.lineno}" if exc.lineno is not None else ""
        return f"python syntax error{where}: {exc.msg}"
    if isinstance(exc, RecursionError | MemoryError):
        return "python source nested too deeply to parse"
    return f"python source not parseable: {exc}"


def parse_fragment(content: str) -> ast.Module | None:
    """Parse a span's content on its own (a method is indented), or None when it is not valid Python."""
    try:
        return ast.parse(textwrap.dedent(content))
    except PARSE_ERRORS:
        pass
    # dedent() gives up when a multi-line string inside the def sits left of the def itself;
    # making the fragment the body of a dummy block parses it at any indentation.
    if content[:1] in (" ", "\t"):
        try:
            wrapper = ast.parse("if 1:\n" + content)
        except PARSE_ERRORS:
            return None
        block = wrapper.body[0]
        if isinstance(block, ast.If):
            return ast.Module(body=block.body, type_ignores=[])
    return None


def own_def(module: ast.Module, kind: str) -> DefNode | None:
    """The def or class a function/method/class span consists of, or None for other kinds."""
    if not module.body:
        return None
    node = module.body[0]
    if kind in ("function", "method") and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node
    if kind == "class" and isinstance(node, ast.ClassDef):
        return node
    return None


def init_of(node: ast.ClassDef) -> FunctionNode | None:
    """The `__init__` defined directly in a class body, if any."""
    for child in node.body:
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name == "__init__":
            return child
    return None


def parameters_of(node: FunctionNode, *, is_method: bool) -> list[ast.arg]:
    """Every parameter in order, *args and **kwargs included, without a method's leading self/cls."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if is_method and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    star = [args.vararg] if args.vararg is not None else []
    double_star = [args.kwarg] if args.kwarg is not None else []
    return [*positional, *star, *args.kwonlyargs, *double_star]
