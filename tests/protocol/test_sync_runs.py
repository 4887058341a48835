"""``sync.plan`` lists what to send as runs of seqs, in time linear in what is held (a holder
with 100,000 records of one author answers a first sync in milliseconds): the same runs as
building them one seq at a time, for any set of seqs."""

from __future__ import annotations

import random

import pytest

from protocol import sync
from protocol.sync import Range


def _one_at_a_time(author: bytes, seqs: list[int]) -> list[Range]:
    out: list[Range] = []
    for q in sorted(seqs):
        if out and out[-1].last + 1 == q:
            out[-1] = Range(author, out[-1].first, q)
        else:
            out.append(Range(author, q, q))
    return out


@pytest.mark.timeout(30)
def test_runs_are_the_runs_of_the_seqs() -> None:
    rng = random.Random(12)
    for _ in range(2000):
        seqs = rng.sample(range(1, 80), rng.randint(0, 40))
        assert sync._runs(b"a" * 32, seqs) == _one_at_a_time(b"a" * 32, seqs), seqs
    assert sync._runs(b"a" * 32, list(range(1, 100_001))) == [Range(b"a" * 32, 1, 100_000)]
