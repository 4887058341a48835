"""The roster fold: who is in, with which role, which epoch is current, and that it
is a function of the *set* of roster records (never of their arrival order)."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proto_kit import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    MALLORY,
    NOW_MS,
    NOW_S,
    World,
    ident,
    new_world,
    nonce16,
    roster_body,
    stored,
)

from protocol import actions, circle, crypto, records, wire
from protocol.chain import ChainPos
from protocol.errors import RosterError
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import RosterState, fold
from protocol.view import CircleView, Dropped, Held

RELAY = ident(50)


def hand(w: World, author: Identity, t: str, **fields: object) -> Record:
    """A roster record built by hand from ``w``'s current view (no builder checks)."""
    pos = w.pos(author)
    return records.sign(
        author, roster_body(author, w.cid, t, heads=w.roster.heads, seq=pos.seq, prev=pos.prev, **fields)
    )


def test_founder_only_roster(world: World) -> None:
    s = world.roster
    a = ALICE.public_key
    assert list(s.members) == [a]
    m = s.members[a]
    assert (m.role, m.invited_by, m.since) == ("admin", None, world.cid)
    assert s.founder == a and s.circle_id == world.cid and s.invite_policy == "member"
    assert s.current_epoch is not None
    assert (s.current_epoch.id, s.current_epoch.number, s.current_epoch.holders) == (
        world.cid,
        0,
        frozenset({a}),
    )
    assert s.heads == (world.cid,)
    assert s.accepted == frozenset() and s.pending == frozenset() and dict(s.rejected) == {}
    assert s.roster_hash == crypto.blake2b256(wire.encode([]))
    assert not s.needs_rekey
    assert s.may_invite(a) and s.may_admin(a)
    assert s.recipients() == [a]
    assert circle.open_name(world.keys[world.cid], world.genesis) == "friends"


def test_invite_then_join(world: World) -> None:
    inv = world.invite(ALICE, BOB)
    s = world.roster
    assert not s.is_member(BOB.public_key)
    i = s.invites[inv.id]
    assert (i.inviter, i.invitee, i.role, i.epoch, i.used_by) == (
        ALICE.public_key,
        BOB.public_key,
        "member",
        world.cid,
        None,
    )
    assert i.expires == NOW_S + 3600
    # The invitee is handed the epoch the invite names (the token carries its key).
    assert BOB.public_key in s.epochs[world.cid].holders
    assert s.heads == (inv.id,)

    join = world.join(BOB, inv)
    s = world.roster
    m = s.members[BOB.public_key]
    assert (m.role, m.invited_by, m.since) == ("member", ALICE.public_key, join.id)
    assert s.invites[inv.id].used_by == join.id
    assert s.heads == (join.id,)
    assert s.accepted == {inv.id, join.id}
    assert s.roster_hash == crypto.blake2b256(wire.encode(sorted([inv.id, join.id])))
    assert s.role(BOB.public_key) == "member" and s.may_invite(BOB.public_key)
    assert not s.may_admin(BOB.public_key)
    assert not s.needs_rekey


def test_remove_and_rekey(world3: World) -> None:
    w = world3
    rm, rk = w.remove(ALICE, CAROL)
    s = w.roster
    assert set(s.members) == {ALICE.public_key, BOB.public_key}
    d = s.departed[CAROL.public_key]
    assert (d.kind, d.by, d.record, d.cut) == ("removed", ALICE.public_key, rm.id, 1)
    assert s.current_epoch is not None
    assert (s.current_epoch.id, s.current_epoch.number) == (rk.record.id, 1)
    assert rk.record.body["pe"] == w.cid
    assert [bytes(k) for k, _ in rk.record.body["ks"]] == sorted([ALICE.public_key, BOB.public_key])
    assert rk.record.heads == (rm.id,)
    assert not s.needs_rekey
    # A second rekey goes on to epoch 2, built on epoch 1.
    rk2 = w.rekey(BOB)
    cur = w.roster.current_epoch
    assert cur is not None and (cur.id, cur.number) == (rk2.record.id, 2)
    assert rk2.record.body["pe"] == rk.record.id
    sealed = {bytes(k): bytes(v) for k, v in rk2.record.body["ks"]}
    assert ALICE.unseal(sealed[ALICE.public_key]) == rk2.key


