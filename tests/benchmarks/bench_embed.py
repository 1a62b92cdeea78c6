"""Embedding and storage benchmark (issue 5, item 7 a, b, d): the fleet against the bare operations, in one run.

Setup: one embedded stack (Redis + PostgreSQL/pgvector) under a temporary state dir.

(a) Embed stage. N span-like texts (30-line windows of standard-library sources, unique) are published as
    `embed` messages to one real embed worker (the product's pool: one process, one task thread; celery-batches
    buffers `embedding.batch_size` messages per model call) with the bundled all-MiniLM-L6-v2 on the CPU; the
    time runs from the first publish until every vector is stored in Postgres (and every delivery forgotten).
    The bare operation: `model.encode` of the same texts with the same batch size in this process (one process,
    torch's default threads in both; the worker idles meanwhile, and this process only polls Postgres while the
    worker runs). The model is warmed up in both before timing. Target: fleet ÷ bare ≥ 0.9.
(b) Writes. R 384-d rows into `embeddings` without its HNSW index (as a backfill writes them): ragfleet's write
    path (`upsert_embeddings`, which at this size COPYs straight in under a savepoint, falling back to a staging
    table + one INSERT … ON CONFLICT when a key is stored already) ÷ a raw binary COPY of the same rows into the
    emptied table; pipelined executemany of the same upsert for comparison. Then the same rows again onto the
    stored ones (every key conflicts: the fallback's worst case) against executemany. Also 64-row writes (one
    span batch per transaction, what the embed stage does per model call), where `upsert_embeddings` takes
    pipelined executemany; COPY + merge for comparison. Target ≥ 0.9.
(d) Backfill path. H rows into `embeddings` with its HNSW index in place, against load-then-index (COPY, then
    CREATE INDEX with maintenance_work_mem = embedding.index_build_memory), and ragfleet's `hnsw_dropped` path
    (drop, upsert, rebuild). Rows/s include the index build.
Every figure is the median of --runs runs; runs of (a)'s two sides alternate so machine load hits both alike.

Run it: `make bench-embed` or `python -m tests.benchmarks.bench_embed --runs 3 --texts 2000 --rows 50000`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
from celery import Celery
from pgvector.psycopg import register_vector
from rich.console import Console
from rich.table import Table

from shared.celery_config import make_celery
from shared.db.bulk import copy_rows, copy_upsert
from shared.db.embeddings import EMBEDDINGS, UPSERT, EmbeddingRow, upsert_embeddings
from shared.db.hnsw import hnsw_dropped, hnsw_indexes
from shared.embedders.sentence_transformers import SentenceTransformersEmbedder
from shared.hashing import content_hash
from shared.messages import EmbedMessage
from shared.names import QUEUE_EMBED, TASK_EMBED_SPAN
from shared.settings import EmbeddingSettings, Settings
from tests.benchmarks.bench_enrich import celery_worker, purge, wait_online, wait_stored
from tests.benchmarks.embedded import embedded_stack

TARGET = 0.9
WINDOW_LINES = 30
SPAN_BATCH = 64

console = Console(width=None if sys.stdout.isatty() else 160)


def span_texts(count: int) -> list[str]:
    """`count` unique 30-line windows of standard-library Python sources (what the chunker makes of code)."""
    texts: list[str] = []
    seen: set[str] = set()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for start in range(0, len(lines), WINDOW_LINES):
            text = "\n".join(lines[start : start + WINDOW_LINES]).strip()
            if len(text) > 80 and text not in seen:
                seen.add(text)
                texts.append(text)
                if len(texts) == count:
                    return texts
    raise RuntimeError(f"only {len(texts)} texts found in the standard library")


# -- (a) the embed stage ------------------------------------------------------------------------------------------


def fleet_embed_s(app: Celery, db: psycopg.Connection, texts: list[str]) -> float:
    """Publish one `embed` message per text; seconds until every vector is stored and every delivery forgotten."""
    db.execute("TRUNCATE embeddings, deliveries, dead_letters")
    messages = [
        EmbedMessage(span_id=i + 1, repo="bench", path=f"bench/{i}.py", content_hash=content_hash(t), text=t).to_wire()
        for i, t in enumerate(texts)
    ]
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for message in messages:
            app.send_task(TASK_EMBED_SPAN, args=[message], queue=QUEUE_EMBED, producer=producer)
    wait_stored(db, "embeddings", len(texts), timeout_s=60 + len(texts), poll_s=0.05)
    return time.perf_counter() - started


def bench_embed_stage(base: Settings, args: argparse.Namespace) -> tuple[float, float]:
    """(fleet texts/s, bare encode texts/s), medians of alternating runs."""
    texts = span_texts(args.texts)
    embedding = EmbeddingSettings(batch_size=args.batch_size)
    settings = base.model_copy(update={"embedding": embedding})
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGFLEET_")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "RAGFLEET_STATE_DIR": str(base.state_dir),
        "RAGFLEET_BROKER_URL": base.require_broker_url(),
        "RAGFLEET_DATABASE_URL": base.require_database_url(),
        "RAGFLEET_EMBEDDING__BATCH_SIZE": str(args.batch_size),
    }
    app = make_celery(settings, name="bench-embed")
    name = f"bench-embed-{uuid.uuid4().hex[:8]}@bench"
    log = base.state_dir / f"worker-{name.split('@')[0]}.log"
    model = SentenceTransformersEmbedder(batch_size=args.batch_size)
    fleet_s: list[float] = []
    bare_s: list[float] = []
    try:
        purge(app, QUEUE_EMBED)
        with (
            celery_worker(QUEUE_EMBED, settings, base.state_dir, name, env) as proc,
            psycopg.connect(base.require_database_url(), autocommit=True) as db,
        ):
            wait_online(app, proc, name, log)
            model.embed(texts[: args.batch_size])  # warm-up: weights paged in, kernels chosen
            fleet_embed_s(app, db, texts[: args.batch_size])  # the worker loads its model on its first batch
            for run in range(args.runs):
                console.print(f"(a) run {run + 1}/{args.runs}: fleet ...")
                try:
                    fleet_s.append(fleet_embed_s(app, db, texts))
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}\n--- worker log ---\n{log.read_text(errors='replace')[-3000:]}") from exc
                console.print(f"(a) run {run + 1}/{args.runs}: bare encode ...")
                started = time.perf_counter()
                model.embed(texts)
                bare_s.append(time.perf_counter() - started)
        if args.keep_log:
            shutil.copy(log, args.keep_log)
    finally:
        app.close()
    return len(texts) / statistics.median(fleet_s), len(texts) / statistics.median(bare_s)


# -- (b) and (d) writes -------------------------------------------------------------------------------------------


def make_rows(count: int, tag: str) -> list[EmbeddingRow]:
    """Random unit 384-d rows, as the model makes them."""
    vectors = np.random.default_rng(42).standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [EmbeddingRow(f"{tag}-{i:08d}", "bench", "v1", f"t{i}", vectors[i]) for i in range(count)]


def as_tuples(rows: list[EmbeddingRow]) -> list[tuple[object, ...]]:
    return [(r.content_hash, r.model, 384, r.prompt_version, r.text_hash, r.vector) for r in rows]


def raw_copy(conn: psycopg.Connection, rows: list[EmbeddingRow]) -> None:
    with conn.transaction():
        copy_rows(conn, "embeddings", EMBEDDINGS, as_tuples(rows))


def ragfleet_write(conn: psycopg.Connection, rows: list[EmbeddingRow]) -> None:
    with conn.transaction():
        upsert_embeddings(conn, rows)


def copy_merge_write(conn: psycopg.Connection, rows: list[EmbeddingRow]) -> None:
    with conn.transaction():
        copy_upsert(conn, EMBEDDINGS, as_tuples(rows))


def executemany_write(conn: psycopg.Connection, rows: list[EmbeddingRow]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(UPSERT, as_tuples(rows))


def in_batches(write: Callable[[psycopg.Connection, list[EmbeddingRow]], None]) -> Callable[..., None]:
    """The same write, one transaction per span batch of 64 rows."""

    def run(conn: psycopg.Connection, rows: list[EmbeddingRow]) -> None:
        for start in range(0, len(rows), SPAN_BATCH):
            write(conn, rows[start : start + SPAN_BATCH])

    return run


Method = tuple[str, Callable[..., None], list[EmbeddingRow]]


def timed_writes(
    conn: psycopg.Connection, methods: list[Method], args: argparse.Namespace, *, empty: bool
) -> dict[str, float]:
    """Median rows/s of each method; runs interleave the methods so that drifting machine load hits all alike.

    `empty`: the table is emptied (untimed) before each write; else it keeps what it holds.
    """
    times: dict[str, list[float]] = {label: [] for label, _, _ in methods}
    for run in range(args.runs):
        console.print(f"(b) run {run + 1}/{args.runs}: {', '.join(times)} ...")
        for label, write, rows in methods:
            if empty:
                conn.execute("TRUNCATE embeddings")
                conn.commit()
            started = time.perf_counter()
            write(conn, rows)
            times[label].append(time.perf_counter() - started)
    return {label: len(rows) / statistics.median(times[label]) for label, _, rows in methods}


def bench_writes(conn: psycopg.Connection, args: argparse.Namespace) -> dict[str, float]:
    """(b): rows/s of each write method into `embeddings` without its HNSW index."""
    rows = make_rows(args.rows, "w")
    small = rows[: args.batch_rows]
    figures: dict[str, float] = {}
    with hnsw_dropped(conn, "embeddings"):
        raw_copy(conn, rows[:5000])  # warm-up: the first COPY of a fresh server is slower than the rest
        fresh = [
            ("copy", raw_copy, rows),
            ("ragfleet", ragfleet_write, rows),
            ("executemany", executemany_write, rows),
            ("copy-64", in_batches(raw_copy), small),
            ("ragfleet-64", in_batches(ragfleet_write), small),
            ("executemany-64", in_batches(executemany_write), small),
            ("copy-merge-64", in_batches(copy_merge_write), small),
        ]
        figures |= timed_writes(conn, fresh, args, empty=True)
        conn.execute("TRUNCATE embeddings")
        raw_copy(conn, rows)
        rewrite = [
            ("ragfleet-rewrite", ragfleet_write, rows),
            ("executemany-rewrite", executemany_write, rows),
            ("ragfleet-64-rewrite", in_batches(ragfleet_write), small),
            ("executemany-64-rewrite", in_batches(executemany_write), small),
        ]
        figures |= timed_writes(conn, rewrite, args, empty=False)
        conn.execute("TRUNCATE embeddings")
    return figures


def bench_backfill(conn: psycopg.Connection, args: argparse.Namespace, build_memory: str) -> dict[str, float]:
    """(d): rows/s into the indexed table, load-then-index, and ragfleet's drop/load/rebuild path."""
    rows = make_rows(args.hnsw_rows, "h")
    definition = hnsw_indexes(conn, "embeddings")
    conn.commit()
    (name,) = definition

    def into_indexed() -> None:
        raw_copy(conn, rows)

    def load_then_index() -> None:
        conn.execute(f"DROP INDEX {name}")
        raw_copy(conn, rows)
        with conn.transaction():
            conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (build_memory,))
            conn.execute(definition[name].encode())

    def ragfleet_backfill() -> None:
        with hnsw_dropped(conn, "embeddings", build_memory=build_memory):
            upsert_embeddings(conn, rows)

    figures = {}
    for label, run in (
        ("indexed", into_indexed),
        ("load-then-index", load_then_index),
        ("ragfleet", ragfleet_backfill),
    ):
        console.print(f"(d) {label}: {len(rows)} rows × {args.runs} runs ...")
        times = []
        for _ in range(args.runs):
            conn.execute("TRUNCATE embeddings")
            conn.commit()
            started = time.perf_counter()
            run()
            conn.commit()
            times.append(time.perf_counter() - started)
            if hnsw_indexes(conn, "embeddings") != definition:
                raise RuntimeError(f"{label}: the HNSW index was not left as it was")
            conn.commit()
        figures[label] = len(rows) / statistics.median(times)
    conn.execute("TRUNCATE embeddings")
    conn.commit()
    return figures


