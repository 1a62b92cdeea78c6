"""Replay msgpack document backlogs into `doc_embeddings` (`ragfleet enqueue msgpack GLOB`).

Where each valid record goes (the row's state is read per write batch, before anything is written):

| record            | option            | no row        | placeholder row       | real row            |
|-------------------|-------------------|---------------|-----------------------|---------------------|
| with embedding    | (default)         | inserted      | replaced              | replaced            |
| with embedding    | --skip-existing   | inserted      | skipped-existing      | skipped-existing    |
| without embedding | (default)         | queued        | queued (fills it)     | skipped-existing    |
| without embedding | --skip-existing   | queued        | skipped-existing      | skipped-existing    |
| without embedding | --dummy-fill N    | placeholder   | skipped-existing      | skipped-existing    |
| any               | --reembed         | queued        | queued                | queued (replaced)   |

- Pre-embedded records need no worker: this process writes them with binary COPY, one transaction
  per `write_batch` records, so a crash leaves whole batches and a re-run repairs the rest. A batch
  whose hashes are all new goes straight into the table (`insert_new_docs`; a concurrent writer
  that stores one of them first turns into a unique violation, a rollback and the merge path);
  any other batch is staged and merged with INSERT … ON CONFLICT (`write_docs`).
- Records that need a model go to the `embed` queue, `embed_batch_size` per message (a worker's
  loop handles ~1.4k messages/s: one message per record would cap a GPU embedder there); the
  worker embeds each message with one model call and writes the rows, or dead-letters a record it
  cannot embed with the reason.
- Dedup: within one replay set (the files of one command, or of one poll in --watch), the first
  record of a content hash wins; later ones are counted as duplicates. Across replays, rows are
  upserts (idempotent), or skipped with --skip-existing.
- A record with an embedding whose batch declares another `embedding_dim` than the table, or
  another `model` than the fleet's, is rejected (with --reembed its vector is ignored instead).
- Accounting: every record read is exactly one of inserted, replaced, placeholder, queued,
  duplicate, skipped-existing or rejected (with its reason); records a truncated or unreadable file
  loses are counted as rejected too.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import psycopg.errors

from shared.db import connect
from shared.db.doc_embeddings import (
    PLACEHOLDER_MODEL,
    TABLE,
    DocRow,
    doc_table_dimension,
    insert_new_docs,
    stored_states,
    write_docs,
)
from shared.db.hnsw import hnsw_dropped
from shared.doc_backlog.reader import FILE_LEVEL_REASONS, read_backlog
from shared.doc_backlog.records import BatchHeader, DocRecord, Rejection
from shared.errors import BadInputError, ConfigurationError
from shared.messages import BacklogDocument, EmbedDocumentsMessage
from shared.settings import Settings

WRITE_BATCH = 5000
"""Records planned and written per transaction."""

Publish = Callable[[EmbedDocumentsMessage], None]


@dataclass(frozen=True)
class ReplayOptions:
    """The operator's choices (`ragfleet enqueue msgpack` options)."""

    reembed: bool = False
    skip_existing: bool = False
    dummy_fill: int | None = None
    embed_batch_size: int = 256
    sleep_s: float = 0.0
    write_batch: int = WRITE_BATCH

    def check(self) -> None:
        """BadInputError for values or combinations that contradict each other."""
        if self.reembed and self.skip_existing:
            raise BadInputError("--reembed replaces stored vectors and --skip-existing leaves them: choose one")
        if self.reembed and self.dummy_fill is not None:
            raise BadInputError("--reembed embeds every record, so --dummy-fill has nothing to stage: choose one")
        if self.dummy_fill is not None and self.dummy_fill < 1:
            raise BadInputError(f"--dummy-fill {self.dummy_fill}: the dimension must be at least 1")
        if self.embed_batch_size < 1:
            raise BadInputError(f"--embed-batch-size {self.embed_batch_size}: must be at least 1")
        if self.sleep_s < 0:
            raise BadInputError(f"--sleep {self.sleep_s}: must not be negative")


@dataclass
class FileReport:
    """What became of every record of one file."""

    path: str
    records: int = 0
    inserted: int = 0
    replaced: int = 0
    placeholders: int = 0
    queued: int = 0
    messages: int = 0
    duplicates: int = 0
    skipped_existing: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    """reason -> its first occurrence's detail."""
    file_problems: list[str] = field(default_factory=list)
    """Problems that stopped the file (or a batch of it) from being read further."""
    interrupted: bool = False
    """The replay was stopped before the end of the file (it is not finished)."""

    @property
    def ingested(self) -> int:
        """Records written or handed to the embed workers."""
        return self.inserted + self.replaced + self.placeholders + self.queued

    @property
    def accounted(self) -> int:
        """The sum of every outcome: equals `records` (every record read is accounted for)."""
        return self.ingested + self.duplicates + self.skipped_existing + self.rejected

    def reject(self, rejection: Rejection) -> None:
        """Count a rejected record (or the records a file problem loses)."""
        self.records += rejection.records
        self.rejected += rejection.records
        self.reasons[rejection.reason] += rejection.records
        self.examples.setdefault(rejection.reason, rejection.detail)
        if rejection.reason in FILE_LEVEL_REASONS:
            self.file_problems.append(f"{rejection.reason}: {rejection.detail}")


