"""Writing document backlog files in the batch format (ragfleet's msgpack export).

Batches go to FILE.partial and the finished file is moved into place with a no-overwrite
link, so a reader (or `enqueue msgpack --watch`) never sees half a file under the final name.
Vectors are written as float lists (float32 values, exactly representable as msgpack floats);
`records` is each batch's last key, so the reader streams it in one pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgpack
import numpy as np

from shared.doc_backlog.records import WRITTEN_VERSION
from shared.errors import BadInputError

PARTIAL_SUFFIX = ".partial"


def backlog_record(
    text: str, metadata: dict[str, Any], source: str, batch_tag: str, embedding: np.ndarray | None
) -> dict[str, Any]:
    """One record map; `embedding` None leaves the field out (the record is embedded on replay)."""
    record: dict[str, Any] = {"text": text, "metadata": metadata, "source": source, "batch_tag": batch_tag}
    if embedding is not None:
        record["embedding"] = embedding.astype(np.float32).tolist()
    return record


class BacklogWriter:
    """Appends batch maps to FILE.partial; `finish()` moves the file into place."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise BadInputError(f"{path}: already exists; an export never overwrites a file")
        if not path.parent.is_dir():
            raise BadInputError(f"{path}: directory {path.parent} does not exist")
        self.path = path
        self.partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self._file: IO[bytes] = self.partial.open("wb")
        self._packer = msgpack.Packer(use_bin_type=True)
        self.batches = 0
        self.records = 0

    def write_batch(
        self,
        records: Sequence[dict[str, Any]],
        *,
        embedding_dim: int,
        source: str = "",
        batch_tag: str = "",
        model: str | None = None,
        prompt_version: str | None = None,
    ) -> None:
        """One batch map holding `records` (maps made by `backlog_record`)."""
        header: dict[str, Any] = {
            "version": WRITTEN_VERSION,
            "source": source,
            "batch_tag": batch_tag,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedding_dim": embedding_dim,
        }
        if model is not None:
            header["model"] = model
        if prompt_version is not None:
            header["prompt_version"] = prompt_version
        pack = self._packer.pack
        parts = [self._packer.pack_map_header(len(header) + 1)]
        for key, value in header.items():
            parts += [pack(key), pack(value)]
        parts += [pack("records"), self._packer.pack_array_header(len(records))]
        self._file.write(b"".join(parts))
        for record in records:
            self._file.write(pack(record))
        self.batches += 1
        self.records += len(records)

    def finish(self) -> Path:
        """Flush, fsync and move the file into place (never over a file that appeared meanwhile)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.link(self.partial, self.path)
        self.partial.unlink()
        return self.path

    def abandon(self) -> None:
        """Close and remove the partial file after a failure."""
        self._file.close()
        self.partial.unlink(missing_ok=True)
