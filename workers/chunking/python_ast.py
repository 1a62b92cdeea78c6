"""The Python chunker: one span per def, class and method, read from the `ast`."""

from __future__ import annotations

import ast
import textwrap
from pathlib import PurePosixPath

from workers.chunking.base import Span, make_span, trim_blank_edges

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


def _class_spans(node: ast.ClassDef, qualname: str, lines: list[str]) -> list[Span]:
    spans = [make_span("class", qualname, lines, first_line(node), last_line(node))]
    for child in node.body:
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            spans.append(make_span("method", f"{qualname}.{child.name}", lines, first_line(child), last_line(child)))
        elif isinstance(child, ast.ClassDef):
            spans.extend(_class_spans(child, f"{qualname}.{child.name}", lines))
    return spans


def _code_spans(lines: list[str], covered: list[tuple[int, int]], window_lines: int) -> list[Span]:
    """Spans for the module-level lines no def, class or docstring covers."""
    # Line-based rather than statement-based so that comments between defs are indexed too.
    spans: list[Span] = []
    free_start = 1
    for start, end in [*sorted(covered), (len(lines) + 1, len(lines) + 1)]:
        if start > free_start:
            spans.extend(_split_run(lines, free_start, start - 1, window_lines))
        free_start = max(free_start, end + 1)
    return spans


def _split_run(lines: list[str], start: int, end: int, window_lines: int) -> list[Span]:
    trimmed = trim_blank_edges(lines, start, end)
    if trimmed is None:
        return []
    start, end = trimmed
    spans: list[Span] = []
    # Module code is flat statements, so plain consecutive pieces lose no context worth an overlap.
    for piece_start in range(start, end + 1, window_lines):
        piece = trim_blank_edges(lines, piece_start, min(piece_start + window_lines - 1, end))
        if piece is not None:
            spans.append(make_span("code", f"module code {piece[0]}-{piece[1]}", lines, *piece))
    return spans


def chunk_python(path: str, text: str, lines: list[str], *, window_lines: int) -> list[Span]:
    """Spans of a Python file; raises what ast.parse() raises (see PARSE_ERRORS) on bad content."""
    module = ast.parse(text)
    spans: list[Span] = []
    covered: list[tuple[int, int]] = []
    doc = _docstring_node(module)
    if doc is not None:
        spans.append(make_span("module_doc", module_name(path), lines, doc.lineno, last_line(doc)))
        covered.append((doc.lineno, last_line(doc)))
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans.append(make_span("function", node.name, lines, first_line(node), last_line(node)))
        elif isinstance(node, ast.ClassDef):
            spans.extend(_class_spans(node, node.name, lines))
        else:
            continue
        covered.append((first_line(node), last_line(node)))
    spans.extend(_code_spans(lines, covered, window_lines))
    return spans


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
