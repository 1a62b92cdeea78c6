"""The embed stage over real HTTP (fake Ollama, OpenAI, generic servers) into real Postgres; the backfill path.

Each test uses texts of its own (named after the test), so content hashes never collide with another
test's or the fleet's rows.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from shared.db.embeddings import EmbeddingRow, upsert_embeddings
from shared.db.hnsw import hnsw_dropped, hnsw_indexes
from shared.db.migrate import migrate
from shared.errors import BackendUnreachableError, ConfigurationError
from shared.hashing import content_hash
from shared.messages import EmbedMessage
from shared.settings import EmbeddingSettings, Settings
from tests.fake_llm import FAIL_TEXT, FakeLLMServer, Fault, fake_embedding
from workers.context import WorkerContext
from workers.embed import embed_batch

API_KEY = "sk-embed-test-never-shown"
BACKENDS = ["ollama", "openai", "http"]
INDEX = "embeddings_hnsw_idx"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(model="fake-embed") as server:
        yield server


@pytest.fixture
def server(fake: FakeLLMServer) -> Iterator[FakeLLMServer]:
    fake.requests.clear()
    yield fake
    fake.clear_faults()
    fake.embed_dim, fake.api_key = 384, None


def _context(fleet_settings: Settings, backend: str, fake: FakeLLMServer, **embedding: object) -> WorkerContext:
    endpoint = {"ollama": fake.url, "openai": fake.url, "http": f"{fake.url}/model/embed"}[backend]
    update = {"backend": backend, "model": "fake-embed", "endpoint": endpoint, "batch_size": 4, **embedding}
    embedding_settings = EmbeddingSettings.model_validate({**fleet_settings.embedding.model_dump(), **update})
    return WorkerContext(fleet_settings.model_copy(update={"embedding": embedding_settings}))


def _messages(tag: str, count: int) -> list[EmbedMessage]:
    texts = [f"def {tag}_{i}(x):\n    return x + {i}\n" for i in range(count)]
    return [
        EmbedMessage(span_id=i, repo=tag, path="a.py", content_hash=content_hash(t), text=t)
        for i, t in enumerate(texts)
    ]


def _stored(db: psycopg.Connection, messages: list[EmbedMessage]) -> dict[str, np.ndarray]:
    register_vector(db)
    rows = db.execute(
        "SELECT content_hash, embedding FROM embeddings WHERE model = 'fake-embed' AND content_hash = ANY(%s)",
        ([m.content_hash for m in messages],),
    )
    return {h: v.to_numpy() for h, v in rows}


@pytest.mark.parametrize("backend", BACKENDS)
def test_http_embedder_stores_the_servers_vectors_in_batched_calls(
    backend: str, server: FakeLLMServer, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    messages = _messages(f"ok_{backend}", 10)
    outcome = embed_batch(messages, _context(fleet_settings, backend, server))
    assert (outcome.stored, outcome.rejected) == (10, [])
    stored = _stored(db, messages)
    for m in messages:
        np.testing.assert_allclose(stored[m.content_hash], fake_embedding(m.text, 384), rtol=1e-5)
    assert [len(r["body"]["texts" if backend == "http" else "input"]) for r in server.requests] == [4, 4, 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_text_that_fails_the_server_is_rejected_alone(
    backend: str, server: FakeLLMServer, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    messages = _messages(f"poison_{backend}", 4)
    poisoned = messages[2].model_copy(update={"text": messages[2].text + FAIL_TEXT})
    messages[2] = poisoned
    outcome = embed_batch(messages, _context(fleet_settings, backend, server))
    assert outcome.stored == 3
    assert [(m, reason.split(":")[0]) for m, reason in outcome.rejected] == [(poisoned, "BackendUnavailableError")]
    assert "HTTP 500" in outcome.rejected[0][1]
    assert set(_stored(db, messages)) == {m.content_hash for m in messages} - {poisoned.content_hash}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_of_another_dimension_is_refused_before_any_write(
    backend: str, server: FakeLLMServer, fleet_settings: Settings, db: psycopg.Connection
) -> None:
    server.embed_dim = 768
    messages = _messages(f"dim_{backend}", 3)
    with pytest.raises(ConfigurationError, match=r"'fake-embed' at .* makes 768-d vectors but .*DIM is 384"):
        embed_batch(messages, _context(fleet_settings, backend, server))
    assert _stored(db, messages) == {}


def test_a_configured_dimension_unlike_the_tables_is_refused_before_any_call(
    server: FakeLLMServer, fleet_settings: Settings
) -> None:
    with pytest.raises(ConfigurationError, match=r"makes 768-d vectors but embeddings.embedding is vector\(384\)"):
        embed_batch(_messages("tabledim", 2), _context(fleet_settings, "http", server, dim=768))
    assert server.requests == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_key_is_a_configuration_error_that_never_shows_the_key(
    backend: str, server: FakeLLMServer, fleet_settings: Settings
) -> None:
    server.api_key = "the-right-key"
    with pytest.raises(ConfigurationError, match="HTTP 401") as caught:
        embed_batch(_messages(f"auth_{backend}", 2), _context(fleet_settings, backend, server, api_key=API_KEY))
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)
    assert API_KEY not in "".join(traceback.format_exception(caught.value))  # nor in what it was raised from
    assert all(r["authorized"] for r in server.requests)


def test_a_server_that_does_not_answer_sends_the_batch_back_whole(
    server: FakeLLMServer, fleet_settings: Settings
) -> None:
    server.script(Fault("timeout"))
    with pytest.raises(BackendUnreachableError, match="timed out"):
        embed_batch(_messages("timeout", 3), _context(fleet_settings, "http", server, timeout_s=0.5))
    assert len(server.requests) == 1  # not bisected: no text is to blame for silence


@pytest.mark.parametrize("count", [3, 1200], ids=["executemany", "copy"])
def test_upsert_replaces_the_vector_of_the_same_span_and_model(
    count: int, db: psycopg.Connection, fleet_settings: Settings
) -> None:
    def rows(version: str, value: float) -> list[EmbeddingRow]:
        vector = np.full(384, value, dtype=np.float32)
        return [
            EmbeddingRow(f"upsert-{count}-{i}", "fake-embed", version, f"text-{version}", vector) for i in range(count)
        ]

    with psycopg.connect(fleet_settings.require_database_url()) as conn:
        register_vector(conn)
        assert upsert_embeddings(conn, rows("v1", 0.5)[:-1]) == count - 1
        conn.commit()
        # Every stored key again, plus a new one, the last row per key winning.
        assert upsert_embeddings(conn, rows("v1", 0.5) + rows("v2", 0.25)) == count
    stored = db.execute(
        "SELECT count(*), min(prompt_version), max(prompt_version), min(text_hash) FROM embeddings"
        " WHERE content_hash LIKE %s",
        (f"upsert-{count}-%",),
    ).fetchone()
    assert stored == (count, "v2", "v2", "text-v2")


def test_a_backfill_loads_without_the_index_and_rebuilds_it_as_it_was(
    db: psycopg.Connection, fleet_settings: Settings
) -> None:
    before = hnsw_indexes(db, "embeddings")
    assert INDEX in before
    rng = np.random.default_rng(7)
    rows = [
        EmbeddingRow(f"backfill-{i}", "fake-embed", "v1", f"t{i}", rng.standard_normal(384).astype(np.float32))
        for i in range(1500)  # over COPY_FROM_ROWS: the COPY + merge path
    ]
    with psycopg.connect(fleet_settings.require_database_url()) as conn:
        register_vector(conn)
        with hnsw_dropped(conn, "embeddings", build_memory="256MB") as dropped:
            assert dropped == before
            assert hnsw_indexes(db, "embeddings") == {}  # committed: other sessions load without it too
            upsert_embeddings(conn, rows)
    assert hnsw_indexes(db, "embeddings") == before
    assert db.execute("SELECT count(*) FROM embeddings WHERE content_hash LIKE 'backfill-%'").fetchone() == (1500,)
    assert db.execute("SELECT count(*) FROM dropped_indexes").fetchone() == (0,)


def test_a_failed_backfill_rolls_back_and_still_rebuilds_the_index(
    db: psycopg.Connection, fleet_settings: Settings
) -> None:
    before = hnsw_indexes(db, "embeddings")
    row = EmbeddingRow("failed-backfill", "fake-embed", "v1", "t", np.zeros(384, dtype=np.float32))
    with psycopg.connect(fleet_settings.require_database_url()) as conn:
        register_vector(conn)
        with pytest.raises(ZeroDivisionError), hnsw_dropped(conn, "embeddings"):
            upsert_embeddings(conn, [row])
            _ = 1 / 0
    assert hnsw_indexes(db, "embeddings") == before
    assert db.execute("SELECT count(*) FROM embeddings WHERE content_hash = 'failed-backfill'").fetchone() == (0,)


def test_an_index_lost_to_a_crash_mid_backfill_is_rebuilt_by_migrate(
    db: psycopg.Connection, fleet_settings: Settings
) -> None:
    before = hnsw_indexes(db, "embeddings")
    # What a backfill leaves behind when its process dies between the drop and the rebuild.
    with db.transaction():
        db.execute(
            "INSERT INTO dropped_indexes (index_name, table_name, definition) VALUES (%s, 'embeddings', %s)",
            (INDEX, before[INDEX]),
        )
        db.execute(f"DROP INDEX {INDEX}")
    migrate(fleet_settings.require_database_url())
    assert hnsw_indexes(db, "embeddings") == before
    assert db.execute("SELECT count(*) FROM dropped_indexes").fetchone() == (0,)
