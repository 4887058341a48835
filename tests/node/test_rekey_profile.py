"""Rekeys on real profiles (SQLite stores, no network): protocol/node/rekeying.py.

- ``rekey`` and ``rekey_all``: a new epoch sealed to every member key, in the outbox; what is
  sent under it opens for the others once they have the records; one sentence for a circle
  I am not a member of.
- The facts the schedule reads: messages counted per epoch (starting over at each rekey), and
  an epoch's age from its rekey's time, or from when it was stored if that is earlier (a
  member who dates a rekey in the future does not put the next one off).
- :class:`Rekeyer` with an injected scheduler and clock rekeys a circle that is due, once.
"""

from __future__ import annotations

import pytest

from protocol import actions
from protocol.errors import RosterError
from protocol.node import rekeying
from protocol.rekeysched import DAY_MS, Scheduler
from tests.node.conftest import Circle

pytestmark = pytest.mark.timeout(60)


def test_rekey_seals_to_every_member_and_the_others_read_what_follows(world: Circle) -> None:
    alice, bob, carol, c = world
    got = rekeying.rekey(alice, c)
    assert (got.name, got.epoch, got.keys) == ("friends", 1, 3)
    assert alice.view(c).roster.current_epoch.number == 1  # type: ignore[union-attr]
    assert alice.view(c).roster.current_epoch.id in {rid for rid, _ in alice.store.outbox()}  # type: ignore[union-attr]
    alice.send_text(c, "under the new key")
    for friend in (bob, carol):
        friend.import_bundle(alice.export([c]))
        assert "under the new key" in [e.text for e in friend.log(c)]
    assert [r.epoch for r in rekeying.rekey_all(bob)] == [2]


def test_rekey_refuses_a_circle_i_am_not_in(world: Circle) -> None:
    alice, bob, _, c = world
    bob.leave(c)
    with pytest.raises(RosterError, match=r"You are not a member of friends\."):
        rekeying.rekey(bob, c)
    assert rekeying.rekey_all(bob) == ()
    with pytest.raises(RosterError, match=r"You are not a member of that circle\."):
        rekeying.rekey(alice, b"\x01" * 32)


def test_messages_are_counted_per_epoch_and_start_over_at_a_rekey(world: Circle) -> None:
    alice, bob, _, c = world
    counter = rekeying.Counter()
    f = rekeying.facts(alice, c, counter)
    assert f is not None and f.epoch == c and f.messages == 0
    for i in range(3):
        alice.send_text(c, f"a{i}")
    bob.import_bundle(alice.export([c]))
    bob.send_text(c, "b0")
    alice.import_bundle(bob.export([c]))
    assert rekeying.facts(alice, c, counter).messages == 4  # type: ignore[union-attr]
    rekeying.rekey(alice, c)
    alice.send_text(c, "after")
    f = rekeying.facts(alice, c, counter)
    assert f is not None and f.epoch != c and f.messages == 1


def test_a_rekey_dated_in_the_future_ages_from_when_it_came(world: Circle) -> None:
    alice, bob, _, c = world
    view = bob.view(c)
    far = int(bob.clock() * 1000) + 365 * DAY_MS
    rk = actions.rekey(bob.identity, view.roster, view.next_pos(bob.me), far)
    with bob.store.tx():
        bob.ledger.commit_own(rk.record)
    alice.import_bundle(bob.export([c]))
    f = rekeying.facts(alice, c, rekeying.Counter())
    assert f is not None and f.epoch == rk.record.id
    assert f.opened_ms <= int(alice.clock() * 1000)  # not a year ahead


def test_rekeyer_rekeys_a_due_circle_once_after_its_jitter(world: Circle) -> None:
    alice, bob, carol, c = world
    for friend in (bob, carol):  # their joins carried their prekeys: no wait for a prekey record
        assert friend.refresh_prekeys(c) == []
        assert friend.me in alice.view(c).roster.prekeys
    now = alice.clock()
    rekeying.set_schedule(alice, c, 7, 3)
    rekeyer = rekeying.Rekeyer(alice, Scheduler(rng=lambda: 0.5, jitter_s=10.0, join_jitter_s=10.0))
    assert rekeyer.due(now) == []  # due (the joins): waits 5 s
    assert rekeyer.wait_s(now) == pytest.approx(5.0)
    (done,) = rekeyer.due(now + 5)
    assert done.epoch == 1 and rekeyer.due(now + 60) == []
    for i in range(3):
        alice.send_text(c, f"m{i}")
    assert rekeyer.due(now + 61) == []
    assert [r.epoch for r in rekeyer.due(now + 66)] == [2]
    assert rekeyer.due(now + 200) == []
