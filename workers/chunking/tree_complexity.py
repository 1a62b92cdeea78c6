"""Complexity figures from a tree-sitter syntax tree, counted as the Python figures are.

The span's content is parsed on its own (a method inside a `class _ { ... }` wrapping where the
language needs one). For a function, method or class-like span the figures are those of its own
definition, the first one in the content: nesting is counted inside it, its parameters are its
own (a class's are its constructor's). Any other span is measured as a whole, without parameters.
"""

from __future__ import annotations

import math
import re

from tree_sitter import Node, Tree

from shared.messages import Complexity
from workers.chunking.base import Span
from workers.chunking.parts import CHARS_PER_TOKEN
from workers.chunking.rules import (
    CLASS_PARAMETERS,
    CONSTRUCTOR_NAMES,
    ELSE_CLAUSES,
    IFS,
    LOGICAL_OPERATORS,
    NOT_PARAMETERS,
    RULES,
    Rules,
)
from workers.chunking.symbols import Definition, classify, walk
from workers.chunking.treesitter import parse, text_of

# Definitions whose value is the function (counted as a lambda there), not a definition themselves.
_HOLDERS = frozenset(
    {"variable_declarator", "field_definition", "public_field_definition", "pair", "assignment_expression"}
)
_SELF_KINDS = frozenset({"function", "method"})
# The name of a part of a split symbol (parts.part_name).
_PART = re.compile(r" \(part \d+/\d+\)$")
# Spans that are no definition of their own: measured as a whole.
_WHOLE_KINDS = frozenset({"code", "module_doc", "window", "section", "key", "table"})


def _parse_fragment(content: str, rules: Rules, kind: str) -> tuple[Tree, int, Definition | None] | None:
    """A clean parse of the content, the byte offset where the content starts in it, and the span's
    own definition: the first wrapping whose parse finds one, else the first clean parse."""
    fallback: tuple[Tree, int, Definition | None] | None = None
    wrappings = rules.fragment_wrappings
    if kind == "method":  # cut out of a class: a wrapped parse is likelier to be clean
        wrappings = (*wrappings[1:], wrappings[0])
    for name in rules.fragments:
        for prefix, suffix in wrappings:
            tree = parse(name, f"{prefix}{content}{suffix}\n".encode())
            if tree.root_node.has_error:
                continue
            offset = len(prefix.encode())
            own = _own_definition(tree.root_node, rules, offset, kind)
            if own is not None or kind in _WHOLE_KINDS:
                return tree, offset, own
            fallback = fallback or (tree, offset, None)
    return fallback


def _own_definition(root: Node, rules: Rules, offset: int, kind: str) -> Definition | None:
    """The definition a function/method/class-like span consists of: the first in its content."""
    if kind in _WHOLE_KINDS:
        return None
    for node in walk(root):
        if node.start_byte < offset:
            continue
        definition = classify(node, rules)
        if definition is not None:
            wanted_function = kind in _SELF_KINDS
            return definition if definition.is_function == wanted_function else None
    return None


def _is_definition(node: Node, kind: str, rules: Rules) -> bool:
    if kind in rules.lambdas:
        return True
    if kind in _HOLDERS or kind not in rules.definitions:
        return False
    return classify(node, rules) is not None


def _adds_level(node: Node, kind: str, parent: Node | None, rules: Rules, is_definition: bool) -> bool:
    if kind in rules.lambdas and kind not in rules.definitions:
        # A one-line lambda is an expression (as in Python); a block of them is a level.
        return node.end_point.row > node.start_point.row
    if is_definition:
        return True
    if kind not in rules.nesting:
        return False
    # `else if`: the if continues the chain of the one whose else it sits in.
    return not (kind in IFS and parent is not None and (parent.type in IFS or parent.type in ELSE_CLAUSES))


def _is_logical(node: Node, kind: str, rules: Rules) -> bool:
    if kind not in rules.logical:
        return False
    if kind in ("conjunction_expression", "disjunction_expression"):
        return True
    operator = node.child_by_field_name("operator")
    if operator is not None:
        return operator.type in LOGICAL_OPERATORS or text_of(operator) in LOGICAL_OPERATORS
    return any(not child.is_named and child.type in LOGICAL_OPERATORS for child in node.children)


_COUNTED: dict[int, frozenset[str]] = {}


