"""Chunk-stage benchmark: ragfleet's chunker beside LangChain's code splitter (issue 4, item 8).

Corpora (real code nobody here wrote, read into memory first, so no disk time is measured):
- `stdlib`: every .py file of the running Python's standard library (sysconfig's `stdlib`,
  site-packages left out);
- `npm`: every .js/.cjs/.mjs file of the npm package that ships with Node.js (npm itself and its
  bundled dependencies, `npm root -g`/npm), or --js-root; tests/fixtures/npm when neither exists.

Splitters, one size budget for both (--budget-chars, default 2000 characters = 500 tokens at 4
characters a token):
- ragfleet: `workers.chunking.chunk_text(path, text, max_tokens=budget / 4, window_lines=10_000,
  overlap_lines=3)`: the character budget is the binding limit, as it is for the peer;
- peer: `langchain_text_splitters.RecursiveCharacterTextSplitter.from_language(Language.PYTHON or
  Language.JS, chunk_size=budget, chunk_overlap=100).split_text(text)` (the `bench` extra).

Figures: files/s and spans/s of the split call alone on one core (the process is pinned with
os.sched_setaffinity), median of --runs runs, ragfleet and the peer timed alternately within
each run so that load from elsewhere hits both alike; the ratio is ragfleet's files/s over the
peer's. "aligned" is the share of spans that respect the definitions an independent parser finds
(ast for Python, acorn for JavaScript): the rule is in tests/benchmarks/chunk_alignment.py and is
applied alike to both splitters; files the reference parser rejects are left out of that share
(counted in the table). A peer chunk is located in its file the way LangChain's own
`add_start_index` does it. A third row times ragfleet's parse alone (ast.parse, or tree-sitter's
JavaScript parse): the floor under ragfleet's time, which a splitter that parses nothing has not.

Run it: `make bench-chunk` (installs the `bench` extra first) or
`python -m tests.benchmarks.bench_chunk --runs 3 [--max-files 300]`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks.chunk_alignment import Chunk, Definition, LineIndex, Outline, python_definitions
from workers.chunking import chunk_text

FIXTURES = Path(__file__).parent.parent / "fixtures"
OUTLINE = FIXTURES / "acorn_outline.cjs"
JS_SUFFIXES = (".js", ".cjs", ".mjs")
PEER_OVERLAP_CHARS = 100
OVERLAP_LINES = 3
# ragfleet's parse alone, timed like the splitters: how much of its time the parse is.
PARSE_ONLY = {"python": "(ast.parse alone)", "javascript": "(tree-sitter parse alone)"}
# Line prefixes of comments, which may lie between a chunk's edge and a definition's.
COMMENTS = {"python": ("#",), "javascript": ("//", "/*", "*")}

console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class Corpus:
    """Files of one language, read into memory."""

    name: str
    language: str  # "python" or "javascript"
    root: Path
    files: list[tuple[str, str]]  # (path, text)
    skipped: int  # files that are not UTF-8


@dataclass(frozen=True)
class Measured:
    """One splitter on one corpus: run times and, from the last run, every file's chunks."""

    seconds: list[float]
    chunks: list[list[Chunk]]

    @property
    def spans(self) -> int:
        return sum(len(c) for c in self.chunks)


