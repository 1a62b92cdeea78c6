"""Index a small real repository through the real fleet and check the rows a user relies on.

The tests run in file order on one copy of the repository: first the pristine index,
then an edit, then a deletion.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import psycopg
import pytest

from shared.settings import Settings
from tests.integration.conftest import copy_stdlib_package, one, ragfleet

REPO = "json-lib"
MODULES = ["json", "json.decoder", "json.encoder", "json.scanner", "json.tool"]


@pytest.fixture(scope="module")
def repo_root(fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_stdlib_package("json", tmp_path_factory.mktemp("repos"))
    (root / "json" / "latin1_notes.txt").write_bytes("r\xe9sum\xe9 of the decoder\n".encode("latin-1"))
    result = ragfleet("index", str(root), "--name", REPO, "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "indexed json-lib" in result.stdout
    assert "skipped: not valid UTF-8 1" in result.stdout.replace("\n", " ").replace("│", " ") or (
        "not valid UTF-8" in result.stdout
    )
    return root


def _expected_symbols() -> dict[tuple[str, str], tuple[int, int]]:
    """(path, qualified name) -> (start, end) of every top-level def/class and method, from `inspect`."""
    expected = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        path = "json/" + Path(module.__file__ or "").name
        for name, obj in vars(module).items():
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != module_name:
                continue
            if obj.__qualname__ != name:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [
                    (f"{name}.{m}", f)
                    for m, f in vars(obj).items()
                    if inspect.isfunction(f) and f.__qualname__ == f"{name}.{m}"
                ]
            for qualname, member in members:
                lines, start = inspect.getsourcelines(member)
                # inspect runs on past end_lineno over trailing comments; the AST does not
                while lines and lines[-1].strip().startswith("#"):
                    lines.pop()
                expected[(path, qualname)] = (start, start + len(lines) - 1)
    return expected


def test_every_def_class_and_method_is_a_span_with_exact_lines(repo_root: Path, db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT path, name, start_line, end_line, content FROM spans"
        " WHERE repo = %s AND kind IN ('function', 'class', 'method')",
        (REPO,),
    ).fetchall()
    stored: dict[tuple[str, str], tuple[int, int]] = {}
    for path, name, start, end, _ in rows:  # an oversized symbol's parts ("dump (part 1/2)") cover it together
        key = (path, name.split(" (part ")[0])
        first, last = stored.get(key, (start, end))
        stored[key] = (min(first, start), max(last, end))
    expected = _expected_symbols()
    assert len(expected) > 20
    for (path, name), (start, end) in expected.items():
        span = stored.get((path, name))
        assert span is not None and span[1] == end, (path, name, span)
        # A span may begin earlier only to take in the comment block right above the symbol.
        above = (repo_root / path).read_text().splitlines()[span[0] - 1 : start - 1]
        assert span[0] <= start and all(line.strip().startswith("#") for line in above), (path, name, span)
    for path, name, start, end, content in rows:
        text = "\n".join((repo_root / path).read_text().splitlines()[start - 1 : end])
        # A later part of a split symbol repeats the symbol's first line as its header.
        assert content == text or (" (part " in name and content.endswith("\n" + text)), (path, name)


def test_every_span_is_enriched_and_embedded(repo_root: Path, db: psycopg.Connection) -> None:
    total, enriched, embedded = one(
        db.execute(
            "SELECT count(*),"
            " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM enrichments e WHERE e.content_hash = s.content_hash"
            "   AND e.tier = 'static' AND e.model = 'static-analysis')),"
            " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM embeddings m WHERE m.content_hash = s.content_hash"
            "   AND m.model = 'all-MiniLM-L6-v2' AND m.dim = 384))"
            " FROM spans s WHERE repo = %s",
            (REPO,),
        )
    )
    assert total > 40
    assert enriched == total
    assert embedded == total
    kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM spans WHERE repo = %s", (REPO,))}
    assert {"module_doc", "function", "class", "method", "section"} <= kinds
    (files,) = one(db.execute("SELECT count(*) FROM files WHERE repo = %s", (REPO,)))
    assert files == len(list((repo_root / "json").glob("*.py"))) + 1  # + README.md; the latin-1 file skipped


def test_static_enrichment_reports_real_parameters(repo_root: Path, db: psycopg.Connection) -> None:
    body, facts = one(
        db.execute(
            "SELECT e.body, e.facts FROM spans s JOIN enrichments e ON e.content_hash = s.content_hash"
            " WHERE s.repo = %s AND s.path = 'json/__init__.py' AND s.name = 'dumps'",
            (REPO,),
        )
    )
    assert facts["parameters"][:2] == ["obj", "skipkeys"]
    assert [i.split(":")[0] for i in body["inputs"]] == facts["parameters"]
    assert body["summary"].startswith("Serialize ``obj`` to a JSON formatted ``str``")


@pytest.mark.parametrize(
    ("query", "answers"),
    [
        ("deserialize a JSON document in a string to a Python object", {"loads", "JSONDecoder.decode"}),
        ("escape a string so the output has only ASCII characters", {"py_encode_basestring_ascii"}),
        ("pretty-print JSON from the command line", {"main", "tool"}),
    ],
)
def test_search_finds_a_function_by_what_it_does(repo_root: Path, query: str, answers: set[str]) -> None:
    result = ragfleet("search", query, "-k", "5", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 5
    assert answers & {h["name"] for h in hits[:3]}, [h["name"] for h in hits]
    assert all(h["score"] <= 1 for h in hits) and hits == sorted(hits, key=lambda h: -h["score"])


def test_status_json_reports_queues_workers_and_counts(repo_root: Path) -> None:
    result = ragfleet("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status["queues"]) == {"chunk", "enrich.7b", "enrich.14b", "enrich.api", "embed"}
    assert all(q["waiting"] == 0 and q["unacked"] == 0 for q in status["queues"].values())
    assert len(status["workers"]) == 5
    pools = {w["tiers"][0]: (w["pool"], w["gpu"], w["paused"]) for w in status["workers"].values()}
    assert pools["chunk"] == ("prefork", None, {}) and pools["7b"] == ("threads", None, {})
    assert status["counts"]["spans"] > 0 and status["counts"]["enrichments"] > 0  # other tests share the tables
    assert status["counts"]["dead_letters"] == 0 and status["dead_letters"] == {}
    [static] = status["tiers"]  # no LLM tier configured: the static tier did everything, with no model calls
    assert static["tier"] == "static" and static["enriched"] == status["counts"]["enrichments"]
    assert static["tokens_in"] == 0 and static["cost_usd"] == 0 and static["success_rate"] is None


def test_reindexing_an_unchanged_repo_publishes_nothing(repo_root: Path) -> None:
    result = ragfleet("enqueue", "repo", str(repo_root), "--name", REPO)
    assert result.returncode == 0, result.stderr
    assert "add 0, update 0, delete 0" in result.stdout
    assert "published 0" in result.stdout


def test_editing_one_file_redoes_only_its_spans(repo_root: Path, db: psycopg.Connection) -> None:
    before: dict[str, int] = dict(
        db.execute("SELECT path || ':' || name, id FROM spans WHERE repo = %s", (REPO,)).fetchall()
    )
    tool = repo_root / "json" / "tool.py"
    tool.write_text(tool.read_text() + "\n\ndef count_keys(document):\n    return len(document)\n")
    result = ragfleet("index", str(repo_root), "--name", REPO, "--timeout", "300")
    assert result.returncode == 0, result.stderr
    assert "add 0, update 1, delete 0" in result.stdout
    after: dict[str, int] = dict(
        db.execute("SELECT path || ':' || name, id FROM spans WHERE repo = %s", (REPO,)).fetchall()
    )
    assert after["json/tool.py:count_keys"] not in before.values()
    untouched = {k: v for k, v in before.items() if not k.startswith("json/tool.py:")}
    assert {k: after[k] for k in untouched} == untouched
    (missing,) = one(
        db.execute(
            "SELECT count(*) FROM spans s WHERE repo = %s AND NOT EXISTS"
            " (SELECT 1 FROM embeddings m WHERE m.content_hash = s.content_hash)",
            (REPO,),
        )
    )
    assert missing == 0


def test_deleting_a_file_removes_its_rows(repo_root: Path, db: psycopg.Connection) -> None:
    hashes = [
        h for (h,) in db.execute("SELECT content_hash FROM spans WHERE repo = %s AND path = 'json/tool.py'", (REPO,))
    ]
    assert hashes
    (repo_root / "json" / "tool.py").unlink()
    result = ragfleet("index", str(repo_root), "--name", REPO, "--timeout", "300")
    assert result.returncode == 0, result.stderr
    assert "delete 1" in result.stdout
    assert db.execute("SELECT count(*) FROM files WHERE repo = %s AND path = 'json/tool.py'", (REPO,)).fetchone() == (
        0,
    )
    assert db.execute("SELECT count(*) FROM spans WHERE repo = %s AND path = 'json/tool.py'", (REPO,)).fetchone() == (
        0,
    )
    for table in ("enrichments", "embeddings"):
        (left,) = one(db.execute(f"SELECT count(*) FROM {table} WHERE content_hash = ANY(%s)", (hashes,)))
        assert left == 0, table
