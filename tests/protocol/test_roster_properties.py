"""Properties of the roster over random histories (issue 10, items 6 and 7).

- The incremental fold (protocol/fold.py, what ``CircleView`` uses) gives the same state as
  the reference ``roster.fold`` for any history and any arrival order, one record at a time
  or in batches, with the member cap far away or within reach.
- No sequence of records can wedge a circle: after any history, an admin can still remove a
  member (and rekey, as ``actions.remove`` does) and any member can rekey, with records that
  ``records.sign`` accepts and the fold applies. Histories include bulk invitations past
  ``MAX_MEMBERS`` and more concurrent heads than a record may cite.

The histories come from scripts/rosterkit.py (also the "roster" fuzz target's generator).
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import records, schema
from protocol.fold import RosterIndex
from protocol.records import Record
from protocol.roster import VOID, RosterState, fold

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import rosterkit

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))


def norm(s: RosterState) -> dict[str, Any]:
    """Everything a state says, as plain values."""
    return {
        "founder": s.founder,
        "members": dict(s.members),
        "relays": dict(s.relays),
        "departed": dict(s.departed),
        "invites": dict(s.invites),
        "epochs": {k: (e.number, frozenset(e.holders), dict(e.sealed)) for k, e in s.epochs.items()},
        "current": None if s.current_epoch is None else s.current_epoch.id,
        "current_holders": None if s.current_epoch is None else frozenset(s.current_epoch.holders),
        "heads": s.heads,
        "accepted": frozenset(s.accepted),
        "rejected": dict(s.rejected),
        "pending": frozenset(s.pending),
        "hash": s.roster_hash,
        "needs_rekey": s.needs_rekey,
        "soft_cap": (s.soft_cap, s.soft_cap_by),
        "prekeys": dict(s.prekeys),
    }


def incremental(genesis: Record, recs: Sequence[Record], batches: list[int] | None = None) -> RosterState:
    idx = RosterIndex(genesis)
    if not batches:
        for r in recs:
            idx.add(r)
    else:
        at = 0
        for n in batches:
            idx.add_many(recs[at : at + n])
            at += n
        idx.add_many(recs[at:])
    return idx.state()


def check_equal(h: rosterkit.History, order_seed: int) -> None:
    ref = norm(fold(h.genesis, h.made))
    rng = random.Random(order_seed)
    orders = [list(h.made), list(reversed(h.made))]
    shuffled = list(h.made)
    rng.shuffle(shuffled)
    orders.append(shuffled)
    for recs in orders:
        assert norm(incremental(h.genesis, recs)) == ref
    batches = [rng.randrange(1, 8) for _ in range(len(shuffled))]
    assert norm(incremental(h.genesis, shuffled, batches)) == ref
    assert norm(RosterIndex(h.genesis, shuffled).state()) == ref


def choices(data: bytes | int) -> rosterkit.Choices:
    """Bytes (which hypothesis shrinks) or a seed (a full-length history every time)."""
    return rosterkit.Choices(data) if isinstance(data, bytes) else rosterkit.Choices(seed=data)


HISTORIES = st.one_of(st.integers(0, 2**32), st.binary(max_size=800))


@SETTINGS
@given(HISTORIES, st.integers(0, 2**32))
def test_incremental_equals_full_fold(data: bytes | int, order_seed: int) -> None:
    check_equal(rosterkit.history(choices(data), 40), order_seed)


@SETTINGS
@given(HISTORIES, st.integers(0, 2**32))
def test_incremental_equals_full_fold_near_the_cap(data: bytes | int, order_seed: int) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(schema, "MAX_MEMBERS", 6)
        check_equal(rosterkit.history(choices(data), 40, bulk_max=5), order_seed)


@SETTINGS
@given(HISTORIES, st.integers(0, 2**32))
def test_incremental_equals_full_fold_with_devices(data: bytes | int, order_seed: int) -> None:
    """People link and unlink devices, which invite, remove, rekey and unlink in turn."""
    check_equal(rosterkit.history(choices(data), 40, devices=True), order_seed)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(HISTORIES)
def test_no_history_with_devices_wedges_a_circle(data: bytes | int) -> None:
    h = rosterkit.history(choices(data), 40, devices=True)
    rosterkit.after_checks(h.genesis, h.made, _index_state(h.genesis))
    rosterkit.after_checks(h.genesis, h.made, lambda recs: fold(h.genesis, recs))


def test_seeded_histories_with_devices_link_and_unlink() -> None:
    """The generator does reach the device rules: devices are linked, act and are unlinked."""
    linked = unlinked = acted = 0
    for seed in range(40):
        h = rosterkit.history(rosterkit.Choices(seed=seed), 40, devices=True)
        s = fold(h.genesis, h.made)
        kinds = {r.id: r.type for r in h.made}
        linked += sum(1 for i in s.accepted if kinds[i] == records.DEVICE)
        unlinked += sum(1 for i in s.accepted if kinds[i] == records.UNLINK)
        devs = {rosterkit.person(d).public_key for d in rosterkit.DEVICES}
        acted += sum(1 for r in h.made if r.id in s.accepted and r.author in devs)
    assert linked > 10 and unlinked > 0 and acted > 10, (linked, unlinked, acted)


def test_every_prefix_of_seeded_histories_matches() -> None:
    """Every intermediate state the index hands out (a view of versioned maps) stays equal to
    the reference fold of that prefix, after later records have changed the index."""
    for seed in range(15):
        h = rosterkit.history(rosterkit.Choices(seed=seed), 30)
        idx = RosterIndex(h.genesis)
        states = [idx.add(r) for r in h.made]
        for n, s in enumerate(states, 1):
            assert norm(s) == norm(fold(h.genesis, h.made[:n])), (seed, n)


def _index_state(genesis: Record) -> Any:
    return lambda recs: RosterIndex(genesis, recs).state()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(HISTORIES)
def test_no_history_wedges_a_circle(data: bytes | int) -> None:
    h = rosterkit.history(choices(data), 40)
    rosterkit.after_checks(h.genesis, h.made, _index_state(h.genesis))
    rosterkit.after_checks(h.genesis, h.made, lambda recs: fold(h.genesis, recs))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32))
def test_no_history_wedges_a_circle_past_the_member_cap(seed: int) -> None:
    """Bulk invitations of up to 1,100 keys at a time, at the real MAX_MEMBERS."""
    h = rosterkit.history(rosterkit.Choices(seed=seed), 14, bulk_max=1100)
    rosterkit.after_checks(h.genesis, h.made, _index_state(h.genesis))


def test_the_cap_holds_and_a_full_circle_still_rekeys_and_removes() -> None:
    """1,100 invitations by the founder: the 1,024th slot is the last one; all join; one
    leaves; remove and rekey still fit the schema and are applied."""
    c = rosterkit.Choices(seed=1)
    h = rosterkit.history(c, 0)
    founder = h.founder
    idx = RosterIndex(h.genesis)
    heads = [h.genesis.id]
    invites = []
    for i in range(1100):
        k = rosterkit.person(5000 + i).public_key
        x = rosterkit.NOW_MS // 1000 + 3600
        body = rosterkit._body(
            h, founder, records.INVITE, heads, k=k, r="member", x=x, n=bytes(16), e=h.genesis.id
        )
        rec = records.sign(founder, body)
        h.made.append(rec)
        h.last[founder.public_key] = rec
        heads = [rec.id]
        invites.append(rec)
    s = idx.add_many(h.made)
    ok = [r for r in invites if r.id in s.accepted]
    assert len(ok) == schema.MAX_MEMBERS - 1
    assert {s.rejected[r.id] for r in invites[len(ok) :]} == {"the circle is full"}
    joins = []
    for inv in ok:
        who = rosterkit.person(5000 + invites.index(inv))
        joins.append(records.sign(who, rosterkit._body(h, who, records.JOIN, [inv.id], i=inv.id)))
    s = idx.add_many(joins)
    assert len(s.members) == schema.MAX_MEMBERS
    recs = [*h.made, *joins]
    rosterkit.after_checks(h.genesis, recs, _index_state(h.genesis))


def test_more_concurrent_heads_than_a_record_may_cite() -> None:
    """70 members pin concurrently (70 heads); the next remove and rekey cite 64 and are applied."""
    h = rosterkit.history(rosterkit.Choices(seed=2), 0)
    founder = h.founder
    recs: list[Record] = []
    heads = [h.genesis.id]
    people = [rosterkit.person(7000 + i) for i in range(70)]
    for p in people:
        body = rosterkit._body(h, founder, records.INVITE, heads, k=p.public_key, r="admin",
                               x=rosterkit.NOW_MS // 1000 + 3600, n=bytes(16), e=h.genesis.id)  # fmt: skip
        inv = records.sign(founder, body)
        h.last[founder.public_key] = inv
        join = records.sign(p, rosterkit._body(h, p, records.JOIN, [inv.id], i=inv.id))
        h.last[p.public_key] = join
        recs += [inv, join]
        heads = [join.id]
    for p in people:
        pin = rosterkit._body(h, p, records.PIN, heads, k=rosterkit.person(9).public_key, ad=[])
        r = records.sign(p, pin)
        h.last[p.public_key] = r
        recs.append(r)
    s = RosterIndex(h.genesis, recs).state()
    assert len(s.heads) == 70 > schema.MAX_HEADS
    rosterkit.after_checks(h.genesis, recs, _index_state(h.genesis))


def _sign(
    h: rosterkit.History, recs: list[Record], ts: int, who: Any, t: str, heads: list[bytes], **f: Any
) -> Record:
    r = records.sign(who, {**rosterkit._body(h, who, t, heads, **f), "ts": rosterkit.NOW_MS + ts})
    h.last[who.public_key] = r
    recs.append(r)
    return r


def test_a_removal_voided_in_turn_voids_nothing() -> None:
    """bob (admin) removes carol and concurrently leaves: the leave voids the removal. When the
    walk meets the removal first, it voids carol's concurrent records, then the leave voids the
    removal: those voids lapse with it (the roster fuzzer found the old rule, which kept them,
    wedging a circle whose last member's every record stayed void). Index == reference in
    every arrival order."""
    founder = rosterkit.person(1)
    bob, carol = rosterkit.person(2), rosterkit.person(3)
    seen_void = False
    for ts in range(40):
        h = rosterkit.history(rosterkit.Choices(seed=0), 0)
        recs: list[Record] = []

        sign = functools.partial(_sign, h, recs, ts)

        x = rosterkit.NOW_MS // 1000 + 3600
        ib = sign(
            founder,
            records.INVITE,
            [h.genesis.id],
            k=bob.public_key,
            r="admin",
            x=x,
            n=bytes(16),
            e=h.genesis.id,
        )
        jb = sign(bob, records.JOIN, [ib.id], i=ib.id)
        ic = sign(
            founder, records.INVITE, [jb.id], k=carol.public_key, r="member", x=x, n=bytes(16), e=h.genesis.id
        )
        jc = sign(carol, records.JOIN, [ic.id], i=ic.id)
        rm = sign(bob, records.REMOVE, [jc.id], k=carol.public_key, s=1, sh=jc.id)
        lv = sign(bob, records.LEAVE, [jc.id])
        late = sign(
            carol, records.INVITE, [jc.id], k=carol.public_key, r="member", x=x, n=bytes(16), e=h.genesis.id
        )
        ref = fold(h.genesis, recs)
        assert ref.rejected.get(rm.id) == VOID and ref.rejected.get(late.id) != VOID
        assert carol.public_key in ref.members
        seen_void = seen_void or rm.id < lv.id  # the walk met the removal first
        for order in (recs, [*recs[:-1][::-1], late], [late, *recs[:-1]]):
            assert norm(incremental(h.genesis, order)) == norm(ref)
    assert seen_void


def test_renumbering_the_order_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With almost no room between labels, the index renumbers the order all the time."""
    import protocol.fold

    monkeypatch.setattr(protocol.fold, "GAP", 2)
    for seed in range(25):
        check_equal(rosterkit.history(rosterkit.Choices(seed=seed), 40), seed)


def test_a_late_departure_before_a_refused_invitation_frees_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the circle full, dave's invitation is refused; bob's leave, concurrent with it and
    arriving last, may sort before it and free the slot: the index must see that."""
    monkeypatch.setattr(schema, "MAX_MEMBERS", 3)
    founder, bob, carol, dave = (rosterkit.person(n) for n in (1, 2, 3, 4))
    moved = False
    for ts in range(40):
        h = rosterkit.history(rosterkit.Choices(seed=0), 0)
        recs: list[Record] = []
        sign = functools.partial(_sign, h, recs, ts)
        x = rosterkit.NOW_MS // 1000 + 3600
        ib = sign(
            founder,
            records.INVITE,
            [h.genesis.id],
            k=bob.public_key,
            r="member",
            x=x,
            n=bytes(16),
            e=h.genesis.id,
        )
        jb = sign(bob, records.JOIN, [ib.id], i=ib.id)
        ic = sign(
            founder, records.INVITE, [jb.id], k=carol.public_key, r="member", x=x, n=bytes(16), e=h.genesis.id
        )
        idv = sign(
            founder, records.INVITE, [ic.id], k=dave.public_key, r="member", x=x, n=bytes(16), e=h.genesis.id
        )
        sign(bob, records.LEAVE, [jb.id])
        ref = fold(h.genesis, recs)
        moved = moved or idv.id in ref.accepted
        assert norm(incremental(h.genesis, recs)) == norm(ref)
    assert moved
