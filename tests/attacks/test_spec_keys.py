"""Attacks from the spec on keys (issue 10, item 5): keys that sign but cannot receive.

protocol.md section 1 says a key is "bin(32) holding an Ed25519 public key", and every
person's X25519 sealing key is derived from it. A 32-byte string can be a point of small
order, a non-canonical encoding, or a real key plus a small-order point ("mixed order"),
which still verifies some signatures (every second one, for an order-2 component) but
cannot be sealed to. Once such a key was an invitee or a member, every rekey failed and
nobody could send after someone left. Every key that enters (a record's author and key
fields, a token's invite, a peer ID typed into the CLI) must be a usable key.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest

from protocol import actions, circle, crypto, invitation, records, wire
from protocol.errors import BadPeerId, DecryptError, SchemaError, TokenInvalid
from protocol.identity import Identity, parse_peer_id, peer_id
from protocol.view import CircleView, Dropped
from smallsocial_tui.nodeproc import cli_env, run_cli

pytestmark = pytest.mark.timeout(120)

NOW_MS = 1_700_000_000_000
ALICE = Identity.from_seed(b"\x01" * 32)
MALLORY = Identity.from_seed(b"\x66" * 32)
_P = 2**255 - 19
_T2 = bytes.fromhex("ec" + "ff" * 30 + "7f")  # the point of order 2
_T8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

SMALL_ORDER = {
    "identity": bytes.fromhex("01" + "00" * 31),
    "order 2": _T2,
    "order 4": bytes(32),
    "order 4, sign bit": bytes(31) + b"\x80",
    "order 8": _T8,
    "order 8, other": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
}
NON_CANONICAL = {
    "y = p (0)": _P.to_bytes(32, "little"),
    "y = p + 1 (1)": (_P + 1).to_bytes(32, "little"),
}
MIXED_ORDER = {
    "mallory + order 2": nacl.bindings.crypto_core_ed25519_add(MALLORY.public_key, _T2),
    "mallory + order 8": nacl.bindings.crypto_core_ed25519_add(MALLORY.public_key, _T8),
}
WEAK = {**SMALL_ORDER, **NON_CANONICAL, **MIXED_ORDER}


def _signed(body: dict[str, Any], who: Identity = MALLORY, *, author: bytes | None = None) -> bytes:
    """A record built by hand from protocol.md section 4 (records.sign would refuse these now)."""
    full = {"a": author or who.public_key, **body}
    body_bytes = wire.encode(full)
    return wire.encode([body_bytes, who.sign(records.DOMAINS[full["t"]] + body_bytes)])


def _roster(t: str, cid: bytes = b"\x11" * 32, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "t": t, "c": cid, "q": 1, "p": None, "h": [cid], "ts": NOW_MS, **extra}


@pytest.mark.parametrize("name", sorted(WEAK))
def test_a_weak_key_is_refused_in_every_key_field_of_a_record(name: str) -> None:
    weak = WEAK[name]
    assert not crypto.is_valid_public_key(weak)
    fields = {
        "invite k": _roster(
            "invite", k=weak, r="member", x=NOW_MS // 1000 + 60, n=b"\0" * 16, e=b"\x11" * 32
        ),
        "remove k": _roster("remove", v=2, k=weak, s=0, sh=None),
        "role k": _roster("role", k=weak, r="admin"),
        "pin k": _roster("pin", k=weak, ad=[]),
    }
    for where, body in fields.items():
        with pytest.raises(SchemaError, match="not a usable Ed25519 public key"):
            records.parse(_signed(body))
        assert records.parse(_signed({**body, "k": ALICE.public_key})), where  # the same record, a real key
    with pytest.raises(SchemaError, match="field 'a' is not a usable Ed25519 public key"):
        records.parse(_signed(_roster("leave"), author=weak))


def _grind_mixed_order_signature(key: bytes, body: dict[str, Any]) -> bytes:
    """Sign as the mixed-order key ``key`` (mallory's key plus a small-order point).

    libsodium signs with mallory's scalar but hashes ``key``; the signature verifies for
    ``key`` whenever the hash kills the small-order part: one try in two for order 2.
    """
    for i in range(200):
        full = {**body, "a": key, "ts": NOW_MS + i}
        body_bytes = wire.encode(full)
        message = records.DOMAINS[full["t"]] + body_bytes
        sig = nacl.bindings.crypto_sign(message, MALLORY.seed + key)[:64]
        if crypto.verify(key, sig, message):
            return wire.encode([body_bytes, sig])
    raise AssertionError("no signature verified")


@pytest.mark.parametrize("name", sorted(MIXED_ORDER))
def test_a_mixed_order_key_signs_but_cannot_author_a_record(name: str) -> None:
    key = MIXED_ORDER[name]
    raw = _grind_mixed_order_signature(key, _roster("leave"))
    body_bytes, sig = wire.decode(raw, records.MAX_RECORD_SIZE)
    assert crypto.verify(key, sig, records.DOMAINS["leave"] + body_bytes)  # the signature is good
    with pytest.raises(SchemaError, match="not a usable Ed25519 public key"):
        records.parse(raw)
    with pytest.raises(DecryptError):  # and nobody can seal to it
        crypto.seal(key, b"epoch key")


@pytest.mark.parametrize("name", ["order 8", "mallory + order 2", "y = p + 1 (1)"])
def test_an_invite_for_a_weak_key_is_dropped_and_the_circle_can_still_rekey(name: str) -> None:
    made = circle.create(ALICE, "friends", NOW_MS)
    view = CircleView(made.genesis)
    cid = made.genesis.id
    invite = _signed(
        _roster("invite", cid, k=WEAK[name], r="member", x=NOW_MS // 1000 + 60, n=b"\0" * 16, e=cid), ALICE
    )
    out = view.receive(invite)
    assert isinstance(out, Dropped) and out.reason.startswith("SchemaError"), out
    assert not view.roster.invites
    rk = actions.rekey(ALICE, view.roster, view.next_pos(ALICE.public_key), NOW_MS + 1)
    assert records.parse(rk.record.raw).type == "rekey"


def _token_text(body: bytes) -> str:
    head = f"{invitation.PREFIX}{invitation.V1}"
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(head.encode() + framed, 5)
    return head + base64.b32encode(payload).decode().rstrip("=").lower()


def test_a_token_that_invites_a_weak_key_is_invalid() -> None:
    made = circle.create(ALICE, "friends", NOW_MS)
    cid = made.genesis.id
    weak = MIXED_ORDER["mallory + order 2"]
    invite = _signed(
        _roster("invite", cid, k=weak, r="member", x=NOW_MS // 1000 + 60, n=b"\0" * 16, e=cid), ALICE
    )
    body = wire.encode(
        {"v": 1, "inv": invite, "gen": made.genesis.raw, "ch": [], "sl": b"\x01" * 80, "ad": []}
    )
    with pytest.raises(TokenInvalid, match="not a usable Ed25519 public key"):
        invitation.decode_token(_token_text(body))


@pytest.mark.parametrize("name", sorted(WEAK))
def test_a_short_token_signed_by_a_weak_key_is_invalid(name: str) -> None:
    """Format 2 names its inviter in ``a`` (protocol.md section 11): a weak key there is refused
    as it is in a record, before any signature is checked."""
    signed = wire.encode([b"\x11" * 32, b"\x22" * 32, WEAK[name], NOW_MS // 1000 + 60, b"\x01" * 80, b""])
    body = signed + b"\x00" * 64
    head = f"{invitation.PREFIX}2"
    framed = len(body).to_bytes(4, "big") + body
    text = head + base64.b32encode(framed + crypto.checksum(head.encode() + framed, 5)).decode().rstrip("=")
    with pytest.raises(TokenInvalid, match="field 'a' is not a usable Ed25519 public key"):
        invitation.decode_token(text)


@pytest.mark.parametrize("name", sorted(WEAK))
def test_a_peer_id_of_a_weak_key_is_refused_with_one_sentence(name: str) -> None:
    with pytest.raises(BadPeerId, match=r"is not a valid key; check for typos\.$"):
        parse_peer_id(peer_id(WEAK[name]))


def test_the_cli_refuses_weak_keys_as_contacts_and_invitees(tmp_path: Path) -> None:
    env = cli_env(tmp_path, "alice")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, env)

    assert cli("id", "--name", "alice").returncode == 0
    assert cli("circle", "new", "friends").returncode == 0
    for name in ("order 8", "mallory + order 2"):
        pid = peer_id(WEAK[name])
        for args in (("contact", "add", "bob", pid), ("invite", "friends", pid)):
            p = cli(*args)
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            assert p.returncode == 1 and len(lines) == 1, (args, p.stderr)
            assert "is not a valid key; check for typos." in lines[0] and "Traceback" not in p.stderr
    assert cli("contact", "list", "--json").stdout.strip() == "[]"