def test_remove_is_refused_locally_when_not_allowed(world3: World) -> None:
    w = world3
    with pytest.raises(RosterError, match="Only admins"):
        actions.remove(BOB, w.roster, w.pos(BOB), CAROL.public_key, 1, NOW_MS)
    with pytest.raises(RosterError, match="founder cannot be removed"):
        actions.remove(ALICE, w.roster, w.pos(ALICE), ALICE.public_key, 0, NOW_MS)
    with pytest.raises(RosterError, match="not in this circle"):
        actions.remove(ALICE, w.roster, w.pos(ALICE), MALLORY.public_key, 0, NOW_MS)


def test_pending_invitee_can_be_removed(world3: World) -> None:
    w = world3
    inv = w.invite(ALICE, DAVE)
    w.remove(ALICE, DAVE)
    s = w.roster
    assert s.invites[inv.id].revoked
    assert s.departed[DAVE.public_key].kind == "removed"
    late = actions.join(DAVE, inv, ChainPos(), NOW_MS)
    assert fold(w.genesis, [*w.history, late]).rejected[late.id] in {
        "the invitation was revoked",
        "its author was removed or left concurrently",
    }


def test_leave(world3: World) -> None:
    w = world3
    lv = actions.leave(BOB, w.roster, w.pos(BOB), NOW_MS)
    w.add(lv)
    s = w.roster
    assert not s.is_member(BOB.public_key)
    d = s.departed[BOB.public_key]
    assert (d.kind, d.by, d.cut) == ("left", BOB.public_key, lv.seq)
    # Bob held epoch 0, so it is no longer safe: the circle needs a rekey before anyone sends.
    assert s.current_epoch is None and s.needs_rekey
    with pytest.raises(RosterError, match="needs a rekey"):
        actions.invite(ALICE, s, w.pos(ALICE), DAVE.public_key, NOW_MS)
    with pytest.raises(RosterError, match="not a member"):
        actions.leave(BOB, s, w.pos(BOB), NOW_MS)
    rk = w.rekey(CAROL)
    assert w.roster.current_epoch is not None and w.roster.current_epoch.id == rk.record.id
    assert w.roster.recipients() == sorted([ALICE.public_key, CAROL.public_key])


def test_founder_may_leave(world3: World) -> None:
    w = world3
    w.add(actions.leave(ALICE, w.roster, w.pos(ALICE), NOW_MS))
    assert not w.roster.is_member(ALICE.public_key)
    assert w.roster.founder == ALICE.public_key
    assert w.roster.departed[ALICE.public_key].kind == "left"


def test_role_change(world3: World) -> None:
    w = world3
    with pytest.raises(RosterError, match="Only admins"):
        actions.change_role(BOB, w.roster, w.pos(BOB), CAROL.public_key, "admin", NOW_MS)
    with pytest.raises(RosterError, match="founder's role cannot change"):
        actions.change_role(ALICE, w.roster, w.pos(ALICE), ALICE.public_key, "member", NOW_MS)
    with pytest.raises(RosterError, match="not a member of this circle"):
        actions.change_role(ALICE, w.roster, w.pos(ALICE), MALLORY.public_key, "admin", NOW_MS)
    with pytest.raises(RosterError, match="already a member"):
        actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "member", NOW_MS)
    with pytest.raises(RosterError, match="member or admin"):
        actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "owner", NOW_MS)
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    assert w.roster.role(BOB.public_key) == "admin" and w.roster.may_admin(BOB.public_key)
    assert w.roster.members[BOB.public_key].invited_by == ALICE.public_key  # history kept
    # Now bob can do what only admins can.
    w.remove(BOB, CAROL)
    assert not w.roster.is_member(CAROL.public_key)
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "member", NOW_MS))
    assert not w.roster.may_admin(BOB.public_key)


def test_pin_relay(world3: World) -> None:
    w = world3
    addrs = ["/ip4/127.0.0.1/tcp/4002", "/ip4/127.0.0.1/udp/4002/quic-v1"]
    pin = actions.pin(BOB, w.roster, w.pos(BOB), RELAY.public_key, addrs, NOW_MS)
    w.add(pin)
    s = w.roster
    r = s.relays[RELAY.public_key]
    assert (r.addrs, r.pinned_by, r.record) == (tuple(addrs), BOB.public_key, pin.id)
    assert s.role(RELAY.public_key) == "relay" and not s.is_member(RELAY.public_key)
    assert RELAY.public_key not in s.recipients()  # a relay never gets an epoch key
    with pytest.raises(RosterError, match="cannot also be"):
        actions.pin(ALICE, s, w.pos(ALICE), BOB.public_key, addrs, NOW_MS)
    w.remove(ALICE, RELAY)
    assert RELAY.public_key not in w.roster.relays


