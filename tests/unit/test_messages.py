"""Messages validate on receipt and name the bad field; enrichments respect the schema."""

import pytest

from shared.errors import BadInputError
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
