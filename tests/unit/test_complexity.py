"""measure_complexity on small hand-written spans whose figures are known."""

from __future__ import annotations

import math
import textwrap

import pytest

from shared.messages import Complexity
from workers.chunking import Span, chunk_text, measure_complexity


def _span(kind: str, source: str, name: str = "f") -> Span:
    content = textwrap.dedent(source).strip("\n")
    return Span(kind, name, 1, content.count("\n") + 1, content)


FLAT = """
def f():
    return 1
"""

IF_ELIF_ELSE = """
def f(a, b, /, c, *args, d, e=1, **kw):
    if a:
        return 1
    elif b:
        return 2
    elif c:
        return 3
    else:
        return 4
"""

ELSE_IF_NESTED = """
def f(a):
    if a:
        return 1
    else:
        if a > 2:
            return 2
"""

LOOPS = """
async def f(items):
    for item in items:
        while item:
            try:
                item = item.next
            except ValueError:
                pass
            except (KeyError, TypeError):
                break
    async for x in items:
        pass
"""

EXPRESSIONS = """
def f(a, b, c):
    x = a and b and c
    y = a or b
    z = [i for i in a if i if i > 1]
    w = 1 if a else 2
    return x, y, z, w
"""

NESTED_DEFS = """
def f(x):
    def g(y):
        def h():
            return lambda z: z
        return h
    class Local:
        pass
    return g
"""

MATCH = """
def f(command):
    match command:
        case "go":
            with open(command) as fh:
                return fh
        case "stop":
            return None
        case _:
            return 0
"""

METHOD = """
    @staticmethod
    def m(self, a: int, *, b: str = "x") -> None:
        return None
"""

CLASS_METHOD = """
    @classmethod
    def m(cls, a):
        return cls(a)
"""

CLASS = """
@dataclass
class C(Base):
    def __init__(self, a, b=2):
        if a:
            self.a = a

    def other(self):
        return [x for x in self.a]
"""

CLASS_NO_INIT = """
class C:
    x: int = 1
"""

MODULE_CODE = """
import os

if __name__ == "__main__":
    for arg in os.environ:
        print(arg)
"""


@pytest.mark.parametrize(
    ("kind", "source", "depth", "branches", "parameters", "nested_defs"),
    [
        ("function", FLAT, 0, 0, 0, 0),
        ("function", IF_ELIF_ELSE, 1, 3, 7, 0),
        ("function", ELSE_IF_NESTED, 2, 2, 1, 0),
        ("function", LOOPS, 3, 5, 1, 0),
        ("function", EXPRESSIONS, 0, 6, 3, 0),
        ("function", NESTED_DEFS, 2, 0, 1, 4),
        ("function", MATCH, 2, 3, 1, 0),
        # staticmethod: a first parameter named `self` is still only dropped for a method span.
        ("method", METHOD, 0, 0, 2, 0),
        ("function", METHOD, 0, 0, 3, 0),
        ("method", CLASS_METHOD, 0, 0, 1, 0),
        ("class", CLASS, 2, 1, 2, 2),
        ("class", CLASS_NO_INIT, 0, 0, 0, 0),
        ("code", MODULE_CODE, 2, 2, 0, 0),
    ],
    ids=[
        "flat",
        "if-elif-else",
        "else-if-nested",
        "loops-try",
        "expressions",
        "nested-defs",
        "match",
        "method-drops-self",
        "function-keeps-self",
        "classmethod-drops-cls",
        "class-uses-init",
        "class-without-init",
        "module-code",
    ],
)
def test_python_complexity(
    kind: str, source: str, depth: int, branches: int, parameters: int, nested_defs: int
) -> None:
    span = _span(kind, source)
    got = measure_complexity(span, "python")
    assert (got.nesting_depth, got.branches, got.parameters, got.nested_defs) == (
        depth,
        branches,
        parameters,
        nested_defs,
    )
    assert got.lines == span.end_line - span.start_line + 1
    assert got.token_estimate == math.ceil(len(span.content) / 4)


def test_indented_method_with_multiline_string_left_of_it() -> None:
    # dedent() cannot strip this (the string's lines sit at column 0) but it is still one method.
    content = '    def m(self, a):\n        s = """\nat column zero\n"""\n        if a:\n            return s'
    got = measure_complexity(Span("method", "C.m", 10, 15, content), "python")
    assert (got.nesting_depth, got.branches, got.parameters, got.lines) == (1, 1, 1, 6)


def test_methods_of_a_real_file_get_python_figures() -> None:
    text = "class A:\n    def m(self, x):\n        if x:\n            return [y for y in x if y]\n"
    method = next(s for s in chunk_text("a.py", text).spans if s.kind == "method")
    got = measure_complexity(method, "python")
    assert (got.nesting_depth, got.branches, got.parameters) == (1, 2, 1)


GO = """\
func f(a int) int {
\tif a > 0 && a < 10 {
\t\tfor i := 0; i < a; i++ {
\t\t\tif i == 3 || i == 4 {
\t\t\t\treturn i
\t\t\t}
\t\t}
\t} else if a == 0 {
\t\treturn 0
\t}
\treturn -1
}"""


def test_other_languages_use_indentation_and_keywords() -> None:
    span = Span("window", "lines 1-12", 1, 12, GO)
    got = measure_complexity(span, "go")
    # if, &&, for, if, ||, else if
    assert got == Complexity(lines=12, nesting_depth=4, branches=6, token_estimate=math.ceil(len(GO) / 4))


def test_indent_unit_is_the_smallest_step() -> None:
    content = "  a\n    b\n        c\n      d\n"
    got = measure_complexity(Span("window", "w", 1, 4, content), "yaml")
    # Base indent 2, smallest step 2: c sits 6 further in, three levels.
    assert got.nesting_depth == 3


def test_broken_python_falls_back_to_heuristics() -> None:
    content = "def f(:\n    if x:\n        while y:\n            pass"
    got = measure_complexity(Span("window", "lines 1-4", 1, 4, content), "python")
    assert (got.nesting_depth, got.branches, got.parameters, got.nested_defs) == (3, 2, 0, 0)


def test_prose_has_no_branches() -> None:
    content = "# Install\n\nIf you want it, for now\n  while waiting, case by case."
    got = measure_complexity(Span("section", "Install", 1, 4, content), "markdown")
    assert (got.lines, got.nesting_depth, got.branches) == (4, 0, 0)


def test_empty_content() -> None:
    got = measure_complexity(Span("window", "w", 1, 1, ""), "text")
    assert got == Complexity(lines=1)


def test_long_elif_chain_is_flat_and_does_not_recurse() -> None:
    branches = "".join(f"    elif x == {i}:\n        return {i}\n" for i in range(2000))
    content = f"def f(x):\n    if x is None:\n        return -1\n{branches}    else:\n        return 0"
    span = Span("function", "f", 1, content.count("\n") + 1, content)
    got = measure_complexity(span, "python")
    assert (got.nesting_depth, got.branches) == (1, 2001)
    assert chunk_text("gen.py", content).fallback_reason is None
