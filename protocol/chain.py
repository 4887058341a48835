"""Per-author hash chains inside a circle: positions, gaps, equivocation.

Every record except a genesis carries ``q`` (seq, from 1) and ``p`` (the id of
the same author's previous record in the circle). :class:`ChainTracker` is the
sans-IO state for one circle: feed it verified records, it tells which become
deliverable in order, which are buffered behind a gap (and how many are
missing), which are duplicates, and which are equivocations (a second record
for a seq already taken, or a ``p`` that does not match its predecessor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protocol.records import Record


@dataclass(frozen=True)
class ChainPos:
    """Where an author's next record goes: its seq and the previous record's id."""

    seq: int = 1
    prev: bytes | None = None

    def after(self, record_id: bytes) -> ChainPos:
        return ChainPos(self.seq + 1, record_id)


@dataclass(frozen=True)
class Delivered:
    """Records now in order (the new one and any it unblocked)."""

    records: tuple[Record, ...]


@dataclass(frozen=True)
class Buffered:
    """Held behind a gap: ``missing`` seqs are not here yet."""

    missing: int


@dataclass(frozen=True)
class Duplicate:
    pass


@dataclass(frozen=True)
class Equivocation:
    """The author signed two different records at one position."""

    existing: bytes
    reason: str


Outcome = Delivered | Buffered | Duplicate | Equivocation


@dataclass
class _Author:
    contiguous: int = 0
    ids: dict[int, bytes] = field(default_factory=dict)
    buffered: dict[int, Record] = field(default_factory=dict)


class ChainTracker:
    """In-order delivery of every author's records in one circle."""

    def __init__(self, held: Mapping[bytes, Mapping[int, bytes]] | None = None) -> None:
        self._authors: dict[bytes, _Author] = {}
        for author, seqs in (held or {}).items():
            st = self._authors.setdefault(author, _Author())
            st.ids.update(seqs)
            while st.contiguous + 1 in st.ids:
                st.contiguous += 1

    def contiguous(self, author: bytes) -> int:
        st = self._authors.get(author)
        return st.contiguous if st else 0

    def vector(self) -> dict[bytes, int]:
        """``{author: highest seq held with no gap below it}``."""
        return {a: st.contiguous for a, st in self._authors.items() if st.contiguous}

    def head(self, author: bytes) -> tuple[int, bytes | None]:
        """The highest seq held with no gap below it, and the id there (``(0, None)``: none)."""
        st = self._authors.get(author)
        if not st or not st.contiguous:
            return 0, None
        return st.contiguous, st.ids[st.contiguous]

    def place(self, record: Record) -> Delivered | Buffered:
        """Put a record whose seq is free into its author's chain even though a link disagrees.

        For the validator, after :meth:`feed` reported an equivocation that left the seq free
        (the record's ``p``, or its successor's, names another record): the author is flagged,
        and every member keeps the same records whatever order they came in. Buffered
        successors are then delivered whatever their ``p``.
        """
        st = self._authors.setdefault(record.author, _Author())
        q = record.seq
        if q in st.ids or q in st.buffered:
            raise ValueError(f"seq {q} is taken")
        if q != st.contiguous + 1:
            st.buffered[q] = record
            return Buffered(self.missing(record.author))
        out = [record]
        st.ids[q] = record.id
        st.contiguous = q
        while st.contiguous + 1 in st.buffered:
            nxt_rec = st.buffered.pop(st.contiguous + 1)
            st.contiguous += 1
            st.ids[st.contiguous] = nxt_rec.id
            out.append(nxt_rec)
        return Delivered(tuple(out))

    def missing(self, author: bytes) -> int:
        st = self._authors.get(author)
        if not st or not st.buffered:
            return 0
        return max(st.buffered) - st.contiguous - len(st.buffered)

    def feed(self, record: Record) -> Outcome:
        st = self._authors.setdefault(record.author, _Author())
        q = record.seq
        known = st.ids.get(q) or (st.buffered[q].id if q in st.buffered else None)
        if known is not None:
            if known == record.id:
                return Duplicate()
            return Equivocation(known, f"a second record for seq {q}")
        prev_id = st.ids.get(q - 1)
        if q > 1 and prev_id is not None and record.prev != prev_id:
            return Equivocation(prev_id, f"seq {q} does not follow the author's seq {q - 1}")
        nxt = st.ids.get(q + 1) or (st.buffered[q + 1].id if q + 1 in st.buffered else None)
        if nxt is not None:
            succ = st.buffered.get(q + 1)
            if succ is not None and succ.prev != record.id:
                return Equivocation(succ.id, f"seq {q} is not the one seq {q + 1} follows")
        if q != st.contiguous + 1:
            st.buffered[q] = record
            return Buffered(self.missing(record.author))
        out = [record]
        st.ids[q] = record.id
        st.contiguous = q
        while st.contiguous + 1 in st.buffered:
            if st.buffered[st.contiguous + 1].prev != st.ids[st.contiguous]:
                break
            nxt_rec = st.buffered.pop(st.contiguous + 1)
            st.contiguous += 1
            st.ids[st.contiguous] = nxt_rec.id
            out.append(nxt_rec)
        return Delivered(tuple(out))
