"""A view keeps a message's place, not its bytes: memory per record stays small (issue 12).

2,000 messages go into a view; what it holds on to afterwards is measured with tracemalloc
(the records themselves are dropped by the test). Keeping each whole record, as views
did, held about 3 KiB a message; an entry object per record (id, author, seq, link, type) about
400 bytes; the chains' packed arrays and id index (protocol/chain.py) about 50.
"""

from __future__ import annotations

import gc
import tracemalloc

from proto_kit import ALICE, World

from protocol.view import CircleView, Entry

COUNT = 2_000


def _retained_per_message(w: World) -> float:
    view = CircleView(w.genesis, list(w.history))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(COUNT):
        rec = w.message(ALICE, f"message {i} " + "x" * 300, pos=view.next_pos(ALICE.public_key))
        view.add(rec)
        del rec
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(view.records) >= COUNT
    return (after - before) / COUNT


def test_a_view_holds_under_100_bytes_per_message(world3: World) -> None:
    per = _retained_per_message(world3)
    assert per < 100, f"{per:.0f} bytes a message"


def test_a_message_in_a_view_is_an_entry_and_roster_records_stay_whole(world3: World) -> None:
    msg = world3.post(ALICE, "hello")
    assert isinstance(world3.view.records[msg.id], Entry)
    assert all(world3.view.roster_records[r.id] is r for r in world3.history if r.is_roster)
