"""msgpack document backlogs through the real CLI, the real embed worker and the real database.

Every test starts from an empty `doc_embeddings` and reads the outcome from the rows themselves
and from `enqueue msgpack --json` (one line of counts per file).
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from shared.celery_config import make_celery
from shared.db.doc_embeddings import as_array
from shared.hashing import content_hash
from shared.messages import BacklogDocument, EmbedDocumentsMessage
from shared.names import QUEUE_EMBED, TASK_EMBED_DOCUMENTS
from shared.settings import Settings
from tests.integration.conftest import RAGFLEET, ragfleet, wait_until

DIM = 384
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(autouse=True)
def empty_doc_embeddings(db: psycopg.Connection) -> Iterator[None]:
    register_vector(db)  # vectors come back as float32 arrays, exactly as stored
    db.execute("TRUNCATE doc_embeddings")
    yield


def vector(seed: int) -> list[float]:
    """A 384-d vector of float32 values (exact through msgpack), different per seed."""
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32).tolist()


def backlog(path: Path, records: list[Any], **header: Any) -> Path:
    """A batch file, written under another name and renamed (as a careful producer does)."""
    fields = {"version": 1, "source": "tests", "batch_tag": path.stem, "created_at": "2026-11-21T00:00:00Z"}
    data = msgpack.packb({**fields, "embedding_dim": DIM, **header, "records": records}, use_bin_type=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
    return path


def replay(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """`ragfleet enqueue msgpack ARGS --json`: the process and its counts by file name."""
    result = ragfleet("enqueue", "msgpack", *args, "--json", env=env)
    counts = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            counts[Path(report["path"]).name] = report
    return result, counts


def rows(db: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """Every document row by content hash, the vector as its float32 bytes."""
    cur = db.execute(
        "SELECT content_hash, model, dim, prompt_version, text, metadata, source, batch_tag, embedding,"
        " is_placeholder FROM doc_embeddings"
    )
    names = [c.name for c in cur.description or []]
    found = {}
    for values in cur:
        row = dict(zip(names, values, strict=True))
        row["embedding"] = as_array(row["embedding"]).tobytes()
        found[row["content_hash"]] = row
    return found


def accounted(report: dict[str, Any]) -> int:
    outcomes = ("inserted", "replaced", "placeholders", "queued", "duplicates", "skipped_existing", "rejected")
    return sum(report[k] for k in outcomes)


def embedded_by_the_worker(db: psycopg.Connection, hashes: list[str]) -> bool:
    row = db.execute(
        "SELECT count(*) FROM doc_embeddings WHERE content_hash = ANY(%s) AND NOT is_placeholder AND model = %s",
        (hashes, MODEL),
    ).fetchone()
    return row is not None and row[0] == len(hashes)


def test_replay_lands_good_records_and_accounts_for_every_bad_one(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    good: list[dict[str, Any]] = [
        {"text": f"pre-embedded {i}", "embedding": vector(i), "metadata": {"n": i, "tags": ["a", "é"]}}
        for i in range(6)
    ]
    needs_model = [{"text": "def parse(path): return open(path).read()"}, {"text": "A note without a vector."}]
    given_hash = {"text": "keeps its hash", "embedding": vector(99), "metadata": {"content_hash": "doc-99"}}
    backlog(tmp_path / "a.msgpack", [*good, good[0], *needs_model, given_hash])
    bad = [
        {"text": "nan", "embedding": [math.nan] * DIM},
        {"text": "inf", "embedding": [1.0] * (DIM - 1) + [math.inf]},
        {"text": "short", "embedding": vector(7)[:100]},
        {"text": 12, "embedding": vector(8)},
        {"text": "vector as a string", "embedding": "0.1, 0.2"},
        {"text": "metadata as a list", "metadata": [1, 2]},
    ]
    backlog(tmp_path / "b.msgpack", [good[1], *bad, {"text": "the good one after the bad", "embedding": vector(50)}])
    cut = backlog(tmp_path / "c.msgpack", [{"text": f"cut {i}", "embedding": vector(100 + i)} for i in range(5)])
    cut.write_bytes(cut.read_bytes()[:-200])
    (tmp_path / "d.msgpack").write_text("this is a text file, not msgpack\n")

    result, counts = replay(str(tmp_path / "*.msgpack"))
    assert result.returncode == 0, result.stderr
    a, b, c, d = (counts[f"{x}.msgpack"] for x in "abcd")
    assert (a["records"], a["inserted"], a["duplicates"], a["queued"], a["messages"]) == (10, 7, 1, 2, 1)
    assert (b["records"], b["inserted"], b["duplicates"], b["rejected"]) == (8, 1, 1, 6)
    assert b["reasons"] == {
        "embedding has NaN or infinite values": 2,
        "wrong embedding dimension": 1,
        "text missing or not a string": 1,
        "embedding is not a list of numbers": 1,
        "metadata is not a map": 1,
    }
    assert (c["records"], c["inserted"], c["rejected"], c["reasons"]) == (5, 4, 1, {"truncated": 1})
    assert "ends inside record 5" in c["examples"]["truncated"]
    assert d["records"] == 0 and d["file_problems"] == [
        "not a backlog batch: the file is not a msgpack map (not a backlog batch)"
    ]
    for report in (a, b, c, d):
        assert accounted(report) == report["records"], report

    stored = rows(db)
    for i, record in enumerate(good):
        row = stored[content_hash(str(record["text"]))]
        assert row["embedding"] == np.asarray(vector(i), np.float32).tobytes()
        assert row["metadata"] == {**record["metadata"], "content_hash": content_hash(str(record["text"]))}
        assert (row["model"], row["dim"], row["source"], row["is_placeholder"]) == (MODEL, DIM, "tests", False)
    assert stored["doc-99"]["text"] == "keeps its hash"
    waiting = [content_hash(str(r["text"])) for r in needs_model]
    wait_until(lambda: embedded_by_the_worker(db, waiting), 180, "the embed worker to write the queued documents")
    for h in waiting:
        norm = np.linalg.norm(np.frombuffer(rows(db)[h]["embedding"], np.float32))
        assert abs(norm - 1.0) < 1e-3  # the model's normalised vector, not a placeholder
    assert len(rows(db)) == 7 + 2 + 1 + 4

    before = {h: r["embedding"] for h, r in rows(db).items()}
    again, counts = replay(str(tmp_path / "a.msgpack"), str(tmp_path / "b.msgpack"), "--skip-existing")
    assert again.returncode == 0, again.stderr
    assert (counts["a.msgpack"]["skipped_existing"], counts["a.msgpack"]["duplicates"]) == (9, 1)
    assert counts["b.msgpack"]["skipped_existing"] == 1 and counts["b.msgpack"]["inserted"] == 0
    assert {h: r["embedding"] for h, r in rows(db).items()} == before


def test_a_large_replay_loads_without_the_hnsw_index_and_rebuilds_it(db: psycopg.Connection, tmp_path: Path) -> None:
    index = "SELECT oid, pg_get_indexdef(oid) FROM pg_class WHERE relname = 'doc_embeddings_hnsw_idx'"
    before = db.execute(index).fetchone()
    assert before is not None
    files = [
        backlog(tmp_path / f"big{n}.msgpack", [{"text": f"document {n}-{i}", "embedding": vector(100 * n + i),
                                                "metadata": {}} for i in range(30)])
        for n in range(2)
    ]  # fmt: skip
    result, counts = replay(*map(str, files), env={"RAGFLEET_EMBEDDING__REBUILD_INDEX_ROWS": "20"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(c["inserted"] for c in counts.values()) == 60 and len(rows(db)) == 60
    after = db.execute(index).fetchone()
    assert after is not None and after[0] != before[0]  # dropped mid-replay, rebuilt at its end ...
    assert after[1] == before[1]  # ... with the same definition
    assert db.execute("SELECT count(*) FROM dropped_indexes").fetchone() == (0,)
    db.execute("SET enable_seqscan = off")
    try:  # the rebuilt index serves a nearest-neighbour search over every row it should hold
        query = "EXPLAIN SELECT 1 FROM doc_embeddings WHERE NOT is_placeholder ORDER BY embedding <=> %s LIMIT 5"
        plan = db.execute(query, (np.array(vector(7), np.float32),)).fetchall()
    finally:
        db.execute("RESET enable_seqscan")
    assert "doc_embeddings_hnsw_idx" in str(plan)


def test_small_replays_write_straight_into_the_indexed_table(db: psycopg.Connection, tmp_path: Path) -> None:
    index = "SELECT oid FROM pg_class WHERE relname = 'doc_embeddings_hnsw_idx'"
    before = db.execute(index).fetchone()
    file = backlog(tmp_path / "small.msgpack", [{"text": f"small {i}", "embedding": vector(i)} for i in range(5)])
    result, _ = replay(str(file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert db.execute(index).fetchone() == before and len(rows(db)) == 5


def test_bad_input_only_exits_non_zero_with_the_reasons(fleet_settings: Settings, tmp_path: Path) -> None:
    backlog(tmp_path / "bad.msgpack", [{"text": "nan", "embedding": [math.nan] * DIM}, {"text": ""}])
    (tmp_path / "notes.msgpack").write_bytes(b"\x00\x01\x02")
    backlog(tmp_path / "wide.msgpack", [{"text": "768-d", "embedding": [0.1] * 768}], embedding_dim=768)
    backlog(tmp_path / "other.msgpack", [{"text": "another model", "embedding": vector(3)}], model="e5-small")
    result, counts = replay(str(tmp_path / "*.msgpack"))
    assert result.returncode == 1
    assert "nothing could be ingested from 4 file(s)" in result.stderr
    assert "embedding has NaN or infinite values (1)" in result.stderr and "empty text (1)" in result.stderr
    assert counts["bad.msgpack"]["rejected"] == 2
    assert "declares embedding_dim 768, doc_embeddings.embedding is vector(384)" in str(counts["wide.msgpack"])
    assert "was embedded with 'e5-small'" in counts["other.msgpack"]["examples"]["vectors of another model"]
    for args, message in [
        ([str(tmp_path / "none-*.msgpack")], "no file matches"),
        ([str(tmp_path / "bad.msgpack"), "--reembed", "--skip-existing"], "choose one"),
        (
            [str(tmp_path / "bad.msgpack"), "--dummy-fill", "768"],
            "--dummy-fill 768: doc_embeddings.embedding is vector(384)",
        ),
        ([str(tmp_path / "bad.msgpack"), "--watch"], "--watch needs --state-file"),
    ]:
        refused = ragfleet("enqueue", "msgpack", *args)
        assert refused.returncode != 0 and message in refused.stderr and "Traceback" not in refused.stderr, (
            refused.stderr
        )


def test_the_embed_worker_refuses_documents_for_another_model(fleet_settings: Settings, db: psycopg.Connection) -> None:
    message = EmbedDocumentsMessage(
        model="e5-large", origin="elsewhere.msgpack", documents=[BacklogDocument(content_hash="h1", text="some text")]
    )
    make_celery(fleet_settings).send_task(TASK_EMBED_DOCUMENTS, args=[message.to_wire()], queue=QUEUE_EMBED)

    def dead_letter() -> tuple[Any, ...] | None:
        return db.execute(
            "SELECT error_class, reason, payload FROM dead_letters WHERE stage = 'embed' AND task_name = %s",
            (TASK_EMBED_DOCUMENTS,),
        ).fetchone()

    try:
        wait_until(lambda: dead_letter() is not None, 60, "the worker to dead-letter the message")
        error_class, reason, payload = dead_letter() or ()
        assert error_class == "ConfigurationError"
        assert "documents for model 'e5-large', but this worker embeds with 'all-MiniLM-L6-v2'" in reason
        assert payload == message.to_wire()  # kept whole: `requeue-dead --stage embed` can send it again
        assert rows(db) == {}
    finally:
        db.execute("DELETE FROM dead_letters WHERE task_name = %s", (TASK_EMBED_DOCUMENTS,))
        db.execute("DELETE FROM attempts WHERE stage = 'embed' AND key LIKE 'documents:%%'")


def test_dummy_fill_stages_rows_that_reembed_fills(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    texts = ["first document waiting for a model", "second document", "third document"]
    path = backlog(tmp_path / "docs.msgpack", [{"text": t, "metadata": {"i": i}} for i, t in enumerate(texts)])
    result, counts = replay(str(path), "--dummy-fill", "384")
    assert result.returncode == 0, result.stderr
    assert counts["docs.msgpack"]["placeholders"] == 3
    staged = rows(db)
    assert {r["is_placeholder"] for r in staged.values()} == {True}
    assert {r["embedding"] for r in staged.values()} == {bytes(4 * DIM)}
    _, counts = replay(str(path), "--dummy-fill", "384")
    assert counts["docs.msgpack"]["skipped_existing"] == 3  # a placeholder never overwrites a row

    pre = backlog(tmp_path / "pre.msgpack", [{"text": "came with a vector", "embedding": vector(1)}])
    result, counts = replay(str(path), str(pre), "--reembed", "--embed-batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert (counts["docs.msgpack"]["queued"], counts["docs.msgpack"]["messages"]) == (3, 2)
    hashes = [content_hash(t) for t in [*texts, "came with a vector"]]
    wait_until(lambda: embedded_by_the_worker(db, hashes), 180, "the embed worker to replace the placeholders")
    filled = rows(db)
    assert filled[content_hash(texts[1])]["metadata"] == {"i": 1, "content_hash": content_hash(texts[1])}
    assert filled[content_hash("came with a vector")]["embedding"] != np.asarray(vector(1), np.float32).tobytes()


def test_a_crashed_replay_is_repaired_by_running_it_again(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    count = 12_000  # one batch, written in three transactions of 5,000
    records = [{"text": f"record {i}", "embedding": vector(i % 50), "metadata": {"i": i}} for i in range(count)]
    path = backlog(tmp_path / "huge.msgpack", records)
    proc = subprocess.Popen(
        [RAGFLEET, "enqueue", "msgpack", str(path), "--sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: len(rows(db)) >= 5000, 120, "the first write batch to commit")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert len(rows(db)) == 5000  # killed while it slept: later batches never started

    result, counts = replay(str(path))
    assert result.returncode == 0, result.stderr
    report = counts["huge.msgpack"]
    assert (report["records"], report["replaced"], report["inserted"]) == (count, 5000, count - 5000)
    stored = rows(db)
    assert len(stored) == count
    assert stored[content_hash("record 11999")]["embedding"] == np.asarray(vector(11999 % 50), np.float32).tobytes()


def test_two_replays_of_one_file_at_once_both_succeed(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    records = [{"text": f"raced {i}", "embedding": vector(i % 20)} for i in range(10_000)]
    path = backlog(tmp_path / "raced.msgpack", records)
    argv = [RAGFLEET, "enqueue", "msgpack", str(path), "--json"]
    first, second = (subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    reports = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert all(r["inserted"] + r["replaced"] == 10_000 and r["rejected"] == 0 for r in reports), reports
    stored = rows(db)
    assert len(stored) == 10_000
    assert stored[content_hash("raced 9999")]["embedding"] == np.asarray(vector(9999 % 20), np.float32).tobytes()


def test_export_round_trips_through_replay_and_the_tarball_is_aligned(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    records = [
        {"text": f"document {i} ✓", "embedding": vector(i), "metadata": {"i": i, "nested": {"x": [1.5, None, True]}}}
        for i in range(25)
    ]
    path = backlog(tmp_path / "docs.msgpack", [*records, {"text": "placeholder one"}, {"text": "placeholder two"}])
    result, _ = replay(str(path), "--dummy-fill", "384")
    assert result.returncode == 0, result.stderr
    before = rows(db)
    assert len(before) == 27

    out = tmp_path / "export.msgpack"
    exported = ragfleet("export", "--msgpack", str(out))
    assert exported.returncode == 0, exported.stderr
    db.execute("TRUNCATE doc_embeddings")
    result, counts = replay(str(out), "--dummy-fill", "384")
    assert result.returncode == 0, result.stderr
    assert (counts["export.msgpack"]["inserted"], counts["export.msgpack"]["placeholders"]) == (25, 2)
    assert rows(db) == before  # row by row: hash, model, dim, prompt version, text, metadata, tags, vector bytes

    repo = tmp_path / "tiny"
    repo.mkdir()
    (repo / "tiny.py").write_text('def add(a, b):\n    """Add two numbers."""\n    return a + b\n')
    indexed = ragfleet("index", str(repo), "--name", "export-tiny", "--timeout", "300")
    assert indexed.returncode == 0, indexed.stdout + indexed.stderr
    tarball = tmp_path / "all.tar.gz"
    assert ragfleet("export", str(tarball)).returncode == 0
    with tarfile.open(tarball) as tar:
        lines = [json.loads(x) for x in _member(tar, "chunks.jsonl").decode().splitlines()]
        meta = json.loads(_member(tar, "metadata.json"))
        matrix = np.load(io.BytesIO(_member(tar, "embeddings.npy")))
    assert matrix.shape == (len(lines), DIM) and matrix.dtype == np.float32
    assert meta["counts"]["documents"] == 27 and meta["dims"] == [DIM]
    assert meta["counts"]["lines"] == len(lines) and meta["counts"]["placeholders"] == 2
    for line, row in zip(lines, matrix, strict=True):
        if line["type"] == "document":
            stored = before[line["content_hash"]]
            assert line["has_embedding"] == (not stored["is_placeholder"])
            assert row.tobytes() == stored["embedding"] and line["metadata"] == stored["metadata"]
    span = next(x for x in lines if x["type"] == "span" and x["repo"] == "export-tiny" and x["name"] == "add")
    assert span["enrichment"]["tier"] == "static" and span["has_embedding"]
    stored_vector = db.execute(
        "SELECT embedding FROM embeddings WHERE content_hash = %s AND model = %s", (span["content_hash"], MODEL)
    ).fetchone()
    assert stored_vector is not None
    assert matrix[lines.index(span)].tobytes() == as_array(stored_vector[0]).tobytes()

    only_repo = tmp_path / "tiny.tar.gz"
    assert ragfleet("export", str(only_repo), "--repo", "export-tiny").returncode == 0
    with tarfile.open(only_repo) as tar:
        repo_lines = [json.loads(x) for x in _member(tar, "chunks.jsonl").decode().splitlines()]
    assert repo_lines and {(x["type"], x["repo"]) for x in repo_lines} == {("span", "export-tiny")}
    refused = ragfleet("export", str(only_repo))
    assert refused.returncode == 1 and "already exists" in refused.stderr
    unknown = ragfleet("export", str(tmp_path / "none.tar.gz"), "--repo", "never-indexed")
    assert unknown.returncode == 1 and "repo 'never-indexed' is not indexed" in unknown.stderr
    assert not (tmp_path / "none.tar.gz").exists()


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    file = tar.extractfile(name)
    assert file is not None
    return file.read()


def test_watch_replays_new_files_once_across_a_restart(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    state = tmp_path / "state.json"
    argv = [RAGFLEET, "enqueue", "msgpack", str(inbox / "*.msgpack"), "--watch", "--interval", "1",
            "--state-file", str(state), "--json"]  # fmt: skip

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(proc: subprocess.Popen[str]) -> str:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return out

    def has(prefix: str, n: int) -> bool:
        row = db.execute("SELECT count(*) FROM doc_embeddings WHERE text LIKE %s", (prefix + "%",)).fetchone()
        return row is not None and row[0] == n

    watcher = start()
    try:
        backlog(inbox / "first.msgpack", [{"text": f"first {i}", "embedding": vector(i)} for i in range(3)])
        wait_until(lambda: has("first", 3), 60, "the watcher to replay first.msgpack")
        # A file written slowly in place: it changes between every two polls, so it is not read before it is whole.
        data = msgpack.packb(
            {
                "version": 1,
                "embedding_dim": DIM,
                "records": [{"text": f"slow {i}", "embedding": vector(i)} for i in range(40)],
            }
        )
        with (inbox / "slow.msgpack").open("wb") as f:
            for start_at in range(0, len(data), len(data) // 25 + 1):
                f.write(data[start_at : start_at + len(data) // 25 + 1])
                f.flush()
                time.sleep(0.1)
        wait_until(lambda: has("slow", 40), 60, "the watcher to replay slow.msgpack")
        wait_until(lambda: len(json.loads(state.read_text())["finished"]) == 2, 30, "both files in the state file")
    finally:
        first_run = stop(watcher)
    reports = [json.loads(line) for line in first_run.splitlines() if line.startswith("{")]
    assert [Path(r["path"]).name for r in reports] == ["first.msgpack", "slow.msgpack"]
    assert all(r["rejected"] == 0 for r in reports), reports

    first_updated = db.execute("SELECT max(updated_at) FROM doc_embeddings WHERE text LIKE 'first%'").fetchone()
    backlog(inbox / "second.msgpack", [{"text": f"second {i}", "embedding": vector(10 + i)} for i in range(2)])
    watcher = start()
    try:
        wait_until(lambda: has("second", 2), 60, "the restarted watcher to replay second.msgpack")
        time.sleep(2.5)  # two more polls: a finished file would have been replayed by now
    finally:
        second_run = stop(watcher)
    replayed = [Path(json.loads(line)["path"]).name for line in second_run.splitlines() if line.startswith("{")]
    assert replayed == ["second.msgpack"]
    assert db.execute("SELECT max(updated_at) FROM doc_embeddings WHERE text LIKE 'first%'").fetchone() == first_updated
    assert sorted(Path(p).name for p in json.loads(state.read_text())["finished"]) == [
        "first.msgpack", "second.msgpack", "slow.msgpack"
    ]  # fmt: skip
    assert os.path.exists(state)
