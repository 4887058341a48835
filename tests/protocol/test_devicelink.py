"""The link code, MACs and confirmation digits (protocol/devicelink.py) against devicelink.json.

The digests are recomputed here from the vector's inputs with hashlib, as docs/protocol.md 8.5
writes them, so a change to the derivation fails even if the builder changed with it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from protocol import devicelink
from protocol.identity import Identity

V = json.loads((Path(__file__).resolve().parent.parent / "vectors" / "devicelink.json").read_text())
pytestmark = pytest.mark.timeout(30)


def _keyed(label: str) -> bytes:
    secret = bytes.fromhex(V["secret_hex"])
    data = b"smallsocial/v1/device-link\x00" + label.encode()
    data += bytes.fromhex(V["device_key_hex"]) + bytes.fromhex(V["linker_key_hex"])
    assert data.hex() == V["transcripts_hex"][label]
    return hashlib.blake2b(data, digest_size=32, key=secret).digest()


def test_macs_and_digits_follow_the_spec() -> None:
    assert _keyed("L").hex() == V["mac_linker_hex"]
    assert _keyed("D").hex() == V["mac_device_hex"]
    n = int.from_bytes(_keyed("C")[:8], "big") % 1_000_000
    assert V["confirmation"] == f"{n // 1000:03d} {n % 1000:03d}"
    secret, d, a = (bytes.fromhex(V[k]) for k in ("secret_hex", "device_key_hex", "linker_key_hex"))
    assert devicelink.linker_mac(secret, d, a).hex() == V["mac_linker_hex"]
    assert devicelink.device_mac(secret, d, a).hex() == V["mac_device_hex"]
    assert devicelink.confirmation(secret, d, a) == V["confirmation"]
    # the digits bind both keys: another linker (an attacker's code, a relaying middle) shows others
    assert devicelink.confirmation(secret, d, bytes(32)) != V["confirmation"]
    assert devicelink.confirmation(secret, a, d) != V["confirmation"]
    assert not devicelink.same(devicelink.linker_mac(bytes(16), d, a), bytes.fromhex(V["mac_linker_hex"]))


def test_code_is_rebuilt_and_read() -> None:
    d = Identity.from_seed(bytes.fromhex(V["device_seed_hex"])).public_key
    assert d.hex() == V["device_key_hex"]
    secret = bytes.fromhex(V["secret_hex"])
    code = devicelink.make_code(d, V["name"], V["addrs"], secret, V["expires_s"])
    assert code == V["code"]
    assert code.startswith("ssd2") and len(code) < 200  # fits a QR code a terminal can show
    c = devicelink.parse_code(code.upper())  # a QR code's upper case reads back too
    assert (c.key, c.name, c.addrs) == (d, "laptop", V["addrs"])
    assert (c.secret, c.expires_s) == (secret, V["expires_s"])
    assert c.online
    old = devicelink.parse_code(devicelink.old_code(d, "laptop"))
    assert (old.key, old.name, old.online) == (d, "laptop", False)


@pytest.mark.parametrize("case", sorted(V["refused"]))
def test_bad_codes_are_refused_with_a_sentence(case: str) -> None:
    with pytest.raises(devicelink.LinkCodeError) as e:
        devicelink.parse_code(V["refused"][case]["code"])
    assert str(e.value) == V["refused"][case]["message"]
