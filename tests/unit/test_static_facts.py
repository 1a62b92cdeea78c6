"""extract_facts and static_enrichment on hand-written Python spans and on non-code spans."""

from __future__ import annotations

import textwrap

import pytest

from shared.messages import Enrichment, StaticFacts
from workers.chunking import Span, chunk_text
from workers.static_facts import extract_facts, side_effects, static_enrichment

SOURCE = '''\
"""Walk directory trees.

Second paragraph.
"""

import os
import logging

log = logging.getLogger(__name__)


def plain(a: int, b: str = 'x', *args, c, d: bool = False, **kw) -> bool:
    """Check things.

    Longer explanation that is not the summary.
    """
    if not a:
        raise ValueError("a")
    try:
        os.remove(b)
    except OSError:
        raise
    print(os.path.join(b, "x"))
    return bool(json.dumps(kw)) and helpers.util.check(a)


def undocumented(x, /, y):
    raise errors.BadInput from None


class Walker(Base, metaclass=Meta):
    """A tree walker."""

    def __init__(self, root: Path, limit=3):
        self.root = root
        self.limit = limit

    def walk(self, root, limit: int = 0) -> Iterator[Path]:
        if limit < 0:
            raise ValueError("limit")
        for entry in os.scandir(root):
            if self._skip(entry):
                continue
            yield entry

    @staticmethod
    def make(path):
        Path(path).write_text("x")
        subprocess.run(["ls"], check=True)
        self.logger.info("made")
        return "a b".replace("a", "c")

    @classmethod
    def build(cls, *parts):
        return cls(*parts)

    @property
    def size(self):
        return 1

    async def fetch(self, url, *, timeout=5):
        """Fetch a URL.

        More.
        """
        return await client.get(url)

    def _skip(self, entry):
        return False


@register
async def run(job):
    await asyncio.sleep(1)
'''


@pytest.fixture(scope="module")
def spans() -> dict[str, Span]:
    return {span.name: span for span in chunk_text("pkg/walker.py", SOURCE).spans}


def test_function_facts(spans: dict[str, Span]) -> None:
    facts = extract_facts(spans["plain"], "python")
    assert facts.signature == "def plain(a: int, b: str = 'x', *args, c, d: bool = False, **kw) -> bool"
    assert facts.parameters == ["a", "b", "args", "c", "d", "kw"]
    assert facts.returns == "bool"
    assert facts.raises == ["ValueError"]  # the bare re-raise names nothing
    assert facts.calls == [
        "ValueError",
        "bool",
        "helpers.util.check",
        "json.dumps",
        "os.path.join",
        "os.remove",
        "print",
    ]
    assert facts.side_effect_calls == ["os.remove", "print"]
    assert facts.docstring == "Check things.\n\nLonger explanation that is not the summary."
    assert facts.decorators == []
    assert facts.is_async is False


def test_positional_only_and_dotted_raise(spans: dict[str, Span]) -> None:
    facts = extract_facts(spans["undocumented"], "python")
    assert facts.signature == "def undocumented(x, /, y)"
    assert facts.parameters == ["x", "y"]
    assert facts.raises == ["errors.BadInput"]
    assert facts.docstring is None


def test_method_facts_exclude_self(spans: dict[str, Span]) -> None:
    facts = extract_facts(spans["Walker.walk"], "python")
    assert facts.signature == "def walk(self, root, limit: int = 0) -> Iterator[Path]"
    assert facts.parameters == ["root", "limit"]
    assert facts.returns == "Iterator[Path]"
    assert facts.raises == ["ValueError"]
    assert facts.calls == ["ValueError", "os.scandir", "self._skip"]
    # os.scandir only reads the file system.
    assert facts.side_effect_calls == []


def test_side_effects_through_calls_and_loggers(spans: dict[str, Span]) -> None:
    facts = extract_facts(spans["Walker.make"], "python")
    assert facts.decorators == ["staticmethod"]
    assert facts.parameters == ["path"]
    assert facts.calls == ["Path", "Path().write_text", "self.logger.info", "subprocess.run"]
    assert facts.side_effect_calls == ["Path().write_text", "self.logger.info", "subprocess.run"]


