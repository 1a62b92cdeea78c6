"""Backlog files: a queue's waiting messages kept outside the broker, byte for byte, and published again.

`ragfleet drain QUEUE --to FILE` writes one; `ragfleet enqueue backlog FILE` publishes it.

Format, version 1: a msgpack stream of maps (msgpack, never pickle: a backlog may come from anywhere,
and unpickling runs code).
1. A header: {"format": "ragfleet-backlog", "version": 1, "kind": "celery-messages", "queue": Q,
   "created_at": ISO-8601 UTC}.
2. One map per message: {"queue", "exchange", "routing_key", "body" (bytes), "content_type",
   "content_encoding", "headers", "properties"}. The body stays exactly as the producer serialised it
   (nothing is decoded or re-encoded), the headers hold Celery's task name and id, and the properties
   keep only what means the same on every broker (correlation_id, reply_to, delivery_mode, priority, ...):
   delivery tags and body encodings are per-transport and are set afresh on publish.
3. An end record: {"end": true, "records": N}. A file cut at a record boundary parses cleanly, so
   only this count shows that the file is whole.

Writing goes to FILE.partial, is flushed and fsynced in batches (the caller acknowledges a batch's
messages only after `write_batch` returns), and ends with an atomic no-overwrite rename to FILE.
A drain that dies leaves FILE.partial: every message it acknowledged is in there, plus at most one
batch that it had not acknowledged yet (the broker gives those back, so publishing the partial file
with `partial=True` can duplicate them; it never loses one).

Publishing validates the whole file first (header, every record, the end record) and publishes nothing
if any of it is wrong, then publishes each record to its queue on the default exchange, in file order,
with publisher confirms on RabbitMQ.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgpack
from celery import Celery

from shared.errors import BadInputError, StorageUnavailableError
from shared.names import ALL_QUEUES

FORMAT = "ragfleet-backlog"
VERSION = 1
KIND = "celery-messages"
PARTIAL_SUFFIX = ".partial"

# Message properties that mean the same on every broker; the rest (delivery tags, Redis's body_encoding,
# RabbitMQ's user_id and timestamp) belong to one transport or one delivery.
PORTABLE_PROPERTIES = ("correlation_id", "reply_to", "delivery_mode", "priority", "expiration", "message_id", "type")
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "queue": str,
    "exchange": str,
    "routing_key": str,
    "body": bytes,
    "content_type": str,
    "content_encoding": str,
    "headers": dict,
    "properties": dict,
}


@dataclass(frozen=True)
class BacklogRecord:
    """One message as the broker held it."""

    queue: str
    body: bytes
    content_type: str
    content_encoding: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    exchange: str = ""
    routing_key: str = ""

    @property
    def task_id(self) -> str | None:
        """Celery's task id (message protocol 2 keeps it in the headers)."""
        value = self.headers.get("id")
        return str(value) if value is not None else None

    def to_map(self) -> dict[str, Any]:
        """The record as written to the file."""
        return {
            "queue": self.queue,
            "exchange": self.exchange,
            "routing_key": self.routing_key,
            "body": self.body,
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "headers": self.headers,
            "properties": self.properties,
        }


def record_of(message: Any, queue: str) -> BacklogRecord:
    """A kombu message (from `basic_get`, on Redis or RabbitMQ) as a backlog record."""
    delivery = message.delivery_info or {}
    properties = message.properties or {}
    return BacklogRecord(
        queue=queue,
        exchange=str(delivery.get("exchange") or ""),
        routing_key=str(delivery.get("routing_key") or queue),
        body=_body_bytes(message),
        content_type=str(message.content_type or ""),
        content_encoding=str(message.content_encoding or ""),
        headers=dict(message.headers or {}),
        properties={k: properties[k] for k in PORTABLE_PROPERTIES if properties.get(k) is not None},
    )


def _body_bytes(message: Any) -> bytes:
    """The body as sent. py-amqp decodes a text body (JSON's content_encoding utf-8) into str: encoding it
    again gives back the very bytes that were published."""
    body = message.body
    if isinstance(body, str):
        return body.encode(message.content_encoding or "utf-8")
    return bytes(body)


# ---------------------------------------------------------------- writing


