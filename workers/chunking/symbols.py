"""Definitions in a tree-sitter syntax tree: what each is, what it is called, which lines are its.

The walk goes down every node that spans more than one line until it meets a definition, so it
finds definitions inside namespaces, `export` statements, `#ifdef` blocks and module wrappers
(`(function () { ... })()`), and members inside class-like definitions (named `Outer.member`).
It does not go into a function: what is defined there is part of the function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from tree_sitter import Node

from workers.chunking.base import Symbol
from workers.chunking.rules import ATTRIBUTES, CLASS_LIKE, COMMENTS, Rules
from workers.chunking.treesitter import end_line_of, line_of, text_of

# What a JS/TS declarator, field, pair or assignment must hold to be a definition.
_JS_FUNCTIONS = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_JS_CLASSES = frozenset({"class"})
# Bodies a function-like definition has when it is not a bare declaration.
_BODIES = frozenset(
    {"function_body", "block", "compound_statement", "constructor_body", "arrow_expression_clause", "statement_block"}
)
# Declarators wrapping a C/C++ function's name: `*f(...)`, `&f(...)`, `f(...)`, `(f)(...)`.
_DECLARATORS = frozenset(
    {"function_declarator", "pointer_declarator", "reference_declarator", "parenthesized_declarator"}
    | {"attributed_declarator"}
)
_C_SPECIFIERS = frozenset({"struct_specifier", "union_specifier", "enum_specifier", "class_specifier"})
_GENERICS = re.compile(r"<.*>")


@dataclass(frozen=True, slots=True)
class Definition:
    """A definition node: its kind and name, the node its lines come from, what members prefix."""

    kind: str
    name: str
    outer: Node
    inner: Node
    header: Node
    qualifier: str

    @property
    def is_function(self) -> bool:
        return self.kind in ("function", "method")

    @property
    def is_class_like(self) -> bool:
        return self.kind in CLASS_LIKE


def _field_text(node: Node, name: str) -> str:
    return text_of(node.child_by_field_name(name))


def _has_body(node: Node) -> bool:
    return node.child_by_field_name("body") is not None or any(child.type in _BODIES for child in node.children)


def _c_name(node: Node) -> Node | None:
    """The name inside a C/C++ declarator chain (`static char *name(args)` -> `name`)."""
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type in _DECLARATORS:
        inner = declarator.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in declarator.named_children if c.type not in ("attribute_declaration",)), None)
        declarator = inner
    return declarator


def _plain(node: Node, kind: str) -> Definition:
    name_node = node.child_by_field_name("name")
    name = text_of(name_node)
    if not name and node.child_by_field_name("operator") is not None:
        name = f"operator {_field_text(node, 'operator')}"
    if not name:
        name_node = _c_name(node)
        name = text_of(name_node)
    if not name:
        name = {"init_declaration": "init", "deinit_declaration": "deinit"}.get(node.type, "")
        name = name or {"secondary_constructor": "constructor", "companion_object": "Companion"}.get(node.type, "")
    return Definition(kind, name or f"(anonymous {kind})", node, node, name_node or node, name)


def _wrapped_function(value: Node) -> Node | None:
    """The function passed to a call that makes the value (`React.memo(() => ...)`, `debounce(function ...)`)."""
    arguments = value.child_by_field_name("arguments") if value.type == "call_expression" else None
    return next((arg for arg in arguments.named_children if arg.type in _JS_FUNCTIONS), None) if arguments else None


def _js_value(node: Node, value_field: str, name_node: Node | None) -> Definition | None:
    """A declarator, field, pair or assignment whose value is a function or class (or a call wrapping a function)."""
    value = node.child_by_field_name(value_field)
    if value is None or name_node is None:
        return None
    if value.type in _JS_FUNCTIONS:
        kind = "function"
    elif value.type in _JS_CLASSES:
        kind = "class"
    else:
        value = _wrapped_function(value)
        if value is None:
            return None
        kind = "function"
    name = text_of(name_node).strip("'\"`")
    return Definition(kind, name, node, value, name_node, name)


def object_name(node: Node) -> str:
    """The name a JS/TS object literal is declared under (`const traps = {...}`), or ""."""
    value = node.child_by_field_name("value")
    if node.type != "variable_declarator" or value is None or value.type != "object":
        return ""
    return text_of(node.child_by_field_name("name"))


def _declarator(node: Node, rules: Rules) -> Definition | None:
    return _js_value(node, "value", node.child_by_field_name("name"))


def _field(node: Node, rules: Rules) -> Definition | None:
    name = node.child_by_field_name("property") or node.child_by_field_name("name")
    return _js_value(node, "value", name)


def _pair(node: Node, rules: Rules) -> Definition | None:
    return _js_value(node, "value", node.child_by_field_name("key"))


def _assignment(node: Node, rules: Rules) -> Definition | None:
    return _js_value(node, "right", node.child_by_field_name("left"))


def _named_function(node: Node, rules: Rules) -> Definition | None:
    return _plain(node, "function") if node.child_by_field_name("name") is not None else None


def _class_declaration(node: Node, rules: Rules) -> Definition | None:
    """Java/C#/JS/PHP classes; Kotlin's and Swift's class_declaration also stand for interfaces,
    enums, structs and extensions, told by a keyword."""
    kind = _field_text(node, "declaration_kind") or "class"
    tokens = {child.type for child in node.children}
    if "interface" in tokens:
        kind = "interface"
    for child in node.children:
        if child.type == "modifiers" and "enum" in text_of(child).split():
            kind = "enum"
    kind = {"actor": "class"}.get(kind, kind)
    definition = _plain(node, kind)
    return replace(definition, qualifier=_GENERICS.sub("", definition.name))


def _go_method(node: Node, rules: Rules) -> Definition | None:
    definition = _plain(node, "function")
    receiver = node.child_by_field_name("receiver")
    if receiver is None:  # Java, C# and PHP method_declaration
        return definition
    types = [sub for sub in walk(receiver) if sub.type == "type_identifier"]
    owner = text_of(types[-1]) if types else ""
    name = f"{owner}.{definition.name}" if owner else definition.name
    return replace(definition, kind="method", name=name, qualifier=name)


def _go_type(node: Node, rules: Rules) -> Definition | None:
    value = node.child_by_field_name("type")
    kind = {"struct_type": "struct", "interface_type": "interface"}.get(value.type if value else "", "type")
    return _plain(node, kind)


def _rust_impl(node: Node, rules: Rules) -> Definition | None:
    target = _field_text(node, "type")
    trait = _field_text(node, "trait")
    name = f"{trait} for {target}" if trait else target
    header = node.child_by_field_name("type") or node
    return Definition("impl", name, node, node, header, _GENERICS.sub("", target))


def _rust_mod(node: Node, rules: Rules) -> Definition | None:
    return _plain(node, "module") if node.child_by_field_name("body") is not None else None


def _c_specifier(node: Node, rules: Rules) -> Definition | None:
    """A struct/union/enum/class with a body (`struct s;` and `struct s *p` are no definition)."""
    if node.child_by_field_name("body") is None:
        return None
    kind = rules.definitions.get(node.type, "struct")
    name_node = node.child_by_field_name("name")
    parent = node.parent
    if name_node is None and parent is not None and parent.type == "type_definition":
        name_node = parent.child_by_field_name("declarator")
    name = text_of(name_node) or f"(anonymous {kind})"
    return Definition(kind, name, node, node, name_node or node, name)


_SPECIAL: dict[str, Callable[[Node, Rules], Definition | None]] = {
    "variable_declarator": _declarator,
    "field_definition": _field,
    "public_field_definition": _field,
    "pair": _pair,
    "assignment_expression": _assignment,
    "function_expression": _named_function,
    "generator_function": _named_function,
    "class_declaration": _class_declaration,
    "method_declaration": _go_method,
    "type_spec": _go_type,
    "impl_item": _rust_impl,
    "mod_item": _rust_mod,
    **dict.fromkeys(_C_SPECIFIERS, _c_specifier),
}


def classify(node: Node, rules: Rules) -> Definition | None:
    """The definition `node` is (or wraps), or None."""
    if not node.is_named:  # keyword tokens share names with node types (Ruby's `class`, JS's `function`)
        return None
    if node.type in rules.wrappers:
        return _unwrap(node, rules)
    kind = rules.definitions.get(node.type)
    if kind is None:
        return None
    special = _SPECIAL.get(node.type)
    definition = special(node, rules) if special is not None else _plain(node, kind)
    if definition is None:
        return None
    if definition.is_function and rules.require_body and not _has_body(node):
        return None
    return definition


def _unwrap(node: Node, rules: Rules) -> Definition | None:
    """The one definition a wrapper holds, with the wrapper's lines; None when it holds none or several."""
    if node.type == "export_statement":
        inner = node.child_by_field_name("declaration")
        if inner is None:
            value = node.child_by_field_name("value")
            if value is not None and value.type in _JS_FUNCTIONS | _JS_CLASSES:
                kind = "function" if value.type in _JS_FUNCTIONS else "class"
                return Definition(kind, "default", node, value, value, "default")
            return None
        candidates = [inner]
    elif node.type in ("type_definition", "declaration"):
        specifier = node.child_by_field_name("type")
        candidates = [specifier] if specifier is not None and specifier.type in _C_SPECIFIERS else []
    else:
        candidates = [child for child in node.named_children if child.type not in COMMENTS | ATTRIBUTES]
        if node.type == "template_declaration":
            candidates = [child for child in candidates if child.type != "template_parameter_list"]
    if len(candidates) != 1:
        return None
    definition = classify(candidates[0], rules)
    return replace(definition, outer=node) if definition is not None else None


