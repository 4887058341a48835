"""Framing for the sync stream protocol ``/smallsocial/sync/1.0.0``.

One stream per circle, pull only. The requester sends a ``V`` frame (its version
vector for the circle, :func:`protocol.sync.encode_vector`). The responder,
having checked that the requester's peer ID (authenticated by the Noise
handshake, and equal to their Ed25519 identity key) is a member of the circle,
answers with ``R`` frames (a batch of raw records the requester lacks) and ends
with its own ``V`` frame; or with one ``D`` frame (denied, with a reason).
A frame is ``u32 length || tag || payload``, at most :data:`MAX_FRAME` bytes.
"""

from __future__ import annotations

from typing import Any

from protocol import records, shallow, wire
from protocol.errors import MalformedError, OversizeError, SchemaError

PROTOCOL = "/smallsocial/sync/1.0.0"
MAX_FRAME = 4 * 1024 * 1024
BATCH_RECORDS = 256
BATCH_BYTES = 1024 * 1024

VECTOR = b"V"
RECORDS = b"R"
DENIED = b"D"


def frame(tag: bytes, payload: bytes) -> bytes:
    body = tag + payload
    return len(body).to_bytes(4, "big") + body


def records_frame(raws: list[bytes]) -> bytes:
    return frame(RECORDS, wire.encode(raws))


def parse_records(payload: bytes) -> list[bytes]:
    if len(payload) > MAX_FRAME:
        raise OversizeError(f"{len(payload)} bytes is over the limit of {MAX_FRAME}")
    # The bounded first pass (protocol/shallow.py): a list of at most BATCH_RECORDS plain values
    # (a sender writes no more), nothing nested.
    obj: Any = shallow.decode_list(payload, BATCH_RECORDS, "records")
    if not all(isinstance(r, bytes) for r in obj):
        raise SchemaError("a records frame is a list of byte strings")
    if any(len(r) > records.MAX_RECORD_SIZE for r in obj):
        raise SchemaError("a record in the batch is over the size limit")
    return list(obj)


def check_length(n: int) -> None:
    if not 1 <= n <= MAX_FRAME:
        raise MalformedError(f"a sync frame of {n} bytes is outside 1..{MAX_FRAME}")
