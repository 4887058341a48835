"""The reference fold's member cap, epochs and relays at their edges (issue 17, mutation guards).

``MAX_MEMBERS`` is lowered to 4 here so that "full" is a few records away: members
plus the distinct keys holding an open invitation take the slots; a used or revoked
invitation frees its slot, and a key that already holds one may be invited again.
"""

from __future__ import annotations

import pytest
from proto_kit import ADDR, ALICE, BOB, CAROL, DAVE, EVE, MALLORY, NOW_MS, NOW_S, World, nonce16, roster_body

from protocol import actions, records, schema
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import RosterState, fold


@pytest.fixture
def cap4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "MAX_MEMBERS", 4)


def _raw_invite(w: World, who: Identity) -> Record:
    """Alice's invite for ``who`` after everything held, built without the builders' checks."""
    body = roster_body(
        ALICE, w.cid, records.INVITE, heads=w.roster.heads, seq=50, prev=b"\x01" * 32,
        k=who.public_key, r="member", x=NOW_S + 3600, n=nonce16(), e=w.cid,
    )  # fmt: skip
    return records.sign(ALICE, body)


def _with(w: World, *extra: Record) -> RosterState:
    return fold(w.genesis, [*(r for r in w.history if r.is_roster), *extra])


@pytest.mark.usefixtures("cap4")
def test_the_last_slot_can_be_given_and_then_the_circle_is_full(world3: World) -> None:
    w = world3  # alice, bob, carol: 3 slots
    dave_inv = _raw_invite(w, DAVE)
    state = _with(w, dave_inv)
    assert dave_inv.id in state.accepted  # the 4th slot
    w.add(dave_inv)
    eve_inv = _raw_invite(w, EVE)
    assert _with(w, eve_inv).rejected[eve_inv.id] == "the circle is full"
    again = _raw_invite(w, DAVE)  # dave already holds a slot
    assert again.id in _with(w, again).accepted


@pytest.mark.usefixtures("cap4")
def test_used_and_revoked_invitations_free_their_slot(world3: World) -> None:
    w = world3
    w.add(_raw_invite(w, DAVE))
    w.remove(ALICE, DAVE)  # invited, never joined: the invitation is revoked
    eve_inv = _raw_invite(w, EVE)
    assert eve_inv.id in _with(w, eve_inv).accepted
    # Members who joined through an invitation take one slot each, not two.
    assert len(w.roster.members) == 3


def test_removing_a_key_nobody_invited_is_refused_even_with_an_open_invite(world3: World) -> None:
    w = world3
    w.invite(ALICE, DAVE)  # open, for dave
    body = roster_body(
        ALICE, w.cid, records.REMOVE, heads=w.roster.heads, seq=50, prev=b"\x01" * 32,
        k=MALLORY.public_key, s=0, sh=None,
    )  # fmt: skip
    rm = records.sign(ALICE, body)
    assert _with(w, rm).rejected[rm.id] == "the key is not in the circle"


def test_a_rekey_holds_each_recipients_sealed_key(world3: World) -> None:
    w = world3
    rk = w.rekey(ALICE)
    cur = w.roster.current_epoch
    assert cur is not None and cur.id == rk.record.id
    for who in (ALICE, BOB, CAROL):
        assert who.unseal(cur.sealed[who.public_key]) == rk.key
    assert cur.holders == {ALICE.public_key, BOB.public_key, CAROL.public_key}


def test_pinning_a_departed_member_as_a_relay_clears_the_departure(world3: World) -> None:
    w = world3
    w.remove(ALICE, BOB)
    assert BOB.public_key in w.roster.departed
    w.add(actions.pin(ALICE, w.roster, w.pos(ALICE), BOB.public_key, [ADDR], NOW_MS))
    assert BOB.public_key in w.roster.relays
    assert BOB.public_key not in w.roster.departed


def test_a_join_beside_its_invite_is_refused_even_when_the_invite_comes_first(world: World) -> None:
    w = world
    inv = w.invite(ALICE, DAVE)
    # A join that cites only the genesis: concurrent with its invite, not after it.
    for ts in range(NOW_MS, NOW_MS + 200):
        join = records.sign(DAVE, roster_body(DAVE, w.cid, records.JOIN, heads=[w.cid], ts=ts, i=inv.id))
        if join.id > inv.id:  # the invite is first in the canonical order
            break
    state = _with(w, join)
    assert state.rejected[join.id] == "does not cite its invitation among its ancestors"
    assert not state.is_member(DAVE.public_key)


def test_an_epochs_repr_leaves_out_the_sealed_keys(world3: World) -> None:
    rk = world3.rekey(ALICE)
    epoch = world3.roster.epochs[rk.record.id]
    assert epoch.sealed and "sealed" not in repr(epoch)
