"""The embed worker of a real fleet on the generic HTTP embedder (set by the plain EMBED_ENDPOINT variable).

One bad text is dead-lettered alone while the rest of its batch is stored; a model of the wrong dimension
writes nothing and dead-letters the messages as a configuration error, ready for `requeue-dead`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared.celery_config import make_celery
from shared.hashing import content_hash
from shared.messages import EmbedMessage
from shared.names import QUEUE_EMBED, TASK_EMBED_SPAN
from shared.settings import Settings
from tests.fake_llm import FAIL_TEXT, FakeLLMServer
from tests.integration.conftest import running_fleet, wait_until


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(model="fake-embed") as server:
        yield server


@pytest.fixture(scope="module")
def http_fleet(fake: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    env = {
        "EMBED_ENDPOINT": f"{fake.url}/model/embed",
        "RAGFLEET_EMBEDDING__BACKEND": "http",
        "RAGFLEET_EMBEDDING__MODEL": "fake-embed",
        "RAGFLEET_EMBEDDING__FLUSH_INTERVAL_S": "0.2",
    }
    with running_fleet(Path(tmp_path_factory.mktemp("embed-fleet")), extra_env=env) as settings:
        yield settings


def _publish(settings: Settings, tag: str, texts: list[str]) -> list[str]:
    app = make_celery(settings, name="test-embed")
    try:
        for i, text in enumerate(texts):
            msg = EmbedMessage(span_id=i + 1, repo=tag, path="a.py", content_hash=content_hash(text), text=text)
            app.send_task(TASK_EMBED_SPAN, args=[msg.to_wire()], queue=QUEUE_EMBED)
    finally:
        app.close()
    return [content_hash(t) for t in texts]


def _counts(settings: Settings, hashes: list[str]) -> tuple[int, dict[str, str]]:
    with psycopg.connect(settings.require_database_url(), autocommit=True) as db:
        stored = db.execute("SELECT count(*) FROM embeddings WHERE content_hash = ANY(%s)", (hashes,)).fetchone()
        dead = db.execute(
            "SELECT key, error_class FROM dead_letters WHERE stage = 'embed' AND key = ANY(%s)", (hashes,)
        ).fetchall()
    assert stored is not None
    return int(stored[0]), dict(dead)


def test_one_bad_text_is_dead_lettered_and_its_batch_stored(http_fleet: Settings, fake: FakeLLMServer) -> None:
    texts = [f"def fleet_{i}():\n    return {i}\n" for i in range(6)]
    texts[3] += FAIL_TEXT
    hashes = _publish(http_fleet, "fleet-bad", texts)
    wait_until(lambda: len(_counts(http_fleet, hashes)[1]) == 1, 60, "the bad text's dead letter")
    wait_until(lambda: _counts(http_fleet, hashes)[0] == 5, 60, "the other five vectors")
    assert _counts(http_fleet, hashes)[1] == {hashes[3]: "BadInputError"}
    assert max(len(r["body"]["texts"]) for r in fake.requests) > 1  # batched, not one text per call


def test_a_model_of_the_wrong_dimension_writes_nothing(http_fleet: Settings, fake: FakeLLMServer) -> None:
    fake.embed_dim = 768
    try:
        hashes = _publish(http_fleet, "fleet-dim", [f"def dim_{i}():\n    return {i}\n" for i in range(3)])
        wait_until(lambda: len(_counts(http_fleet, hashes)[1]) == 3, 60, "three dead letters")
    finally:
        fake.embed_dim = 384
    stored, dead = _counts(http_fleet, hashes)
    assert stored == 0 and set(dead.values()) == {"ConfigurationError"}
