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
from protocol.node.events import BatchReceived, Committed, Emit, Pull, RecordReceived
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


def test_bulk_starts_at_exactly_bulk_messages(world: tuple[Profile, Profile, Profile, bytes]) -> None:
    """One below ``BULK`` a batch's messages are told one by one; at ``BULK``, as one count."""
    assert BULK == 16  # named here: a test that only reads the constant adapts when it changes
    alice, bob, _, c = world
    core = NodeCore(alice)
    below = tuple(bob.send_text(c, f"below {i}") for i in range(BULK - 1))
    told = events(core.handle(BatchReceived(below, PEER), 1.0))
    assert [type(ev) for ev in told] == [api.MessageReceived] * (BULK - 1)
    at = tuple(bob.send_text(c, f"at {i}") for i in range(BULK))
    assert events(core.handle(BatchReceived(at, PEER), 2.0)) == [api.MessagesArrived(c, BULK)]


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


def _hostile_pool(alice: Profile, bob: Profile, carol: Profile, c: bytes) -> list[Record]:
    """Runs of messages that stop the batch's fast lane each in its own way, among plain ones."""
    mine = [bob.send_text(c, f"b{i}") for i in range(12)]
    view = bob.view(c)
    epoch = view.roster.current_epoch
    assert epoch is not None
    key = bob.epoch_keys(c)[epoch.id]
    content = messages.Content(messages.TEXT, 1, "a forged one")
    badlink = messages.seal(bob.identity, c, ChainPos(mine[-1].seq + 1, mine[3].id), epoch.id, key, content)
    after = messages.seal(bob.identity, c, ChainPos(badlink.seq + 1, badlink.id), epoch.id, key, content)
    at = ChainPos(after.seq + 1, after.id)
    unknown_epoch = messages.seal(bob.identity, c, at, b"\x07" * 32, key, content)
    theirs = [carol.send_text(c, f"c{i}") for i in range(6)]
    # the next seq but one, naming the head: held above a gap, not appended
    at = ChainPos(theirs[-1].seq + 2, theirs[-1].id)
    skip = messages.seal(carol.identity, c, at, epoch.id, key, content)
    mallory = Identity.generate()  # not a member, with the circle's key
    m1 = messages.seal(mallory, c, ChainPos(), epoch.id, key, content)
    m2 = messages.seal(mallory, c, ChainPos(2, m1.id), epoch.id, key, content)
    return [*theirs[1:], skip, *mine, badlink, after, unknown_epoch, m1, m2, *mine[:3], theirs[0]]


def _told(out: list[object]) -> int:
    """How many messages the effects tell the UI of (one by one, or in bulk)."""
    evs = events(out)
    return sum(isinstance(e, api.MessageReceived) for e in evs) + sum(
        e.count for e in evs if isinstance(e, api.MessagesArrived)
    )


