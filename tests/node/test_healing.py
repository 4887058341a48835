"""Healing after a copy of a profile (issue 15), on real profiles and SQLite files.

A copy of bob's profile taken at T holds his private prekeys of T. These tests show what it
opens after T (docs/security.md 2.9 and 4.1 (b)):

- bob's own rekey (``rekeying.rekey``, what ``smallsocial rekey`` runs) rotates his prekey
  first: the copy opens none of its entries, nor anything later (the CLI over real nodes is
  in tests/node/test_heal_nodes.py);
- a rekey by someone else is sealed to the prekey of T, and the copy opens it; once it opened
  a new epoch and that prekey is a day old, bob's refresh replaces it, and the next rekey is
  closed to the copy;
- ``rekey_all`` heals every circle at once;
- the rotation policy itself, with an injected clock: a day's floor, once per use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from protocol import crypto, fork, messages, records
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.node import prekeys, rekeying
from protocol.node.profile import Profile
from protocol.rekeysched import Scheduler
from tests.node.test_forward_secrecy import DAY, Clock, _copy, circle_of, stolen_identity, sync

pytestmark = pytest.mark.timeout(120)


def now_rekey(p: Profile, cid: bytes) -> records.Record:
    """The rekey that opened the circle's current epoch, as ``p`` sees it."""
    cur = p.view(cid).roster.current_epoch
    assert cur is not None
    (rec,) = [r for r in p.store.load_records(cid, records.REKEY) if r.id == cur.id]
    return rec


def copy_opens(stolen: Profile, thief: Identity, rekey: records.Record) -> int:
    """How many of the rekey's entries (anyone's) open with what the copy holds: every private
    prekey in it, and the identity key."""
    opened = 0
    for _, sealed in rekey.body["ks"]:
        try:
            fork.open_sealed(bytes(sealed), thief, stolen.private_prekeys())
        except ProtocolError:
            continue
        opened += 1
    return opened


def copy_reads(stolen: Profile, thief: Identity, relay: Profile, cid: bytes, rec: records.Record) -> bool:
    """Whether the message opens with an epoch key in the copy, or with one the copy's keys open
    from any rekey in ``relay``'s store (a relay, or any member, serves them all)."""
    return copy_reads_with(stolen, thief, relay.store.load_records(cid, records.REKEY), cid, rec)


def copy_reads_with(
    stolen: Profile, thief: Identity, rekeys: Iterable[records.Record], cid: bytes, rec: records.Record
) -> bool:
    """:func:`copy_reads` with the rekeys a relay serves given."""
    keys = list(stolen.epoch_keys(cid).values())
    for rekey in rekeys:
        for _, sealed in rekey.body["ks"]:
            try:
                keys.append(fork.open_sealed(bytes(sealed), thief, stolen.private_prekeys()))
            except ProtocolError:
                continue
    for key in keys:
        try:
            messages.open_message(rec, key)
        except ProtocolError:
            continue
        return True
    return False


def everyone(people: list[Profile], cid: bytes) -> None:
    """Each to the first and back, twice: all hold the same records."""
    for _ in range(2):
        for p in people[1:]:
            sync(people[0], p, cid)


def test_bobs_rekey_seals_his_entry_to_a_fresh_prekey_the_copy_does_not_hold(tmp_path: Path) -> None:
    clock = Clock()
    people, cid = circle_of(tmp_path, clock, ["alice", "bob", "carol"])
    alice, bob, carol = people
    for p in people:
        p.refresh_prekeys()
    everyone(people, cid)
    clock.t += 60
    alice.remove(cid, carol.me)  # an epoch sealed to bob's prekey: the copy will hold its key
    alice.send_text(cid, "before the theft")
    everyone([alice, bob], cid)
    thief = stolen_identity(bob)
    stolen = _copy(bob, tmp_path / "stolen", clock)  # T
    assert copy_reads(stolen, thief, alice, cid, alice.store.load_records(cid, records.MSG)[-1])
    held = set(stolen.private_prekeys())
    clock.t += 60  # a minute later: bob's prekey is young, and it is rotated all the same
    result = rekeying.rekey(bob, cid)
    assert (result.epoch, result.keys) == (2, 2)
    everyone([alice, bob], cid)
    healing = now_rekey(alice, cid)
    assert healing.author == bob.me
    assert copy_opens(stolen, thief, healing) == 0
    alice.send_text(cid, "after the healing rekey")
    everyone([alice, bob], cid)
    assert [e.text for e in bob.log(cid)][-1] == "after the healing rekey"
    after = alice.store.load_records(cid, records.MSG)[-1]
    assert not copy_reads(stolen, thief, alice, cid, after)
    assert bob.private_prekeys()[0] not in held  # the newest was made after T
    assert len(bob.store.prekeys()) == 2 and bob.store.prekeys()[1][4] is not None  # the old one replaced
    assert alice.view(cid).roster.prekeys[bob.me].key == bob.store.prekeys()[0][0]
    for p in (stolen, *people):
        p.close()


