"""measure_complexity from the syntax tree for the tree-sitter languages, counted as for Python.

Depth counts control structures and nested definitions below the span's own definition (an
else-if no deeper than its if), branches count decision points (each if and else-if, loop, case,
catch, ternary, && and ||), parameters leave out Rust's `self` and a Go receiver, and a class's
are its constructor's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from shared.messages import Complexity
from tests.unit.test_complexity import GO  # the same code, measured there as a window
from workers.chunking import Span, chunk_text, measure_complexity

SAMPLES = Path(__file__).parent.parent / "fixtures" / "samples"

# (sample, span name, (nesting depth, branches, parameters, nested definitions))
FIGURES = [
    ("sample.go", "Largest", (2, 4, 3, 0)),  # for > if; for, if, &&, else-if
    ("sample.go", "Circle.Area", (0, 0, 0, 0)),  # the receiver is no parameter
    ("sample.rs", "main", (1, 2, 0, 0)),  # match with two arms
    ("sample.rs", "Point.dist", (0, 0, 1, 0)),  # &self is no parameter
    ("sample.rs", "Point", (0, 0, 0, 0)),
    ("Sample.java", "Greeter.run", (2, 3, 0, 0)),  # for > if; for, if, ||
    ("Sample.java", "Greeter", (3, 3, 2, 4)),  # its constructor's two parameters; four members
    ("Sample.java", "Pair", (0, 0, 2, 0)),  # a record's components
    ("sample.c", "name_of", (1, 2, 2, 0)),  # if / else if
    ("sample.c", "main", (0, 0, 0, 0)),  # (void)
    ("sample.cpp", "Box", (1, 0, 2, 2)),
    ("sample.cpp", "twice", (0, 0, 1, 0)),
    ("Sample.cs", "Widget.Grow", (1, 2, 2, 0)),
    ("Sample.cs", "Widget", (2, 2, 1, 2)),
    ("sample.rb", "Stack.push", (0, 1, 1, 0)),  # `... if item`: a branch on one line
    ("sample.rb", "Stack", (1, 1, 1, 2)),  # initialize(items = [])
    ("sample.rb", "top_level", (0, 1, 2, 0)),
    ("sample.php", "helper", (1, 3, 2, 0)),  # if, &&, elseif
    ("sample.php", "User", (1, 0, 1, 2)),  # __construct
    ("sample.kt", "top", (1, 3, 2, 0)),
    ("sample.kt", "Box", (2, 1, 2, 2)),  # the primary constructor's two parameters
    ("sample.swift", "Car.drive", (1, 2, 0, 0)),
    ("sample.swift", "Car", (2, 2, 1, 2)),  # init(speed:)
    ("sample.swift", "honk", (0, 0, 2, 0)),
    ("sample.scala", "Circle.scale", (1, 2, 2, 0)),
    ("sample.scala", "Circle", (2, 2, 1, 2)),
    ("sample.sh", "main", (1, 3, 0, 0)),  # if, &&, for
    ("sample.ts", "Loader.load", (1, 2, 2, 0)),
    ("sample.ts", "Loader", (2, 2, 1, 2)),  # constructor(private readonly opts)
    ("sample.ts", "helper", (0, 1, 2, 0)),  # the ternary
    ("sample.tsx", "Hello", (0, 0, 1, 0)),  # JSX: parsed with the TSX grammar
    ("sample.js", "Counter", (1, 0, 1, 3)),
    ("sample.js", "square", (0, 0, 1, 0)),
]


@pytest.mark.parametrize(("sample", "name", "figures"), FIGURES, ids=[f"{s}:{n}" for s, n, _ in FIGURES])
def test_figures_of_sample_symbols(sample: str, name: str, figures: tuple[int, int, int, int]) -> None:
    result = chunk_text(sample, (SAMPLES / sample).read_text(encoding="utf-8"))
    span = next(s for s in result.spans if s.name == name)
    got = measure_complexity(span, result.language)
    assert (got.nesting_depth, got.branches, got.parameters, got.nested_defs) == figures
    assert got.lines == span.end_line - span.start_line + 1
    assert got.token_estimate == math.ceil(len(span.content) / 4)


def test_a_function_span_is_measured_on_its_tree_and_a_window_on_its_text() -> None:
    # The same Go code (test_complexity.py has it as a window): the tree says the else-if is no
    # deeper than its if, and that the function takes one parameter.
    function = measure_complexity(Span("function", "f", 1, 12, GO), "go")
    assert (function.nesting_depth, function.branches, function.parameters) == (3, 6, 1)
    window = measure_complexity(Span("window", "lines 1-12", 1, 12, GO), "go")
    assert (window.nesting_depth, window.branches, window.parameters) == (4, 6, 0)


def test_one_line_lambdas_are_expressions_and_block_lambdas_a_level() -> None:
    flat = "function f(xs) {\n  return xs.map((x) => x * 2).filter((x) => x > 1);\n}"
    nested = "function f(xs) {\n  xs.forEach((x) => {\n    if (x) {\n      log(x);\n    }\n  });\n}"
    got_flat = measure_complexity(Span("function", "f", 1, 3, flat), "javascript")
    got_nested = measure_complexity(Span("function", "f", 1, 7, nested), "javascript")
    assert (got_flat.nesting_depth, got_flat.nested_defs) == (0, 2)
    assert (got_nested.nesting_depth, got_nested.branches, got_nested.nested_defs) == (2, 1, 1)


def test_a_method_is_measured_inside_a_class_it_is_cut_from() -> None:
    # A Java method is not valid on its own at the top of a file; the figures are still its own.
    content = "    public int f(int a, String... rest) {\n        while (a > 0) { a--; }\n        return a;\n    }"
    got = measure_complexity(Span("method", "A.f", 3, 6, content), "java")
    assert (got.nesting_depth, got.branches, got.parameters) == (1, 1, 2)


def test_an_object_literal_method_is_measured_inside_an_object() -> None:
    content = "  get(target, key) {\n    return key in target ? target[key] : undefined\n  },"
    got = measure_complexity(Span("function", "traps.get", 5, 7, content), "javascript")
    assert (got.parameters, got.branches) == (2, 1)


def test_a_part_of_a_split_symbol_falls_back_to_the_text_heuristics() -> None:
    # A part after the first starts with the signature and cuts into the body: not parseable.
    content = "func f(a int) int {\n\t\tif a > 1 {\n\t\t\treturn 1\n\t\t}"
    got = measure_complexity(Span("function", "f (part 2/3)", 70, 72, content), "go")
    assert got == measure_complexity(Span("window", "lines 70-72", 70, 72, content), "go")
    assert got == Complexity(lines=3, nesting_depth=1, branches=1, token_estimate=math.ceil(len(content) / 4))


def test_code_spans_are_measured_as_a_whole() -> None:
    content = "if (ready) {\n  for (const x of xs) {\n    run(x);\n  }\n}"
    got = measure_complexity(Span("code", "module code 1-5", 1, 5, content), "javascript")
    assert (got.nesting_depth, got.branches, got.parameters, got.nested_defs) == (2, 2, 0, 0)


def test_data_files_have_no_branches() -> None:
    content = "jobs:\n  test:\n    if: github.event_name == 'push' || true\n    steps: []"
    got = measure_complexity(Span("key", "jobs", 1, 4, content), "yaml")
    assert (got.nesting_depth, got.branches) == (2, 0)
