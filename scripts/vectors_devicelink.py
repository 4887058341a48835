"""devicelink.json (built by make_vectors.py): linking a device over the network, deterministic.

alice's laptop (devices.json's seed 6) waits to be linked with a fixed secret; alice's first
device (seed 1) links it. The vector holds the link code (its body and text), the three
transcripts, ``mac_L``, ``mac_D``, the six confirmation digits, the ``H`` frame alice sends, and
codes that must be refused with the sentence each gives (docs/protocol.md 8.5).
"""

from __future__ import annotations

from typing import Any

from protocol import devicelink, wire
from protocol.identity import Identity
from protocol.node.syncwire import frame

LAPTOP_SEED = bytes([6]) * 32
SECRET = bytes([0x5A]) * 16
EXPIRES_S = 1_700_000_600


def build_devicelink(alice: Identity) -> dict[str, Any]:
    laptop = Identity.from_seed(LAPTOP_SEED)
    d, a = laptop.public_key, alice.public_key
    addrs = [f"/ip4/127.0.0.1/tcp/4001/p2p/{laptop.peer_id}", "/ip4/192.0.2.1/tcp/4001"]
    code = devicelink.make_code(d, "laptop", addrs, SECRET, EXPIRES_S)
    body = devicelink.unb32(code[4:])[: -devicelink.CHECK]
    hello = wire.encode({"m": devicelink.linker_mac(SECRET, d, a), "n": "alice"})
    refused = {
        "not a code": ("ssi2abcdef", "This is not a device link code; they start with ssd2."),
        "one character changed": (
            code[:-1] + ("a" if code[-1] != "a" else "b"),
            "The link code is damaged (its checksum does not match); copy it again exactly.",
        ),
    }
    return {
        "_about": __doc__,
        "deterministic": True,
        "device_seed_hex": LAPTOP_SEED.hex(),
        "device_key_hex": d.hex(),
        "linker_key_hex": a.hex(),
        "name": "laptop",
        "addrs": addrs,
        "secret_hex": SECRET.hex(),
        "expires_s": EXPIRES_S,
        "code_body_hex": body.hex(),
        "code": code,
        "domain_hex": devicelink.DOMAIN.hex(),
        "transcripts_hex": {
            label: (devicelink.DOMAIN + label.encode() + d + a).hex() for label in ("L", "D", "C")
        },
        "mac_linker_hex": devicelink.linker_mac(SECRET, d, a).hex(),
        "mac_device_hex": devicelink.device_mac(SECRET, d, a).hex(),
        "confirmation": devicelink.confirmation(SECRET, d, a),
        "hello_frame_hex": frame(b"H", hello).hex(),
        "answer_frame_hex": frame(b"A", devicelink.device_mac(SECRET, d, a)).hex(),
        "refused": {k: {"code": c, "message": m} for k, (c, m) in refused.items()},
    }
