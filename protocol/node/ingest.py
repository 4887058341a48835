"""Offline bundles (``smallsocial export``/``import``): length-prefixed raw records.

A bundle is ``SSB1`` followed by each raw record with its length (4 bytes, big
endian). :func:`decode_bundle` checks the framing only; every record it returns
is committed, or refused, by :meth:`protocol.node.ledger.Ledger.import_records`.
"""

from __future__ import annotations

from protocol import records

BUNDLE_MAGIC = b"SSB1"
MAX_BUNDLE = 512 * 1024 * 1024


def encode_bundle(raws: list[bytes]) -> bytes:
    return BUNDLE_MAGIC + b"".join(len(r).to_bytes(4, "big") + r for r in raws)


def decode_bundle(data: bytes) -> list[bytes]:
    if not data.startswith(BUNDLE_MAGIC):
        raise ValueError("This file is not a smallsocial bundle.")
    if len(data) > MAX_BUNDLE:
        raise ValueError("This bundle is too large.")
    out, i = [], len(BUNDLE_MAGIC)
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("This bundle is cut short; copy the whole file.")
        n = int.from_bytes(data[i : i + 4], "big")
        if n > records.MAX_RECORD_SIZE or i + 4 + n > len(data):
            raise ValueError("This bundle is cut short or damaged; copy the whole file.")
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out