def _counted(rules: Rules) -> frozenset[str]:
    """Node types that may count for anything: every other node is only walked through."""
    counted = _COUNTED.get(id(rules))
    if counted is None:
        counted = frozenset(rules.definitions) | rules.lambdas | rules.nesting | rules.branches | rules.logical
        _COUNTED[id(rules)] = counted
    return counted


def _figures(top: Node, rules: Rules, offset: int) -> tuple[int, int, int]:
    """(nesting depth, branches, nested definitions) of everything under `top` (not `top` itself).

    Only named nodes are walked: keyword tokens share names with node types (Ruby's `if`, JS's
    `function`) and an operator is read from its expression.
    """
    counted = _counted(rules)
    deepest = branches = nested = 0
    stack: list[tuple[Node, int]] = [(child, 0) for child in top.named_children]
    while stack:
        node, depth = stack.pop()
        kind = node.type
        # Nodes that start before `offset` are the wrapping added to parse a fragment on its own.
        if kind in counted and node.start_byte >= offset:
            is_definition = _is_definition(node, kind, rules)
            if _adds_level(node, kind, node.parent, rules, is_definition):
                depth += 1
                deepest = max(deepest, depth)
            nested += is_definition
            branches += kind in rules.branches or _is_logical(node, kind, rules)
        stack.extend([(child, depth) for child in node.named_children])
    return deepest, branches, nested


def _parameter_count(node: Node, rules: Rules) -> int:
    """Parameters of a function-like node: every declared one, variadics included, `self` not."""
    lists = node.children_by_field_name("parameters")
    lists = lists or [child for child in node.children if child.type in rules.parameter_lists]
    declarator = node.child_by_field_name("declarator")
    while not lists and declarator is not None:  # C/C++: the list sits in the function declarator
        lists = declarator.children_by_field_name("parameters")
        declarator = declarator.child_by_field_name("declarator")
    if not lists:
        # Swift lists parameters directly; a JS arrow function may have one bare `parameter`.
        single = node.child_by_field_name("parameter")
        return 1 if single is not None else sum(child.type == "parameter" for child in node.named_children)
    count = 0
    for parameter_list in lists:
        for child in parameter_list.named_children:
            if child.type in NOT_PARAMETERS or text_of(child) == "void":
                continue
            names = child.children_by_field_name("name") if child.type == "parameter_declaration" else []
            count += max(1, len(names))
    return count


def _constructor_parameters(definition: Definition, rules: Rules) -> int:
    node = definition.inner
    for child in node.children:
        if child.type in CLASS_PARAMETERS:
            return sum(sub.type in ("class_parameter", "parameter") for sub in walk(child))
    if node.child_by_field_name("parameters") is not None:  # a Java record's components
        return _parameter_count(node, rules)
    body = node.child_by_field_name("body") or next((c for c in node.named_children if c.type.endswith("body")), None)
    for member in body.named_children if body is not None else []:
        inner = classify(member, rules)
        if inner is None or not inner.is_function:
            continue
        name = inner.name.rsplit(".", 1)[-1]
        if member.type in rules.constructors or name in CONSTRUCTOR_NAMES or name == definition.name:
            return _parameter_count(inner.inner, rules)
    return 0


def tree_complexity(span: Span, language: str) -> Complexity | None:
    """The span's figures from its syntax tree, or None when the language has no tree-sitter rules,
    the span is a window or a part of a split symbol (arbitrary cuts of lines, which would only
    make tree-sitter's error recovery work hard for nothing) or does not parse on its own."""
    rules = RULES.get(language)
    if rules is None or span.kind == "window" or _PART.search(span.name) or not span.content.strip():
        return None
    try:
        parsed = _parse_fragment(span.content, rules, span.kind)
    except UnicodeEncodeError:
        return None
    if parsed is None:
        return None
    tree, offset, own = parsed
    top = own.inner if own is not None else tree.root_node
    depth, branches, nested = _figures(top, rules, offset)
    parameters = 0
    if own is not None:
        parameters = _parameter_count(own.inner, rules) if own.is_function else _constructor_parameters(own, rules)
    return Complexity(
        lines=span.end_line - span.start_line + 1,
        nesting_depth=depth,
        branches=branches,
        parameters=parameters,
        nested_defs=nested,
        token_estimate=math.ceil(len(span.content) / CHARS_PER_TOKEN),
    )
