"""The benchmarks' receipt counting (scripts/benchkit/wire.py): a message a node told in bulk
(``MessagesArrived``, a sync batch) counts as delivered in a live phase once it is read back,
and only once; a catch-up member counts bulk by number.

Before the read-back, every message a sync repaired under load counted as lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from benchkit.wire import CATCHUP, Receipts, payload

pytestmark = pytest.mark.timeout(30)


def test_a_live_phase_counts_what_was_told_in_bulk_once_read_back() -> None:
    r = Receipts()
    r.add(payload("run", 0, 1.0), 2.0)  # by gossip
    r.add_bulk(2, 3.0)  # a sync batch of two, told as a count
    assert r.count("run") == (1, 2.0)  # a count alone names no message
    assert r.add_told(payload("run", 1, 1.5), 3.0) and r.add_told(payload("run", 2, 1.6), 3.0)
    assert not r.add_told(payload("run", 0, 1.0), 3.0)  # read back again: not a second receipt
    assert r.count("run") == (3, 3.0)
    recv, dups = r.report("run")
    assert sorted(i for i, _, _ in recv) == [0, 1, 2] and dups == 0
    assert not r.add_told(payload(CATCHUP, 5, 1.0), 3.0)  # the catch-up counts by number


def test_a_catch_up_member_counts_bulk_by_number() -> None:
    r = Receipts(by_number=True)
    r.add_bulk(10_000, 4.0)
    assert r.count(CATCHUP) == (10_000, 4.0) and r.count("lo0") == (10_000, 4.0)
    plain = Receipts()
    plain.add_bulk(10_000, 4.0)
    assert plain.count(CATCHUP) == (10_000, 4.0) and plain.count("lo0") == (0, None)
