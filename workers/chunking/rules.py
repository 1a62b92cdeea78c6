"""What each tree-sitter language calls its definitions, comments and control flow: node types only.

`definitions` maps a node type to the kind of span it makes. "function" becomes "method" when the
definition sits inside a class-like one (any other kind but "type" and "macro"); a few node types
need more than a `name` field to say what they are, and symbols.py handles those by type
(Kotlin/Swift `class_declaration`, Go `type_spec`, C struct specifiers, JS declarators ...).
`wrappers` are nodes that lend their range to the single definition inside (`export ...`,
`const f = () => ...`, `template <...>`, `typedef struct {...} t;`). The complexity tables follow
what the Python figures count: `nesting` nodes add a level (an `if` that is another's else-if
does not), `branches` are decision points, `lambdas` count as nested definitions (and as a
nesting level when they span lines), `logical` nodes count when their operator is && / || /
and / or.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Kinds whose function members are methods (and whose name qualifies theirs).
CLASS_LIKE = frozenset(
    {"class", "struct", "interface", "enum", "trait", "impl", "object", "protocol", "extension", "module", "record"}
)

COMMENTS = frozenset({"comment", "line_comment", "block_comment", "multiline_comment"})
# Siblings before a definition that belong to it (`#[derive(..)]`, `@decorator`, `[Attribute]`).
ATTRIBUTES = frozenset(
    {"attribute_item", "decorator", "attribute_list", "annotation", "marker_annotation", "attribute_declaration"}
)
# Else clauses: an `if` directly inside one (or directly in another `if`) continues an else-if chain.
ELSE_CLAUSES = frozenset({"else_clause", "else"})
IFS = frozenset({"if_statement", "if_expression", "if"})
LOGICAL_OPERATORS = frozenset({"&&", "||", "and", "or"})
# Parameter-list children that are not parameters.
NOT_PARAMETERS = frozenset(
    {*COMMENTS, "self_parameter", "receiver_parameter", "parameter_modifiers", "annotation", "attribute_list"}
)
# Node types that hold a class's constructor parameters themselves (Kotlin, Scala, records).
CLASS_PARAMETERS = frozenset({"primary_constructor", "class_parameters"})
CONSTRUCTOR_NAMES = frozenset({"constructor", "__construct", "initialize", "init"})


@dataclass(frozen=True)
class Rules:
    """The node types of one language (see the module docstring)."""

    grammars: tuple[str, ...]
    definitions: Mapping[str, str]
    wrappers: frozenset[str] = frozenset()
    # Grammars and (prefix, suffix) wrappings to parse a span on its own, tried in order: a
    # method is not valid at the top of a Java file, so it is parsed inside `class _ { ... }`.
    fragment_grammars: tuple[str, ...] = ()
    fragment_wrappings: tuple[tuple[str, str], ...] = (("", ""),)
    # Function-like definitions without a body (interface and abstract methods) are no symbol.
    require_body: bool = False
    nesting: frozenset[str] = frozenset()
    branches: frozenset[str] = frozenset()
    lambdas: frozenset[str] = frozenset()
    logical: frozenset[str] = frozenset({"binary_expression"})
    constructors: frozenset[str] = frozenset()
    parameter_lists: frozenset[str] = field(default_factory=frozenset)
    # A syntax error damages only its own region, not the whole file (see code.py): C and C++,
    # whose grammars see unexpanded macros (`PyAPI_FUNC(int) f(void);`, `extern "C" {` opened in one
    # `#ifdef` and closed in another), so that a valid header often "fails" to parse.
    tolerate_errors: bool = False

    @property
    def fragments(self) -> tuple[str, ...]:
        return self.fragment_grammars or self.grammars


_CLASS_WRAP = (("", ""), ("class _ {\n", "\n}"))
# JS/TS members may also come from an object literal (`{ get(state) {...}, }`).
_JS_WRAP = (*_CLASS_WRAP, ("_ = {\n", "\n}"))

_JS_DEFS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    # Named function expressions only (`connect(x)(function Page() {...})`); see symbols.py.
    "function_expression": "function",
    "generator_function": "function",
    "class_declaration": "class",
    "method_definition": "function",
    "variable_declarator": "function",
    "field_definition": "function",
    "public_field_definition": "function",
    "pair": "function",
    "assignment_expression": "function",
}
_JS_NESTING = frozenset(
    {"if_statement", "for_statement", "for_in_statement", "while_statement", "do_statement", "switch_statement"}
    | {"try_statement"}
)
_JS_BRANCHES = frozenset(
    {"if_statement", "for_statement", "for_in_statement", "while_statement", "do_statement", "switch_case"}
    | {"switch_default", "catch_clause", "ternary_expression"}
)
_JS_LAMBDAS = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function", "class", "method_definition"}
)
_JS_WRAPPERS = frozenset({"export_statement", "lexical_declaration", "variable_declaration", "expression_statement"})

_JS = Rules(
    grammars=("javascript",),
    definitions=_JS_DEFS,
    wrappers=_JS_WRAPPERS,
    fragment_wrappings=_JS_WRAP,
    nesting=_JS_NESTING,
    branches=_JS_BRANCHES,
    lambdas=_JS_LAMBDAS,
    parameter_lists=frozenset({"formal_parameters"}),
)

_TS = Rules(
    grammars=("typescript",),
    definitions={
        **_JS_DEFS,
        "abstract_class_declaration": "class",
        "interface_declaration": "interface",
        "enum_declaration": "enum",
        "type_alias_declaration": "type",
        "internal_module": "module",
        "module": "module",
    },
    wrappers=_JS_WRAPPERS | {"ambient_declaration"},
    fragment_grammars=("typescript", "tsx"),
    fragment_wrappings=_JS_WRAP,
    nesting=_JS_NESTING,
    branches=_JS_BRANCHES,
    lambdas=_JS_LAMBDAS,
    parameter_lists=frozenset({"formal_parameters"}),
)

_C_NESTING = frozenset({"if_statement", "for_statement", "while_statement", "do_statement", "switch_statement"})
_C_BRANCHES = frozenset(
    {"if_statement", "for_statement", "while_statement", "do_statement", "case_statement", "conditional_expression"}
)
_C_DEFS = {
    "function_definition": "function",
    "struct_specifier": "struct",
    "union_specifier": "union",
    "enum_specifier": "enum",
}
_C = Rules(
    grammars=("c",),
    definitions=_C_DEFS,
    wrappers=frozenset({"type_definition", "declaration"}),
    nesting=_C_NESTING,
    branches=_C_BRANCHES,
    parameter_lists=frozenset({"parameter_list"}),
    tolerate_errors=True,
)
_CPP = Rules(
    grammars=("cpp",),
    definitions={**_C_DEFS, "class_specifier": "class"},
    wrappers=frozenset({"type_definition", "declaration", "template_declaration"}),
    fragment_wrappings=(("", ""), ("struct _ {\n", "\n};")),
    nesting=_C_NESTING | {"for_range_loop", "try_statement", "lambda_expression"},
    branches=_C_BRANCHES | {"for_range_loop", "catch_clause"},
    lambdas=frozenset({"lambda_expression"}),
    parameter_lists=frozenset({"parameter_list"}),
    tolerate_errors=True,
)

RULES: dict[str, Rules] = {
    "javascript": _JS,
    "typescript": _TS,
    "go": Rules(
        grammars=("go",),
        definitions={
            "function_declaration": "function",
            "method_declaration": "method",
            "type_spec": "type",
            "type_alias": "type",
        },
        wrappers=frozenset({"type_declaration"}),
        nesting=frozenset(
            {"if_statement", "for_statement", "expression_switch_statement", "type_switch_statement"}
            | {"select_statement", "func_literal"}
        ),
        branches=frozenset(
            {"if_statement", "for_statement", "expression_case", "type_case", "default_case", "communication_case"}
        ),
        lambdas=frozenset({"func_literal"}),
        parameter_lists=frozenset({"parameter_list"}),
    ),
    "rust": Rules(
        grammars=("rust",),
        definitions={
            "function_item": "function",
            "struct_item": "struct",
            "union_item": "union",
            "enum_item": "enum",
            "trait_item": "trait",
            "impl_item": "impl",
            "mod_item": "module",
            "macro_definition": "macro",
        },
        fragment_wrappings=(("", ""), ("impl _ {\n", "\n}")),
        nesting=frozenset(
            {"if_expression", "for_expression", "while_expression", "loop_expression", "match_expression"}
            | {"closure_expression"}
        ),
        branches=frozenset({"if_expression", "for_expression", "while_expression", "loop_expression", "match_arm"}),
        lambdas=frozenset({"closure_expression"}),
        parameter_lists=frozenset({"parameters"}),
    ),
    "java": Rules(
        grammars=("java",),
        definitions={
            "class_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "record",
            "annotation_type_declaration": "interface",
            "method_declaration": "function",
            "constructor_declaration": "function",
            "compact_constructor_declaration": "function",
        },
        fragment_wrappings=_CLASS_WRAP,
        require_body=True,
        nesting=frozenset(
            {"if_statement", "for_statement", "enhanced_for_statement", "while_statement", "do_statement"}
            | {"switch_expression", "try_statement", "try_with_resources_statement", "synchronized_statement"}
            | {"lambda_expression"}
        ),
        branches=frozenset(
            {"if_statement", "for_statement", "enhanced_for_statement", "while_statement", "do_statement"}
            | {"switch_label", "catch_clause", "ternary_expression"}
        ),
        lambdas=frozenset({"lambda_expression"}),
        constructors=frozenset({"constructor_declaration", "compact_constructor_declaration"}),
        parameter_lists=frozenset({"formal_parameters"}),
    ),
    "c": _C,
    "cpp": _CPP,
    "csharp": Rules(
        grammars=("csharp",),
        definitions={
            "class_declaration": "class",
            "struct_declaration": "struct",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "record",
            "method_declaration": "function",
            "constructor_declaration": "function",
            "destructor_declaration": "function",
            "operator_declaration": "function",
            "conversion_operator_declaration": "function",
            # A function among a script's top-level statements (and how a lone method parses).
            "local_function_statement": "function",
        },
        fragment_wrappings=_CLASS_WRAP,
        require_body=True,
        nesting=frozenset(
            {"if_statement", "for_statement", "foreach_statement", "while_statement", "do_statement"}
            | {"switch_statement", "switch_expression", "try_statement", "using_statement", "lock_statement"}
            | {"lambda_expression", "anonymous_method_expression", "local_function_statement"}
        ),
        branches=frozenset(
            {"if_statement", "for_statement", "foreach_statement", "while_statement", "do_statement"}
            | {"switch_section", "switch_expression_arm", "catch_clause", "conditional_expression"}
        ),
        lambdas=frozenset({"lambda_expression", "anonymous_method_expression", "local_function_statement"}),
        constructors=frozenset({"constructor_declaration"}),
        parameter_lists=frozenset({"parameter_list"}),
    ),
    "ruby": Rules(
        grammars=("ruby",),
        definitions={"class": "class", "module": "module", "method": "function", "singleton_method": "function"},
        nesting=frozenset({"if", "unless", "while", "until", "for", "case", "case_match", "begin", "do_block"})
        | {"block", "lambda"},
        branches=frozenset(
            {"if", "elsif", "unless", "while", "until", "for", "when", "in_clause", "rescue", "conditional"}
            | {"if_modifier", "unless_modifier", "while_modifier", "until_modifier", "rescue_modifier"}
        ),
        lambdas=frozenset({"do_block", "block", "lambda"}),
        logical=frozenset({"binary"}),
        parameter_lists=frozenset({"method_parameters"}),
    ),
    "php": Rules(
        grammars=("php",),
        definitions={
            "class_declaration": "class",
            "interface_declaration": "interface",
            "trait_declaration": "trait",
            "enum_declaration": "enum",
            "function_definition": "function",
            "method_declaration": "function",
        },
        fragment_grammars=("php_only",),
        fragment_wrappings=_CLASS_WRAP,
        require_body=True,
        nesting=frozenset(
            {"if_statement", "for_statement", "foreach_statement", "while_statement", "do_statement"}
            | {"switch_statement", "match_expression", "try_statement", "anonymous_function", "arrow_function"}
        ),
        branches=frozenset(
            {"if_statement", "else_if_clause", "for_statement", "foreach_statement", "while_statement"}
            | {"do_statement", "case_statement", "default_statement", "catch_clause", "conditional_expression"}
            | {"match_conditional_expression", "match_default_expression"}
        ),
        lambdas=frozenset({"anonymous_function", "arrow_function"}),
        parameter_lists=frozenset({"formal_parameters"}),
    ),
    "kotlin": Rules(
        grammars=("kotlin",),
        definitions={
            "class_declaration": "class",
            "object_declaration": "object",
            "companion_object": "object",
            "function_declaration": "function",
            "secondary_constructor": "function",
        },
        require_body=True,
        nesting=frozenset(
            {"if_expression", "for_statement", "while_statement", "do_while_statement", "when_expression"}
            | {"try_expression", "lambda_literal", "anonymous_function"}
        ),
        branches=frozenset(
            {"if_expression", "for_statement", "while_statement", "do_while_statement", "when_entry", "catch_block"}
        ),
        lambdas=frozenset({"lambda_literal", "anonymous_function"}),
        logical=frozenset({"binary_expression", "conjunction_expression", "disjunction_expression"}),
        constructors=frozenset({"secondary_constructor"}),
        parameter_lists=frozenset({"function_value_parameters"}),
    ),
    "swift": Rules(
        grammars=("swift",),
        definitions={
            "class_declaration": "class",
            "protocol_declaration": "protocol",
            "function_declaration": "function",
            "init_declaration": "function",
            "deinit_declaration": "function",
        },
        fragment_wrappings=_CLASS_WRAP,
        require_body=True,
        nesting=frozenset(
            {"if_statement", "guard_statement", "for_statement", "while_statement", "repeat_while_statement"}
            | {"switch_statement", "do_statement", "lambda_literal"}
        ),
        branches=frozenset(
            {"if_statement", "guard_statement", "for_statement", "while_statement", "repeat_while_statement"}
            | {"switch_entry", "catch_block", "ternary_expression"}
        ),
        lambdas=frozenset({"lambda_literal"}),
        logical=frozenset({"conjunction_expression", "disjunction_expression"}),
        constructors=frozenset({"init_declaration"}),
    ),
    "scala": Rules(
        grammars=("scala",),
        definitions={
            "class_definition": "class",
            "object_definition": "object",
            "trait_definition": "trait",
            "enum_definition": "enum",
            "function_definition": "function",
        },
        nesting=frozenset(
            {"if_expression", "for_expression", "while_expression", "do_while_expression", "match_expression"}
            | {"try_expression", "lambda_expression"}
        ),
        branches=frozenset(
            {"if_expression", "for_expression", "while_expression", "do_while_expression", "case_clause"}
        ),
        lambdas=frozenset({"lambda_expression"}),
        logical=frozenset({"infix_expression"}),
        parameter_lists=frozenset({"parameters"}),
    ),
    "shell": Rules(
        grammars=("bash",),
        definitions={"function_definition": "function"},
        nesting=frozenset({"if_statement", "for_statement", "c_style_for_statement", "while_statement"})
        | {"case_statement"},
        branches=frozenset(
            {"if_statement", "elif_clause", "for_statement", "c_style_for_statement", "while_statement", "case_item"}
            | {"ternary_expression"}
        ),
        logical=frozenset({"list"}),
    ),
}
