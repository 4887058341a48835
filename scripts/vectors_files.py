"""files.json (built by make_vectors.py): a small file sealed in three chunks, its manifest,
its descriptor, and alice's ``file`` message that announces it, all deterministic."""

from __future__ import annotations

from typing import Any

from protocol import circle, files, messages, wire
from protocol.chain import ChainPos
from protocol.identity import Identity

FILE_KEY = bytes([0x55]) * 32
CHUNK = files.MIN_CHUNK
DATA = bytes(i * 7 % 251 for i in range(2 * CHUNK + 1000))
"""Two whole chunks and a short third one."""
MSG_NONCE = bytes([0x66]) * 24


def build_files(alice: Identity, genesis_args: dict[str, Any], ts0: int) -> dict[str, Any]:
    c = circle.create(alice, "friends", ts0, **genesis_args)
    info, manifest, blobs = files.seal_bytes("notes.txt", "text/plain", DATA, chunk_size=CHUNK, key=FILE_KEY)
    content = messages.Content(messages.FILE, ts0 + 1000, file=info)
    rec = messages.seal(
        alice,
        c.circle_id,
        ChainPos(1, None),
        c.circle_id,
        genesis_args["epoch_key"],
        content,
        nonce=MSG_NONCE,
    )
    return {
        "_about": "A file (protocol.files): plaintext bytes i*7 % 251 for i < 33768, chunk size 16384, "
        "file key 0x55*32; chunk i's nonce is i as 24 big-endian bytes, the manifest's index is 2^32-1; "
        "a blob's id is BLAKE2b-256 of its bytes. Then alice's file message in records.json's circle "
        "(epoch key 0x22*32, epoch id = circle id, seq 1, nonce 0x66*24). All deterministic.",
        "deterministic": True,
        "plaintext_len": len(DATA),
        "plaintext_blake2b_hex": info.digest.hex(),
        "file_key_hex": FILE_KEY.hex(),
        "chunk_size": CHUNK,
        "chunks": [
            {
                "index": i,
                "aad_hex": files.associated_data(i, len(DATA), CHUNK).hex(),
                "nonce_hex": files.nonce(i).hex(),
                "blob_hex": blob.hex(),
                "id_hex": bid.hex(),
            }
            for i, (bid, blob) in enumerate(blobs)
        ],
        "manifest": {
            "plaintext_hex": wire.encode([bid for bid, _ in blobs]).hex(),
            "blob_hex": manifest.hex(),
            "id_hex": info.manifest.hex(),
        },
        "descriptor": {
            "fields": {"n": "notes.txt", "s": len(DATA), "m": "text/plain", "c": CHUNK},
            "encoded_hex": info.encode().hex(),
        },
        "message": {
            "content_plaintext_hex": content.encode().hex(),
            "text": content.text,
            "circle_id_hex": c.circle_id.hex(),
            "genesis_hex": c.genesis.raw.hex(),
            "record_raw_hex": rec.raw.hex(),
            "record_id_hex": rec.id.hex(),
        },
    }
