"""Roster checks that mutation testing found unguarded (issue 17).

A member who departs (removed, or leaving) takes their pending invitations with them:
the invitee can no longer join with one, while invitations by others stay usable.
"""

from __future__ import annotations

import pytest
from proto_kit import ALICE, BOB, CAROL, DAVE, EVE, World, roster_body

from protocol import actions, records
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import fold


def _depart(w: World, how: str) -> None:
    if how == "removed":
        w.remove(ALICE, BOB)
    else:
        w.add(actions.leave(BOB, w.roster, w.pos(BOB), 1_790_000_000_000))


def _join_after(w: World, who: Identity, inv: Record) -> Record:
    """``who``'s join citing ``inv``, made after all the view holds (so a departure is its ancestor)."""
    return records.sign(who, roster_body(who, w.cid, records.JOIN, heads=w.roster.heads, i=inv.id))


@pytest.mark.parametrize("how", ["removed", "left"])
def test_a_departed_members_pending_invite_is_revoked(world3: World, how: str) -> None:
    w = world3
    bobs = w.invite(BOB, DAVE)
    alices = w.invite(ALICE, EVE)
    _depart(w, how)
    state = w.roster
    assert BOB.public_key in state.departed and state.departed[BOB.public_key].kind == how
    assert state.invites[bobs.id].revoked
    assert not state.invites[alices.id].revoked

    dave_join = _join_after(w, DAVE, bobs)
    eve_join = _join_after(w, EVE, alices)
    after = fold(w.genesis, [*(r for r in w.history if r.is_roster), dave_join, eve_join])
    assert after.rejected[dave_join.id] == "the invitation was revoked"
    assert not after.is_member(DAVE.public_key)
    assert eve_join.id in after.accepted and after.is_member(EVE.public_key)


def test_a_used_invite_is_not_revoked_when_its_inviter_departs(world3: World) -> None:
    w = world3
    inv, join = w.invite_and_join(BOB, DAVE)
    w.remove(ALICE, BOB)
    state = w.roster
    assert state.invites[inv.id].used_by == join.id
    assert not state.invites[inv.id].revoked
    assert state.is_member(DAVE.public_key)


def test_an_invite_for_a_removed_invitee_is_revoked(world3: World) -> None:
    w = world3
    inv = w.invite(CAROL, DAVE)
    w.remove(ALICE, DAVE)  # removing someone invited but not yet joined
    assert w.roster.invites[inv.id].revoked
    join = _join_after(w, DAVE, inv)
    after = fold(w.genesis, [*(r for r in w.history if r.is_roster), join])
    assert after.rejected[join.id] == "the invitation was revoked"
