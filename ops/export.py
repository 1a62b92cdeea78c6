"""`ragfleet export`: the index as files another tool can load, or as a backlog that replays into ragfleet.

`export OUT.tar.gz [--repo R]` writes three members:
- `chunks.jsonl`: one JSON object per line, a span (`"type": "span"`: repo, path, language, kind, name,
  start_line, end_line, content, content_hash, its enrichment {model, tier, prompt_version, summary,
  body} or null, embedding_model) or a document of `doc_embeddings` (`"type": "document"`: content_hash,
  text, metadata, source, batch_tag, embedding_model, prompt_version, placeholder). Every line has
  `has_embedding`.
- `embeddings.npy`: float32, shape (lines, dim); row i is line i's vector, zeros where `has_embedding`
  is false (a span not embedded yet, a placeholder document), so the alignment never shifts.
- `metadata.json`: counts, models, dims, prompt versions, schema version, ragfleet version, timestamp.
Spans come with the vector of the fleet's embedding model; `--repo R` exports that repo's spans and
leaves out the documents (they belong to no repo). Everything is read in one REPEATABLE READ
transaction (one consistent snapshot) with server-side cursors, and written through temporary files,
so the export's memory does not grow with the index.

`export --msgpack OUT.msgpack` writes `doc_embeddings` in the backlog batch format (one batch per
model and prompt version, at most `MSGPACK_BATCH` records each, `model`/`prompt_version` in the
header): replayed into an empty database it gives the same rows. Placeholder rows are written without
an embedding: a plain replay embeds them, a replay with `--dummy-fill DIM` stages them again.

Outputs are written beside the target and moved into place at the end; an existing file is never
overwritten.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import IO, Any

import numpy as np
import psycopg

from shared.db import connect
from shared.db.doc_embeddings import DocRow, doc_table_dimension, iter_docs
from shared.db.embeddings import table_dimension
from shared.db.export import iter_span_exports, schema_version
from shared.db.repos import repo_id
from shared.doc_backlog.writer import BacklogWriter, backlog_record
from shared.errors import BadInputError
from shared.settings import Settings

MSGPACK_BATCH = 10_000
FORMAT = "ragfleet-export"
FORMAT_VERSION = 1


@dataclass
class ExportReport:
    """What an export wrote."""

    path: Path
    lines: int = 0
    spans: int = 0
    documents: int = 0
    with_embedding: int = 0
    placeholders: int = 0
    batches: int = 0
    dim: int = 0
    embedding_models: Counter[str] = field(default_factory=Counter)


def export_tarball(settings: Settings, out: Path, *, repo: str | None = None) -> ExportReport:
    """Write OUT.tar.gz with chunks.jsonl, embeddings.npy and metadata.json."""
    _check_target(out)
    report = ExportReport(out)
    enrichment_models: Counter[str] = Counter()
    prompt_versions: Counter[str] = Counter()
    with (
        tempfile.TemporaryDirectory(prefix=".ragfleet-export-", dir=out.parent) as tmp,
        _snapshot(settings) as conn,
    ):
        work = Path(tmp)
        if repo is not None:
            repo_id(conn, repo)  # NotFoundError naming a repo that is not indexed
        dim = report.dim = table_dimension(conn)
        if doc_table_dimension(conn) != dim:
            raise BadInputError("spans and documents have vectors of different dimensions: export them separately")
        zeros = np.zeros(dim, np.float32)
        with (work / "chunks.jsonl").open("w", encoding="utf-8") as lines, (work / "vectors.f32").open("wb") as raw:

            def emit(line: dict[str, Any], vector: np.ndarray | None) -> None:
                line["has_embedding"] = vector is not None
                lines.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
                raw.write((zeros if vector is None else vector).astype("<f4").tobytes())
                report.lines += 1
                report.with_embedding += vector is not None

            for line, vector in iter_span_exports(conn, embed_model=settings.embedding.model, repo=repo):
                report.spans += 1
                if line["embedding_model"]:
                    report.embedding_models[line["embedding_model"]] += 1
                if line["enrichment"]:
                    enrichment_models[line["enrichment"]["model"]] += 1
                    prompt_versions[line["enrichment"]["prompt_version"]] += 1
                emit(line, vector)
            if repo is None:
                for doc in iter_docs(conn):
                    report.documents += 1
                    report.placeholders += doc.is_placeholder
                    if not doc.is_placeholder:
                        report.embedding_models[doc.model] += 1
                    emit(_document_line(doc), None if doc.is_placeholder else doc.embedding)
            meta = _metadata(conn, settings, report, repo, enrichment_models, prompt_versions)
        _write_npy(work / "embeddings.npy", work / "vectors.f32", report.lines, dim)
        (work / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        partial = work / "export.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            for name in ("chunks.jsonl", "embeddings.npy", "metadata.json"):
                tar.add(work / name, arcname=name)
        _move_into_place(partial, out)
    return report


def export_msgpack(settings: Settings, out: Path) -> ExportReport:
    """Write `doc_embeddings` as a backlog file that `enqueue msgpack` replays into the same rows."""
    report = ExportReport(out)
    writer = BacklogWriter(out)
    try:
        with _snapshot(settings) as conn:
            report.dim = doc_table_dimension(conn)
            group: tuple[str, str] | None = None
            records: list[dict[str, Any]] = []

            def flush() -> None:
                if records and group is not None:
                    model, prompt = group
                    writer.write_batch(records, embedding_dim=report.dim, model=model or None, prompt_version=prompt)
                    records.clear()

            for doc in iter_docs(conn):
                key = (doc.model, doc.prompt_version)
                if key != group or len(records) >= MSGPACK_BATCH:
                    flush()
                    group = key
                records.append(
                    backlog_record(
                        doc.text, doc.metadata, doc.source, doc.batch_tag, None if doc.is_placeholder else doc.embedding
                    )
                )
                report.documents += 1
                report.placeholders += doc.is_placeholder
                if not doc.is_placeholder:
                    report.embedding_models[doc.model] += 1
            flush()
        report.batches = writer.batches
        report.lines = writer.records
        report.with_embedding = report.documents - report.placeholders
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return report


def _document_line(doc: DocRow) -> dict[str, Any]:
    return {
        "type": "document",
        "content_hash": doc.content_hash,
        "text": doc.text,
        "metadata": doc.metadata,
        "source": doc.source,
        "batch_tag": doc.batch_tag,
        "embedding_model": doc.model or None,
        "prompt_version": doc.prompt_version,
        "placeholder": doc.is_placeholder,
    }


def _metadata(
    conn: psycopg.Connection,
    settings: Settings,
    report: ExportReport,
    repo: str | None,
    enrichment_models: Counter[str],
    prompt_versions: Counter[str],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ragfleet_version": _ragfleet_version(),
        "schema_version": schema_version(conn),
        "repo": repo,
        "counts": {
            "lines": report.lines,
            "spans": report.spans,
            "documents": report.documents,
            "with_embedding": report.with_embedding,
            "without_embedding": report.lines - report.with_embedding,
            "placeholders": report.placeholders,
        },
        "embeddings": {"file": "embeddings.npy", "dtype": "float32", "shape": [report.lines, report.dim]},
        "dims": [report.dim],
        "models": {"embedding": dict(report.embedding_models), "enrichment": dict(enrichment_models)},
        "prompt_versions": dict(prompt_versions),
        "alignment": "row i of embeddings.npy is line i of chunks.jsonl; zeros where has_embedding is false",
    }


def _write_npy(target: Path, raw: Path, rows: int, dim: int) -> None:
    """An .npy file from raw little-endian float32 rows, without loading them."""
    with target.open("wb") as out, raw.open("rb") as data:
        header = {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)}
        np.lib.format.write_array_header_1_0(out, header)
        _copy(data, out)
    raw.unlink()


def _copy(src: IO[bytes], dst: IO[bytes], chunk: int = 1 << 20) -> None:
    while block := src.read(chunk):
        dst.write(block)


def _snapshot(settings: Settings) -> psycopg.Connection:
    """A read-only REPEATABLE READ connection: every query of the export sees the same snapshot."""
    conn = connect(settings.require_database_url())
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _check_target(out: Path) -> None:
    if out.exists():
        raise BadInputError(f"{out}: already exists; an export never overwrites a file")
    if not out.parent.is_dir():
        raise BadInputError(f"{out}: directory {out.parent} does not exist")


def _move_into_place(partial: Path, out: Path) -> None:
    """Link (fails if `out` appeared meanwhile) then drop the temporary name."""
    try:
        os.link(partial, out)
    except FileExistsError:
        raise BadInputError(f"{out}: appeared during the export; not overwritten") from None
    partial.unlink()


def _ragfleet_version() -> str:
    try:
        return package_metadata.version("ragfleet")
    except package_metadata.PackageNotFoundError:
        return "unknown"
