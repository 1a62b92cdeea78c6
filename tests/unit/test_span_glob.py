"""`enqueue spans --path GLOB` matches in PostgreSQL what fnmatch matches in Python."""

import fnmatch
import re

import pytest

from shared.db.spans import glob_regex

PATHS = ["steps.py", "src/a.py", "src/deep/b.py", "docs/index.md", "step1.py", "a+b.py", "x[1].py", "README"]


@pytest.mark.parametrize("glob", ["*.py", "src/*.py", "step?.py", "step[!0-9].p?", "a+b.py", "*[1]*", "[]x]*", "R*E"])
def test_glob_regex_matches_what_fnmatch_matches(glob: str) -> None:
    pattern = re.compile(glob_regex(glob))  # the constructs used are the same in Python and PostgreSQL
    assert [p for p in PATHS if pattern.search(p)] == [p for p in PATHS if fnmatch.fnmatchcase(p, glob)]
