"""A sync answer's batch through the node core (``BatchReceived``): the same verdicts as one
record at a time, members' messages written in one statement, and many told as one event."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from protocol import messages, records
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.node import api
from protocol.node.core import BULK, NodeCore
from protocol.node.events import BatchReceived, Committed, Emit, RecordReceived
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from protocol.records import Record

pytestmark = pytest.mark.timeout(60)
PEER = Identity.generate().peer_id


def events(out: list[object]) -> list[api.Event]:
    return [e.event for e in out if isinstance(e, Emit)]


def rows(p: Profile, c: bytes) -> tuple[set[bytes], set[bytes], set[bytes]]:
    """What a profile's store holds of a circle: chain, conflicts, held."""
    chain = {bytes(r[0]) for r in p.store.db.execute("SELECT id FROM records WHERE circle = ?", (c,))}
    conflicts = {records.record_id(raw) for raw in p.store.conflicts(c)}
    return chain, conflicts, {records.record_id(raw) for raw in p.store.held(c)}


def twin(p: Profile, where: Path) -> Profile:
    """A second copy of a profile (its directory copied while closed)."""
    root = p.paths.root
    p.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(root, where)
    return Profile.open(ProfilePaths(where))


def forged_second(author: Profile, c: bytes, at: Record) -> Record:
    """Another record signed by ``author`` for the chain position ``at`` already has."""
    view = author.view(c)
    epoch = view.roster.current_epoch
    assert epoch is not None
    key = author.epoch_keys(c)[epoch.id]
    content = messages.Content(messages.TEXT, 1, "the other version")
    return messages.seal(author.identity, c, ChainPos(at.seq, at.prev), epoch.id, key, content)


def test_many_messages_are_stored_together_and_told_once(
    world: tuple[Profile, Profile, Profile, bytes],
) -> None:
    alice, bob, _, c = world
    core = NodeCore(alice)
    batch = tuple(bob.send_text(c, f"missed {i}") for i in range(BULK + 4))
    out = core.handle(BatchReceived(batch, PEER), 1.0)
    assert [e.record for e in out if isinstance(e, Committed)] == list(batch)
    assert events(out) == [api.MessagesArrived(c, len(batch))]  # not a MessageReceived each
    assert {r.id for r in batch} <= rows(alice, c)[0]
    assert [e.text for e in alice.log(c)][-3:] == [f"missed {i}" for i in range(BULK + 1, BULK + 4)]
    assert core.handle(BatchReceived(batch, PEER), 2.0) == []  # all duplicates: nothing


def test_a_few_messages_keep_their_own_events(world: tuple[Profile, Profile, Profile, bytes]) -> None:
    alice, bob, carol, c = world
    core = NodeCore(alice)
    batch = (*(bob.send_text(c, f"b{i}") for i in range(BULK - 2)), carol.send_text(c, "c0"))
    out = core.handle(BatchReceived(batch, PEER), 1.0)
    got = [ev for ev in events(out) if isinstance(ev, api.MessageReceived)]
    assert [ev.text for ev in got] == [*(f"b{i}" for i in range(BULK - 2)), "c0"]


def test_a_batch_gives_the_verdicts_one_at_a_time_gives(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    """Stored, equivocation kept as evidence, a stranger's record dropped, a gap held: the batch
    path leaves the store and the view exactly as the record-at-a-time path does."""
    alice, bob, carol, c = world
    alice2 = twin(alice, tmp_path / "alice2")
    try:
        mine = [bob.send_text(c, f"m{i}") for i in range(BULK + 2)]
        other = forged_second(bob, c, mine[5])
        ahead = [carol.send_text(c, f"c{i}") for i in range(3)][1:]  # carol's first is missing
        epoch = alice.view(c).roster.current_epoch
        assert epoch is not None
        mallory = Identity.generate()  # not a member, with the circle's key (a removed member's, say)
        content = messages.Content(messages.TEXT, 1, "let me in")
        forged = messages.seal(mallory, c, ChainPos(), epoch.id, alice.epoch_keys(c)[epoch.id], content)
        batch = (*mine, other, *ahead, forged)
        one, many = NodeCore(alice), NodeCore(alice2)
        singly: list[object] = []
        for r in batch:
            singly += one.handle(RecordReceived(r, PEER), 1.0)
        together = many.handle(BatchReceived(batch, PEER), 1.0)
        assert rows(alice, c) == rows(alice2, c)
        assert other.id in rows(alice2, c)[1]  # kept as evidence
        assert forged.id not in rows(alice2, c)[0] | rows(alice2, c)[2]
        assert (
            alice.view(c).equivocators == alice2.view(c).equivocators
            and bob.me in alice2.view(c).equivocators
        )
        assert alice.view(c).held_seqs() == alice2.view(c).held_seqs()
        said = [type(ev) for ev in events(together)]
        assert api.Equivocated in said and api.RecordDropped in said and api.GapDetected in said
        drops = sorted(ev.reason for ev in events(singly) if isinstance(ev, api.RecordDropped))
        assert drops == sorted(ev.reason for ev in events(together) if isinstance(ev, api.RecordDropped))
        alice2.forget_views()  # and the view built again from the store agrees
        assert alice2.view(c).held_seqs() == alice.view(c).held_seqs()
    finally:
        alice2.close()


def test_a_batch_clears_what_the_held_area_kept_of_it(world: tuple[Profile, Profile, Profile, bytes]) -> None:
    alice, bob, _, c = world
    batch = tuple(bob.send_text(c, f"m{i}") for i in range(BULK))
    assert alice.store.hold(batch[3], "waiting", 0)
    NodeCore(alice).handle(BatchReceived(batch, PEER), 1.0)
    assert alice.store.held(c) == []
    assert batch[3].id in rows(alice, c)[0]


def test_a_batch_that_cannot_be_written_leaves_nothing(
    world: tuple[Profile, Profile, Profile, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, _, c = world
    before = rows(alice, c)
    batch = tuple(bob.send_text(c, f"m{i}") for i in range(BULK))

    def full(*_: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(alice.store, "add_records", full)
    with pytest.raises(sqlite3.OperationalError):
        NodeCore(alice).handle(BatchReceived(batch, PEER), 1.0)
    monkeypatch.undo()
    assert rows(alice, c) == before
    assert not {r.id for r in batch} & set(alice.view(c).records)  # the views were dropped
    out = NodeCore(alice).handle(BatchReceived(batch, PEER), 2.0)  # the next sync brings them
    assert len([e for e in out if isinstance(e, Committed)]) == len(batch)


def test_a_removal_after_messages_in_a_batch_purges_them_as_one_at_a_time_does(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    """The messages a batch holds back for one write are written before a record that reads
    the store (a removal's purge past the cut): otherwise they would outlive the purge."""
    alice, bob, _, c = world
    one, many = twin(alice, tmp_path / "one"), twin(alice, tmp_path / "many")
    try:
        mine = [bob.send_text(c, f"m{i}") for i in range(BULK + 2)]  # alice has not seen them
        before = set(alice.view(c).roster_records)
        alice.remove(c, bob.me)  # the cut: bob's join, the last of his alice holds
        removal = sorted(
            (r for i, r in alice.view(c).roster_records.items() if i not in before), key=lambda r: r.seq
        )
        batch = (*mine, *removal)
        for r in batch:
            NodeCore(one).handle(RecordReceived(r, PEER), 1.0)
        NodeCore(many).handle(BatchReceived(batch, PEER), 1.0)
        assert rows(one, c) == rows(many, c)
        assert not {r.id for r in mine} & rows(many, c)[0]
    finally:
        one.close()
        many.close()
