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


@pytest.mark.timeout(30)
def test_send_ranges_from_a_chains_runs_are_the_plans() -> None:
    """What a member holder sends, from its chains' runs (``ChainTracker.held_runs`` into
    ``sync.send_ranges``), is what ``sync.plan`` gives from every seq held, for any holdings
    (gaps, records buffered above them) and any vector asked with."""
    from protocol.chain import ChainTracker

    rng = random.Random(7)
    authors = [bytes([k]) * 32 for k in range(3)]
    for _ in range(500):
        chains = ChainTracker()
        held: dict[bytes, set[int]] = {}
        for a in authors:
            top = rng.randint(0, 30)
            seqs = {q for q in range(1, top + 1) if q <= top // 2 or rng.random() < 0.6}
            st = chains._author(a)
            for q in sorted(seqs):
                if q == st.contiguous + 1:
                    st.append(bytes([q]) * 32, None, "msg")
                else:
                    st.buffered[q] = None  # type: ignore[assignment]  # only its seq is read
            held[a] = set(chains.held(a))
            assert held[a] == seqs
            assert [q for f, last in chains.held_runs(a) for q in range(f, last + 1)] == sorted(seqs)
        theirs = {a: rng.randint(0, 35) for a in authors if rng.random() < 0.8}
        runs = {a: chains.held_runs(a) for a in chains.authors()}
        want = list(sync.plan({a: s for a, s in held.items() if s}, theirs).send)
        assert sync.send_ranges(runs, theirs) == want, (held, theirs)
    big = ChainTracker()
    st = big._author(authors[0])
    for q in range(1, 100_001):
        st.append(q.to_bytes(32, "big"), None, "msg")
    assert sync.send_ranges({authors[0]: big.held_runs(authors[0])}, {authors[0]: 40_000}) == [
        Range(authors[0], 40_001, 100_000)
    ]
