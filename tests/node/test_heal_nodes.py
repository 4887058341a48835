"""Healing after a copy of a profile, with the CLI and real member nodes (issue 15).

A thief copies bob's whole profile directory at T (identity key, storage key, store and its
WAL: every private prekey of T). Then bob runs ``smallsocial rekey friends`` (his node
running) or ``smallsocial rekey --all`` (offline: sent when his node next starts). His rekey
seals its entry to him to a prekey made after T, so the copy opens none of its entries, nor
any message alice sends after it; bob reads them. The profile-level cases (a rekey by
someone else, the rotation policy) are in tests/node/test_healing.py.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import records
from protocol.identity import Identity, load_identity, parse_peer_id
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from tests.node.harness import Peer, wait_until
from tests.node.test_healing import copy_opens, copy_reads_with

pytestmark = pytest.mark.timeout(240)


def _of_type(peer: Peer, circle: str, t: str) -> list[records.Record]:
    db = sqlite3.connect(f"file:{peer.root / 'store.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        q = "SELECT id, raw FROM records WHERE circle = ? AND type = ? ORDER BY rowid"
        rows = list(db.execute(q, (bytes.fromhex(circle), t)))
    finally:
        db.close()
    return [records.load(bytes(raw), bytes(rid)) for rid, raw in rows]


def _key(p: Peer) -> bytes:
    return parse_peer_id(p.key)


def _epoch(p: Peer, circle: str) -> int:
    return int(next(c["epoch"] for c in p.json("circle", "list") if c["id"] == circle))


def _has_prekey_of(p: Peer, circle: str, of: Peer) -> bool:
    """A prekey of ``of`` in ``p``'s store: a ``prekey`` record, or the genesis or join that carries one."""
    carriers = [r for t in (records.PREKEY, records.JOIN, records.GENESIS) for r in _of_type(p, circle, t)]
    return any(r.author == _key(of) and "pk" in r.body for r in carriers)


def _join(inviter: Peer, joiner: Peer, name: str, circle: str) -> None:
    joiner.json("join", inviter.json("invite", name, joiner.key)["token"])
    wait_until(lambda: inviter.saw("MemberJoined", circle=circle, member=joiner.key), 30, what="the join")
    wait_until(lambda: _has_prekey_of(inviter, circle, joiner), 45, what="the joiner's prekey")


def _steal(p: Peer, to: Path) -> tuple[Profile, Identity]:
    """Every file of the profile, copied while its node may run (a thief's copy), opened."""
    shutil.copytree(p.root, to, ignore=shutil.ignore_patterns("*.sock"))  # a socket is no file
    stolen = Profile.open(ProfilePaths(to), None)
    return stolen, load_identity((to / "identity.key").read_bytes())


def _healed(
    stolen: Profile, thief: Identity, alice: Peer, bob: Peer, name: str, circle: str, epoch: int, text: str
) -> None:
    """bob's rekey to ``epoch`` opens to nothing in the copy, nor does alice's next message; bob reads it."""
    wait_until(lambda: _epoch(alice, circle) == epoch, 45, what="alice to take bob's rekey")
    (healing,) = [r for r in _of_type(alice, circle, records.REKEY) if int(r.body["e"]) == epoch]
    assert healing.author == _key(bob)
    assert copy_opens(stolen, thief, healing) == 0
    alice.json("send", name, text)
    wait_until(lambda: text in bob.texts(circle), 45, what="bob to read alice's message")
    msg = [m for m in _of_type(alice, circle, records.MSG) if m.author == _key(alice)][-1]
    rekeys = _of_type(alice, circle, records.REKEY)
    assert not copy_reads_with(stolen, thief, rekeys, bytes.fromhex(circle), msg)


def test_smallsocial_rekey_on_bobs_running_node_heals_against_a_copy_of_his_profile(
    make_peer: Callable[[str], Peer], tmp_path: Path
) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.start()
    _join(alice, bob, "friends", circle)
    assert alice.cli("rekey", "friends").stdout.strip() == "Rekeyed friends: epoch 1, sealed to 2 devices."
    alice.json("send", "friends", "before the theft")
    wait_until(
        lambda: "before the theft" in bob.texts(circle), 45, what="bob reads the epoch sealed to his prekey"
    )
    stolen, thief = _steal(bob, tmp_path / "stolen")  # T
    before = _of_type(alice, circle, records.MSG)[-1]
    rekeys = _of_type(alice, circle, records.REKEY)
    assert copy_reads_with(stolen, thief, rekeys, bytes.fromhex(circle), before)
    assert copy_opens(stolen, thief, rekeys[-1]) == 1  # alice's: to bob's prekey of T

    out = bob.cli("rekey", "friends").stdout.strip()
    assert out == "Rekeyed friends: epoch 2, sealed to 2 devices."
    assert bob.saw("Rekeyed")  # his running node did it
    _healed(stolen, thief, alice, bob, "friends", circle, 2, "after bob's rekey, in friends")
    stolen.close()
    for p in (alice, bob):
        assert p.stop() == 0


def test_rekey_all_offline_heals_both_circles(make_peer: Callable[[str], Peer], tmp_path: Path) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    friends = alice.json("circle", "new", "friends")["id"]
    work = bob.json("circle", "new", "work")["id"]
    alice.start()
    bob.start()
    _join(alice, bob, "friends", friends)
    _join(bob, alice, "work", work)
    wait_until(lambda: _has_prekey_of(alice, work, bob), 45, what="bob's prekey in work")
    assert bob.stop() == 0
    stolen, thief = _steal(bob, tmp_path / "stolen")  # T
    got = sorted((r["name"], r["epoch"]) for r in bob.json("rekey", "--all"))  # no node: offline
    assert got == [("friends", 1), ("work", 1)]
    bob.start(alice.addr or "")
    _healed(stolen, thief, alice, bob, "friends", friends, 1, "after rekey --all, in friends")
    _healed(stolen, thief, alice, bob, "work", work, 1, "after rekey --all, in work")
    stolen.close()
    for p in (alice, bob):
        assert p.stop() == 0
