"""Messages validate on receipt and name the bad field; enrichments respect the schema."""

import zlib
from typing import Any

import msgpack
import pytest

from shared.errors import BadInputError
from shared.hashing import content_hash
from shared.messages import Enrichment, FileMessage


def test_file_message_round_trips() -> None:
    msg = FileMessage(repo="r", path="a.py", content_hash="h", language="python", size_bytes=3, content="x=1")
    assert FileMessage.from_wire(msg.to_wire()) == msg


def test_malformed_message_names_the_fields() -> None:
    with pytest.raises(BadInputError, match=r"FileMessage: bad field\(s\) .*size_bytes"):
        FileMessage.from_wire(
            {"repo": "r", "path": "a.py", "content_hash": "h", "language": "x", "size_bytes": -1, "content": ""}
        )
    with pytest.raises(BadInputError, match="content"):
        FileMessage.from_wire({"repo": "r"})
    with pytest.raises(BadInputError):
        FileMessage.from_wire("not a dict")


def test_enrichment_summary_limits() -> None:
    with pytest.raises(ValueError, match="120 words"):
        Enrichment(summary="word " * 121)
    with pytest.raises(ValueError, match="empty"):
        Enrichment(summary="  ")
    assert Enrichment(summary="Parses a file.").tags == []


def _file_message(text: str, compress_above_bytes: int) -> FileMessage:
    return FileMessage.with_text(
        text,
        compress_above_bytes=compress_above_bytes,
        repo="r",
        path="big.py",
        content_hash=content_hash(text),
        language="python",
        size_bytes=len(text.encode("utf-8")),
    )


def test_large_content_travels_compressed_through_msgpack_and_reads_back() -> None:
    text = "".join(f"def f{i}(x):\n    return x * {i}  # ünïcode\n" for i in range(3000))
    msg = _file_message(text, compress_above_bytes=64 * 1024)
    assert msg.content == "" and msg.content_zlib is not None
    wire = msg.to_wire()
    packed = msgpack.packb(wire, use_bin_type=True)  # what Celery's msgpack serializer does
    assert len(packed) < len(text.encode("utf-8")) / 3
    received = FileMessage.from_wire(msgpack.unpackb(packed, raw=False))
    assert received.text() == text


def test_small_content_travels_as_text() -> None:
    msg = _file_message("x = 1\n", compress_above_bytes=64 * 1024)
    assert msg.content_zlib is None and "content_zlib" not in msg.to_wire()
    assert FileMessage.from_wire(msgpack.unpackb(msgpack.packb(msg.to_wire()), raw=False)).text() == "x = 1\n"


def test_forged_compressed_content_is_refused_with_the_path() -> None:
    bomb = zlib.compress(b"a" * 10_000_000)  # claims 100 bytes, inflates to 10 MB
    fields: dict[str, Any] = {"repo": "r", "path": "p.py", "content_hash": "h", "language": "python", "content": ""}
    with pytest.raises(BadInputError, match="p.py: content_zlib inflates beyond 1224 bytes"):
        FileMessage(**fields, size_bytes=100, content_zlib=bomb).text()
    with pytest.raises(BadInputError, match="p.py: content_zlib does not inflate"):
        FileMessage(**fields, size_bytes=100, content_zlib=b"not zlib").text()
    with pytest.raises(BadInputError, match="truncated"):
        FileMessage(**fields, size_bytes=100, content_zlib=zlib.compress(b"abc")[:-3]).text()
    with pytest.raises(BadInputError, match="not UTF-8"):
        FileMessage(**fields, size_bytes=100, content_zlib=zlib.compress(b"\xff\xfe")).text()