def test_who_may_sync_and_who_may_learn_of_the_circle(world3: World) -> None:
    w = world3
    w.add(actions.pin(BOB, w.roster, w.pos(BOB), RELAY.public_key, ["/ip4/127.0.0.1/tcp/4002"], NOW_MS))
    inv = w.invite(ALICE, DAVE)
    s = w.roster
    for k in (ALICE, BOB, RELAY):  # members and the relay hold copies: they may sync and know
        assert s.may_sync(k.public_key) and s.may_know(k.public_key)
    assert s.may_know(DAVE.public_key) and not s.may_sync(DAVE.public_key)  # invited, not joined
    assert not s.may_know(MALLORY.public_key) and not s.may_sync(MALLORY.public_key)
    w.join(DAVE, inv)
    assert w.roster.may_sync(DAVE.public_key)
    w.remove(ALICE, BOB)
    assert not w.roster.may_know(BOB.public_key) and not w.roster.may_sync(BOB.public_key)
    w.invite(ALICE, EVE)
    w.remove(ALICE, EVE)  # an invitation taken back
    assert not w.roster.may_know(EVE.public_key)


def test_admin_only_invite_policy() -> None:
    w = new_world(invite_policy="admin")
    w.invite_and_join(ALICE, BOB)
    assert not w.roster.may_invite(BOB.public_key)
    with pytest.raises(RosterError, match="cannot invite"):
        actions.invite(BOB, w.roster, w.pos(BOB), DAVE.public_key, NOW_MS)
    rec = hand(w, BOB, records.INVITE, k=DAVE.public_key, r="member", x=NOW_S + 60, n=nonce16(), e=w.cid)
    assert fold(w.genesis, [*w.history, rec]).rejected[rec.id] == "only admins may invite in this circle"


def _rejections() -> list[tuple[str, Callable[[World], Record], str]]:
    inv_fields = {"r": "member", "x": NOW_S + 60, "e": b""}

    def invite(author: Identity, key: bytes, **kw: object) -> Callable[[World], Record]:
        def make(w: World) -> Record:
            f = {**inv_fields, "k": key, "n": nonce16(), "e": w.cid, **kw}
            return hand(w, author, records.INVITE, **f)

        return make

    def rekey(author: Identity, number: int, recipients: list[Identity], pe: bytes | None = None):  # type: ignore[no-untyped-def]
        def make(w: World) -> Record:
            ks = [[i.public_key, crypto.seal(i.public_key, b"k" * 32)] for i in recipients]
            ks.sort(key=lambda p: p[0])
            return hand(w, author, records.REKEY, e=number, pe=pe or w.cid, ks=ks)

        return make

    return [
        ("invite-admin-by-member", invite(BOB, DAVE.public_key, r="admin"), "only admins may invite admins"),
        ("invite-member", invite(ALICE, BOB.public_key), "the invitee is already in the circle"),
        ("invite-unknown-epoch", invite(ALICE, DAVE.public_key, e=b"\x09" * 32), "cites an unknown epoch"),
        (
            "remove-by-member",
            lambda w: hand(w, BOB, records.REMOVE, k=CAROL.public_key, s=1, sh=w.pos(CAROL).prev),
            "only admins may remove",
        ),
        (
            "remove-founder",
            lambda w: hand(w, ALICE, records.REMOVE, k=ALICE.public_key, s=0, sh=None),
            "the founder cannot be removed",
        ),
        (
            "remove-stranger",
            lambda w: hand(w, ALICE, records.REMOVE, k=MALLORY.public_key, s=0, sh=None),
            "the key is not in the circle",
        ),
        (
            "role-by-member",
            lambda w: hand(w, BOB, records.ROLE, k=CAROL.public_key, r="admin"),
            "only admins may change roles",
        ),
        (
            "role-of-founder",
            lambda w: hand(w, ALICE, records.ROLE, k=ALICE.public_key, r="member"),
            "the founder's role cannot change",
        ),
        (
            "role-of-stranger",
            lambda w: hand(w, ALICE, records.ROLE, k=MALLORY.public_key, r="admin"),
            "the key is not a member",
        ),
        ("rekey-skips-number", rekey(ALICE, 2, [ALICE, BOB, CAROL]), "epoch number does not follow"),
        (
            "rekey-unknown-prev",
            rekey(ALICE, 1, [ALICE, BOB, CAROL], pe=b"\x08" * 32),
            "cites an unknown previous epoch",
        ),
        ("rekey-author-excluded", rekey(ALICE, 1, [BOB, CAROL]), "the author must be among the recipients"),
        ("rekey-to-stranger", rekey(ALICE, 1, [ALICE, MALLORY]), "a recipient is not a member"),
        (
            "pin-member",
            lambda w: hand(w, ALICE, records.PIN, k=BOB.public_key, ad=[]),
            "a member cannot be pinned as a relay",
        ),
        (
            "join-unknown-invite",
            lambda w: records.sign(
                DAVE, roster_body(DAVE, w.cid, records.JOIN, heads=[w.cid], i=b"\x07" * 32)
            ),
            "cites an invitation that is unknown or was not valid",
        ),
        (
            "stranger-leaves",
            lambda w: hand(w, MALLORY, records.LEAVE),
            "the author is not a member",
        ),
    ]


