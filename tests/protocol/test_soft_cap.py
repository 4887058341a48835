"""The soft cap (issue 13): a ``softcap`` roster record, admins only, deterministic in any order.

A circle without a ``softcap`` record (every circle made before it existed) has the default
of 15; an admin's record sets it; a member's is refused by every fold; of two concurrent
ones, the one walked last in the canonical order holds, whichever arrived first.
"""

from __future__ import annotations

import itertools

import pytest
from proto_kit import ALICE, BOB, NOW_MS, World, roster_body

from protocol import actions, records, schema
from protocol.errors import RosterError, SchemaError
from protocol.fold import RosterIndex
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import DEFAULT_SOFT_CAP, RosterState, fold


def _cap(w: World, who: Identity, n: int, heads: tuple[bytes, ...] | None = None) -> Record:
    """A softcap record by ``who`` citing ``heads`` (default: the roster's), without the builder's checks."""
    pos = w.pos(who)
    body = roster_body(
        who, w.cid, records.SOFTCAP, heads=heads or w.roster.heads, seq=pos.seq, prev=pos.prev, n=n
    )
    return records.sign(who, body)


def _all_orders(w: World, extra: list[Record]) -> RosterState:
    """The state folded from the history plus ``extra``; every arrival order of ``extra`` agrees."""
    base = [r for r in w.history if r.is_roster]
    ref = fold(w.genesis, [*base, *extra])
    for order in itertools.permutations(extra):
        idx = RosterIndex(w.genesis, base)
        for r in order:
            idx.add(r)
        st = idx.state()
        assert (st.soft_cap, st.soft_cap_by, dict(st.rejected)) == (
            ref.soft_cap,
            ref.soft_cap_by,
            dict(ref.rejected),
        )
        again = fold(w.genesis, [*reversed(order), *base])
        assert (again.soft_cap, again.soft_cap_by) == (ref.soft_cap, ref.soft_cap_by)
    return ref


def test_a_circle_without_a_softcap_record_has_the_default(world3: World) -> None:
    assert world3.roster.soft_cap == DEFAULT_SOFT_CAP == 15
    assert world3.roster.soft_cap_by is None


def test_an_admin_sets_the_soft_cap(world3: World) -> None:
    rec = actions.set_soft_cap(ALICE, world3.roster, world3.pos(ALICE), 4, NOW_MS)
    world3.add(rec)
    assert (world3.roster.soft_cap, world3.roster.soft_cap_by) == (4, ALICE.public_key)
    assert world3.refold().soft_cap == 4
    assert rec.id in world3.roster.accepted


def test_a_members_softcap_is_refused_by_the_fold(world3: World) -> None:
    rec = _cap(world3, BOB, 3)
    st = _all_orders(world3, [rec])
    assert st.rejected[rec.id] == "only admins may set the soft cap"
    assert st.soft_cap == DEFAULT_SOFT_CAP and st.soft_cap_by is None


def test_the_builder_refuses_a_member_and_a_cap_out_of_range(world3: World) -> None:
    with pytest.raises(RosterError, match="Only admins"):
        actions.set_soft_cap(BOB, world3.roster, world3.pos(BOB), 10, NOW_MS)
    for bad in (1, 0, schema.MAX_MEMBERS + 1):
        with pytest.raises(RosterError, match="from 2 to 1024"):
            actions.set_soft_cap(ALICE, world3.roster, world3.pos(ALICE), bad, NOW_MS)
    for edge in (schema.MIN_SOFT_CAP, schema.MAX_MEMBERS):
        rec = actions.set_soft_cap(ALICE, world3.roster, world3.pos(ALICE), edge, NOW_MS)
        assert rec.body["n"] == edge


def test_the_schema_bounds_n() -> None:
    body = roster_body(ALICE, b"\x01" * 32, records.SOFTCAP, heads=(b"\x01" * 32,), seq=1, prev=None, n=1)
    with pytest.raises(SchemaError, match="field 'n'"):
        records.sign(ALICE, body)
    body["n"] = schema.MAX_MEMBERS
    assert records.sign(ALICE, body).type == records.SOFTCAP


def test_a_member_made_admin_may_set_it_and_the_role_change_must_come_first(world3: World) -> None:
    before = world3.roster.heads
    world3.add(actions.change_role(ALICE, world3.roster, world3.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    after = _cap(world3, BOB, 7)  # cites the role change
    concurrent = _cap(world3, BOB, 9, heads=before)  # did not see it: bob was a member there
    st = _all_orders(world3, [after])
    assert (st.soft_cap, st.soft_cap_by) == (7, BOB.public_key)
    # The concurrent one sorts wherever its id puts it; either way the fold agrees in every order.
    _all_orders(world3, [concurrent])


def test_concurrent_caps_by_two_admins_agree_in_every_order(world3: World) -> None:
    world3.add(actions.change_role(ALICE, world3.roster, world3.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    a = _cap(world3, ALICE, 5)
    b = _cap(world3, BOB, 20)
    st = _all_orders(world3, [a, b])
    last = max(a, b, key=lambda r: r.id)  # same parents: the walk takes the smaller id first
    assert st.soft_cap == int(last.body["n"]) and st.soft_cap_by == last.author
    assert {a.id, b.id} <= st.accepted


def test_a_later_cap_beats_an_earlier_one_whatever_their_ids(world3: World) -> None:
    first = actions.set_soft_cap(ALICE, world3.roster, world3.pos(ALICE), 5, NOW_MS)
    world3.add(first)
    second = actions.set_soft_cap(ALICE, world3.roster, world3.pos(ALICE), 8, NOW_MS)
    world3.add(second)
    assert world3.roster.soft_cap == 8
    assert _all_orders(world3, []).soft_cap == 8


def test_a_removal_voids_the_removed_admins_concurrent_cap(world3: World) -> None:
    world3.add(actions.change_role(ALICE, world3.roster, world3.pos(ALICE), BOB.public_key, "admin", NOW_MS))
    cap = _cap(world3, BOB, 4)  # not fed: alice removes bob without seeing it
    world3.remove(ALICE, BOB)
    st = _all_orders(world3, [cap])
    assert cap.id not in st.accepted
    assert st.soft_cap == DEFAULT_SOFT_CAP
