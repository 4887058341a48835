"""A presence's sealed content at its limits (issue 17: the ``ad`` minimum and ``nm`` length).

``presence.announce`` cuts a name to 64 characters, so the byte limit (64 characters of
up to 4 UTF-8 bytes: 256 bytes) and the address minimums are only reached by content a
member seals by hand; ``open_presence`` must refuse it all the same.
"""

from __future__ import annotations

import pytest
from proto_kit import BOB, NOW_MS, World

from protocol import crypto, presence, records, wire
from protocol.errors import SchemaError

KEY = b"\x07" * 32


def _sealed(w: World, addrs: list[str], name: str) -> records.Record:
    n = b"\x01" * crypto.NONCE_SIZE
    aad = presence.associated_data(BOB.public_key, w.cid, NOW_MS, w.cid)
    body = {
        "t": records.PRESENCE,
        "a": BOB.public_key,
        "c": w.cid,
        "ts": NOW_MS,
        "e": w.cid,
        "n": n,
        "x": crypto.aead_encrypt(KEY, wire.encode([addrs, name]), n, aad),
    }
    return records.sign(BOB, body)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("", True),
        ("\U0001f600" * 64, True),
        ("n" * 256, True),
        ("\U0001f600" * 64 + "n", False),
        ("n" * 257, False),
    ],
)
def test_a_sealed_name_is_at_most_256_bytes(world: World, name: str, ok: bool) -> None:
    rec = _sealed(world, [f"/ip4/127.0.0.1/tcp/1/p2p/{BOB.peer_id}"], name)
    if ok:
        assert presence.open_presence(rec, KEY).name == name
    else:
        with pytest.raises(SchemaError, match="content"):
            presence.open_presence(rec, KEY)


@pytest.mark.parametrize("addrs", [[], [""], ["x"] * 9])
def test_sealed_addresses_keep_their_minimums(world: World, addrs: list[str]) -> None:
    with pytest.raises(SchemaError):
        presence.open_presence(_sealed(world, addrs, "bob"), KEY)
