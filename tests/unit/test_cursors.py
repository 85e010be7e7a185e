"""Cursors are opaque, signed, and bound to the owner and the filters."""

from __future__ import annotations

import pytest

from docquery.errors import InvalidCursor
from docquery.services.cursors import CursorCodec

codec = CursorCodec(b"secret one")


def test_round_trip() -> None:
    cursor = codec.encode(owner="alice", scope="tag=x", position="2026-01-01T00:00:00.000000Z#ab")
    assert codec.decode(cursor, owner="alice", scope="tag=x") == "2026-01-01T00:00:00.000000Z#ab"
    assert "2026" not in cursor  # opaque to clients


@pytest.mark.parametrize(
    ("owner", "scope", "other_codec"),
    [("bob", "tag=x", codec), ("alice", "tag=y", codec), ("alice", "tag=x", CursorCodec(b"2"))],
)
def test_cursor_is_refused_elsewhere(owner: str, scope: str, other_codec: CursorCodec) -> None:
    cursor = codec.encode(owner="alice", scope="tag=x", position="p")
    with pytest.raises(InvalidCursor):
        other_codec.decode(cursor, owner=owner, scope=scope)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b", "!!!.???", "e30.AAAA", "x" * 500])
def test_garbage_is_invalid_cursor(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(garbage, owner="alice", scope="")
