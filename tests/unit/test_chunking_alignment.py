"""The alignment rule the chunk benchmark applies to every splitter (tests/benchmarks/chunk_alignment.py)."""

from __future__ import annotations

import pytest

from tests.benchmarks.chunk_alignment import Chunk, LineIndex, Outline, python_definitions

SOURCE = """\
import os

# About f.
def f(a):
    return a

class C:
    def m(self):
        return 1

    def n(self):
        x = 1
        return x
"""
# With 60 characters, f, C.m and C.n fit and C does not.
BUDGET = 60


@pytest.fixture(scope="module")
def outline() -> Outline:
    definitions = python_definitions(SOURCE)
    assert definitions == [(4, 5), (7, 13), (8, 9), (11, 13)]
    return Outline(definitions, LineIndex(SOURCE), BUDGET, ("#",))


@pytest.mark.parametrize(
    ("first", "last", "aligned"),
    [
        (1, 13, True),  # the whole file
        (1, 2, True),  # module code before the first definition
        (3, 5, True),  # f with its comment
        (4, 4, False),  # f cut after its first line
        (1, 4, False),  # ends inside f
        (7, 9, True),  # the oversized class's header and its first method, whole
        (7, 12, False),  # ... and half of its second method
        (8, 9, True),  # one method
        (11, 13, True),  # the other
        (12, 13, False),  # starts inside C.n, which fits
        (10, 13, True),  # a blank line, then C.n
    ],
)
def test_a_chunk_is_aligned_when_no_cut_falls_inside_a_definition_that_fits(
    outline: Outline, first: int, last: int, aligned: bool
) -> None:
    assert outline.is_aligned(Chunk(first, last)) is aligned


def test_a_chunk_that_starts_or_ends_mid_line_is_not_aligned(outline: Outline) -> None:
    index = LineIndex(SOURCE)
    whole_f = SOURCE.index("def f")
    assert index.chunk_at(whole_f, len("def f(a):\n    return a")) == Chunk(4, 5)
    assert outline.is_aligned(index.chunk_at(whole_f, len("def f(a):\n    return a")))
    assert not outline.is_aligned(index.chunk_at(SOURCE.index("a):"), len("a):\n    return a")))
    assert not outline.is_aligned(index.chunk_at(whole_f, len("def f(a):\n    return")))


def test_a_file_ast_rejects_has_no_definitions_to_judge_by() -> None:
    assert python_definitions("def f(:\n") is None
