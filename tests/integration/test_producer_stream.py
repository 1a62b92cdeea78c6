"""The producer streams: it publishes while it walks, each batch only after its rows are committed, and a
file renamed without changes keeps its spans, enrichments and embeddings (nothing is chunked or enriched again).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from producers.repo import EnqueueReport, enqueue_repo
from shared.celery_config import make_celery
from shared.settings import Settings, WalkSettings
from tests.integration.conftest import ragfleet, wait_until


def _write_tree(root: Path, n: int) -> None:
    for i in range(n):
        (root / f"pkg{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"pkg{i % 3}" / f"mod_{i}.py").write_text(
            f'"""Module {i}."""\n\n\ndef handler_{i}(event):\n    """Handle event {i}."""\n    return event + {i}\n'
        )


def test_publishes_while_walking_and_only_after_committing(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    root = tmp_path / "streamed"
    _write_tree(root, 23)
    settings = fleet_settings.model_copy(update={"walk": WalkSettings(commit_every_files=5)})
    seen: list[tuple[int, int, int]] = []  # (walked, published, rows committed with a hash) at each flush

    def on_progress(report: EnqueueReport) -> None:
        (committed,) = db.execute("SELECT count(*) FROM files WHERE repo = 'streamed'").fetchone() or (0,)
        seen.append((report.files_seen, report.published, int(committed)))

    report = enqueue_repo(settings, make_celery(settings), root, name="streamed", on_progress=on_progress)
    assert report.published == 23 and report.batches == 5 and report.counts.add == 23
    # The first batch went out when only 5 of the 23 files had been walked ...
    assert any(walked < 23 and published > 0 for walked, published, _ in seen)
    # ... and at every point, each published file already had its committed row (another connection sees it).
    assert all(committed >= published for _, published, committed in seen)

    # A chunk worker ignores a message whose hash the files table does not hold: every file being chunked
    # proves no message overtook its row.
    def all_chunked() -> bool:
        row = db.execute(
            "SELECT count(*) FILTER (WHERE status = 'chunked' AND chunked_hash = content_hash), count(*)"
            " FROM files WHERE repo = 'streamed'"
        ).fetchone()
        return row == (23, 23)

    wait_until(all_chunked, 120, "every streamed file to be chunked")


@pytest.fixture(scope="module")
def indexed(fleet_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("renames") / "renames"
    _write_tree(root, 6)
    result = ragfleet("index", str(root), "--name", "renames", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _snapshot(db: psycopg.Connection) -> dict[str, object]:
    """What a rename must leave alone: span ids and hashes, enrichment and embedding rows, model attempts."""
    spans = db.execute(
        "SELECT id, content_hash FROM spans WHERE repo = 'renames' ORDER BY id",
    ).fetchall()
    hashes = [h for _, h in spans]
    enrichments = db.execute(
        "SELECT content_hash, model, created_at FROM enrichments WHERE content_hash = ANY(%s) ORDER BY 1, 2",
        (hashes,),
    ).fetchall()
    embeddings = db.execute(
        "SELECT content_hash, model, created_at FROM embeddings WHERE content_hash = ANY(%s) ORDER BY 1, 2",
        (hashes,),
    ).fetchall()
    (attempts,) = db.execute("SELECT count(*) FROM attempts").fetchone() or (0,)
    return {"spans": spans, "enrichments": enrichments, "embeddings": embeddings, "attempts": attempts}


def test_a_renamed_file_keeps_its_spans_and_enrichments(indexed: Path, db: psycopg.Connection) -> None:
    before = _snapshot(db)
    assert before["enrichments"] and before["embeddings"]
    old_ids: dict[str, int] = dict(
        db.execute("SELECT name, id FROM spans WHERE repo = 'renames' AND path = 'pkg1/mod_4.py'")
    )
    assert old_ids
    (indexed / "pkg1" / "mod_4.py").rename(indexed / "pkg2" / "moved.py")
    result = ragfleet("index", str(indexed), "--name", "renames", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "add 0, update 0, delete 0, unchanged 5, renamed 1; published 0" in result.stdout
    assert _snapshot(db) == before  # the same span rows; no enrichment or embedding made or lost; no model call
    moved: dict[str, int] = dict(
        db.execute("SELECT name, id FROM spans WHERE repo = 'renames' AND path = 'pkg2/moved.py'")
    )
    assert moved == old_ids
    assert db.execute("SELECT count(*) FROM files WHERE repo = 'renames' AND path = 'pkg1/mod_4.py'").fetchone() == (0,)
    hits = ragfleet("search", "Handle event 4", "--repo", "renames", "--json")
    assert hits.returncode == 0 and '"path": "pkg2/moved.py"' in hits.stdout


def test_a_copy_is_an_add_and_the_original_stays(indexed: Path, db: psycopg.Connection) -> None:
    before = _snapshot(db)
    text = (indexed / "pkg0" / "mod_0.py").read_text()
    (indexed / "pkg0" / "copy_of_0.py").write_text(text)
    result = ragfleet("index", str(indexed), "--name", "renames", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "add 1, update 0, delete 0, unchanged 6, renamed 0; published 1" in result.stdout
    after = _snapshot(db)
    # The copy's spans reuse the original's enrichments and embeddings (content-addressed): no new ones.
    assert after["enrichments"] == before["enrichments"] and after["embeddings"] == before["embeddings"]
    assert after["attempts"] == before["attempts"]
    paths = {p for (p,) in db.execute("SELECT DISTINCT path FROM spans WHERE repo = 'renames' AND path LIKE 'pkg0/%'")}
    assert {"pkg0/mod_0.py", "pkg0/copy_of_0.py"} <= paths


def test_an_update_keeps_the_old_spans_until_the_new_ones_land(
    fleet_settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    root = tmp_path / "updates"
    _write_tree(root, 3)
    result = ragfleet("index", str(root), "--name", "updates", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    path = "pkg1/mod_1.py"
    old = db.execute("SELECT id, name FROM spans WHERE repo = 'updates' AND path = %s ORDER BY id", (path,)).fetchall()
    (root / path).write_text("def renamed_handler(event):\n    return event\n")
    # Plan and publish the update through a broker database no worker consumes: the message waits there.
    assert fleet_settings.broker_url is not None and fleet_settings.broker_url.endswith("/0")
    idle = fleet_settings.model_copy(update={"broker_url": fleet_settings.broker_url[:-2] + "/7"})
    report = enqueue_repo(idle, make_celery(idle), root, name="updates")
    assert report.counts.update == 1 and report.published == 1
    # Planned, not chunked: the file still has its old spans, and says which version they are.
    now = db.execute("SELECT id, name FROM spans WHERE repo = 'updates' AND path = %s ORDER BY id", (path,)).fetchall()
    assert now == old
    assert db.execute(
        "SELECT status, chunked_hash <> content_hash FROM files WHERE repo = 'updates' AND path = %s", (path,)
    ).fetchone() == ("queued", True)
    # The next enqueue (to the fleet's broker) publishes it again, since its spans are not the current version.
    again = ragfleet("index", str(root), "--name", "updates", "--timeout", "300")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "add 0, update 1, delete 0" in again.stdout
    names = {n for (n,) in db.execute("SELECT name FROM spans WHERE repo = 'updates' AND path = %s", (path,))}
    assert "renamed_handler" in names and "handler_1" not in names
