"""A member who signs two roster records for one chain position cannot split the roster."""

from __future__ import annotations

from protocol import actions, circle
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.records import Record
from protocol.view import CircleView, Stored

NOW = 1_800_000_000_000
ALICE, BOB, CAROL, DAVE = (Identity.from_seed(bytes([n]) * 32) for n in (1, 2, 3, 4))


def _setup() -> tuple[Record, list[Record], Record, Record]:
    c = circle.create(ALICE, "friends", NOW)
    v = CircleView(c.genesis)
    inv = actions.invite(ALICE, v.roster, v.next_pos(ALICE.public_key), BOB.public_key, NOW)
    v.add(inv)
    join = actions.join(BOB, inv, ChainPos(), NOW)
    v.add(join)
    pos = v.next_pos(BOB.public_key)
    # bob signs two different invites for the same chain position
    a = actions.invite(BOB, v.roster, pos, CAROL.public_key, NOW)
    b = actions.invite(BOB, v.roster, pos, DAVE.public_key, NOW)
    return c.genesis, [inv, join], a, b


def test_conflicting_roster_records_give_one_roster_in_any_order() -> None:
    genesis, base, a, b = _setup()
    first, second = CircleView(genesis, base), CircleView(genesis, base)
    out_a1, out_b1 = first.add(a), first.add(b)
    out_b2, out_a2 = second.add(b), second.add(a)
    assert isinstance(out_b2, Stored) and not out_b2.conflict
    assert isinstance(out_a1, Stored) and not out_a1.conflict
    assert isinstance(out_b1, Stored) and out_b1.conflict and "equivocation" in str(out_b1.note)
    assert isinstance(out_a2, Stored) and out_a2.conflict
    assert first.roster.roster_hash == second.roster.roster_hash
    assert first.roster.accepted == second.roster.accepted
    assert {a.id, b.id} <= set(first.roster.invites)
    # Reloaded from a store (chain records + conflicts), the view folds the same roster.
    reloaded = CircleView(genesis, [*base, a], [b])
    assert reloaded.roster.roster_hash == first.roster.roster_hash
    assert reloaded.add(b).__class__.__name__ == "Duplicate"


def test_a_conflicting_message_is_kept_as_evidence_and_flags_its_author() -> None:
    genesis, base, a, _ = _setup()
    v = CircleView(genesis, base)
    v.add(a)
    from protocol import messages

    clash = messages.seal(
        BOB, v.id, ChainPos(a.seq, a.prev), v.id, b"\x00" * 32, messages.Content("text", NOW, "hi")
    )
    out = v.add(clash)
    assert isinstance(out, Stored) and out.conflict and "equivocation" in str(out.note)
    assert BOB.public_key in v.equivocators and clash.id in v.conflicts
