"""Streaming reader for document backlog files: one record in memory at a time, never the whole file.

A batch map is read key by key with msgpack's header readers, and its `records` array one element
at a time, so a multi-gigabyte batch costs the memory of its largest record (bounded by
`MAX_BUFFER_BYTES`). The unpacker is strict: text must be UTF-8 (invalid bytes come through as lone
surrogates and the record is rejected, not the file), extension types are kept as opaque
`ExtValue`s (rejected per record, never decoded), and nothing is ever unpickled.

When `records` is the batch's last key (the usual layout) the file is read once. When other keys
follow it, the records are skipped on a first pass (the header must be known to check them) and
read again from their offset.

What the reader yields, in file order: a `BatchHeader` before each batch's records, then one
`DocRecord` or `Rejection` per record. A file that cannot be read further yields one last
`Rejection` that stands for every record it loses (`records` = the count the batch declared minus
those read; 0 when nothing could be counted, e.g. a file that is not msgpack at all).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

from shared.doc_backlog.records import (
    SUPPORTED_VERSIONS,
    BatchHeader,
    DocRecord,
    ExtValue,
    Rejection,
    check_record,
)

MAX_BUFFER_BYTES = 64 * 1024 * 1024
"""The largest single value (a record's text, say) a backlog may hold; larger ends the file with a reason."""
READ_SIZE_BYTES = 1024 * 1024
FILE_LEVEL_REASONS = frozenset(
    {"unreadable file", "not a backlog batch", "truncated", "unreadable", "records is not a list",
     "batch has no records", "bad batch header"}
)  # fmt: skip
"""Rejections that stand for a file or a batch rather than one record."""

Item = BatchHeader | DocRecord | Rejection
# What a batch reader returns when it is done: the offset after the batch, or None when the file ends here.
_BatchResult = Generator[Item, None, int | None]


def read_backlog(path: Path) -> Iterator[Item]:
    """Every batch header, record and rejection of one backlog file, in file order."""
    try:
        file = path.open("rb")
    except OSError as exc:
        yield Rejection("unreadable file", f"cannot open: {exc.strerror or exc}", records=0)
        return
    with file:
        yield from _FileReader(file).items()


class _FileReader:
    """Reads the batches of one open file."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.records_read = 0

    def items(self) -> Iterator[Item]:
        size = self.file.seek(0, 2)
        if size == 0:
            yield Rejection("not a backlog batch", "the file is empty", records=0)
            return
        offset: int | None = 0
        number = 0
        while offset is not None and offset < size:
            number += 1
            offset = yield from self._batch(number, offset)

    def _unpacker_at(self, offset: int) -> msgpack.Unpacker:
        self.file.seek(offset)
        return msgpack.Unpacker(
            self.file,
            read_size=READ_SIZE_BYTES,
            raw=False,
            strict_map_key=False,  # a bad key rejects its record in check_record, not the whole stream
            unicode_errors="surrogateescape",
            ext_hook=ExtValue,
            max_buffer_size=MAX_BUFFER_BYTES,
        )

    def _batch(self, number: int, offset: int) -> _BatchResult:
        where = "the file" if number == 1 else f"the data after batch {number - 1}"
        unpacker = self._unpacker_at(offset)
        try:
            keys = unpacker.read_map_header()
        except msgpack.OutOfData:
            yield Rejection("truncated", f"{where} ends before its first value is whole", records=0)
            return None
        except (ValueError, msgpack.UnpackException):
            yield Rejection("not a backlog batch", f"{where} is not a msgpack map (not a backlog batch)", records=0)
            return None
        fields: dict[Any, Any] = {}
        records_at: int | None = None
        try:
            for index in range(keys):
                key = unpacker.unpack()
                if key != "records":
                    fields[key] = unpacker.unpack()
                    continue
                records_at = offset + unpacker.tell()
                if index == keys - 1:  # the usual layout: the header is known, stream in one pass
                    whole = yield from self._records(unpacker, fields, number)
                    return offset + unpacker.tell() if whole else None
                unpacker.skip()
        except msgpack.OutOfData:
            if records_at is None:
                yield Rejection("truncated", f"batch {number}: the file ends inside its header", records=0)
                return None
            end = None  # read what the records hold; the cut shows there too
        except (ValueError, msgpack.UnpackException) as exc:
            yield Rejection("unreadable", f"batch {number}: header is not readable msgpack ({exc})", records=0)
            return None
        else:
            end = offset + unpacker.tell()
        if records_at is None:
            yield Rejection("batch has no records", f"batch {number}: no `records` field", records=0)
            return end
        whole = yield from self._records(self._unpacker_at(records_at), fields, number)
        return end if whole else None

    def _records(self, unpacker: msgpack.Unpacker, fields: dict[Any, Any], number: int) -> Generator[Item, None, bool]:
        """Stream one batch's records; False when the file cannot be read past them."""
        try:
            count = unpacker.read_array_header()
        except msgpack.OutOfData:
            yield Rejection("truncated", f"batch {number}: the file ends before its records", records=0)
            return False
        except (ValueError, msgpack.UnpackException):
            yield Rejection("records is not a list", f"batch {number}: `records` is not an array", records=0)
            return False
        header = _header(fields, number, count)
        yield header
        for index in range(count):
            try:
                raw = unpacker.unpack()
            except msgpack.OutOfData:
                # A rejected header already counted all of the batch's records: say why the file ends, count none.
                lost = 0 if isinstance(header, Rejection) else count - index
                yield Rejection(
                    "truncated",
                    f"batch {number}: the file ends inside record {self.records_read + 1}; "
                    f"{count - index} of the batch's {count} records are missing",
                    records=lost,
                )
                return False
            except (ValueError, msgpack.UnpackException) as exc:  # FormatError, StackError, BufferFull
                lost = 0 if isinstance(header, Rejection) else count - index
                yield Rejection(
                    "unreadable",
                    f"batch {number}: record {self.records_read + 1} is not readable msgpack ({exc}); "
                    f"{count - index} of the batch's {count} records are lost",
                    records=lost,
                )
                return False
            self.records_read += 1
            if not isinstance(header, Rejection):
                yield check_record(raw, header, self.records_read)
        return True


def _header(fields: dict[Any, Any], number: int, count: int) -> BatchHeader | Rejection:
    """The batch's header, or a rejection that stands for all its `count` records."""

    def bad(what: str) -> Rejection:
        return Rejection("bad batch header", f"batch {number}: {what}; its {count} records are not read", count)

    version, dim = fields.get("version"), fields.get("embedding_dim")
    if type(version) is not int:
        return bad(f"version is {version!r}, not an integer")
    if version not in SUPPORTED_VERSIONS:
        return bad(f"version {version} is not supported (this ragfleet reads {SUPPORTED_VERSIONS})")
    if type(dim) is not int or dim < 1:
        return bad(f"embedding_dim is {dim!r}, not a positive integer")
    strings: dict[str, str | None] = {}
    for name in ("source", "batch_tag", "model", "prompt_version"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, str) or "\x00" in value):
            return bad(f"{name} is {type(value).__name__}, not a string without NUL characters")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return bad(f"{name} is not valid UTF-8")
        strings[name] = value
    created = fields.get("created_at")
    return BatchHeader(
        number=number,
        version=version,
        source=strings["source"] or "",
        batch_tag=strings["batch_tag"] or "",
        created_at="" if created is None else str(created),
        embedding_dim=dim,
        declared_records=count,
        model=strings["model"],
        prompt_version=strings["prompt_version"],
    )