def read_corpus(name: str, language: str, root: Path, suffixes: tuple[str, ...], max_files: int | None) -> Corpus:
    paths = sorted(
        p for p in root.rglob("*") if p.suffix in suffixes and p.is_file() and "site-packages" not in p.parts
    )
    if max_files is not None and len(paths) > max_files:
        step = len(paths) / max_files
        paths = [paths[int(i * step)] for i in range(max_files)]
    files, skipped = [], 0
    for path in paths:
        try:
            files.append((str(path), path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            skipped += 1
    return Corpus(name, language, root, files, skipped)


def npm_root() -> Path:
    """npm's own package directory, or the npm fixtures when there is no npm."""
    npm = shutil.which("npm")
    if npm is not None:
        done = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False)
        candidate = Path(done.stdout.strip()) / "npm"
        if done.returncode == 0 and candidate.is_dir():
            return candidate
    return FIXTURES / "npm"


# ---------------------------------------------------------------- the two splitters


def ragfleet_splitter(budget_chars: int) -> Callable[[str, str], object]:
    def split(path: str, text: str) -> object:
        return chunk_text(path, text, window_lines=10_000, overlap_lines=OVERLAP_LINES, max_tokens=budget_chars // 4)

    return split


def ragfleet_chunks(result: object, text: str) -> list[Chunk]:
    spans = result.spans  # type: ignore[attr-defined]
    return [Chunk(s.start_line, s.end_line) for s in spans]


def peer_splitter(language: str, budget_chars: int) -> Callable[[str, str], object]:
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter.from_language(
        Language.PYTHON if language == "python" else Language.JS,
        chunk_size=budget_chars,
        chunk_overlap=PEER_OVERLAP_CHARS,
    )

    def split(path: str, text: str) -> object:
        return splitter.split_text(text)

    return split


def peer_chunks(result: object, text: str) -> list[Chunk]:
    """Each chunk located as LangChain's add_start_index does: searched from the last one's end less the overlap."""
    index = LineIndex(text)
    chunks: list[Chunk] = []
    start, previous = -1, 0
    for piece in result:  # type: ignore[attr-defined]
        offset = text.find(piece, max(0, start + previous - PEER_OVERLAP_CHARS))
        if offset < 0:
            offset = text.find(piece)
        start, previous = offset, len(piece)
        chunks.append(index.chunk_at(offset, len(piece)))
    return chunks


def parse_only(language: str) -> Callable[[str, str], object]:
    """The parse ragfleet's chunker starts with, alone: the floor under its time."""
    from workers.chunking.treesitter import parse

    # The tree is dropped at once, as the chunker drops it: thousands of kept ASTs would make the
    # garbage collector, not the parse, the thing measured.
    def split(path: str, text: str) -> object:
        if language == "javascript":
            parse("javascript", text.encode("utf-8", "surrogatepass"))
            return None
        with contextlib.suppress(SyntaxError, ValueError):
            ast.parse(text)
        return None

    return split


def no_chunks(result: object, text: str) -> list[Chunk]:
    return []


# ---------------------------------------------------------------- reference definitions


def acorn_definitions(files: list[tuple[str, str]]) -> dict[str, list[Definition] | None]:
    """Definitions acorn finds that are not inside a function (None for a file acorn rejects)."""
    node = shutil.which("node")
    if node is None:
        return dict.fromkeys((path for path, _ in files), None)
    done = subprocess.run(
        [node, str(OUTLINE)], input=json.dumps([p for p, _ in files]), capture_output=True, text=True, check=True
    )
    found: dict[str, list[Definition] | None] = {}
    for path, entry in json.loads(done.stdout).items():
        if "error" in entry:
            found[path] = None
        else:
            found[path] = sorted({(d[2][0][0], d[2][0][1]) for d in entry["defs"] if not d[4]})
    return found


def references(corpus: Corpus) -> dict[str, list[Definition] | None]:
    if corpus.language == "python":
        return {path: python_definitions(text) for path, text in corpus.files}
    return acorn_definitions(corpus.files)


def aligned_share(
    corpus: Corpus, measured: Measured, refs: dict[str, list[Definition] | None], budget_chars: int
) -> tuple[int, int]:
    """(aligned spans, spans checked) over the files the reference parser accepts."""
    aligned = checked = 0
    for (path, text), chunks in zip(corpus.files, measured.chunks, strict=True):
        definitions = refs.get(path)
        if definitions is None:
            continue
        outline = Outline(definitions, LineIndex(text), budget_chars, COMMENTS[corpus.language])
        checked += len(chunks)
        aligned += sum(outline.is_aligned(chunk) for chunk in chunks)
    return aligned, checked


# ---------------------------------------------------------------- timing


def measure(
    corpus: Corpus,
    splitters: Mapping[str, tuple[Callable[[str, str], object], Callable[[Any, str], list[Chunk]]]],
    runs: int,
) -> dict[str, Measured]:
    """Timed runs keep nothing (a heap of kept results would have the garbage collector measured
    instead); the chunks come from one more, untimed pass."""
    seconds: dict[str, list[float]] = {name: [] for name in splitters}
    for _ in range(runs):
        for name, (split, _) in splitters.items():  # alternately, so both see the same load
            gc.collect()
            started = time.perf_counter()
            for path, text in corpus.files:
                split(path, text)
            seconds[name].append(time.perf_counter() - started)
    measured = {}
    for name, (split, to_chunks) in splitters.items():
        chunks = [to_chunks(split(path, text), text) for path, text in corpus.files]
        measured[name] = Measured(seconds[name], chunks)
    return measured


def pin_to_one_core() -> int:
    """Pin this process to one of the cores it may use; returns that core."""
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per splitter (the table shows medians)")
    parser.add_argument("--budget-chars", type=int, default=2000, help="the size budget of one span, in characters")
    parser.add_argument("--max-files", type=int, default=None, help="an evenly spread sample of each corpus")
    parser.add_argument("--js-root", type=Path, default=None, help="a JavaScript tree (default: npm's own)")
    parser.add_argument("--corpus", choices=("stdlib", "npm"), action="append", help="only these corpora")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import langchain_text_splitters  # noqa: F401
    except ImportError:
        console.print("[red]langchain-text-splitters is missing: pip install -e '.[bench]' (make bench-chunk does)")
        return 2
    core = pin_to_one_core()
    wanted = args.corpus or ["stdlib", "npm"]
    corpora = []
    if "stdlib" in wanted:
        corpora.append(read_corpus("stdlib", "python", Path(sysconfig.get_path("stdlib")), (".py",), args.max_files))
    if "npm" in wanted:
        root = args.js_root or npm_root()
        corpora.append(read_corpus("npm", "javascript", root, JS_SUFFIXES, args.max_files))
    table = Table(
        title=(
            f"Chunk stage on one core (core {core}), budget {args.budget_chars} characters, medians of {args.runs} runs"
        ),
        caption=(
            "ratio = files/s ÷ the peer's files/s (same run, timed alternately). aligned = spans whose two edges "
            "fall at a definition's edge, between definitions, or inside one too big for the budget, never inside "
            "one that fits nor mid-line (chunk_alignment.py); over the files the reference parser (ast / acorn) "
            "accepts."
        ),
    )
    columns = ("corpus", "splitter", "files", "lines", "spans", "files/s", "spans/s", "ratio", "aligned", "checked")
    for column in columns:
        table.add_column(column, justify="left" if column in ("corpus", "splitter") else "right")
    for corpus in corpora:
        lines = sum(text.count("\n") + 1 for _, text in corpus.files)
        console.print(f"{corpus.name}: {len(corpus.files)} files, {lines} lines under {corpus.root} ...")
        splitters = {
            "ragfleet": (ragfleet_splitter(args.budget_chars), ragfleet_chunks),
            "langchain": (peer_splitter(corpus.language, args.budget_chars), peer_chunks),
            PARSE_ONLY[corpus.language]: (parse_only(corpus.language), no_chunks),
        }
        measured = measure(corpus, splitters, args.runs)
        refs = references(corpus)
        rejected = sum(1 for path, _ in corpus.files if refs.get(path) is None)
        peer_rate = len(corpus.files) / statistics.median(measured["langchain"].seconds)
        for name, result in measured.items():
            median_s = statistics.median(result.seconds)
            aligned, checked = aligned_share(corpus, result, refs, args.budget_chars)
            if name in PARSE_ONLY.values():
                table.add_row(
                    corpus.name,
                    name,
                    str(len(corpus.files)),
                    str(lines),
                    "-",
                    f"{len(corpus.files) / median_s:,.0f}",
                    "-",
                    f"{len(corpus.files) / median_s / peer_rate:.2f}",
                    "-",
                    "-",
                )
                continue
            table.add_row(
                corpus.name,
                name,
                str(len(corpus.files)),
                str(lines),
                str(result.spans),
                f"{len(corpus.files) / median_s:,.0f}",
                f"{result.spans / median_s:,.0f}",
                f"{len(corpus.files) / median_s / peer_rate:.2f}",
                f"{aligned / checked:.2%}" if checked else "-",
                f"{checked} spans, {checked - aligned} not aligned, {rejected} files rejected",
            )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