# -- the table ----------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, embed: tuple[float, float] | None, writes: dict[str, float],
           backfill: dict[str, float]) -> Table:  # fmt: skip
    table = Table(
        title=f"Embedding and storage on {os.cpu_count()} cores: medians of {args.runs} runs",
        caption="(a) texts/s, from first publish to the last vector stored; (b), (d) rows/s of 384-d vectors "
        "with text columns; (d) includes the HNSW build. Ratio = ragfleet ÷ baseline.",
    )
    for column in ("item", "ragfleet", "rate", "baseline", "rate", "ratio", "target", "met"):
        table.add_column(column, justify="right" if column in ("rate", "ratio") else "left", no_wrap=True)

    def add(item: str, ours: str, ours_rate: float, base: str, base_rate: float, target: float | None) -> None:
        ratio = ours_rate / base_rate
        met = "—" if target is None else ("yes" if ratio >= target else "NO")
        table.add_row(item, ours, _rate(ours_rate), base, _rate(base_rate), f"{ratio:.2f}",
                      "—" if target is None else f"≥ {target}", met)  # fmt: skip

    if embed:
        add(f"(a) embed {args.texts} spans, batch {args.batch_size}", "1 embed worker", embed[0],
            "bare model.encode", embed[1], TARGET)  # fmt: skip
    if writes:
        add(f"(b) write {args.rows:,} rows", "upsert_embeddings (→ COPY)", writes["ragfleet"],
            "raw binary COPY", writes["copy"], TARGET)  # fmt: skip
        add(f"(b) write {args.rows:,} rows", "pipelined executemany upsert", writes["executemany"],
            "raw binary COPY", writes["copy"], None)  # fmt: skip
        add(f"(b) re-write {args.rows:,} stored rows", "upsert_embeddings (COPY fails → merge)",
            writes["ragfleet-rewrite"], "pipelined executemany", writes["executemany-rewrite"], None)  # fmt: skip
        add(f"(b) re-write {args.batch_rows:,} rows, 64 a time", "upsert_embeddings (COPY fails → executemany)",
            writes["ragfleet-64-rewrite"], "pipelined executemany", writes["executemany-64-rewrite"], None)  # fmt: skip
        add(f"(b) {args.batch_rows:,} rows in 64-row writes", "upsert_embeddings (→ COPY)",
            writes["ragfleet-64"], "raw binary COPY", writes["copy-64"], TARGET)  # fmt: skip
        add(f"(b) {args.batch_rows:,} rows in 64-row writes", "pipelined executemany upsert",
            writes["executemany-64"], "raw binary COPY", writes["copy-64"], None)  # fmt: skip
        add(f"(b) {args.batch_rows:,} rows in 64-row writes", "COPY+merge (copy_upsert)",
            writes["copy-merge-64"], "raw binary COPY", writes["copy-64"], None)  # fmt: skip
    if backfill:
        add(f"(d) backfill {args.hnsw_rows:,} rows", "ragfleet drop/load/rebuild", backfill["ragfleet"],
            "COPY into HNSW-indexed table", backfill["indexed"], None)  # fmt: skip
        add(f"(d) backfill {args.hnsw_rows:,} rows", "load-then-index (bare)", backfill["load-then-index"],
            "COPY into HNSW-indexed table", backfill["indexed"], None)  # fmt: skip
    return table