def test_a_rekey_by_another_member_is_sealed_to_the_copys_prekey_until_bob_rotates(
    tmp_path: Path,
) -> None:
    clock = Clock()
    people, cid = circle_of(tmp_path, clock, ["alice", "bob", "carol"])
    alice, bob, carol = people
    rekeying.set_schedule(alice, cid, 1, 1000)  # daily scheduled rekeys
    for p in people:
        p.refresh_prekeys()
    everyone(people, cid)
    carols = rekeying.Rekeyer(carol, Scheduler(jitter_s=0, join_jitter_s=0))
    assert carols.due(clock.t)  # the joins' epoch travelled in tokens: rekeyed at once
    everyone(people, cid)
    thief = stolen_identity(bob)
    stolen = _copy(bob, tmp_path / "stolen", clock)  # T
    mine = bob.store.prekeys()[0][0]

    clock.t += DAY + 60
    # (bob's node has not run its refresh since: carol's scheduled rekey comes first)
    assert [r.epoch for r in carols.due(clock.t)] == [2]  # the scheduled rekey, a day on
    everyone(people, cid)
    first = now_rekey(bob, cid)
    assert copy_opens(stolen, thief, first) == 1  # bob's entry: sealed to the prekey of T (the limit)
    carol.send_text(cid, "under the epoch after T")
    everyone(people, cid)
    assert copy_reads(stolen, thief, carol, cid, carol.store.load_records(cid, records.MSG)[-1])

    made = bob.refresh_prekeys()  # what bob's node does within PREKEY_REFRESH_S
    again = bob.refresh_prekeys()
    everyone(people, cid)
    clock.t += DAY + 60
    assert [r.epoch for r in carols.due(clock.t)] == [3]
    everyone(people, cid)
    second = now_rekey(bob, cid)
    assert copy_opens(stolen, thief, second) == 0
    carol.send_text(cid, "after the rotation")
    everyone(people, cid)
    assert [e.text for e in bob.log(cid)][-1] == "after the rotation"
    assert not copy_reads(stolen, thief, carol, cid, carol.store.load_records(cid, records.MSG)[-1])
    assert [r.type for r in made] == [records.PREKEY] and bob.store.prekeys()[1][0] == mine
    assert again == []  # the new one is unused yet: once per use
    for p in (stolen, *people):
        p.close()


def test_rekey_all_heals_every_circle(tmp_path: Path) -> None:
    clock = Clock()
    people, cid = circle_of(tmp_path, clock, ["alice", "bob"])
    alice, bob = people
    other = bob.new_circle("work").circle_id
    alice.join_token(bob.invite(other, alice.me))
    for _ in range(2):
        sync(bob, alice, other)
    for p in people:
        p.refresh_prekeys()
    for c in (cid, other):
        everyone(people, c)
    thief = stolen_identity(bob)
    stolen = _copy(bob, tmp_path / "stolen", clock)
    clock.t += 60
    done = rekeying.rekey_all(bob)
    assert sorted(r.name for r in done) == ["friends", "work"]
    fresh = bob.store.prekeys()[0][0]
    for c in (cid, other):
        everyone(people, c)
        assert copy_opens(stolen, thief, now_rekey(alice, c)) == 0
        alice.send_text(c, "after rekey --all")
        everyone(people, c)
        assert [e.text for e in bob.log(c)][-1] == "after rekey --all"
        assert not copy_reads(stolen, thief, alice, c, alice.store.load_records(c, records.MSG)[-1])
        assert alice.view(c).roster.prekeys[bob.me].key == fresh  # one prekey, in both circles
    assert fresh not in [pk for pk, *_ in stolen.store.prekeys()]
    for p in (stolen, *people):
        p.close()


def test_rotation_policy_a_day_floor_once_per_use_and_scheduled_rekeys_rotate_old_prekeys(
    tmp_path: Path,
) -> None:
    clock = Clock()
    people, cid = circle_of(tmp_path, clock, ["alice", "bob"])
    alice, bob = people
    assert bob.refresh_prekeys() == []  # his join carried his first prekey
    everyone(people, cid)

    def newest() -> bytes:
        return bob.store.prekeys()[0][0]

    p0 = newest()
    clock.t += 2 * DAY
    assert bob.refresh_prekeys() == [] and newest() == p0  # two days old, never sealed to
    rekeying.rekey(alice, cid)
    everyone(people, cid)
    clock.t += 60
    assert bob.refresh_prekeys() != [] and newest() != p0  # used, and over a day old
    p1 = newest()
    everyone(people, cid)
    rekeying.rekey(alice, cid)  # sealed to p1, a minute old
    everyone(people, cid)
    clock.t += DAY - 120
    assert bob.refresh_prekeys() == [] and newest() == p1  # used, but under a day old
    clock.t += 120
    assert len(bob.refresh_prekeys()) == 1 and newest() != p1  # now a day old
    p2 = newest()
    everyone(people, cid)
    # bob's own scheduled rekeys rotate first only when his prekey is a day old
    rekeying.rekey(bob, cid, prekeys.USED_S)
    assert newest() == p2
    clock.t += DAY
    rekeying.rekey(bob, cid, prekeys.USED_S)
    assert newest() != p2
    # two rekeys on demand within one millisecond: two prekeys, the roster keeps the second
    rekeying.rekey(bob, cid)
    rekeying.rekey(bob, cid)
    rows = bob.store.prekeys()
    assert rows[0][2] > rows[1][2] and rows[0][4] is None and rows[1][4] is not None
    assert bob.view(cid).roster.prekeys[bob.me].key == rows[0][0]
    entry = next(bytes(s) for k, s in now_rekey(bob, cid).body["ks"] if bytes(k) == bob.me)
    private = prekeys.private_keys(bob.store, bob.storage_key)[0]
    assert len(crypto.unseal_with_prekey(private, entry)) == crypto.KEY_SIZE
    for p in people:
        p.close()
