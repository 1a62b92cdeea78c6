"""The tree-sitter chunker on small hand-written files, one per language, whose lines are known.

Each sample (tests/fixtures/samples/) has functions, methods, classes and their kin with doc
comments, decorators or attributes above them; the expected spans below were checked against the
files line by line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.chunking import chunk_text

SAMPLES = Path(__file__).parent.parent / "fixtures" / "samples"

EXPECTED: dict[str, list[tuple[str, str, int, int]]] = {
    "Sample.cs": [
        ("code", "module code 1-4", 1, 4),
        ("class", "Widget", 5, 25),
        ("method", "Widget.Widget", 11, 15),
        ("method", "Widget.Grow", 17, 24),
        ("interface", "IThing", 27, 30),
        ("struct", "Pt", 32, 32),
        ("enum", "Kind", 34, 34),
    ],
    "Sample.java": [
        ("code", "module code 1-3", 1, 3),
        ("class", "Greeter", 5, 32),
        ("method", "Greeter.Greeter", 12, 15),
        ("method", "Greeter.run", 17, 25),
        ("interface", "Greeter.Listener", 27, 29),
        ("enum", "Greeter.Mode", 31, 31),
        ("record", "Pair", 34, 34),
    ],
    "sample.c": [
        ("code", "module code 1-1", 1, 1),
        ("struct", "counter", 3, 6),
        ("struct", "pair_t", 8, 10),
        ("function", "add", 12, 18),
        ("function", "name_of", 20, 28),
        ("code", "module code 30-30", 30, 30),
        ("function", "debug", 31, 33),
        ("code", "module code 34-34", 34, 34),
        ("function", "main", 36, 36),
    ],
    "sample.cpp": [
        ("code", "module code 1-3", 1, 3),
        ("class", "Shape", 5, 12),
        ("method", "Shape.~Shape", 8, 8),
        ("method", "Shape.sides", 11, 11),
        ("struct", "Square", 14, 19),
        ("method", "Square.area", 16, 18),
        ("function", "twice", 21, 24),
        ("code", "module code 26-26", 26, 26),
        ("function", "geo::Shape::area", 28, 31),
        ("class", "Box", 33, 40),
        ("method", "Box.Box", 36, 36),
        ("method", "Box.get", 37, 37),
    ],
    "sample.go": [
        ("code", "module code 1-4", 1, 4),
        ("interface", "Shape", 6, 9),
        ("struct", "Circle", 11, 15),
        ("method", "Circle.Area", 17, 20),
        ("function", "Largest", 22, 32),
        ("code", "module code 34-36", 34, 36),
        ("type", "ID", 37, 38),
        ("struct", "pair", 39, 39),
    ],
    "sample.js": [
        ("code", "module code 1-3", 1, 3),
        ("class", "Counter", 5, 20),
        ("method", "Counter.constructor", 9, 11),
        ("method", "Counter.inc", 13, 17),
        ("method", "Counter.of", 19, 19),
        ("function", "add", 22, 25),
        ("function", "mul", 27, 29),
        ("function", "square", 31, 33),
        ("code", "module code 35-35", 35, 35),
    ],
    "sample.kt": [
        ("code", "module code 1-3", 1, 3),
        ("class", "Box", 5, 13),
        ("method", "Box.area", 7, 8),
        ("method", "Box.bigger", 10, 12),
        ("interface", "Sized", 15, 17),
        ("object", "Registry", 19, 23),
        ("method", "Registry.register", 20, 22),
        ("function", "top", 25, 33),
        ("enum", "Dir", 35, 35),
    ],
    "sample.php": [
        ("code", "module code 1-3", 1, 3),
        ("class", "User", 5, 22),
        ("method", "User.__construct", 12, 16),
        ("method", "User.name", 18, 21),
        ("interface", "Named", 24, 27),
        ("trait", "Greets", 29, 32),
        ("method", "Greets.greet", 31, 31),
        ("function", "helper", 34, 43),
    ],
    "sample.rb": [
        ("module", "Helpers", 1, 7),
        ("function", "Helpers.greet", 3, 6),
        ("class", "Stack", 9, 20),
        ("method", "Stack.initialize", 11, 13),
        ("method", "Stack.push", 15, 19),
        ("function", "top_level", 22, 24),
    ],
    "sample.rs": [
        ("code", "module code 1-3", 1, 3),
        ("struct", "Point", 5, 10),
        ("trait", "Draw", 12, 15),
        ("impl", "Point", 17, 26),
        ("method", "Point.origin", 18, 21),
        ("method", "Point.dist", 23, 25),
        ("impl", "fmt::Display for Point", 28, 32),
        ("method", "Point.fmt", 29, 31),
        ("enum", "Color", 34, 37),
        ("function", "main", 39, 45),
        ("module", "inner", 47, 51),
        ("function", "inner.helper", 48, 50),
        ("macro", "square", 53, 57),
    ],
    "sample.scala": [
        ("code", "module code 1-3", 1, 3),
        ("trait", "Shape", 5, 8),
        ("class", "Circle", 10, 17),
        ("method", "Circle.area", 12, 12),
        ("method", "Circle.scale", 14, 16),
        ("object", "Shapes", 19, 21),
        ("method", "Shapes.largest", 20, 20),
        ("function", "topLevel", 23, 23),
    ],
    "sample.sh": [
        ("code", "module code 1-2", 1, 2),
        ("function", "usage", 4, 7),
        ("function", "main", 9, 16),
        ("code", "module code 18-18", 18, 18),
    ],
    "sample.swift": [
        ("code", "module code 1-1", 1, 1),
        ("protocol", "Vehicle", 3, 6),
        ("class", "Car", 8, 22),
        ("method", "Car.init", 12, 14),
        ("method", "Car.drive", 16, 21),
        ("struct", "Point", 24, 26),
        ("extension", "Point", 28, 30),
        ("method", "Point.norm", 29, 29),
        ("enum", "Gear", 32, 32),
        ("function", "honk", 34, 37),
    ],
    "sample.ts": [
        ("code", "module code 1-1", 1, 1),
        ("interface", "Options", 3, 6),
        ("type", "Id", 8, 8),
        ("class", "Loader", 10, 26),
        ("method", "Loader.constructor", 17, 17),
        ("method", "Loader.load", 19, 25),
        ("enum", "Level", 28, 31),
        ("function", "double", 33, 34),
        ("function", "helper", 36, 38),
        ("module", "Util", 40, 42),
        ("function", "Util.noop", 41, 41),
    ],
    "sample.tsx": [
        ("code", "module code 1-1", 1, 1),
        ("type", "Props", 3, 3),
        ("function", "Hello", 5, 8),
        ("class", "App", 10, 14),
        ("method", "App.render", 11, 13),
    ],
}

LANGUAGES = {
    "Sample.cs": "csharp",
    "Sample.java": "java",
    "sample.c": "c",
    "sample.cpp": "cpp",
    "sample.go": "go",
    "sample.js": "javascript",
    "sample.kt": "kotlin",
    "sample.php": "php",
    "sample.rb": "ruby",
    "sample.rs": "rust",
    "sample.scala": "scala",
    "sample.sh": "shell",
    "sample.swift": "swift",
    "sample.ts": "typescript",
    "sample.tsx": "typescript",
}


def _chunk(name: str) -> tuple[list[str], list[tuple[str, str, int, int]], dict[str, str]]:
    """The sample's lines, its spans as (kind, name, start, end) and each span's content by name
    (a name two spans share, a Rust struct and its impl, is the first one's)."""
    text = (SAMPLES / name).read_text(encoding="utf-8")
    result = chunk_text(f"src/{name}", text)
    assert result.language == LANGUAGES[name]
    assert result.fallback_reason is None
    got = [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans]
    contents: dict[str, str] = {}
    for span in result.spans:
        contents.setdefault(span.name, span.content)
    return text.splitlines(), got, contents


def test_every_sample_has_expectations() -> None:
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(EXPECTED) == sorted(LANGUAGES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_symbols_kinds_and_lines(name: str) -> None:
    lines, got, contents = _chunk(name)
    assert got == EXPECTED[name]
    result = chunk_text(name, (SAMPLES / name).read_text(encoding="utf-8"))
    for span in result.spans:
        assert span.content == "\n".join(lines[span.start_line - 1 : span.end_line]), span.name


# (sample, span name, the span's first lines): doc comments, decorators and attributes included.
LEADING = [
    ("sample.go", "Circle", ["// Circle is round.", "// It has a radius.", "type Circle struct {"]),
    ("sample.go", "Circle.Area", ["// Area of the circle.", "func (c *Circle) Area() float64 {"]),
    ("sample.rs", "Point", ["/// A point in the plane.", "#[derive(Debug, Clone)]", "pub struct Point {"]),
    ("sample.rs", "Point.origin", ["    /// The origin.", "    pub fn origin() -> Self {"]),
    ("Sample.java", "Greeter", ["/**", " * A greeter.", " */", "@Deprecated"]),
    ("Sample.java", "Greeter.run", ["    // Says hello.", "    @Override", "    public void run() {"]),
    ("sample.c", "add", ["/*", " * Add two numbers.", " */", "static int add(int a, int b)"]),
    ("sample.cpp", "Shape", ["/// A shape.", "class Shape {"]),
    ("Sample.cs", "Widget", ["    /// <summary>A widget.</summary>", "    [Serializable]", "    public class Widget"]),
    ("sample.rb", "Helpers.greet", ["  # Greets.", "  def self.greet(name)"]),
    ("sample.php", "User", ["/**", " * A user.", " */", "class User"]),
    ("sample.kt", "Box.area", ["    /** Area. */", "    fun area(): Int = w * h"]),
    ("sample.swift", "Car.drive", ["    /// Drive it.", "    func drive() {"]),
    ("sample.scala", "Circle", ["/** A circle. */", "case class Circle(r: Double) extends Shape {"]),
    ("sample.sh", "usage", ["# Print usage.", "usage() {"]),
    ("sample.ts", "Loader", ["/**", " * Loads things.", " */", "@injectable()", "export class Loader<T> {"]),
    ("sample.ts", "double", ["// An arrow.", "export const double = (x: number): number => x * 2;"]),
    ("sample.js", "Counter.inc", ["  // Increment.", "  inc(by = 1) {"]),
]


@pytest.mark.parametrize(("name", "span_name", "first_lines"), LEADING, ids=[f"{n}:{s}" for n, s, _ in LEADING])
def test_doc_comments_decorators_and_attributes_belong_to_the_symbol(
    name: str, span_name: str, first_lines: list[str]
) -> None:
    _, _, contents = _chunk(name)
    assert contents[span_name].split("\n")[: len(first_lines)] == first_lines


def test_a_blank_line_detaches_a_comment() -> None:
    text = "// file header\n\n// Doc.\nfunc f() {\n}\n\nvar x = 1 // trailing\nfunc g() {\n}\n"
    result = chunk_text("a.go", text)
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("code", "module code 1-1", 1, 1),
        ("function", "f", 3, 5),
        ("code", "module code 7-7", 7, 7),
        ("function", "g", 8, 9),
    ]


def test_a_header_that_only_cpp_parses_is_read_as_cpp() -> None:
    text = "namespace n {\nclass A {\npublic:\n  int f() const { return 1; }\n};\n}\n"
    result = chunk_text("include/a.h", text)
    assert result.language == "c"
    assert result.fallback_reason is None
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("code", "module code 1-1", 1, 1),
        ("class", "A", 2, 5),
        ("method", "A.f", 4, 4),
    ]


def test_javascript_module_patterns() -> None:
    text = """\
(function () {
  function inner(a) {
    return a;
  }

  const traps = {
    get(target, key) {
      return target[key];
    },
    set: function (target, key, value) {
      target[key] = value;
    },
  };

  Foo.prototype.bar = function () {
    return 1;
  };

  const Memo = React.memo((props) => {
    return null;
  });
})();
"""
    result = chunk_text("umd.js", text)
    assert [(s.kind, s.name, s.start_line, s.end_line) for s in result.spans] == [
        ("code", "module code 1-1", 1, 1),
        ("function", "inner", 2, 4),
        ("code", "module code 6-6", 6, 6),
        ("function", "traps.get", 7, 9),
        ("function", "traps.set", 10, 12),
        ("function", "Foo.prototype.bar", 15, 17),
        ("function", "Memo", 19, 21),
    ]
