"""Issue 10, class 1: a member passes off someone else's words as their own.

From docs/protocol.md section 10 an outsider sees that a ``msg`` record carries its
ciphertext ``x`` next to the signed author, circle, seq and epoch. The attacks lift a
ciphertext into a record of their own (or another place) and sign it with their key; the
promise (docs/security.md 2.1) is that a ciphertext opens only in the record it was sealed for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import crypto, messages, records, wire
from protocol.errors import DecryptError, SchemaError
from protocol.identity import Identity
from protocol.view import CircleView, Stored
from tests.attacks.spec_kit import bundle, circle, cli, cli_json, resign, share, texts

MALLORY = Identity.from_seed(bytes([3]) * 32)  # the third person of circle(tmp, "alice", "bob", "mallory")


def _setup(tmp_path: Path, kind: str = "text"):  # type: ignore[no-untyped-def]
    (alice, bob, mallory), cid = circle(tmp_path, "alice", "bob", "mallory")
    first = bob.send_text(cid, "hello")
    if kind == "text":
        victim = bob.send_text(cid, "I owe alice 100")
    elif kind == "reply":
        victim = bob.send_text(cid, "yes, I agree to sell", reply_to=first.id)
    else:
        victim = bob.send(cid, messages.Content(kind, 1_800_000_001_000, "👍", first.id))
    share(bob, alice, cid)
    share(bob, mallory, cid)
    return alice, bob, mallory, cid, victim


@pytest.mark.parametrize("kind", ["text", "reply", "react"])
def test_a_resigned_ciphertext_does_not_open_under_the_attackers_name(tmp_path: Path, kind: str) -> None:
    alice, _bob, mallory, cid, victim = _setup(tmp_path, kind)
    forged = resign(MALLORY, victim, mallory.view(cid).next_pos(mallory.me))
    assert records.parse(forged.raw).author == mallory.me  # a valid signature: relays store it
    key = alice.epoch_keys(cid)[bytes(victim.body["e"])]
    assert messages.open_message(victim, key).text  # the original opens
    with pytest.raises(DecryptError):
        messages.open_message(forged, key)
    alice.import_bundle(bundle(forged))
    assert (mallory.me, messages.open_message(victim, key).text) not in texts(alice, cid)


def test_a_resigned_ciphertext_at_the_victims_own_seq_does_not_open(tmp_path: Path) -> None:
    """Same seq, same predecessor slot number, only the author differs: still refused."""
    alice, _bob, mallory, cid, victim = _setup(tmp_path)
    for _ in range(victim.seq - mallory.view(cid).next_pos(mallory.me).seq):
        mallory.send_text(cid, "filler")
    pos = mallory.view(cid).next_pos(mallory.me)
    assert pos.seq == victim.seq
    forged = resign(MALLORY, victim, pos)
    key = alice.epoch_keys(cid)[bytes(victim.body["e"])]
    with pytest.raises(DecryptError):
        messages.open_message(forged, key)


def test_a_ciphertext_moved_to_another_position_of_its_author_does_not_open(tmp_path: Path) -> None:
    """The chain position is bound too: a message cannot be replayed as a later one."""
    alice, bob, _mallory, cid, victim = _setup(tmp_path)
    bob_id = Identity.from_seed(bytes([2]) * 32)
    moved = resign(bob_id, victim, bob.view(cid).next_pos(bob.me))
    key = alice.epoch_keys(cid)[bytes(victim.body["e"])]
    with pytest.raises(DecryptError):
        messages.open_message(moved, key)


def test_a_ciphertext_under_another_epoch_id_does_not_open(tmp_path: Path) -> None:
    """The epoch id is bound: after a rekey that reuses a key (a buggy client) it still fails."""
    alice, _bob, _mallory, cid, victim = _setup(tmp_path)
    key = alice.epoch_keys(cid)[bytes(victim.body["e"])]
    body = dict(victim.body)
    aad_other = messages.associated_data(victim.author, cid, victim.seq, victim.prev, b"\x07" * 32)
    with pytest.raises(DecryptError):
        crypto.aead_decrypt(key, bytes(body["x"]), bytes(body["n"]), aad_other)


def test_the_validator_stores_it_but_no_member_shows_it(tmp_path: Path) -> None:
    """A relay cannot tell (it holds no key); every member's log refuses the lifted words."""
    alice, bob, mallory, cid, victim = _setup(tmp_path)
    forged = resign(MALLORY, victim, mallory.view(cid).next_pos(mallory.me))
    view = CircleView(alice.view(cid).genesis, alice.store.load_records(cid))
    assert isinstance(view.add(forged), Stored)
    for p in (alice, bob):
        p.import_bundle(bundle(forged))
        assert "I owe alice 100" not in [t for a, t in texts(p, cid) if a == mallory.me]


def test_the_cli_log_never_shows_the_victims_words_under_the_attacker(tmp_path: Path) -> None:
    alice, _bob, mallory, cid, victim = _setup(tmp_path)
    forged = resign(MALLORY, victim, mallory.view(cid).next_pos(mallory.me))
    path = tmp_path / "forged.bundle"
    path.write_bytes(bundle(forged))
    p = cli(alice, "import", str(path))
    assert p.returncode == 0, p.stderr
    rows = cli_json(alice, "log", cid.hex())
    rows = rows if isinstance(rows, list) else [rows]
    assert [r["text"] for r in rows if r["author"] == MALLORY.peer_id] == []
    assert "I owe alice 100" in [r["text"] for r in rows]


def test_an_unbound_message_of_the_old_format_is_refused(tmp_path: Path) -> None:
    """A ``msg`` whose ciphertext is a plain secretbox (format 1, bound to nothing) does not parse."""
    _alice, _bob, mallory, cid, victim = _setup(tmp_path)
    key = mallory.epoch_keys(cid)[bytes(victim.body["e"])]
    nonce = bytes(24)
    body = {
        "v": 1,
        "t": "msg",
        "a": mallory.me,
        "c": cid,
        "q": 99,
        "p": b"\x01" * 32,
        "e": victim.body["e"],
        "n": nonce,
        "x": crypto.box_encrypt(key, messages.Content("text", 1, "unbound").encode(), nonce),
    }
    body_bytes = wire.encode(body)
    raw = wire.encode([body_bytes, MALLORY.sign(records.DOMAINS["msg"] + body_bytes)])
    with pytest.raises(SchemaError, match="version"):
        records.parse(raw)
