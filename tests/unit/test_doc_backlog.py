"""The msgpack document backlog format: per-record checks, the streaming reader, the writer, the watch state."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from producers.doc_backlog import FileReport, ReplayOptions
from producers.doc_backlog_watch import FileStamp, WatchState, expand
from shared.doc_backlog.reader import read_backlog
from shared.doc_backlog.records import BatchHeader, DocRecord, Rejection, check_record
from shared.doc_backlog.writer import BacklogWriter, backlog_record
from shared.errors import BadInputError
from shared.hashing import content_hash

DIM = 4
HEADER = BatchHeader(
    number=1, version=1, source="src", batch_tag="tag", created_at="", embedding_dim=DIM, declared_records=1
)


def batch(records: list[Any], **header: Any) -> dict[str, Any]:
    fields = {"version": 1, "source": "src", "batch_tag": "tag", "created_at": "2026-01-01", "embedding_dim": DIM}
    return {**fields, **header, "records": records}


def pack(*batches: dict[str, Any]) -> bytes:
    return b"".join(msgpack.packb(b, use_bin_type=True) for b in batches)


def read(path: Path) -> tuple[list[BatchHeader], list[DocRecord], list[Rejection]]:
    items = list(read_backlog(path))
    return (
        [i for i in items if isinstance(i, BatchHeader)],
        [i for i in items if isinstance(i, DocRecord)],
        [i for i in items if isinstance(i, Rejection)],
    )


# ---------------------------------------------------------------- one record


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (["text"], "record is not a map", "a list"),
        ({"embedding": [0.0] * DIM}, "text missing or not a string", "text is missing"),
        ({"text": 42}, "text missing or not a string", "text is int"),
        ({"text": b"bytes"}, "text missing or not a string", "text is bytes"),
        ({"text": "   "}, "empty text", "empty or blank"),
        ({"text": "a\x00b"}, "text contains a NUL character", "NUL"),
        ({"text": "bad \udcff utf-8"}, "text is not valid UTF-8", "UTF-8"),
        ({"text": "t", "metadata": ["a"]}, "metadata is not a map", "metadata is list"),
        ({"text": "t", "metadata": {"blob": b"\x00"}}, "metadata is not JSON", "metadata.blob is bytes"),
        ({"text": "t", "metadata": {"x": [1, math.nan]}}, "metadata is not JSON", "metadata.x[1] is nan"),
        ({"text": "t", "metadata": {1: "one"}}, "metadata is not JSON", "has a int key"),
        ({"text": "t", "metadata": {"k": ["a\x00"]}}, "metadata is not JSON", "metadata.k[0] contains a NUL"),
        ({"text": "t", "metadata": {"k": "\udcff"}}, "metadata is not JSON", "metadata.k is not valid UTF-8"),
        ({"text": "t", "metadata": {"content_hash": 7}}, "bad metadata.content_hash", "content_hash is int"),
        ({"text": "t", "source": 3}, "source is not a string", "source is int"),
        ({"text": "t", "embedding": "0.1,0.2"}, "embedding is not a list of numbers", "embedding is string"),
        ({"text": "t", "embedding": [0.1, "0.2", 0.3, 0.4]}, "embedding is not a list of numbers", "a string"),
        ({"text": "t", "embedding": [0.1, True, 0.3, 0.4]}, "embedding is not a list of numbers", "a bool"),
        ({"text": "t", "embedding": [0.1, 0.2, 0.3]}, "wrong embedding dimension", "has 3 values"),
        ({"text": "t", "embedding": [0.1, math.nan, 0.3, 0.4]}, "embedding has NaN or infinite values", "NaN"),
        ({"text": "t", "embedding": [0.1, -math.inf, 0.3, 0.4]}, "embedding has NaN or infinite values", "NaN"),
        ({"text": "t", "embedding": [0.1, 1e39, 0.3, 0.4]}, "embedding has NaN or infinite values", "float32"),
    ],
)
def test_a_bad_record_is_rejected_with_its_reason(raw: Any, reason: str, detail: str) -> None:
    result = check_record(raw, HEADER, 7)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail.startswith("record 7: ") and detail in result.detail
    assert result.records == 1


def test_a_good_record_gets_its_content_hash_and_the_batch_defaults() -> None:
    result = check_record({"text": "hello", "embedding": [1, 0.5, -2.25, 0.0]}, HEADER, 1)
    assert isinstance(result, DocRecord)
    assert result.content_hash == content_hash("hello") == result.metadata["content_hash"]
    assert (result.source, result.batch_tag) == ("src", "tag")
    assert result.embedding is not None and result.embedding.dtype == np.float32
    assert result.embedding.tolist() == [1.0, 0.5, -2.25, 0.0]


def test_a_given_content_hash_is_kept_and_a_missing_embedding_is_allowed() -> None:
    raw = {"text": "hello", "metadata": {"content_hash": "mine", "n": 1}, "source": "s2", "batch_tag": "t2"}
    result = check_record(raw, HEADER, 1)
    assert isinstance(result, DocRecord)
    assert (result.content_hash, result.metadata, result.embedding) == ("mine", {"content_hash": "mine", "n": 1}, None)
    assert (result.source, result.batch_tag) == ("s2", "t2")


# ---------------------------------------------------------------- files


def test_good_records_around_bad_ones_are_read(tmp_path: Path) -> None:
    path = tmp_path / "b.msgpack"
    path.write_bytes(pack(batch([{"text": "a"}, {"text": 1}, msgpack.ExtType(3, b"x"), {"text": "b"}])))
    headers, records, rejections = read(path)
    assert [r.text for r in records] == ["a", "b"]
    assert [r.number for r in records] == [1, 4]
    assert [r.reason for r in rejections] == ["text missing or not a string", "record is not a map"]
    assert "msgpack ext type 3" in rejections[1].detail
    assert headers[0].declared_records == 4


def test_a_truncated_file_yields_its_good_records_and_counts_the_lost_ones(tmp_path: Path) -> None:
    data = pack(batch([{"text": f"doc {i}", "embedding": [0.5] * DIM} for i in range(10)]))
    path = tmp_path / "cut.msgpack"
    path.write_bytes(data[: len(data) - 30])
    _, records, rejections = read(path)
    assert len(records) == 9
    assert len(rejections) == 1 and rejections[0].reason == "truncated"
    assert rejections[0].records == 1 and "ends inside record 10" in rejections[0].detail


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (b"", "not a backlog batch", "empty"),
        (b"just some text\n", "not a backlog batch", "not a msgpack map"),
        (json.dumps({"records": []}).encode(), "not a backlog batch", "not a msgpack map"),
        (b"\x85\xa7version", "truncated", "inside its header"),
        (msgpack.packb({"version": 1, "embedding_dim": DIM}), "batch has no records", "no `records`"),
        (msgpack.packb({"version": 1, "embedding_dim": DIM, "records": {"a": 1}}), "records is not a list", "array"),
    ],
)
def test_a_file_that_is_not_a_batch_is_rejected_whole(data: bytes, reason: str, detail: str, tmp_path: Path) -> None:
    path = tmp_path / "x.msgpack"
    path.write_bytes(data)
    _, records, rejections = read(path)
    assert records == []
    assert rejections[0].reason == reason and detail in rejections[0].detail


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ({"version": 2}, "version 2 is not supported"),
        ({"version": "1"}, "version is '1'"),
        ({"embedding_dim": 0}, "embedding_dim is 0"),
        ({"embedding_dim": None}, "embedding_dim is None"),
        ({"source": 5}, "source is int"),
        ({"batch_tag": "a\x00"}, "without NUL characters"),
    ],
)
def test_a_bad_header_rejects_its_batch_and_the_next_batch_is_read(
    header: dict[str, Any], detail: str, tmp_path: Path
) -> None:
    path = tmp_path / "h.msgpack"
    path.write_bytes(pack(batch([{"text": "a"}, {"text": "b"}], **header), batch([{"text": "c"}])))
    _, records, rejections = read(path)
    assert [r.text for r in records] == ["c"]
    assert [(r.reason, r.records) for r in rejections] == [("bad batch header", 2)]
    assert detail in rejections[0].detail


def test_a_header_written_after_the_records_is_read_first(tmp_path: Path) -> None:
    path = tmp_path / "late.msgpack"
    record = {"text": "a", "embedding": [0.25] * DIM}
    path.write_bytes(msgpack.packb({"records": [record], "embedding_dim": DIM, "version": 1, "source": "late"}))
    headers, records, rejections = read(path)
    assert rejections == []
    assert headers[0].source == "late" and records[0].source == "late"
    assert records[0].embedding is not None and records[0].embedding.tolist() == [0.25] * DIM


def test_a_truncated_batch_with_a_bad_header_counts_its_records_once(tmp_path: Path) -> None:
    path = tmp_path / "bad-and-cut.msgpack"
    data = pack(batch([{"text": f"doc {i}"} for i in range(6)], version=9))
    path.write_bytes(data[:-3])
    _, records, rejections = read(path)
    assert records == []
    assert [(r.reason, r.records) for r in rejections] == [("bad batch header", 6), ("truncated", 0)]


def test_several_batches_in_one_file_and_garbage_after_them(tmp_path: Path) -> None:
    path = tmp_path / "multi.msgpack"
    path.write_bytes(pack(batch([{"text": "a"}]), batch([{"text": "b"}], source="other")) + b"\x01trailing")
    headers, records, rejections = read(path)
    assert [h.number for h in headers] == [1, 2]
    assert [(r.text, r.source, r.number) for r in records] == [("a", "src", 1), ("b", "other", 2)]
    assert [r.reason for r in rejections] == ["not a backlog batch"]
    assert "after batch 2" in rejections[0].detail


def test_a_huge_batch_is_streamed_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "huge.msgpack"
    vector = [0.123456789] * 384
    count = 20_000
    with path.open("wb") as f:  # one batch map of ~70 MB, written record by record
        packer = msgpack.Packer()
        f.write(packer.pack_map_header(3) + packer.pack("version") + packer.pack(1))
        f.write(packer.pack("embedding_dim") + packer.pack(384) + packer.pack("records"))
        f.write(packer.pack_array_header(count))
        for i in range(count):
            f.write(packer.pack({"text": f"document number {i}", "embedding": vector}))
    assert path.stat().st_size > 60_000_000
    tracemalloc.start()
    try:
        seen = sum(1 for item in read_backlog(path) if isinstance(item, DocRecord))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 8_000_000, f"reading held {peak / 1e6:.1f} MB at its peak"


def test_the_writer_round_trips_through_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "out.msgpack"
    vector = np.array([0.1, -0.2, 3.5e-8, 1.0], dtype=np.float32)
    writer = BacklogWriter(path)
    writer.write_batch(
        [backlog_record("t", {"content_hash": "h", "k": [1, 2.5]}, "s", "b", vector)],
        embedding_dim=DIM,
        model="m",
        prompt_version="v9",
    )
    writer.write_batch([backlog_record("u", {"content_hash": "h2"}, "s", "b", None)], embedding_dim=DIM)
    assert not path.exists()  # only once finished
    writer.finish()
    headers, records, rejections = read(path)
    assert rejections == []
    assert [(h.model, h.prompt_version) for h in headers] == [("m", "v9"), (None, None)]
    assert records[0].embedding is not None and records[0].embedding.tobytes() == vector.tobytes()
    assert records[0].metadata == {"content_hash": "h", "k": [1, 2.5]} and records[1].embedding is None
    with pytest.raises(BadInputError, match="already exists"):
        BacklogWriter(path)


# ---------------------------------------------------------------- options, accounting, watch state


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ReplayOptions(reembed=True, skip_existing=True), "choose one"),
        (ReplayOptions(reembed=True, dummy_fill=384), "choose one"),
        (ReplayOptions(dummy_fill=0), "--dummy-fill 0"),
        (ReplayOptions(embed_batch_size=0), "--embed-batch-size 0"),
        (ReplayOptions(sleep_s=-1), "--sleep -1"),
    ],
)
def test_contradictory_options_are_refused(options: ReplayOptions, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        options.check()


def test_a_file_report_counts_lost_records_as_rejected() -> None:
    report = FileReport("f")
    report.reject(Rejection("truncated", "batch 1: ...", records=5))
    report.reject(Rejection("empty text", "record 2: ..."))
    report.records += 3
    report.inserted, report.duplicates = 2, 1
    assert report.records == report.accounted == 9
    assert report.file_problems == ["truncated: batch 1: ..."]


def test_the_watch_state_survives_a_restart_and_sees_a_changed_file(tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    backlog = tmp_path / "a.msgpack"
    backlog.write_bytes(pack(batch([{"text": "a"}])))
    stamp = FileStamp.of(backlog)
    assert stamp is not None
    WatchState(state_path).mark_finished(backlog, stamp, FileReport(str(backlog), records=1, inserted=1))
    again = WatchState(state_path)
    assert again.is_finished(backlog, stamp)
    backlog.write_bytes(pack(batch([{"text": "a"}, {"text": "b"}])))
    changed = FileStamp.of(backlog)
    assert changed is not None and not again.is_finished(backlog, changed)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_damaged_state_file_is_named(tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    state_path.write_text("{not json")
    with pytest.raises(BadInputError, match="state.json: unreadable state file"):
        WatchState(state_path)
    state_path.write_text('{"version": 99}')
    with pytest.raises(BadInputError, match="not a ragfleet watch state file"):
        WatchState(state_path)


def test_expand_matches_files_once_and_never_partial_ones(tmp_path: Path) -> None:
    for name in ("b.msgpack", "a.msgpack", "c.msgpack.partial"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.msgpack").write_bytes(b"")
    found = expand([str(tmp_path / "*.msgpack"), str(tmp_path / "a.msgpack"), str(tmp_path / "**" / "d.msgpack")])
    assert [p.name for p in found] == ["a.msgpack", "b.msgpack", "d.msgpack"]