@pytest.mark.parametrize("order", ["given", "by_author", "reversed", "shuffled"])
def test_the_fast_lane_gives_the_verdicts_one_at_a_time_gives(
    world: tuple[Profile, Profile, Profile, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
) -> None:
    """A batch's runs of one author's messages skip ``CircleView.add`` (``Ledger.commit_run``);
    gaps, a record skipping a seq, duplicates, a link naming another record, an epoch nobody
    holds and a stranger's messages, in any order, leave the store, the view and the effects exactly as
    one record at a time does."""
    import random

    from protocol.view import CircleView

    alice, bob, carol, c = world
    pool = _hostile_pool(alice, bob, carol, c)
    batch = {
        "given": pool,
        "by_author": sorted(pool, key=lambda r: (r.author, r.seq)),
        "reversed": pool[::-1],
        "shuffled": random.Random(12).sample(pool, len(pool)),
    }[order]
    one, many = twin(alice, tmp_path / "one"), twin(alice, tmp_path / "many")
    try:
        singly: list[object] = []
        for r in batch:
            singly += NodeCore(one).handle(RecordReceived(r, PEER), 1.0)
        adds = 0
        add = CircleView.add

        def counted(self: CircleView, record: Record) -> object:
            nonlocal adds
            adds += 1
            return add(self, record)

        monkeypatch.setattr(CircleView, "add", counted)
        together = NodeCore(many).handle(BatchReceived(tuple(batch), PEER), 1.0)
        monkeypatch.undo()
        if order == "by_author":
            assert adds < len(batch) - 5  # runs went by the fast lane
        assert rows(one, c) == rows(many, c)
        assert one.view(c).equivocators == many.view(c).equivocators
        assert bob.me in many.view(c).equivocators
        assert one.view(c).held_seqs() == many.view(c).held_seqs()
        assert one.view(c).chains.vector() == many.view(c).chains.vector()
        assert _told(singly) == _told(together)
        committed = [e.record.id for e in together if isinstance(e, Committed)]
        assert sorted(committed) == sorted(e.record.id for e in singly if isinstance(e, Committed))
        drops = sorted(ev.reason for ev in events(together) if isinstance(ev, api.RecordDropped))
        assert drops == sorted(ev.reason for ev in events(singly) if isinstance(ev, api.RecordDropped))
        many.forget_views()  # and the view built again from the store agrees
        assert many.view(c).held_seqs() == one.view(c).held_seqs()
        assert many.view(c).equivocators.keys() == one.view(c).equivocators.keys()  # (the wording may differ)
    finally:
        one.close()
        many.close()


def test_a_clean_run_goes_by_the_fast_lane_and_reads_back(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common case, many of one author's messages in order, stores what one at a time
    stores, and the chain a view builds again from the store is the same."""
    alice, bob, _, c = world
    one = twin(alice, tmp_path / "one")
    try:
        batch = tuple(bob.send_text(c, f"m{i}") for i in range(300))
        for r in batch:
            NodeCore(one).handle(RecordReceived(r, PEER), 1.0)
        from protocol.view import CircleView

        adds = list[Record]()
        add = CircleView.add
        monkeypatch.setattr(CircleView, "add", lambda self, r: adds.append(r) or add(self, r))
        out = NodeCore(alice).handle(BatchReceived(batch, PEER), 1.0)
        monkeypatch.undo()
        assert adds == [batch[0]]  # the first grants bob's right to post; the rest skip add
        assert [e.record for e in out if isinstance(e, Committed)] == list(batch)
        assert rows(alice, c) == rows(one, c)
        assert alice.view(c).chains.head(bob.me) == (batch[-1].seq, batch[-1].id)
        alice.forget_views()
        assert alice.view(c).chains.head(bob.me) == one.view(c).chains.head(bob.me)
        assert not alice.view(c).equivocators
    finally:
        one.close()


@pytest.mark.parametrize("filled", [True, False])
def test_a_run_below_a_record_held_above_tells_each_gap_as_one_at_a_time_does(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path, filled: bool
) -> None:
    """A returning member often gets the holder's newest record by gossip before sync brings
    the ones below it: the run below goes by the fast lane all the same, with the gap each
    record leaves told once for the batch (the count one at a time tells last) and pulled once,
    and the record that fills the gap delivering the one held above it."""
    alice, bob, _, c = world
    mine = [bob.send_text(c, f"m{i}") for i in range(BULK + 8)]
    top = mine[-1] if filled else mine.pop()  # unfilled: the one below it never comes
    if not filled:
        mine.pop()
    one, many = twin(alice, tmp_path / "one"), twin(alice, tmp_path / "many")
    try:
        for p in (one, many):
            NodeCore(p).handle(RecordReceived(top, PEER), 1.0)  # held above a gap
            p.forget_views()  # built again: the batch's first record goes the whole way, the rest by the lane
        batch = tuple(mine[:-1] if filled else mine)
        singly: list[object] = []
        for r in batch:
            singly += NodeCore(one).handle(RecordReceived(r, PEER), 1.0)
        together = NodeCore(many).handle(BatchReceived(batch, PEER), 1.0)

        def said(out: list[object]) -> tuple[list[object], dict[bytes, int], set[object]]:
            """What was committed, the last gap told per author, the pulls asked."""
            gaps = [e.event for e in out if isinstance(e, Emit) and isinstance(e.event, api.GapDetected)]
            committed = [e.record for e in out if isinstance(e, Committed)]
            return committed, {g.author: g.missing for g in gaps}, {e for e in out if isinstance(e, Pull)}

        assert said(together) == said(singly)
        told = [e for e in together if isinstance(e, Emit) and isinstance(e.event, api.GapDetected)]
        assert len(told) == 1  # once for the batch, not once a record
        assert any(isinstance(e, Emit) and isinstance(e.event, api.GapDetected) for e in together)
        assert rows(one, c) == rows(many, c)
        assert one.view(c).chains.vector() == many.view(c).chains.vector()
        assert one.view(c).held_seqs() == many.view(c).held_seqs()
        assert _told(singly) == _told(together)
    finally:
        one.close()
        many.close()
