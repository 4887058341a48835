"""Chain checks that mutation testing found unguarded (issue 17): each test fails if its check breaks.

The tracker is fed records built with explicit chain positions, so a record can cite
the wrong predecessor while its signature is perfectly valid.
"""

from __future__ import annotations

import pytest
from proto_kit import BOB, CAROL, World

from protocol.chain import Buffered, ChainPos, ChainTracker, Delivered, Duplicate, Equivocation
from protocol.records import Record

WRONG = b"\x55" * 32
"""An id no record has: a ``p`` that names nothing."""


def _bob_chain(w: World, n: int) -> tuple[Record, list[Record]]:
    """Bob's join (seq 1) and ``n`` messages after it (seqs 2..n+1), each linked to the one before."""
    join = w.history[1]
    assert (join.type, join.author, join.seq) == ("join", BOB.public_key, 1)
    msgs: list[Record] = []
    pos = ChainPos(1, None).after(join.id)
    for i in range(n):
        m = w.message(BOB, f"m{i}", pos=pos)
        msgs.append(m)
        pos = pos.after(m.id)
    return join, msgs


def test_chain_pos_after_counts_and_links() -> None:
    assert ChainPos() == ChainPos(1, None)
    assert ChainPos().after(b"a" * 32) == ChainPos(2, b"a" * 32)
    assert ChainPos(7, b"x" * 32).after(b"y" * 32) == ChainPos(8, b"y" * 32)


def test_an_unknown_author_has_nothing() -> None:
    t = ChainTracker()
    assert t.contiguous(CAROL.public_key) == 0
    assert t.missing(CAROL.public_key) == 0
    assert t.vector() == {}


def test_in_order_record_citing_the_wrong_predecessor_is_equivocation(world3: World) -> None:
    w = world3
    join, (m2,) = _bob_chain(w, 1)
    t = ChainTracker()
    assert t.feed(join) == Delivered((join,))
    forged = w.message(BOB, "not after my join", pos=ChainPos(2, WRONG))
    out = t.feed(forged)
    assert out == Equivocation(join.id, "seq 2 does not follow the author's seq 1")
    assert t.contiguous(BOB.public_key) == 1  # not delivered, nothing moved
    assert t.feed(m2) == Delivered((m2,))


def test_in_order_record_citing_the_right_predecessor_is_delivered_from_held_state(world3: World) -> None:
    w = world3
    join, (m2, m3) = _bob_chain(w, 2)
    t = ChainTracker({BOB.public_key: {1: join.id, 2: m2.id}})
    assert t.contiguous(BOB.public_key) == 2
    assert t.feed(w.message(BOB, "x", pos=ChainPos(3, join.id))) == Equivocation(
        m2.id, "seq 3 does not follow the author's seq 2"
    )
    assert t.feed(m3) == Delivered((m3,))


def test_held_state_with_a_gap_counts_only_below_it(world3: World) -> None:
    join, (m2, m3, m4) = _bob_chain(world3, 3)
    t = ChainTracker({BOB.public_key: {1: join.id, 2: m2.id, 4: m4.id}})
    assert t.contiguous(BOB.public_key) == 2
    assert t.vector() == {BOB.public_key: 2}
    assert t.feed(m4) == Duplicate()
    assert t.feed(m3) == Delivered((m3,))
    assert ChainTracker({BOB.public_key: {2: m2.id}}).vector() == {}


def test_a_record_whose_buffered_successor_cites_another_is_equivocation(world3: World) -> None:
    w = world3
    join, (m2, m3) = _bob_chain(w, 2)
    t = ChainTracker()
    assert t.feed(join) == Delivered((join,))
    assert t.feed(m3) == Buffered(1)
    # Another seq 2, properly after the join, but m3 (already here) follows m2, not it.
    other2 = w.message(BOB, "the other seq 2", pos=ChainPos(2, join.id))
    assert t.feed(other2) == Equivocation(m3.id, "seq 2 is not the one seq 3 follows")
    assert t.contiguous(BOB.public_key) == 1
    assert t.feed(m2) == Delivered((m2, m3))


def test_delivery_stops_at_a_buffered_record_that_does_not_follow(world3: World) -> None:
    w = world3
    join, (m2, m3) = _bob_chain(w, 2)
    bad4 = w.message(BOB, "after something else", pos=ChainPos(4, WRONG))
    t = ChainTracker()
    assert t.feed(join) == Delivered((join,))
    assert t.feed(m3) == Buffered(1)
    assert t.feed(bad4) == Buffered(1)  # seq 3 is only buffered, so its link is not checked yet
    assert t.missing(BOB.public_key) == 1
    assert t.feed(m2) == Delivered((m2, m3))
    assert t.contiguous(BOB.public_key) == 3
    assert t.missing(BOB.public_key) == 0


def test_missing_counts_the_holes_below_the_highest_buffered(world3: World) -> None:
    join, msgs = _bob_chain(world3, 5)  # seqs 2..6
    t = ChainTracker()
    t.feed(join)
    assert t.feed(msgs[4]) == Buffered(4)  # seq 6: 2..5 missing
    assert t.feed(msgs[1]) == Buffered(3)  # seq 3
    assert t.missing(BOB.public_key) == 3
    assert t.feed(msgs[0]) == Delivered((msgs[0], msgs[1]))
    assert t.missing(BOB.public_key) == 2
    assert t.vector() == {BOB.public_key: 3}


def test_head_is_the_last_contiguous_record(world3: World) -> None:
    join, (m2, m3) = _bob_chain(world3, 2)
    t = ChainTracker()
    assert t.head(BOB.public_key) == (0, None)
    t.feed(join)
    assert t.head(BOB.public_key) == (1, join.id)
    t.feed(m3)
    assert t.head(BOB.public_key) == (1, join.id)  # seq 3 is only buffered
    t.feed(m2)
    assert t.head(BOB.public_key) == (3, m3.id)


def test_place_refuses_a_taken_seq(world3: World) -> None:
    join, (m2, m3) = _bob_chain(world3, 2)
    t = ChainTracker()
    t.feed(join)
    t.feed(m3)  # buffered
    for taken in (join, m3):
        with pytest.raises(ValueError, match=f"seq {taken.seq} is taken"):
            t.place(taken)
    assert t.place(m2) == Delivered((m2, m3))


def test_place_delivers_a_record_whose_link_disagrees_and_what_it_unblocks(world3: World) -> None:
    w = world3
    join, (_m2, m3, m4) = _bob_chain(w, 3)
    other2 = w.message(BOB, "the other seq 2", pos=ChainPos(2, join.id))
    t = ChainTracker()
    t.feed(join)
    assert t.feed(m3) == Buffered(1)
    assert t.feed(m4) == Buffered(1)
    assert isinstance(t.feed(other2), Equivocation)  # m3 follows m2, not other2
    # The validator keeps it anyway: it goes in at seq 2, and m3, m4 follow it in order.
    assert t.place(other2) == Delivered((other2, m3, m4))
    assert t.head(BOB.public_key) == (4, m4.id)
    assert t.missing(BOB.public_key) == 0


def test_place_buffers_a_record_beyond_a_gap(world3: World) -> None:
    join, (m2, m3, m4) = _bob_chain(world3, 3)
    t = ChainTracker()
    t.feed(join)
    assert t.place(m4) == Buffered(2)
    assert t.place(m3) == Buffered(1)
    assert t.head(BOB.public_key) == (1, join.id)
    assert t.place(m2) == Delivered((m2, m3, m4))
    assert t.vector() == {BOB.public_key: 4}
