"""msgpack backlog replay benchmark (issue 5, item 7c): pre-embedded records into `doc_embeddings`, against raw COPY.

Setup: one embedded stack (PostgreSQL + pgvector) under a temporary state dir; N pre-embedded 384-d records
(text of ~200 characters, a small metadata map, float32 vectors) in F backlog files in the batch format.

Rows measured, each the median of --runs runs within this one run of the benchmark:
- read + check only: the streaming reader and the per-record checks, nothing written (the CPU cost of the format).
- replay into an empty table: what `ragfleet enqueue msgpack FILES` does in-process (`BacklogReplayer`): read,
  check, dedup, look up the stored state, binary COPY into a staging table and one INSERT … ON CONFLICT per
  5,000 records, one transaction each.
- replay again (rows exist): the same files over a full table; every row is replaced (idempotent re-run).
- replay --skip-existing (rows exist): the same files over a full table; every record is skipped.
- raw binary COPY: the same rows, already decoded in memory, binary-COPYed in one transaction into an equivalent
  table (same columns and constraints, the unique index on content_hash, no HNSW index) — the bare operation.
- raw binary COPY, then the HNSW build: the same, followed by `CREATE INDEX … USING hnsw` with the
  `maintenance_work_mem` ragfleet uses — the bare operation that ends, as a replay does, with a searchable table.
  (A replay of at least `embedding.rebuild_index_rows` rows drops doc_embeddings' HNSW index once it gets there
  and rebuilds it at the end, so the replay rows include that build.)
The table is truncated before every run that starts from empty, and a CHECKPOINT precedes every timed write (so
none pays for the dirty pages of the one before); "÷ raw COPY" = that row's rows/s over raw COPY's.

Run it: `make bench-msgpack` or `python -m tests.benchmarks.bench_msgpack --records 100000 --files 4 --runs 3`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table

from producers.doc_backlog import BacklogReplayer, ReplayOptions
from shared.db import connect
from shared.db.bulk import CopyTarget, copy_rows
from shared.db.doc_embeddings import COLUMNS
from shared.doc_backlog.reader import read_backlog
from shared.doc_backlog.records import DocRecord
from shared.hashing import content_hash
from shared.messages import EmbedDocumentsMessage
from shared.settings import Settings
from tests.benchmarks.embedded import embedded_stack

DIM = 384
MODEL = "all-MiniLM-L6-v2"
RAW_TABLE = "bench_raw_doc_embeddings"

console = Console(width=None if sys.stdout.isatty() else 140)


def make_files(directory: Path, records: int, files: int) -> list[Path]:
    """`records` distinct pre-embedded records spread over `files` batch files."""
    rng = np.random.default_rng(7)
    paths = []
    per_file = -(-records // files)
    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 4
    for f in range(files):
        path = directory / f"backlog-{f:02d}.msgpack"
        first, last = f * per_file, min(records, (f + 1) * per_file)
        packer = msgpack.Packer()
        with path.open("wb") as out:
            header = {"version": 1, "source": "bench", "batch_tag": f"file-{f}", "created_at": "2026-11-21",
                      "embedding_dim": DIM, "model": MODEL}  # fmt: skip
            out.write(packer.pack_map_header(len(header) + 1))
            for key, value in header.items():
                out.write(packer.pack(key) + packer.pack(value))
            out.write(packer.pack("records") + packer.pack_array_header(last - first))
            vectors = rng.standard_normal((last - first, DIM), dtype=np.float32)
            for i in range(first, last):
                record = {
                    "text": f"document {i}: {filler[: 150 + i % 50]}",
                    "embedding": vectors[i - first].tolist(),
                    "metadata": {"doc_id": i, "lang": "en", "tags": ["bench", f"group-{i % 10}"]},
                }
                out.write(packer.pack(record))
        paths.append(path)
    return paths


def decoded_rows(paths: list[Path]) -> list[tuple[object, ...]]:
    """The rows the replay writes, decoded once, in COPY column order (raw COPY's input)."""
    rows: list[tuple[object, ...]] = []
    for path in paths:
        for item in read_backlog(path):
            if isinstance(item, DocRecord) and item.embedding is not None:
                rows.append((item.content_hash, MODEL, DIM, "v1", item.text, item.metadata, item.source,
                             item.batch_tag, item.embedding, False))  # fmt: skip
    return rows


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def no_publish(message: EmbedDocumentsMessage) -> None:
    raise AssertionError("pre-embedded records are written directly: nothing is published")


def replay(settings: Settings, conn: psycopg.Connection, paths: list[Path], *, skip_existing: bool = False) -> None:
    report = BacklogReplayer(settings, conn, no_publish, ReplayOptions(skip_existing=skip_existing)).replay(paths)
    assert all(r.rejected == 0 and r.accounted == r.records for r in report)


def raw_copy(conn: psycopg.Connection, rows: list[tuple[object, ...]]) -> None:
    copy_rows(conn, RAW_TABLE, CopyTarget(RAW_TABLE, COLUMNS, key=("content_hash",)), rows)
    conn.commit()


def raw_copy_and_index(conn: psycopg.Connection, rows: list[tuple[object, ...]], build_memory: str) -> None:
    raw_copy(conn, rows)
    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (build_memory,))
    conn.execute(
        f"CREATE INDEX {RAW_TABLE}_hnsw ON {RAW_TABLE}"
        " USING hnsw (embedding vector_cosine_ops) WHERE NOT is_placeholder"
    )
    conn.commit()


