"""A circle's view built from the store's columns (``CircleView.from_rows``) is the view built
from every stored record decoded; where it cannot be (a gap, a row from before the ``link``
column), the ledger builds it the old way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import records
from protocol.node.profile import Profile
from protocol.view import CircleView
from tests.node.conftest import three_friends


@pytest.fixture
def club(tmp_path: Path) -> Iterator[tuple[Profile, Profile, bytes]]:
    """alice's circle with bob and carol; messages, a removal and its rekey, more messages."""
    alice, bob, carol, c = three_friends(tmp_path)
    for i in range(30):
        for p in (alice, bob, carol):
            p.send_text(c, f"message {i} from {p.me.hex()[:6]}")
        alice.import_bundle(bob.export([c]))
        alice.import_bundle(carol.export([c]))
    alice.remove(c, carol.me)
    for i in range(5):
        alice.send_text(c, f"after {i}")
    yield alice, bob, c
    for p in (alice, bob, carol):
        p.close()


def _state(v: CircleView) -> dict[str, object]:
    return {
        "records": {i: (e.author, e.seq, e.prev, e.type) for i, e in v.records.items()},
        "roster_records": set(v.roster_records),
        "next": {a: v.next_pos(a) for a in v.chains.authors()},
        "at": {
            (e.author, e.seq): sorted(x.id for x in v.versions(e.author, e.seq)) for e in v.records.values()
        },
        "vector": v.chains.vector(),
        "heads": {a: v.chains.head(a) for a in v.chains.vector()},
        "equivocators": dict(v.equivocators),
        "members": v.roster.members,
        "epoch": v.roster.current_epoch,
        "held_seqs": v.held_seqs(),
    }


def test_the_view_from_columns_is_the_view_from_records(club: tuple[Profile, Profile, bytes]) -> None:
    alice, _, c = club
    store = alice.store
    whole, streamed = store.load_chain_rows(c)
    rows = list(streamed)
    assert len(rows) >= 90, "messages come as rows, not decoded"
    assert all(r.is_roster or r.type == records.GENESIS for r in whole)
    genesis = next(r for r in whole if r.type == records.GENESIS)
    fast = CircleView.from_rows(genesis, whole, rows)
    assert fast is not None
    slow = CircleView(genesis, store.load_records(c))
    assert _state(fast) == _state(slow)
    # and the ledger uses it: a fresh view of the circle is the same
    alice.forget_views()
    assert _state(alice.view(c)) == _state(slow)


def test_a_gap_or_an_old_row_falls_back_to_decoding(club: tuple[Profile, Profile, bytes]) -> None:
    alice, bob, c = club
    store = alice.store
    # a row written before the link column (schema 7): read whole, the view the same
    with store.tx() as db:
        db.execute("UPDATE records SET link = NULL WHERE circle = ? AND type = 'msg' AND seq = 3", (c,))
    whole, streamed = store.load_chain_rows(c)
    rows = list(streamed)
    assert any(r.type == records.MSG for r in whole)
    genesis = next(r for r in whole if r.type == records.GENESIS)
    slow = CircleView(genesis, store.load_records(c))
    fast = CircleView.from_rows(genesis, whole, rows)
    assert fast is not None and _state(fast) == _state(slow)
    assert not any(r.type == records.MSG for r in store.load_chain_rows(c)[0]), "filled in once read"
    # a gap in bob's chain (a record missing below others): not built from rows
    bob_msgs = [i for i, a, q, _, t in rows if a == bob.me and t == records.MSG]
    with store.tx() as db:
        db.execute("DELETE FROM records WHERE id = ?", (bob_msgs[5],))
    whole, rows = store.load_chain_rows(c)
    assert CircleView.from_rows(genesis, whole, rows) is None
    alice.forget_views()
    view = alice.view(c)  # the ledger builds it from decoded records instead
    assert _state(view) == _state(CircleView(genesis, store.load_records(c)))
    assert view.chains.contiguous(bob.me) < max(q for i, a, q, _, t in rows if a == bob.me)


def test_a_broken_link_falls_back(club: tuple[Profile, Profile, bytes]) -> None:
    alice, bob, c = club
    store = alice.store
    with store.tx() as db:
        db.execute(
            "UPDATE records SET link = ? WHERE circle = ? AND author = ? AND seq = 4",
            (b"\x01" * 32, c, bob.me),
        )
    whole, rows = store.load_chain_rows(c)
    genesis = next(r for r in whole if r.type == records.GENESIS)
    assert CircleView.from_rows(genesis, whole, rows) is None


def test_the_view_is_built_as_the_rows_come_not_from_all_of_them_held(tmp_path: Path) -> None:
    """A circle's rows stream from SQLite into the packed chains: building the view of 2,000
    messages allocates little more, at its peak, than the view holds once built (holding every
    row as tuples first peaked at some 500 bytes a record, ten times what the view keeps)."""
    import tracemalloc

    alice, _, _, c = three_friends(tmp_path)
    for i in range(2000):
        alice.send_text(c, f"message {i}")
    alice.forget_views()
    tracemalloc.start()
    try:
        view = alice.view(c)
        live, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(view.records) > 2000
    assert (peak - live) / 2000 < 150, (live, peak)