def test_async_facts(spans: dict[str, Span]) -> None:
    fetch = extract_facts(spans["Walker.fetch"], "python")
    assert fetch.is_async is True
    assert fetch.signature == "async def fetch(self, url, *, timeout=5)"
    assert fetch.parameters == ["url", "timeout"]
    run = extract_facts(spans["run"], "python")
    assert run.is_async and run.decorators == ["register"]
    assert run.side_effect_calls == ["asyncio.sleep"]


def test_class_facts(spans: dict[str, Span]) -> None:
    facts = extract_facts(spans["Walker"], "python")
    assert facts.signature == "class Walker(Base, metaclass=Meta)"
    assert facts.parameters == ["root", "limit"]
    assert facts.docstring == "A tree walker."
    assert facts.returns is None
    assert facts.raises == ["ValueError"]
    assert {"os.scandir", "subprocess.run", "client.get", "cls"} <= set(facts.calls)
    assert facts.side_effect_calls == ["Path().write_text", "self.logger.info", "subprocess.run"]


def test_module_doc_and_code_facts(spans: dict[str, Span]) -> None:
    doc = extract_facts(spans["walker"], "python")
    assert doc == StaticFacts(docstring="Walk directory trees.\n\nSecond paragraph.")
    code = next(span for span in spans.values() if span.kind == "code")
    facts = extract_facts(code, "python")
    assert facts.signature is None and facts.docstring is None
    assert facts.calls == ["logging.getLogger"]
    assert facts.side_effect_calls == []


@pytest.mark.parametrize(
    ("span", "language"),
    [
        (Span("section", "Install", 1, 2, "# Install\npip install x"), "markdown"),
        (Span("window", "lines 1-2", 1, 2, "func main() {\n}"), "go"),
        (Span("window", "lines 1-2", 1, 2, "def broken(:\n    pass"), "python"),
        (Span("function", "f", 1, 1, "x = 1"), "python"),
    ],
    ids=["markdown", "go", "broken-python", "not-a-def"],
)
def test_no_facts_are_invented(span: Span, language: str) -> None:
    assert extract_facts(span, language) == StaticFacts()


@pytest.mark.parametrize(
    ("call", "is_effect"),
    [
        ("open", True),
        ("shutil.rmtree", True),
        ("sys.exit", True),
        ("logging.info", True),
        ("self._log.debug", True),
        ("conn.commit", True),
        ("task.delay", True),
        ("os.path.exists", False),
        ("os.environ.get", False),
        ("logging.getLogger", False),
        ("text.replace", False),
        ("mapping.copy", False),
        ("os.replace", True),
        ("len", False),
        ("self.walk", False),
    ],
)
def test_side_effect_rule(call: str, is_effect: bool) -> None:
    assert side_effects([call]) == ([call] if is_effect else [])


def _enrich(span: Span) -> Enrichment:
    return static_enrichment(span, "python", extract_facts(span, "python"))


def test_enrichment_from_docstring(spans: dict[str, Span]) -> None:
    got = _enrich(spans["plain"])
    assert got.summary == "Check things."
    assert got.inputs == ["a: int", "b: str", "args", "c", "d: bool", "kw"]
    assert got.outputs == ["bool"]
    assert got.side_effects == ["os.remove", "print"]
    assert got.pitfalls == ["raises ValueError"]
    assert got.usage_snippet == "plain(a, b, *args, c=c, d=d, **kw)"
    assert got.tags == ["python", "function"]


def test_enrichment_sentence_without_docstring(spans: dict[str, Span]) -> None:
    got = _enrich(spans["Walker.walk"])
    assert got.summary == (
        "Python method `Walker.walk(root, limit)` returning `Iterator[Path]`; raises ValueError; "
        "calls ValueError, os.scandir, self._skip."
    )
    assert got.inputs == ["root", "limit: int"]
    assert got.usage_snippet == "obj.walk(root, limit)"
    assert got.tags == ["python", "method"]


