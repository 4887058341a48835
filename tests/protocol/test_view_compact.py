"""The view keeps its chains in packed arrays (issue 12): the same outcomes and the same state as
the view that kept one object per record (``reference_view``, main before the change), for
seeded random input with forged links, equivocation, gaps, replays and any order.

Each seed builds bob's and carol's chains of messages in world3, then adds trouble: a second
version of a position (equivocation), a record whose ``p`` names another record (a broken link),
a record far above its chain (a gap), some records never sent, some sent twice. Both views take
the same shuffled input; every outcome, then the whole state (records, conflicts, equivocators,
evidence, held seqs, next positions, versions and the display rule), must agree, and so must the
views built again from what each stored (constructor, and ``from_rows`` where it applies).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import reference_view
from proto_kit import BOB, CAROL, World

from protocol import sync
from protocol.chain import ChainPos
from protocol.records import Record
from protocol.view import CircleView, Dropped, Duplicate, Held, Stored

SEEDS = range(60)


def _said(out: object) -> tuple[Any, ...]:
    if isinstance(out, Stored):
        return (
            "stored",
            [r.id for r in out.delivered],
            out.missing,
            out.roster_changed,
            out.note,
            out.conflict,
        )
    if isinstance(out, Held):
        return ("held", out.reason)
    if isinstance(out, Dropped):
        return ("dropped", out.reason)
    assert isinstance(out, Duplicate), out
    return ("duplicate",)


def _state(v: Any) -> dict[str, Any]:
    entries = {i: (e.author, e.seq, e.prev, e.type) for i, e in v.records.items()}
    held = {(e.author, e.seq) for e in v.records.values()} | {(r.author, r.seq) for r in v.conflicts.values()}
    authors = {a for a, _ in held}
    return {
        "records": entries,
        "len": len(v.records),
        "conflicts": set(v.conflicts),
        "ids": set(v.record_ids()),
        "equivocators": dict(v.equivocators),
        "evidence": {e.id for e in v.evidence()},
        "held_seqs": v.held_seqs(),
        "next": {a: v.next_pos(a) for a in authors},
        "vector": v.chains.vector(),
        "heads": {a: v.chains.head(a) for a in authors},
        "missing": {a: v.chains.missing(a) for a in authors},
        "versions": {k: sorted(e.id for e in v.versions(*k)) for k in held},
        "shown": {i for i in [*v.records, *v.conflicts] if v.shown(v.records.get(i) or v.conflicts[i])},
        "members": v.roster.members,
        "off_the_cut": {e.id for e in v.off_the_cut()},
    }


def _chain(w: World, who: Any, n: int, rng: random.Random) -> list[Record]:
    pos = w.pos(who)
    out = []
    for i in range(n):
        rec = w.message(who, f"m{i} {rng.random()}", pos=pos)
        out.append(rec)
        pos = pos.after(rec.id)
    return out


def _trouble(w: World, seed: int) -> list[Record]:
    rng = random.Random(seed)
    pool: list[Record] = []
    for who in (BOB, CAROL):
        chain = _chain(w, who, rng.randint(3, 12), rng)
        pool += chain
        base = w.pos(who).seq  # the seq of chain[0]
        for _ in range(rng.randint(0, 3)):
            k = rng.randrange(len(chain))
            q = base + k
            prev = chain[k - 1].id if k else (w.pos(who).prev)
            kind = rng.choice(("twice", "link", "far", "twice_linked"))
            if kind == "twice":  # another version of one position
                pool.append(w.message(who, f"other {rng.random()}", pos=ChainPos(q, prev)))
            elif kind == "link":  # a position's record naming something else below it
                wrong = rng.choice([bytes([rng.randrange(256)]) * 32, *(r.id for r in chain)])
                pool.append(w.message(who, f"link {rng.random()}", pos=ChainPos(q, wrong)))
            elif kind == "far":  # well above the chain: a gap below it
                pool.append(
                    w.message(who, "far", pos=ChainPos(base + len(chain) + rng.randint(1, 5), chain[-1].id))
                )
            else:  # another version, then a record after it
                other = w.message(who, f"fork {rng.random()}", pos=ChainPos(q, prev))
                pool += [other, w.message(who, "after the fork", pos=ChainPos(q + 1, other.id))]
    rng.shuffle(pool)
    sent = [r for r in pool if rng.random() > 0.1]  # some never come (gaps)
    sent += rng.sample(sent, k=min(len(sent), rng.randint(0, 4)))  # some come twice
    rng.shuffle(sent)
    return sent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", SEEDS)
def test_the_compact_view_agrees_with_the_reference(world3: World, seed: int) -> None:
    w = world3
    sent = _trouble(w, seed)
    new = CircleView(w.genesis, list(w.history))
    old = reference_view.CircleView(w.genesis, list(w.history))
    for r in sent:
        assert _said(new.add(r)) == _said(old.add(r)), r.seq
    assert _state(new) == _state(old)
    assert new.chains.held_vector() == sync.vector(old.held_seqs())  # what NodeCore.vector reads
    # built again from what was stored: chain records, and the conflicts beside them
    whole = [w.genesis, *w.history, *(r for r in sent if r.id in new.records)]
    kept = [r for r in sent if r.id in new.conflicts]
    again = CircleView(w.genesis, whole, kept)
    assert _state(again) == _state(reference_view.CircleView(w.genesis, whole, kept))
    rows = [(r.id, r.author, r.seq, r.prev, r.type) for r in whole if not r.is_roster and r is not w.genesis]
    fast = CircleView.from_rows(w.genesis, [r for r in whole if r.is_roster or r is w.genesis], rows, kept)
    if fast is not None:
        assert _state(fast) == _state(again)


def test_the_trouble_is_there() -> None:
    """The seeds make every kind of trouble the test is about (else it proves little)."""
    from proto_kit import ALICE, new_world

    seen: set[str] = set()
    for seed in SEEDS:
        w = new_world()
        w.invite_and_join(ALICE, BOB)
        w.invite_and_join(ALICE, CAROL)
        v = CircleView(w.genesis, list(w.history))
        outs = [v.add(r) for r in _trouble(w, seed)]
        seen |= {type(o).__name__ for o in outs}
        seen |= {"conflict" for o in outs if isinstance(o, Stored) and o.conflict}
        seen |= {"gap" for o in outs if isinstance(o, Stored) and o.missing}
        seen |= {"flagged"} if v.equivocators else set()
    assert {"Stored", "Duplicate", "conflict", "gap", "flagged"} <= seen, seen