def _rate(per_s: float) -> str:
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.1f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_embed", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=2000, help="(a) span texts per run")
    parser.add_argument("--batch-size", type=int, default=EmbeddingSettings().batch_size, help="(a) texts per call")
    parser.add_argument("--rows", type=int, default=50_000, help="(b) rows per bulk write")
    parser.add_argument("--batch-rows", type=int, default=12_800, help="(b) rows written 64 at a time")
    parser.add_argument("--hnsw-rows", type=int, default=20_000, help="(d) rows per backfill")
    parser.add_argument("--only", default="a,b,d", help="comma-separated parts to run")
    parser.add_argument("--keep-log", type=Path, help="(a) copy the embed worker's log here")
    args = parser.parse_args(argv)
    args.only = {p.strip() for p in args.only.split(",")}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    embed, writes, backfill = None, {}, {}
    try:
        with embedded_stack("ragfleet-bench-embed-", console) as base:
            if "a" in args.only:
                embed = bench_embed_stage(base, args)
            with contextlib.closing(psycopg.connect(base.require_database_url())) as conn:
                register_vector(conn)
                if "b" in args.only:
                    writes = bench_writes(conn, args)
                if "d" in args.only:
                    backfill = bench_backfill(conn, args, base.embedding.index_build_memory)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping what the benchmark started[/yellow]")
    console.print(report(args, embed, writes, backfill))
    console.print(f"whole benchmark: {time.monotonic() - started:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