@dataclass
class _Pending:
    """Valid, deduplicated records waiting for the next write batch."""

    records: list[DocRecord] = field(default_factory=list)
    queue: list[DocRecord] = field(default_factory=list)


class BacklogReplayer:
    """Replays backlog files into `doc_embeddings` through one database connection."""

    def __init__(
        self,
        settings: Settings,
        conn: psycopg.Connection,
        publish: Publish,
        options: ReplayOptions,
        *,
        stop: threading.Event | None = None,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> None:
        options.check()
        self.settings = settings
        self.conn = conn
        self.publish = publish
        self.options = options
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.table_dim = doc_table_dimension(conn)
        conn.commit()
        model = settings.embedding
        # Before any write: records that need a model must fit the table once the workers embed them.
        if model.dim != self.table_dim:
            raise ConfigurationError(
                f"RAGFLEET_EMBEDDING__DIM: model {model.model!r} makes {model.dim}-d vectors but "
                f"doc_embeddings.embedding is vector({self.table_dim})"
            )
        if options.dummy_fill is not None and options.dummy_fill != self.table_dim:
            raise BadInputError(
                f"--dummy-fill {options.dummy_fill}: doc_embeddings.embedding is vector({self.table_dim})"
            )
        self._seen: set[str] = set()
        self._backfill: ExitStack | None = None
        self._written = self._announced = 0
        self._index_dropped = False

    @contextmanager
    def replay_set(self) -> Iterator[None]:
        """One replay set: dedup holds within it, and so does the backfill decision.

        Before the write that makes the set a backfill — it would reach `embedding.rebuild_index_rows`
        rows, or its batch headers announce that many — the HNSW index is dropped for the rest of the set
        and rebuilt when the set ends (also when it fails): a backfill loads at COPY speed instead of
        updating the graph row by row, a small replay never pays for a rebuild, and a replay that
        writes nothing (all skipped) leaves the index alone.
        """
        self._seen.clear()
        self._written = self._announced = 0
        self._index_dropped = False
        with ExitStack() as self._backfill:
            try:
                yield
            finally:
                self._backfill = None

    def replay(self, paths: Sequence[Path]) -> list[FileReport]:
        """Replay files in order as one replay set."""
        reports = []
        with self.replay_set():
            for path in paths:
                reports.append(self.replay_file(path))
                if self.stop.is_set():
                    break
        return reports

    def _before_write(self, rows: int) -> None:
        """Drop the HNSW index for the rest of the set before a write that makes it a backfill: the set
        has written, or its batch headers announce, at least `embedding.rebuild_index_rows` rows."""
        embedding = self.settings.embedding
        large = max(self._written + rows, self._announced) >= embedding.rebuild_index_rows
        if self._backfill is not None and not self._index_dropped and large:
            self._backfill.enter_context(hnsw_dropped(self.conn, TABLE, build_memory=embedding.index_build_memory))
            self._index_dropped = True

    def replay_file(self, path: Path) -> FileReport:
        """Read, check, dedup, write and publish one file's records."""
        report = FileReport(str(path))
        pending = _Pending()
        vector_problem: tuple[str, str] | None = None
        for item in read_backlog(path):
            if isinstance(item, BatchHeader):
                vector_problem = self._vector_problem(item)
                self._announced += item.declared_records
            elif isinstance(item, Rejection):
                report.reject(item)
            else:
                report.records += 1
                if self.options.reembed:
                    item.embedding = None  # replaced by the workers' vector: never checked, never stored
                elif item.embedding is not None and vector_problem is not None:
                    reason, detail = vector_problem
                    report.reject(Rejection(reason, f"record {item.number}: {detail}"))
                    continue
                if item.content_hash in self._seen:
                    report.duplicates += 1
                    continue
                self._seen.add(item.content_hash)
                pending.records.append(item)
                if len(pending.records) >= self.options.write_batch:
                    self._write(pending, report)
                    if self.stop.is_set():
                        report.interrupted = True
                        break
        # Also when interrupted: what was read is written or published, so every record read is accounted for.
        self._write(pending, report)
        self._publish(pending, report, final=True)
        if self.on_progress:
            self.on_progress(str(path), report.records)
        return report

    def _vector_problem(self, header: BatchHeader) -> tuple[str, str] | None:
        """(reason, detail) when the batch's vectors cannot be stored as they are."""
        if header.embedding_dim != self.table_dim:
            return "wrong embedding dimension", (
                f"batch {header.number} declares embedding_dim {header.embedding_dim}, "
                f"doc_embeddings.embedding is vector({self.table_dim})"
            )
        fleet_model = self.settings.embedding.model
        if header.model is not None and header.model != fleet_model:
            return "vectors of another model", (
                f"batch {header.number} was embedded with {header.model!r}, this fleet "
                f"searches with {fleet_model!r} (replay with --reembed)"
            )
        return None

    def _write(self, pending: _Pending, report: FileReport) -> None:
        """Plan the pending records against what is stored, write them in one transaction, publish the rest."""
        records, pending.records = pending.records, []
        if not records:
            return
        states = stored_states(self.conn, [r.content_hash for r in records])
        real: list[DocRow] = []
        placeholders: list[DocRow] = []
        opts = self.options
        for r in records:
            state = states.get(r.content_hash)  # None: no row; True: placeholder; False: real vector
            if opts.reembed:
                pending.queue.append(r)
            elif r.embedding is not None:
                if opts.skip_existing and state is not None:
                    report.skipped_existing += 1
                else:
                    real.append(self._row(r, r.embedding))
                    report.inserted += state is None
                    report.replaced += state is not None
            elif state is False or (state is True and (opts.skip_existing or opts.dummy_fill is not None)):
                report.skipped_existing += 1
            elif opts.dummy_fill is not None:
                placeholders.append(self._row(r, np.zeros(opts.dummy_fill, np.float32), placeholder=True))
            else:
                pending.queue.append(r)
        try:
            staged = self._store(real, placeholders, fresh=not states)
        except psycopg.errors.UniqueViolation:
            self.conn.rollback()  # another replay stored one of these hashes since we looked: merge instead
            staged = self._store(real, placeholders, fresh=False)
        report.placeholders += staged
        report.skipped_existing += len(placeholders) - staged  # stored meanwhile by another replay
        self._publish(pending, report, final=False)
        if self.on_progress:
            self.on_progress(report.path, report.records)
        if opts.sleep_s:
            self.stop.wait(opts.sleep_s)

    def _store(self, real: list[DocRow], placeholders: list[DocRow], *, fresh: bool) -> int:
        """Write one batch in one transaction; returns the placeholders actually staged.

        `fresh`: none of the batch's hashes was stored, so plain binary COPY is enough (the dedup
        above leaves no duplicate key within the batch); otherwise COPY into staging and merge.
        """
        if real or placeholders:
            self._before_write(len(real) + len(placeholders))
        try:
            if fresh:
                insert_new_docs(self.conn, real)
                staged = insert_new_docs(self.conn, placeholders)
            else:
                write_docs(self.conn, real, replace=True)
                staged = write_docs(self.conn, placeholders, replace=False)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        self._written += len(real) + staged
        return staged

    def _row(self, r: DocRecord, vector: np.ndarray, *, placeholder: bool = False) -> DocRow:
        header = r.header
        return DocRow(
            content_hash=r.content_hash,
            model=PLACEHOLDER_MODEL if placeholder else (header.model or self.settings.embedding.model),
            prompt_version=header.prompt_version or self.settings.prompt_version,
            text=r.text,
            metadata=r.metadata,
            source=r.source,
            batch_tag=r.batch_tag,
            embedding=vector,
            is_placeholder=placeholder,
        )

    def _publish(self, pending: _Pending, report: FileReport, *, final: bool) -> None:
        """Publish full messages (and, at the end of a file, the last partial one), after their batch committed."""
        size = self.options.embed_batch_size
        while len(pending.queue) >= size or (final and pending.queue):
            chunk, pending.queue = pending.queue[:size], pending.queue[size:]
            self.publish(
                EmbedDocumentsMessage(
                    model=self.settings.embedding.model,
                    prompt_version=self.settings.prompt_version,
                    origin=report.path,
                    documents=[
                        BacklogDocument(
                            content_hash=r.content_hash,
                            text=r.text,
                            metadata=r.metadata,
                            source=r.source,
                            batch_tag=r.batch_tag,
                        )
                        for r in chunk
                    ],
                )
            )
            report.queued += len(chunk)
            report.messages += 1
            if self.options.sleep_s and not final:
                self.stop.wait(self.options.sleep_s)


def replay_connection(settings: Settings) -> psycopg.Connection:
    """The replay's own connection (pgvector types registered, one transaction per write batch)."""
    return connect(settings.require_database_url())