def walk(node: Node) -> Iterator[Node]:
    """Every node under `node` (itself included), in document order, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _leading_start(outer: Node) -> int:
    """The first line of the definition with the comment block and attributes right above it.

    Only siblings with no blank line between count, and not a comment that ends a line of code
    (`x = 1;  // note`). A definition first in a body whose node starts on the same line (Ruby's
    `body_statement`) looks at the body's siblings instead.
    """
    start = line_of(outer)
    current = outer
    while True:
        previous = current.prev_named_sibling
        if previous is None:
            parent = current.parent
            if parent is None or parent.parent is None or line_of(parent) != line_of(current):
                return start
            current = parent
            continue
        if previous.type not in COMMENTS | ATTRIBUTES or end_line_of(previous) < start - 1:
            return start
        before = previous.prev_sibling
        if before is not None and before.type not in COMMENTS and end_line_of(before) == line_of(previous):
            return start
        start = line_of(previous)
        current = previous


def find_symbols(root: Node, rules: Rules) -> list[Symbol]:
    """Every definition outside a function body; members of class-likes are named `Owner.member`,
    and their functions are methods (a module's or namespace's stay functions)."""
    return find_clean_symbols(root, rules)[0]


def find_clean_symbols(root: Node, rules: Rules) -> tuple[list[Symbol], list[tuple[int, int]]]:
    """find_symbols() on a tree that may hold syntax errors: the definitions with no error in them,
    and the (first, last) lines of the damaged regions, in walk order.

    A damaged region is an ERROR node, a MISSING token's line, or a definition or one-line node
    with an error inside. Nothing is taken from inside an ERROR node: there the parser has given
    up on the structure and its subtrees are guesses. A container that is no definition (an
    `extern "C" {` block, an `#ifdef`) is searched, so one bad line in it damages only itself.
    On a tree without errors this is exactly find_symbols() with no damaged regions.
    """
    symbols: list[Symbol] = []
    damaged: list[tuple[int, int]] = []
    # (node to look in, the owner's qualified name, the owner's kind)
    stack: list[tuple[Node, str, str]] = [(root, "", "")]
    while stack:
        node, owner, owner_kind = stack.pop()
        for child in node.named_children if not node.has_error else node.children:
            if child.is_error or child.is_missing:
                damaged.append((line_of(child), end_line_of(child)))
                continue
            if not child.is_named:
                continue
            definition = classify(child, rules)
            if definition is None:
                if child.end_point.row > child.start_point.row:
                    # The functions of `const traps = { get() {...} }` are named `traps.get`.
                    scope = object_name(child)
                    stack.append((child, f"{owner}.{scope}" if owner and scope else scope or owner, owner_kind))
                elif child.has_error:
                    damaged.append((line_of(child), end_line_of(child)))
                continue
            start = _leading_start(definition.outer)
            end = end_line_of(definition.outer)
            if definition.outer.has_error:
                damaged.append((start, end))
                continue
            method = definition.kind == "function" and owner_kind not in ("", "module")
            name = f"{owner}.{definition.name}" if owner else definition.name
            kind = "method" if method else definition.kind
            symbols.append(Symbol(kind, name, start, end, line_of(definition.header), line_of(definition.outer)))
            if definition.is_class_like:
                qualifier = f"{owner}.{definition.qualifier}" if owner else definition.qualifier
                stack.append((definition.inner, qualifier, definition.kind))
    return symbols, damaged