@pytest.mark.parametrize(
    ("make", "reason"), [r[1:] for r in _rejections()], ids=[r[0] for r in _rejections()]
)
def test_fold_rejects_with_a_reason(world3: World, make: Callable[[World], Record], reason: str) -> None:
    w = world3
    rec = make(w)
    s = fold(w.genesis, [*w.history, rec])
    assert s.rejected[rec.id].startswith(reason)
    assert rec.id not in s.accepted
    assert s.roster_hash == w.roster.roster_hash  # no effect at all
    assert s.members == w.roster.members


def test_join_must_cite_its_invite_as_an_ancestor(world3: World) -> None:
    w = world3
    base = w.roster
    # X is concurrent with the invite; the invite's nonce is picked so the canonical walk
    # reaches the invite before X, hence before a join that builds on X alone.
    x = actions.change_role(ALICE, base, w.pos(ALICE), BOB.public_key, "admin", NOW_MS)
    for i in itertools.count():
        inv = actions.invite(CAROL, base, w.pos(CAROL), DAVE.public_key, NOW_MS, nonce=i.to_bytes(16, "big"))
        if inv.id < x.id:
            break
    join = records.sign(DAVE, roster_body(DAVE, w.cid, records.JOIN, heads=[x.id], i=inv.id))
    s = fold(w.genesis, [*w.history, x, inv, join])
    assert inv.id in s.accepted and x.id in s.accepted
    assert s.rejected[join.id] == "does not cite its invitation among its ancestors"
    assert not s.is_member(DAVE.public_key)


def test_non_roster_records_are_not_folded(world3: World) -> None:
    w = world3
    msg = w.message(BOB)
    s = fold(w.genesis, [*w.history, msg, w.genesis])
    assert s.rejected[msg.id] == "not a roster record"
    assert s.rejected[w.genesis.id] == "not a roster record"
    assert s.roster_hash == w.roster.roster_hash


def test_concurrent_invites_both_apply(world3: World) -> None:
    w = world3
    base = w.roster
    inv_d = actions.invite(ALICE, base, w.pos(ALICE), DAVE.public_key, NOW_MS, nonce=nonce16())
    inv_e = actions.invite(BOB, base, w.pos(BOB), EVE.public_key, NOW_MS, nonce=nonce16())
    assert inv_d.heads == inv_e.heads == base.heads
    j_d = actions.join(DAVE, inv_d, ChainPos(), NOW_MS)
    j_e = actions.join(EVE, inv_e, ChainPos(), NOW_MS)
    s = fold(w.genesis, [*w.history, inv_d, inv_e, j_d, j_e])
    assert {DAVE.public_key, EVE.public_key} <= set(s.members)
    assert s.members[EVE.public_key].invited_by == BOB.public_key
    assert s.heads == tuple(sorted([j_d.id, j_e.id]))
    # Someone who saw both cites both heads.
    w2 = CircleView(w.genesis, [*w.history, inv_d, inv_e, j_d, j_e])
    lv = actions.leave(CAROL, w2.roster, w2.next_pos(CAROL.public_key), NOW_MS)
    assert lv.heads == tuple(sorted([j_d.id, j_e.id]))