def truncate(conn: psycopg.Connection, table: str) -> None:
    conn.execute(f"TRUNCATE {table}")
    conn.commit()


def settle(conn: psycopg.Connection) -> None:
    """Flush what earlier runs left dirty, so no timed write pays for another's checkpoint."""
    conn.execute("CHECKPOINT")
    conn.commit()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="pre-embedded 384-d records in all")
    parser.add_argument("--files", type=int, default=4, help="backlog files they are spread over")
    parser.add_argument("--runs", type=int, default=3, help="runs per row (the table shows medians)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    times: dict[str, list[float]] = {}
    size_mb = 0.0
    try:
        with embedded_stack("ragfleet-bench-msgpack-", console) as base:
            state_dir = base.state_dir
            console.print(f"writing {args.records} pre-embedded {DIM}-d records into {args.files} files ...")
            paths = make_files(state_dir, args.records, args.files)
            size_mb = sum(p.stat().st_size for p in paths) / 1e6
            rows = decoded_rows(paths)
            assert len(rows) == args.records and len({r[0] for r in rows}) == args.records
            assert rows[0][0] == content_hash(str(rows[0][4]))
            with connect(base.require_database_url()) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
                conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE doc_embeddings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                conn.execute(f"CREATE UNIQUE INDEX ON {RAW_TABLE} (content_hash)")
                conn.commit()
                for run in range(args.runs):
                    console.print(f"run {run + 1}/{args.runs} ...")
                    times.setdefault("read + check only", []).append(
                        timed(lambda: sum(1 for _ in (i for p in paths for i in read_backlog(p))))
                    )
                    truncate(conn, "doc_embeddings")
                    settle(conn)
                    times.setdefault("replay into an empty table", []).append(timed(lambda: replay(base, conn, paths)))
                    truncate(conn, RAW_TABLE)
                    settle(conn)
                    times.setdefault("raw binary COPY (same rows, decoded)", []).append(
                        timed(lambda: raw_copy(conn, rows))
                    )
                    truncate(conn, RAW_TABLE)
                    settle(conn)
                    times.setdefault("raw binary COPY, then the HNSW build", []).append(
                        timed(lambda: raw_copy_and_index(conn, rows, base.embedding.index_build_memory))
                    )
                    conn.execute(f"DROP INDEX {RAW_TABLE}_hnsw")
                    conn.commit()
                    settle(conn)
                    times.setdefault("replay again (rows exist: replaced)", []).append(
                        timed(lambda: replay(base, conn, paths))
                    )
                    settle(conn)
                    times.setdefault("replay --skip-existing (rows exist)", []).append(
                        timed(lambda: replay(base, conn, paths, skip_existing=True))
                    )
                count = conn.execute("SELECT count(*) FROM doc_embeddings").fetchone()
                assert count is not None and count[0] == args.records
                conn.execute(f"DROP TABLE {RAW_TABLE}")
                conn.commit()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping what the benchmark started[/yellow]")
    if times:
        console.print(render(times, args, size_mb))
    console.print(f"whole benchmark: {time.monotonic() - started:.0f} s wall")
    return 0


def render(times: dict[str, list[float]], args: argparse.Namespace, size_mb: float) -> Table:
    table = Table(
        title=f"msgpack replay: {args.records} pre-embedded {DIM}-d records in {args.files} files ({size_mb:.0f} MB)",
        caption=f"medians of {len(next(iter(times.values())))} runs; ÷ X = rows/s over X's rows/s, measured in the "
        "same run (a replay of this size ends with the HNSW index rebuilt: compare it with COPY + HNSW build)",
    )
    for column in ("what", "median s", "min s", "rows/s", "÷ raw COPY", "÷ COPY + HNSW build"):
        table.add_column(column, justify="left" if column == "what" else "right", no_wrap=True)
    raw = statistics.median(times.get("raw binary COPY (same rows, decoded)", [float("nan")]))
    indexed = statistics.median(times.get("raw binary COPY, then the HNSW build", [float("nan")]))
    for what, samples in times.items():
        median = statistics.median(samples)
        rate = args.records / median
        table.add_row(
            what,
            f"{median:.2f}",
            f"{min(samples):.2f}",
            f"{rate:,.0f}",
            f"{raw / median:.2f}",
            f"{indexed / median:.2f}",
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