@pytest.mark.parametrize(
    ("name", "usage", "tags"),
    [
        ("Walker.make", "Walker.make(path)", ["python", "method", "decorated"]),
        ("Walker.build", "Walker.build(*parts)", ["python", "method", "decorated"]),
        ("Walker.size", "obj.size", ["python", "method", "decorated"]),
        ("Walker.fetch", "await obj.fetch(url, timeout=timeout)", ["python", "method", "async"]),
        ("Walker.__init__", "Walker(root, limit)", ["python", "method"]),
        ("Walker", "Walker(root, limit)", ["python", "class"]),
        ("run", "await run(job)", ["python", "function", "async", "decorated"]),
        ("walker", "", ["python", "module_doc"]),
    ],
)
def test_usage_snippets_and_tags(spans: dict[str, Span], name: str, usage: str, tags: list[str]) -> None:
    got = _enrich(spans[name])
    assert got.usage_snippet == usage
    assert got.tags == tags


def test_enrichment_for_async_decorated_function(spans: dict[str, Span]) -> None:
    got = _enrich(spans["run"])
    assert got.summary == "Python async function `run(job)`; decorated with @register; calls asyncio.sleep."
    assert got.side_effects == ["asyncio.sleep"]


def test_inputs_only_name_real_parameters(spans: dict[str, Span]) -> None:
    for span in spans.values():
        facts = extract_facts(span, "python")
        got = static_enrichment(span, "python", facts)
        assert [item.split(":")[0] for item in got.inputs] == facts.parameters


def test_huge_docstring_is_truncated_to_120_words() -> None:
    words = " ".join(f"word{i}" for i in range(500))
    content = f'def f():\n    """{words}"""\n    return 1'
    got = _enrich(Span("function", "f", 1, 3, content))
    assert got.summary.split() == [f"word{i}" for i in range(120)]


def test_signature_restating_docstring_paragraph_is_skipped() -> None:
    content = textwrap.dedent(
        '''\
        def split(text):
            """split(text : string) -> [string]

            Split the text into chunks.
            """
        '''
    ).strip()
    assert _enrich(Span("function", "split", 1, 5, content)).summary == "Split the text into chunks."


@pytest.mark.parametrize(
    ("span", "language", "summary"),
    [
        (
            Span("section", "Install", 10, 42, "# Install\n..."),
            "markdown",
            "Markdown section `Install` (lines 10-42).",
        ),
        (Span("window", "lines 1-60", 1, 60, "package main"), "go", "Go window (lines 1-60)."),
        (Span("code", "module code 1-20", 1, 20, "X = 1"), "python", "Python module code (lines 1-20)."),
        (Span("window", "lines 1-2", 1, 2, "def f(:"), "python", "Python window (lines 1-2)."),
    ],
)
def test_enrichment_for_non_code_spans(span: Span, language: str, summary: str) -> None:
    got = static_enrichment(span, language, extract_facts(span, language))
    assert got.summary == summary
    assert (got.inputs, got.outputs, got.side_effects, got.pitfalls, got.usage_snippet) == (
        [],
        [],
        [],
        [],
        "",
    )
    assert got.tags == [language, span.kind]


def test_module_code_enrichment_names_its_calls() -> None:
    span = Span("code", "module code 1-2", 1, 2, "import os\nos.makedirs('out')")
    got = _enrich(span)
    assert got.summary == "Python module code (lines 1-2); calls os.makedirs."
    assert got.side_effects == ["os.makedirs"]


def test_absurdly_deep_annotation_never_raises() -> None:
    content = "def f(a: " + "x." * 600 + "y, b):\n    pass"
    span = Span("function", "f", 1, 2, content)
    facts = extract_facts(span, "python")
    got = static_enrichment(span, "python", facts)
    assert got.summary
    assert [item.split(":")[0] for item in got.inputs] == facts.parameters