def test_concurrent_rekeys_tie_break_by_smaller_id(world3: World) -> None:
    w = world3
    base = w.roster
    r1 = actions.rekey(ALICE, base, w.pos(ALICE), NOW_MS)
    r2 = actions.rekey(BOB, base, w.pos(BOB), NOW_MS)
    s = fold(w.genesis, [*w.history, r1.record, r2.record])
    assert {r1.record.id, r2.record.id} <= s.accepted
    assert s.current_epoch is not None
    assert s.current_epoch.number == 1
    assert s.current_epoch.id == min(r1.record.id, r2.record.id)


def test_rejoin_after_removal_with_a_new_invite(world3: World) -> None:
    w = world3
    _, rk = w.remove(ALICE, CAROL)
    inv = w.invite(ALICE, CAROL)
    assert bytes(inv.body["e"]) == rk.record.id
    # Re-inviting carol hands her epoch 1 on purpose while she is still "departed": that
    # must not make epoch 1 unsafe (it used to, leaving the circle with no current epoch,
    # unable to invite anyone, until she joined or someone rekeyed).
    assert CAROL.public_key in w.roster.epochs[rk.record.id].holders
    assert w.roster.current_epoch is not None and w.roster.current_epoch.id == rk.record.id
    assert not w.roster.needs_rekey
    w.invite(ALICE, DAVE)  # the circle keeps working meanwhile
    join = w.join(CAROL, inv)
    s = w.roster
    assert s.is_member(CAROL.public_key)
    assert CAROL.public_key not in s.departed
    assert s.members[CAROL.public_key].since == join.id
    assert s.current_epoch is not None and s.current_epoch.id == rk.record.id
    assert not s.needs_rekey  # the invite handed carol the current epoch


def test_removing_a_reinvited_member_again_burns_what_they_were_handed(world3: World) -> None:
    w = world3
    _, rk = w.remove(ALICE, CAROL)
    w.invite(ALICE, CAROL)
    # Alice changes her mind before carol joins: carol holds epoch 1 from the token, so
    # epoch 1 is burned and the removal's own rekey (epoch 2) becomes current.
    _, rk2 = w.remove(ALICE, CAROL)
    s = w.roster
    assert rk.record.id in s.epochs and s.current_epoch is not None
    assert (s.current_epoch.id, s.current_epoch.number) == (rk2.record.id, 2)
    assert CAROL.public_key not in s.current_epoch.holders


def test_an_epoch_stays_burned_after_its_holder_rejoins(world3: World) -> None:
    w = world3
    w.remove(ALICE, CAROL)  # burns epoch 0 (carol held it); epoch 1 to alice and bob
    w.invite_and_join(ALICE, DAVE)  # dave gets epoch 1 only
    w.join(CAROL, w.invite(ALICE, CAROL))  # carol is back, with epoch 1
    w.add(actions.leave(DAVE, w.roster, w.pos(DAVE), NOW_MS))  # burns epoch 1
    s = w.roster
    # Every holder of epoch 0 is a member again, but a key that was out with a departed
    # member is never current again: the circle needs a fresh one.
    assert s.epochs[w.cid].holders <= set(s.members)
    assert s.current_epoch is None and s.needs_rekey
    rk = w.rekey(BOB)
    assert w.roster.current_epoch is not None and w.roster.current_epoch.id == rk.record.id


# ---- removal beats concurrent actions ----------------------------------------------------------


def _carol_acts_while_removed(w: World, invite_first: bool) -> dict[str, Record]:
    base = w.roster
    rm, rk = actions.remove(ALICE, base, w.pos(ALICE), CAROL.public_key, 1, NOW_MS, cut_id=w.pos(CAROL).prev)
    # Pick the nonce so carol's invite sorts before/after the removal: both canonical walk
    # orders (apply-then-void-and-restart, and void-before-apply) are exercised.
    for i in itertools.count():
        inv = actions.invite(CAROL, base, w.pos(CAROL), DAVE.public_key, NOW_MS, nonce=i.to_bytes(16, "big"))
        if (inv.id < rm.id) == invite_first:
            break
    carol_view = fold(w.genesis, [*w.history, inv])
    crk = actions.rekey(CAROL, carol_view, w.pos(CAROL).after(inv.id), NOW_MS)
    join = actions.join(DAVE, inv, ChainPos(), NOW_MS)
    return {"rm": rm, "rk": rk.record, "inv": inv, "crk": crk.record, "join": join}