def partial_path(path: Path) -> Path:
    """Where a backlog is written until it is complete."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def check_target(path: Path) -> None:
    """BadInputError unless a backlog can be written to `path` (checked before a drain stops anything)."""
    if path.exists():
        raise BadInputError(f"{path}: already exists; a backlog never overwrites a file (choose another name)")
    partial = partial_path(path)
    if partial.exists():
        raise BadInputError(
            f"{partial}: exists, left by an interrupted drain; it may hold messages that are no longer in the "
            f"queue: publish it with `ragfleet enqueue backlog {partial} --partial`, then remove it"
        )
    if not path.parent.is_dir():
        raise BadInputError(f"{path}: directory {path.parent} does not exist")


class BacklogWriter:
    """Writes a backlog to FILE.partial, durably batch by batch, and renames it to FILE when finished."""

    def __init__(self, path: Path, queue: str) -> None:
        check_target(path)
        self.path = path
        self.partial = partial_path(path)
        self.records = 0
        self._packer = msgpack.Packer(use_bin_type=True)
        self._file: IO[bytes] = self.partial.open("xb")
        header = {
            "format": FORMAT,
            "version": VERSION,
            "kind": KIND,
            "queue": queue,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._write(header)
        self._sync()

    def write_batch(self, records: list[BacklogRecord]) -> None:
        """Append records; when this returns they are on disk (so their messages may be acknowledged).

        The batch is packed whole before anything is written: a message msgpack cannot hold fails
        the batch before a byte of it reaches the file."""
        self._file.write(b"".join(self._pack(record.to_map()) for record in records))
        self._sync()
        self.records += len(records)

    def finish(self) -> Path:
        """Write the end record and move the file into place (never over an existing file)."""
        self._write({"end": True, "records": self.records})
        self._sync()
        self._file.close()
        os.link(self.partial, self.path)  # unlike rename, fails if FILE appeared meanwhile
        self.partial.unlink()
        _fsync_dir(self.path.parent)
        return self.path

    def abandon(self) -> Path | None:
        """Close after a failure: FILE.partial stays if it holds records (their messages may be acknowledged)."""
        with contextlib.suppress(OSError):
            self._file.close()
        if self.records:
            return self.partial
        self.partial.unlink(missing_ok=True)
        return None

    def _write(self, obj: dict[str, Any]) -> None:
        self._file.write(self._pack(obj))

    def _pack(self, obj: dict[str, Any]) -> bytes:
        try:
            return bytes(self._packer.pack(obj))
        except (TypeError, ValueError) as exc:  # a header value msgpack cannot hold: refuse before any ack
            task_id = obj.get("headers", {}).get("id")
            raise BadInputError(f"{self.partial}: cannot store message {task_id}: {exc}") from exc

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class BacklogSummary:
    """A backlog file, validated from end to end."""

    path: Path
    queue: str
    created_at: str
    records: int
    by_queue: Counter[str]
    complete: bool
    """False for a partial file read with partial=True (no end record, or a cut last record)."""


def validate_backlog(path: Path, *, partial: bool = False) -> BacklogSummary:
    """Read the whole file; BadInputError naming the file (and the record) at the first problem.

    partial=True accepts the FILE.partial of an interrupted drain: no end record, and a last record cut
    short (its message was never acknowledged, so the broker still has it) is left out.
    """
    header: dict[str, Any] | None = None
    by_queue: Counter[str] = Counter()
    complete = False
    for number, record in _iter_maps(path, partial=partial):
        if header is None:
            header = _check_header(path, record)
        elif complete:
            raise BadInputError(f"{path}: data after the end record (record {number})")
        elif "end" in record:
            _check_end(path, record, by_queue.total())
            complete = True
        else:
            by_queue[_check_record(path, number, record).queue] += 1
    if header is None:
        raise BadInputError(f"{path}: empty file, not a ragfleet backlog")
    if not complete and not partial:
        raise BadInputError(
            f"{path}: truncated after record {by_queue.total()} (no end record: the file was cut short, "
            "or its drain was interrupted — pass --partial to publish what it holds)"
        )
    return BacklogSummary(
        path=path,
        queue=str(header["queue"]),
        created_at=str(header.get("created_at", "")),
        records=by_queue.total(),
        by_queue=by_queue,
        complete=complete,
    )


def iter_records(path: Path, *, partial: bool = False) -> Iterator[BacklogRecord]:
    """The message records of a backlog, in file order (validate it first: this only skips the others)."""
    for number, record in _iter_maps(path, partial=partial):
        if number > 0 and "end" not in record:
            yield _check_record(path, number, record)


def _iter_maps(path: Path, *, partial: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """(record number, map): the header is record 0; BadInputError for anything that is not a map stream."""
    try:
        file = path.open("rb")
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read backlog: {exc.strerror or exc}") from exc
    with file:
        size = os.fstat(file.fileno()).st_size
        unpacker = msgpack.Unpacker(file, raw=False, strict_map_key=True)
        number, end_of_last = 0, 0
        while True:
            try:
                obj = next(unpacker)
            except StopIteration:
                break
            except (ValueError, msgpack.UnpackException) as exc:  # FormatError, StackError, bad UTF-8, ...
                raise BadInputError(f"{path}: not a ragfleet backlog (record {number} is not msgpack: {exc})") from exc
            if not isinstance(obj, dict):
                what = "header" if number == 0 else f"record {number}"
                raise BadInputError(f"{path}: not a ragfleet backlog ({what} is {type(obj).__name__}, not a map)")
            end_of_last = unpacker.tell()
            yield number, obj
            number += 1
        if end_of_last != size and not partial:
            raise BadInputError(
                f"{path}: truncated in record {number} ({size - end_of_last} bytes at the end are not a whole record)"
            )


def _check_header(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    if header.get("format") != FORMAT or header.get("kind") != KIND:
        raise BadInputError(
            f"{path}: not a ragfleet backlog (header format {header.get('format')!r}, kind {header.get('kind')!r})"
        )
    if header.get("version") != VERSION:
        raise BadInputError(f"{path}: backlog version {header.get('version')!r}; this ragfleet reads version {VERSION}")
    if not isinstance(header.get("queue"), str):
        raise BadInputError(f"{path}: header has no queue")
    return header


def _check_end(path: Path, end: dict[str, Any], seen: int) -> None:
    if end.get("records") != seen:
        raise BadInputError(f"{path}: end record counts {end.get('records')!r} records, the file holds {seen}")


def _check_record(path: Path, number: int, record: dict[str, Any]) -> BacklogRecord:
    for name, kind in _RECORD_FIELDS.items():
        if not isinstance(record.get(name), kind):
            raise BadInputError(f"{path}: record {number}: field {name!r} missing or not {_type_name(kind)}")
    if record["queue"] not in ALL_QUEUES:
        raise BadInputError(
            f"{path}: record {number}: unknown queue {record['queue']!r}; known: {', '.join(ALL_QUEUES)}"
        )
    return BacklogRecord(**{name: record[name] for name in _RECORD_FIELDS})


def _type_name(kind: type | tuple[type, ...]) -> str:
    return kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)


# ---------------------------------------------------------------- publishing


@dataclass
class PublishReport:
    """What `publish_backlog` found in the file and published."""

    path: Path
    records: int
    published: int = 0
    by_queue: Counter[str] = field(default_factory=Counter)
    complete: bool = True
    dry_run: bool = False


def publish_backlog(
    app: Celery,
    path: Path,
    *,
    partial: bool = False,
    dry_run: bool = False,
    on_publish: Callable[[int, int], None] | None = None,
) -> PublishReport:
    """Validate the whole backlog, then publish every message to its queue (dry_run: validate and count only)."""
    summary = validate_backlog(path, partial=partial)
    report = PublishReport(path=path, records=summary.records, complete=summary.complete, dry_run=dry_run)
    if dry_run:
        report.by_queue = summary.by_queue
        return report
    with _publishing_connection(app) as conn:
        channel = conn.default_channel
        for queue in summary.by_queue:
            # On RabbitMQ a message routed to a queue that does not exist is dropped: declare it as Celery does.
            app.amqp.queues[queue].bind(channel).declare()
        for record in iter_records(path, partial=partial):
            try:
                _publish(channel, record)
            except Exception as exc:  # kombu raises transport-specific errors; all mean the same here
                raise StorageUnavailableError(
                    f"{path}: publishing failed after {report.published} of {report.records} messages "
                    f"(publishing the file again would duplicate those): {exc}"
                ) from exc
            report.published += 1
            report.by_queue[record.queue] += 1
            if on_publish:
                on_publish(report.published, report.records)
    return report


def _publishing_connection(app: Celery) -> Any:
    """A write connection; on RabbitMQ with publisher confirms, so a publish returns once the broker has it."""
    amqp = str(app.conf.broker_url).startswith(("amqp://", "amqps://", "pyamqp://"))
    return app.connection_for_write(transport_options={"confirm_publish": True} if amqp else None)


def _publish(channel: Any, record: BacklogRecord) -> None:
    """The raw message again, on the default exchange (it routes by queue name on Redis and RabbitMQ alike)."""
    properties = dict(record.properties)
    priority = properties.pop("priority", None)
    message = channel.prepare_message(
        record.body, priority, record.content_type, record.content_encoding, dict(record.headers), properties
    )
    channel.basic_publish(message, exchange="", routing_key=record.queue)
