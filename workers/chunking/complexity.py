"""How hard a span is to understand: the figures the enrichment router reads."""

from __future__ import annotations

import ast
import math
import re

from shared.messages import Complexity
from workers.chunking.base import Span
from workers.chunking.parts import CHARS_PER_TOKEN
from workers.chunking.python_ast import FunctionNode, init_of, own_def, parameters_of, parse_fragment
from workers.chunking.tree_complexity import tree_complexity

TAB_WIDTH = 4

_COMPOUND = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.TryStar,
    ast.With,
    ast.AsyncWith,
    ast.Match,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_BRANCH_WORDS = re.compile(r"\b(?:if|else if|elif|for|while|case|catch|except)\b|&&|\|\|")
# Prose has "if" and "for" in every other sentence; counting them would say nothing about the text.
_PROSE_LANGUAGES = frozenset({"markdown", "rst"})
# Nor do the keys and strings of data files, though their indentation is still their nesting.
_DATA_LANGUAGES = frozenset({"yaml", "toml", "json"})


def measure_complexity(span: Span, language: str) -> Complexity:
    """Lines, nesting, branches, parameters, nested defs and a token estimate for one span.

    Python spans are measured on their `ast`, spans of the tree-sitter languages on their syntax
    tree (tree_complexity.py); windows, split parts and content that does not parse on its own
    fall back to the text heuristics: indentation depth and branch keywords.
    """
    lines = span.end_line - span.start_line + 1
    tokens = math.ceil(len(span.content) / CHARS_PER_TOKEN)
    if language == "python":
        module = parse_fragment(span.content)
        if module is not None:
            return _python_complexity(module, span.kind, lines, tokens)
    else:
        figures = tree_complexity(span, language)
        if figures is not None:
            return figures
    if language in _PROSE_LANGUAGES:
        return Complexity(lines=lines, token_estimate=tokens)
    return Complexity(
        lines=lines,
        nesting_depth=indent_depth(span.content),
        branches=0 if language in _DATA_LANGUAGES else len(_BRANCH_WORDS.findall(span.content)),
        token_estimate=tokens,
    )


def _python_complexity(module: ast.Module, kind: str, lines: int, tokens: int) -> Complexity:
    node = own_def(module, kind)
    body = node.body if node is not None else module.body
    parameters = 0
    if isinstance(node, ast.ClassDef):
        init = init_of(node)
        parameters = len(parameters_of(init, is_method=True)) if init is not None else 0
    elif node is not None:
        parameters = len(parameters_of(node, is_method=kind == "method"))
    inner = [sub for stmt in body for sub in ast.walk(stmt)]
    if node is not None:
        # Decorators and defaults belong to the def itself, but a lambda in them is still a definition.
        inner.extend(sub for expr in _def_header_exprs(node) for sub in ast.walk(expr))
    return Complexity(
        lines=lines,
        nesting_depth=max((_depth(stmt) for stmt in body), default=0),
        branches=sum(_branch_count(sub) for sub in inner),
        parameters=parameters,
        nested_defs=sum(isinstance(sub, _DEFS) for sub in inner),
        token_estimate=tokens,
    )


def _def_header_exprs(node: FunctionNode | ast.ClassDef) -> list[ast.expr]:
    exprs = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        exprs.extend(node.bases)
        exprs.extend(keyword.value for keyword in node.keywords)
    else:
        exprs.extend(node.args.defaults)
        exprs.extend(default for default in node.args.kw_defaults if default is not None)
    return exprs


def _depth(stmt: ast.stmt) -> int:
    """How many compound statements deep the innermost statement under `stmt` (inclusive) sits."""
    if not isinstance(stmt, _COMPOUND):
        return 0
    deepest = 0
    # An elif continues the same `if` rather than nesting one in its else; walking the chain in a
    # loop also keeps a generated 2,000-branch elif chain from exhausting the recursion limit.
    while isinstance(stmt, ast.If) and _is_elif(stmt):
        deepest = max(deepest, 1 + _max_depth(stmt.body))
        stmt = stmt.orelse[0]
    return max(deepest, 1 + _max_depth(_blocks(stmt)))


def _max_depth(stmts: list[ast.stmt]) -> int:
    return max((_depth(stmt) for stmt in stmts), default=0)


def _blocks(stmt: ast.stmt) -> list[ast.stmt]:
    """Every statement directly inside a compound statement, whichever clause it is in."""
    children: list[ast.stmt] = []
    for field in ("body", "orelse", "finalbody"):
        children.extend(getattr(stmt, field, []))
    for handler in getattr(stmt, "handlers", []):
        children.extend(handler.body)
    for case in getattr(stmt, "cases", []):
        children.extend(case.body)
    return children


def _is_elif(node: ast.If) -> bool:
    """Whether the else of `node` is an elif: its only statement is an If on the same column."""
    return len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If) and node.orelse[0].col_offset == node.col_offset


def _branch_count(node: ast.AST) -> int:
    if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While | ast.ExceptHandler | ast.match_case | ast.IfExp):
        return 1
    if isinstance(node, ast.BoolOp):
        return len(node.values) - 1
    if isinstance(node, ast.comprehension):
        return len(node.ifs)
    return 0


def indent_depth(content: str) -> int:
    """Levels of indentation below the least-indented non-blank line (tab = 4, unit = smallest step)."""
    indents = [
        len(line.expandtabs(TAB_WIDTH)) - len(line.expandtabs(TAB_WIDTH).lstrip())
        for line in content.splitlines()
        if line.strip()
    ]
    if not indents:
        return 0
    base = min(indents)
    steps = [indent - base for indent in indents if indent > base]
    if not steps:
        return 0
    unit = min(steps)
    return max(steps) // unit
