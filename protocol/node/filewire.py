"""Framing for the file stream protocol ``/smallsocial/file/1.0.0`` (docs/protocol.md 14.3).

Frames as the sync stream's (``u32 length || tag || payload``, :mod:`protocol.node.syncwire`).
A fetcher sends ``G`` (circle id and up to :data:`MAX_WANT` blob ids); the responder answers
each id with ``B`` (id and blob) or ``N`` (id), then ``E``. An uploader sends ``P`` (circle id
and blob); a relay answers ``K`` (the blob's id) or ``D`` (a reason, then the stream closes).
"""

from __future__ import annotations

from protocol import files
from protocol.errors import SchemaError
from protocol.node.syncwire import frame

PROTOCOL = "/smallsocial/file/1.0.0"
MAX_WANT = 64

GET = b"G"
BLOB = b"B"
NONE = b"N"
END = b"E"
PUT = b"P"
OK = b"K"
DENIED = b"D"

__all__ = ["PROTOCOL", "frame", "get_frame", "parse_get", "split_id"]


def get_frame(circle_id: bytes, ids: list[bytes]) -> bytes:
    return frame(GET, circle_id + b"".join(ids))


def parse_get(payload: bytes) -> tuple[bytes, list[bytes]]:
    """``circle id || blob id ...`` (32 bytes each, 1 to :data:`MAX_WANT` blob ids)."""
    n, rest = divmod(len(payload), 32)
    if rest or not 2 <= n <= MAX_WANT + 1:
        raise SchemaError(f"a file request is a circle id and 1 to {MAX_WANT} blob ids of 32 bytes")
    return payload[:32], [payload[i : i + 32] for i in range(32, len(payload), 32)]


def split_id(payload: bytes, max_rest: int = files.MAX_BLOB) -> tuple[bytes, bytes]:
    """``32 bytes || rest`` (a ``B``, ``N``, ``K`` or ``P`` payload)."""
    if len(payload) < 32 or len(payload) - 32 > max_rest:
        raise SchemaError("a file frame is a 32-byte id and at most one blob")
    return payload[:32], payload[32:]