@pytest.mark.parametrize("invite_first", [True, False])
def test_removal_beats_concurrent_actions(world3: World, invite_first: bool) -> None:
    w = world3
    recs = _carol_acts_while_removed(w, invite_first)
    expected = None
    for order in itertools.permutations(recs.values()):
        s = fold(w.genesis, [*w.history, *order])
        assert not s.is_member(DAVE.public_key)
        assert not s.is_member(CAROL.public_key)
        assert s.rejected[recs["inv"].id] == "its author was removed or left concurrently"
        assert s.rejected[recs["crk"].id] == "its author was removed or left concurrently"
        assert recs["join"].id in s.rejected
        assert s.current_epoch is not None and s.current_epoch.id == recs["rk"].id
        assert recs["crk"].id not in s.epochs
        assert DAVE.public_key not in s.current_epoch.holders
        if expected is None:
            expected = s
        assert s == expected


def test_removal_beats_concurrent_actions_through_the_validator(world3: World) -> None:
    w = world3
    recs = _carol_acts_while_removed(w, invite_first=True)
    # Carol's invite and dave's join arrive first: for a moment dave is in.
    stored(w.view.add(recs["inv"]))
    stored(w.view.add(recs["join"]))
    assert w.roster.is_member(DAVE.public_key)
    # Then the removal arrives: dave's membership is undone, whatever came first.
    out = w.view.add(recs["rm"])
    assert out.roster_changed  # type: ignore[union-attr]
    assert not w.roster.is_member(DAVE.public_key)
    w.view.add(recs["rk"])
    assert w.roster.current_epoch is not None and w.roster.current_epoch.id == recs["rk"].id
    # Carol's concurrent rekey comes after the cut (her seq 1, the join): refused.
    assert w.view.receive(recs["crk"].raw) == Dropped(
        "the author was removed from the circle; records after that are refused"
    )


def test_mutual_removal_is_deterministic(world3: World) -> None:
    w = world3
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), CAROL.public_key, "admin", NOW_MS))
    base = w.roster
    rm_b, rk_b = actions.remove(BOB, base, w.pos(BOB), CAROL.public_key, 1, NOW_MS, cut_id=w.pos(CAROL).prev)
    rm_c, rk_c = actions.remove(CAROL, base, w.pos(CAROL), BOB.public_key, 1, NOW_MS, cut_id=w.pos(BOB).prev)
    new = [rm_b, rk_b.record, rm_c, rk_c.record]
    # The two removals are concurrent siblings: the canonical walk reaches the smaller id first.
    winner, loser = (BOB, CAROL) if rm_b.id < rm_c.id else (CAROL, BOB)
    win_rm, lose_rm = (rm_b, rm_c) if winner is BOB else (rm_c, rm_b)
    win_rk = rk_b if winner is BOB else rk_c
    results = [fold(w.genesis, [*w.history, *order]) for order in itertools.permutations(new)]
    s = results[0]
    assert all(r == s for r in results)
    assert s.is_member(winner.public_key) and not s.is_member(loser.public_key)
    assert s.is_member(ALICE.public_key)
    assert s.departed[loser.public_key].by == winner.public_key
    assert win_rm.id in s.accepted
    assert s.rejected[lose_rm.id] == "its author was removed or left concurrently"
    assert s.current_epoch is not None and s.current_epoch.id == win_rk.record.id


# ---- pending records ------------------------------------------------------------------------------


def test_records_with_missing_parents_are_pending(world3: World) -> None:
    w = world3
    inv = actions.invite(ALICE, w.roster, w.pos(ALICE), DAVE.public_key, NOW_MS, nonce=nonce16())
    join = actions.join(DAVE, inv, ChainPos(), NOW_MS)
    after = CircleView(w.genesis, [*w.history, inv, join])
    lv = actions.leave(DAVE, after.roster, ChainPos(2, join.id), NOW_MS)
    # The invite never arrived: the join and everything after it wait.
    s = fold(w.genesis, [*w.history, join, lv])
    assert s.pending == {join.id, lv.id}
    assert join.id not in s.rejected and lv.id not in s.rejected
    assert s.roster_hash == w.roster.roster_hash
    assert not s.is_member(DAVE.public_key)
    # Once it arrives, all three apply in causal order.
    s = fold(w.genesis, [*w.history, join, lv, inv])
    assert s.pending == frozenset()
    assert {inv.id, join.id, lv.id} <= s.accepted
    assert s.departed[DAVE.public_key].kind == "left"


