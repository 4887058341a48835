"""History carried into a fork, on real profiles (SQLite stores, offline bundles as sync).

alice forks ``friends`` with bob carrying the last N messages: the child shows exactly those,
with their original authors, times and ids, marked as carried, before the child's own
messages; bob reads them once he accepts and syncs. ``history=none`` stays as before. A
carry record that does not check out reaches bob like any record, is logged and shows nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from protocol import carry, crypto, records, wire
from protocol.node.profile import Profile
from tests.attacks.spec_kit import circle, share

LAST = carry.HistoryChoice("last", 3)


def _chat(tmp: Path) -> tuple[list[Profile], bytes]:
    (alice, bob, carol), cid = circle(tmp, "alice", "bob", "carol")
    for p in (bob, carol):  # one clock, so the conversation's order is the order written
        p.clock = p.ledger.clock = alice.clock
    for who, text in [(alice, "a1"), (bob, "b1"), (carol, "c1"), (alice, "a2"), (bob, "b2"), (carol, "c2")]:
        who.send_text(cid, text)
    for p in (bob, carol):
        share(p, alice, cid)
    return [alice, bob, carol], cid


def test_fork_with_last_n_carries_exactly_n_and_an_invitee_reads_them(tmp_path: Path) -> None:
    (alice, bob, carol), cid = _chat(tmp_path)
    # bob deletes his last message and carol edits hers: the deleted one is not carried.
    b2 = next(e for e in alice.log(cid) if e.text == "b2")
    c2 = next(e for e in alice.log(cid) if e.text == "c2")
    bob.send(cid, _change("delete", bob, b2.id))
    carol.send(cid, _change("edit", carol, c2.id, "c2, edited"))
    share(bob, alice, cid)
    share(carol, alice, cid)
    parent_log = alice.log(cid)
    readable = [e for e in parent_log if not e.deleted]
    assert [e.text for e in readable] == ["a1", "b1", "c1", "a2", "c2, edited"]

    child = alice.fork(cid, "side", [bob.me], history=LAST)
    alice.send_text(child, "the child's own first message")
    mine = alice.log(child)
    carried = [e for e in mine if e.carried_from is not None]
    assert len(carried) == 3
    assert [(e.id, e.author, e.ts, e.seq, e.text) for e in carried] == [
        (e.id, e.author, e.ts, e.seq, e.text) for e in readable[-3:]
    ]
    assert carried[-1].edited and all(e.carried_from == cid for e in carried)
    assert [e.text for e in mine] == ["c1", "a2", "c2, edited", "the child's own first message"]
    assert mine[-1].carried_from is None

    # bob: the fork invitation comes with the parent; he accepts, syncs, reads the same.
    share(alice, bob, cid)
    bob.accept_fork(child)
    assert bob.log(child) == []  # nothing synced yet
    share(alice, bob, child)
    assert [(e.id, e.author, e.ts, e.text, e.carried_from) for e in bob.log(child)] == [
        (e.id, e.author, e.ts, e.text, e.carried_from) for e in mine
    ]
    bob.send_text(child, "bob in the child")
    assert [e.text for e in bob.log(child)][-2:] == ["the child's own first message", "bob in the child"]
    assert carol.store.circle(child) is None  # not invited


def _change(kind: str, who: Profile, ref: bytes, text: str | None = None):  # type: ignore[no-untyped-def]
    from protocol import messages

    return messages.Content(kind, int(who.clock() * 1000), text, ref)


def test_fork_without_history_starts_empty_as_before(tmp_path: Path) -> None:
    (alice, bob, _), cid = _chat(tmp_path)
    child = alice.fork(cid, "side", [bob.me])
    assert alice.store.load_records(child, records.CARRY) == []
    assert alice.log(child) == []
    child2 = alice.fork(cid, "side 2", [bob.me], history=carry.NO_HISTORY)
    assert alice.store.load_records(child2, records.CARRY) == []


def test_fork_with_all_and_days(tmp_path: Path) -> None:
    (alice, bob, _), cid = _chat(tmp_path)
    every = alice.fork(cid, "all", [bob.me], history=carry.HistoryChoice("all"))
    assert [e.text for e in alice.log(every)] == ["a1", "b1", "c1", "a2", "b2", "c2"]
    recent = alice.fork(cid, "days", [bob.me], history=carry.HistoryChoice("days", 1))
    assert len(alice.log(recent)) == 6  # all were written within the day
    alice.clock.t += 3 * 86400  # type: ignore[attr-defined]
    later = alice.fork(cid, "later", [bob.me], history=carry.HistoryChoice("days", 2))
    assert alice.log(later) == []


def _forged_carry(
    alice: Profile, child: bytes, parent: bytes, items: list[tuple[bytes, bytes]]
) -> records.Record:
    view = alice.view(child)
    pos = view.next_pos(alice.me)
    key = alice.epoch_keys(child)[child]
    n = crypto.random_bytes(crypto.NONCE_SIZE)
    aad = carry.associated_data(alice.me, child, pos.seq, pos.prev, child)
    body = {
        "t": records.CARRY,
        "a": alice.me,
        "c": child,
        "q": pos.seq,
        "p": pos.prev,
        "ts": 1,
        "e": child,
        "n": n,
        "x": crypto.aead_encrypt(key, wire.encode({"pc": parent, "it": [[r, k] for r, k in items]}), n, aad),
    }
    return records.sign(alice.identity, body)


def test_a_forged_carry_record_reaches_a_member_is_logged_and_shows_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (alice, bob, _), cid = _chat(tmp_path)
    child = alice.fork(cid, "side", [bob.me], history=carry.HistoryChoice("last", 1))
    msgs = [r for r in alice.store.load_records(cid, records.MSG)]
    keys = alice.epoch_keys(cid)
    good = msgs[0]
    reveal = carry.reveal_key(keys[bytes(good.body["e"])], good)
    body_bytes, _ = wire.decode(good.raw, records.MAX_RECORD_SIZE)
    forged_sig = wire.encode([body_bytes, bytes(64)])
    for items in ([(forged_sig, reveal)], [(good.raw, bytes(32))], [(msgs[1].raw, reveal)]):
        alice.ledger.commit_own(_forged_carry(alice, child, cid, items))  # the view cannot open it
    share(alice, bob, cid)
    bob.accept_fork(child)
    with caplog.at_level(logging.WARNING, logger="protocol.node.carrying"):
        share(alice, bob, child)
        shown = bob.log(child)
    assert len(bob.store.load_records(child, records.CARRY)) == 4  # kept: the founder's chain stays whole
    assert len(shown) == 1 and shown[0].carried_from == cid  # only the honest one
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3
    assert any("signature" in m for m in refused) and any("revealed key" in m for m in refused)
