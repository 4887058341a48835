"""handoff.json (built by make_vectors.py): a ``circle`` message, the handoff of a circle to a
person's devices in their self circle (docs/protocol.md 8.5 and 10), all deterministic.

alice founds her self circle (fixed nonce, epoch key and name nonce) and hands her devices the
circle of records.json: the message's plaintext, its ``cb`` payload and the sealed ``msg``
record (fixed nonce), with the key that opens it. ``open_message`` reads it only when asked
for a handoff; anywhere else it is refused.
"""

from __future__ import annotations

from typing import Any

from protocol import circle, messages, wire
from protocol.chain import ChainPos
from protocol.identity import Identity

SELF_NONCE = bytes([0x51]) * 16
SELF_KEY = bytes([0x52]) * 32
SELF_NAME_NONCE = bytes([0x53]) * 24
MSG_NONCE = bytes([0x54]) * 24
ADDR = "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"


def build_handoff(alice: Identity, genesis_args: dict[str, Any], ts: int) -> dict[str, Any]:
    handed = circle.create(alice, "friends", ts, **genesis_args)
    own = circle.create(
        alice, "Your devices", ts, nonce=SELF_NONCE, epoch_key=SELF_KEY, name_nonce=SELF_NAME_NONCE
    )
    payload = [handed.genesis.raw, None, "friends", [[handed.circle_id, handed.epoch_key]], [ADDR]]
    cb = wire.encode(payload)
    content = messages.Content(messages.CIRCLE, ts + 1000, circle=cb)
    rec = messages.seal(
        alice, own.circle_id, ChainPos(1, None), own.circle_id, SELF_KEY, content, nonce=MSG_NONCE
    )
    return {
        "description": (
            "alice's self circle and a handoff in it of the records.json circle (docs/protocol.md 8.5, "
            "circles after the link; 10, kind circle). plaintext_hex is the message's canonical "
            "plaintext; cb_hex its cb: [genesis, parent, name, [[epoch id, epoch key]], [address]]."
        ),
        "self_genesis_hex": own.genesis.raw.hex(),
        "self_circle_id_hex": own.circle_id.hex(),
        "self_epoch_key_hex": SELF_KEY.hex(),
        "handed_circle_id_hex": handed.circle_id.hex(),
        "cb_hex": cb.hex(),
        "plaintext_hex": content.encode().hex(),
        "record_hex": rec.raw.hex(),
        "record_id_hex": rec.id.hex(),
        "refused_elsewhere": "a circle handoff is read only in its person's self circle",
    }