def test_validator_holds_records_with_missing_parents(world3: World) -> None:
    w = world3
    inv = actions.invite(ALICE, w.roster, w.pos(ALICE), DAVE.public_key, NOW_MS, nonce=nonce16())
    join = actions.join(DAVE, inv, ChainPos(), NOW_MS)
    out = w.view.receive(join.raw)
    assert out == Held(join, "the author's invitation has not arrived yet")
    assert join.id not in w.view.records


# ---- property: the fold does not depend on the order records arrive in ---------------------------

POOL = [ALICE, BOB, CAROL, DAVE, EVE, MALLORY]
KINDS = ("invite", "join", "remove", "leave", "rekey", "role", "pin")

Op = tuple[int, int, int, int]
op_strategy = st.tuples(
    st.integers(0, len(KINDS) - 1),  # what
    st.integers(0, 63),  # who acts (an index into whoever can do it right now)
    st.integers(0, 63),  # on whom (an index into the sensible targets)
    st.integers(0, 4),  # how far behind the acting member's view is (concurrency)
)
PREAMBLE: list[Op] = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 0, 0), (1, 0, 0, 0)]
"""Alice invites and admits two members first, so random ops have people to act."""


def build_history(ops: list[Op]) -> tuple[Record, list[Record]]:
    """Play ``ops``: each acting member works from an older view (``lag`` records behind
    the global history, their own records always included), which makes concurrent
    branches, conflicting removals and voided work."""
    genesis = circle.create(
        ALICE, "prop", NOW_MS, nonce=b"\x01" * 16, epoch_key=b"\x02" * 32, name_nonce=b"\x03" * 24
    ).genesis
    history: list[Record] = []
    by_id: dict[bytes, Record] = {}
    pos: dict[bytes, ChainPos] = defaultdict(ChainPos)
    own: dict[bytes, list[bytes]] = defaultdict(list)
    counter = itertools.count(1)

    def view_of(who: Identity, lag: int) -> list[Record]:
        seen = {r.id for r in history[: max(0, len(history) - lag)]} | set(own[who.public_key])
        stack = list(seen)
        while stack:
            for h in by_id[stack.pop()].heads:
                if h in by_id and h not in seen:
                    seen.add(h)
                    stack.append(h)
        return [by_id[i] for i in seen]

    def pick(items: list[Identity], i: int) -> Identity | None:
        return items[i % len(items)] if items else None

    for what, a, b, lag in ops:
        kind = KINDS[what]
        now = fold(genesis, history)
        members = [i for i in POOL if now.is_member(i.public_key)]
        if kind == "join":
            open_invites = [
                r for r in history if r.type == records.INVITE and not now.is_member(bytes(r.body["k"]))
            ]
            if not open_invites:
                continue
            inv = open_invites[a % len(open_invites)]
            me = next(i for i in POOL if i.public_key == bytes(inv.body["k"]))
        else:
            admins = [i for i in members if now.may_admin(i.public_key)]
            me = pick(admins if kind in ("remove", "role") else members, a)
            if me is None:
                continue
        state = fold(genesis, view_of(me, lag))
        p = pos[me.public_key]
        outsiders = [i for i in POOL if not state.is_member(i.public_key) and i is not me]
        others = [i for i in POOL if state.is_member(i.public_key) and i is not me and i is not ALICE]
        try:
            if kind == "invite":
                other = pick(outsiders, b)
                if other is None:
                    continue
                role = "admin" if lag == 4 else "member"
                nonce = next(counter).to_bytes(16, "big")
                new = [actions.invite(me, state, p, other.public_key, NOW_MS, role=role, nonce=nonce)]
            elif kind == "join":
                ts = NOW_MS + (10**10 if lag == 4 else 0)  # some joins come after expiry
                new = [actions.join(me, inv, p, ts)]
            elif kind == "remove":
                other = pick(others + outsiders if lag == 3 else others, b)
                if other is None:
                    continue
                cut, cut_id = pos[other.public_key].seq - 1, pos[other.public_key].prev
                rm, rk = actions.remove(me, state, p, other.public_key, cut, NOW_MS, cut_id=cut_id)
                new = [rm, rk.record]
            elif kind == "leave":
                if me is ALICE and lag != 4:
                    continue  # the founder leaving ends most histories; keep it rare
                new = [actions.leave(me, state, p, NOW_MS)]
            elif kind == "rekey":
                new = [actions.rekey(me, state, p, NOW_MS).record]
            elif kind == "role":
                other = pick(others, b)
                if other is None:
                    continue
                role = "admin" if lag % 2 else "member"
                new = [actions.change_role(me, state, p, other.public_key, role, NOW_MS)]
            else:
                new = [actions.pin(me, state, p, RELAY.public_key, [f"/ip4/127.0.0.1/tcp/{b}"], NOW_MS)]
        except RosterError:
            continue
        for r in new:
            history.append(r)
            by_id[r.id] = r
            own[me.public_key].append(r.id)
            pos[me.public_key] = pos[me.public_key].after(r.id)
    return genesis, history


def _essentials(s: RosterState) -> tuple[object, ...]:
    return (
        {k: m.role for k, m in s.members.items()},
        {k: d.kind for k, d in s.departed.items()},
        s.current_epoch.id if s.current_epoch else None,
        s.roster_hash,
        s.accepted,
    )


def _check_accounting(s: RosterState, ids: set[bytes]) -> None:
    # Every record is accounted for exactly once.
    assert s.accepted | set(s.rejected) | s.pending == ids
    assert not s.accepted & set(s.rejected)
    assert not s.pending & (s.accepted | set(s.rejected))
    # Nobody is both in and out. The only departed keys that may hold the current epoch
    # are ones re-invited with it (they got it after leaving, from an open invite).
    assert not set(s.members) & set(s.departed)
    if s.current_epoch is not None:
        reinvited = {
            i.invitee for i in s.invites.values() if i.epoch == s.current_epoch.id and i.used_by is None
        }
        assert s.current_epoch.holders & set(s.departed) <= reinvited


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=1, max_size=24), data=st.data())
def test_fold_is_independent_of_order(ops: list[Op], data: st.DataObject) -> None:
    genesis, history = build_history(PREAMBLE + ops)
    reference = fold(genesis, history)
    _check_accounting(reference, {r.id for r in history})

    # Rekeys and removals carry fresh random keys, so record ids, and with them which of two
    # concurrent records wins and how long ``history`` is, differ between runs of one example.
    # Draws whose shape depends on that (a permutation of ``history``) made Hypothesis report
    # FlakyStrategyDefinition on replay; seeds are drawn instead, a fixed shape per example.
    seeds = [data.draw(st.integers(0, 2**32 - 1)) for _ in range(3)]
    orders = []
    for seed in seeds[:2]:
        order = list(history)
        random.Random(seed).shuffle(order)
        orders.append(order)
    rng = random.Random(len(history))
    for _ in range(3):
        shuffled = list(history)
        rng.shuffle(shuffled)
        orders.append(shuffled)
    orders.append(list(reversed(history)))
    orders.append(history + history[::2])  # duplicates change nothing either
    for order in orders:
        s = fold(genesis, order)
        assert _essentials(s) == _essentials(reference)
        assert s == reference

    # With a few records missing (some others then pending), still one answer for any order.
    gone = {g % len(history) for g in data.draw(st.lists(st.integers(0, 10**6), max_size=2))}
    subset = [r for i, r in enumerate(history) if i not in gone]
    partial = fold(genesis, subset)
    _check_accounting(partial, {r.id for r in subset})
    shuffled = list(subset)
    random.Random(seeds[2]).shuffle(shuffled)
    assert fold(genesis, shuffled) == partial
    assert fold(genesis, subset[::-1]) == partial


def test_history_builder_makes_concurrency() -> None:
    # Guard for the property test above: the generator does produce concurrent branches,
    # removals and rejections (otherwise the property would be trivially true).
    ops: list[Op] = [
        *PREAMBLE,  # alice invites bob, bob joins, alice invites carol, carol joins
        (0, 2, 0, 0),  # member #2 (carol) invites outsider #0 (dave) ...
        (2, 0, 1, 1),  # ... while admin #0 (alice), a record behind, removes member #1 (carol)
        (1, 0, 0, 0),  # dave joins with the open invite
    ]
    genesis, history = build_history(ops)
    s = fold(genesis, history)
    assert [r.type for r in history] == [
        "invite",
        "join",
        "invite",
        "join",
        "invite",
        "remove",
        "rekey",
        "join",
    ]
    assert not s.is_member(DAVE.public_key) and not s.is_member(CAROL.public_key)
    assert len(s.rejected) == 2
    assert s.rejected[history[4].id] == "its author was removed or left concurrently"
