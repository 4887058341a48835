"""Per-author hash chains inside a circle: positions, gaps, equivocation.

Every record except a genesis carries ``q`` (seq, from 1) and ``p`` (the id of
the same author's previous record in the circle). :class:`ChainTracker` is the
sans-IO state for one circle: feed it verified records, it tells which become
deliverable in order, which are buffered behind a gap (and how many are
missing), which are duplicates, and which are equivocations (a second record
for a seq already taken, or a ``p`` that does not match its predecessor).

It is also where a view keeps its chains (issue 12: memory flat in history): per author the
ids and types of the positions held without a gap, packed in arrays (33 bytes a record), and an
index from id to position (:class:`_IdIndex`, 10-20 bytes a record); only records held above a
gap are kept whole.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

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


ID_SIZE = 32
"""Every record id is a BLAKE2b-256 digest (records.record_id)."""

_TYPE_NAMES: list[str] = [""]
"""Record types by the one-byte code a chain keeps per position (0: not known, from ``held``)."""
_TYPE_CODES: dict[str, int] = {}


def _code(t: str) -> int:
    c = _TYPE_CODES.get(t)
    if c is None:  # the schema admits a handful of types: a byte holds them
        c = _TYPE_CODES[t] = len(_TYPE_NAMES)
        _TYPE_NAMES.append(t)
    return c


class _Author:
    """One author's chain: ``contiguous`` positions packed in arrays, the rest as records.

    Per position 1..contiguous, 33 bytes: the id (``ids``, 32 bytes each) and a type code
    (``types``); a record's ``p`` is the id below it, except where ``links`` says otherwise (a
    record put in place although its link disagrees: :meth:`ChainTracker.place`)."""

    __slots__ = ("buffered", "contiguous", "extra", "ids", "links", "number", "types")

    def __init__(self, number: int) -> None:
        self.contiguous = 0
        self.ids = bytearray()
        self.types = bytearray()
        self.links: dict[int, bytes | None] = {}
        self.buffered: dict[int, Record] = {}
        """Records held above a gap, whole (few: a gap is filled by the next sync)."""
        self.extra: dict[int, bytes] = {}
        """Ids above a gap given to the constructor as ``held`` (no record for them)."""
        self.number = number

    def id(self, q: int) -> bytes | None:
        """The id held at ``q`` (in the chain, buffered, or given as held), if any."""
        if 0 < q <= self.contiguous:
            return bytes(self.ids[ID_SIZE * (q - 1) : ID_SIZE * q])
        b = self.buffered.get(q)
        if b is not None:
            return b.id
        return self.extra.get(q)

    def append(self, rid: bytes, prev: bytes | None, t: str) -> int:
        q = self.contiguous + 1
        below = self.ids[-ID_SIZE:] if q > 1 else None
        if prev != below:
            self.links[q] = prev
        self.ids += rid
        self.types.append(_code(t))
        self.contiguous = q
        return q


class _IdIndex:
    """Which author and seq hold an id, for every position in the chains' arrays.

    An open-addressing table of 8-byte slots (``array('q')``, at most four fifths full), each
    the author's number and the seq; the id itself is read back from the author's arrays, so
    the index costs 10-20 bytes a record where a dict of id objects cost over 150. Probing
    starts at Python's (per-process salted) hash of the id, so no one can make ids collide."""

    SEQ_BITS = 36

    def __init__(self, authors: list[_Author]) -> None:
        self._authors = authors
        self._slots = array("q", bytes(8 * 16))
        self.count = 0

    def find(self, rid: bytes) -> tuple[_Author, int] | None:
        slots = self._slots
        mask = len(slots) - 1
        i = hash(rid) & mask
        while True:
            v = slots[i]
            if not v:
                return None
            st = self._authors[(v - 1) >> self.SEQ_BITS]
            q = (v - 1) & ((1 << self.SEQ_BITS) - 1)
            if st.ids[ID_SIZE * (q - 1) : ID_SIZE * q] == rid:
                return st, q
            i = (i + 1) & mask

    def add(self, rid: bytes, st: _Author, q: int) -> None:
        if 5 * (self.count + 1) > 4 * len(self._slots):
            self._grow()
        self._put(rid, ((st.number << self.SEQ_BITS) | q) + 1)
        self.count += 1

    def _put(self, rid: bytes, v: int) -> None:
        slots = self._slots
        mask = len(slots) - 1
        i = hash(rid) & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = v

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("q", bytes(16 * len(old)))
        low = (1 << self.SEQ_BITS) - 1
        for v in old:
            if v:
                st, q = self._authors[(v - 1) >> self.SEQ_BITS], (v - 1) & low
                self._put(bytes(st.ids[ID_SIZE * (q - 1) : ID_SIZE * q]), v)


class ChainTracker:
    """In-order delivery of every author's records in one circle."""

    def __init__(self, held: Mapping[bytes, Mapping[int, bytes]] | None = None) -> None:
        self._authors: dict[bytes, _Author] = {}
        self._numbered: list[_Author] = []
        self._names: list[bytes] = []
        """Each author's key, by the author's number."""
        self._index = _IdIndex(self._numbered)
        self._loose: dict[bytes, Record] = {}
        """Buffered records by id."""
        for author, seqs in (held or {}).items():
            st = self._author(author)
            while st.contiguous + 1 in seqs:
                self._append(st, seqs[st.contiguous + 1], None, "")
            st.extra.update((q, i) for q, i in seqs.items() if q > st.contiguous)

    def _author(self, author: bytes) -> _Author:
        st = self._authors.get(author)
        if st is None:
            st = self._authors[author] = _Author(len(self._numbered))
            self._numbered.append(st)
            self._names.append(author)
        return st

    def _append(self, st: _Author, rid: bytes, prev: bytes | None, t: str) -> None:
        if prev is None and st.contiguous:  # from ``held``: nothing says the link disagrees
            prev = bytes(st.ids[-ID_SIZE:])
        q = st.append(rid, prev, t)
        self._index.add(rid, st, q)

    def load(self, author: bytes, chain: Iterable[tuple[bytes, bytes | None, str]]) -> None:
        """Put an author's stored chain in place, from seq 1 up (id, ``p`` and type each)."""
        st = self._author(author)
        for rid, prev, t in chain:
            q = st.append(rid, prev, t)
            self._index.add(rid, st, q)

    def contiguous(self, author: bytes) -> int:
        st = self._authors.get(author)
        return st.contiguous if st else 0

    def vector(self) -> dict[bytes, int]:
        """``{author: highest seq held with no gap below it}``."""
        return {a: st.contiguous for a, st in self._authors.items() if st.contiguous}

    def held_vector(self) -> dict[bytes, int]:
        """``{author: highest seq with every seq below it held}``, buffered records counted
        (``sync.vector`` of :meth:`held` per author, without listing every seq)."""
        out = {}
        for a, st in self._authors.items():
            n = st.contiguous
            while n + 1 in st.buffered:
                n += 1
            if n:
                out[a] = n
        return out

    def head(self, author: bytes) -> tuple[int, bytes | None]:
        """The highest seq held with no gap below it, and the id there (``(0, None)``: none)."""
        st = self._authors.get(author)
        if not st or not st.contiguous:
            return 0, None
        return st.contiguous, st.id(st.contiguous)

    def top(self, author: bytes) -> tuple[int, bytes | None]:
        """The highest seq held, gaps below it or not, and the id there (``(0, None)``: none)."""
        st = self._authors.get(author)
        if not st:
            return 0, None
        q = max(st.contiguous, max(st.buffered, default=0))
        return (q, st.id(q)) if q else (0, None)

    def id_at(self, author: bytes, q: int) -> bytes | None:
        """The id of the record held at ``q`` in ``author``'s chain (buffered or not), if any."""
        st = self._authors.get(author)
        return st.id(q) if st is not None else None

    def at(self, author: bytes, q: int) -> tuple[bytes, bytes | None, str] | None:
        """The record held at ``q`` in ``author``'s chain: its id, ``p`` and type."""
        st = self._authors.get(author)
        if st is None:
            return None
        if 0 < q <= st.contiguous:
            rid = bytes(st.ids[ID_SIZE * (q - 1) : ID_SIZE * q])
            if q in st.links:
                prev = st.links[q]
            else:
                prev = bytes(st.ids[ID_SIZE * (q - 2) : ID_SIZE * (q - 1)]) if q > 1 else None
            return rid, prev, _TYPE_NAMES[st.types[q - 1]]
        b = st.buffered.get(q)
        return (b.id, b.prev, b.type) if b is not None else None

    def find(self, rid: bytes) -> tuple[bytes, int] | None:
        """Where the record ``rid`` is held: its author and seq (None: not in any chain)."""
        got = self._index.find(rid)
        if got is not None:
            return self._names[got[0].number], got[1]
        b = self._loose.get(rid)
        return (b.author, b.seq) if b is not None else None

    def held(self, author: bytes) -> list[int]:
        """Every seq held of ``author``'s chain, low to high."""
        st = self._authors.get(author)
        if st is None:
            return []
        return [*range(1, st.contiguous + 1), *sorted(st.buffered)]

    def held_runs(self, author: bytes) -> list[tuple[int, int]]:
        """The seqs :meth:`held` lists, as ``(first, last)`` runs, low to high, without listing them."""
        st = self._authors.get(author)
        if st is None:
            return []
        out = [(1, st.contiguous)] if st.contiguous else []
        for q in sorted(st.buffered):
            if out and q == out[-1][1] + 1:
                out[-1] = (out[-1][0], q)
            else:
                out.append((q, q))
        return out

    def linked(self, author: bytes, q: int) -> bool:
        """True when the record at ``q`` is in the arrays, names the one below it, and the one
        held above it (if any) names it: no link around ``q`` disagrees."""
        st = self._authors.get(author)
        if st is None or not 0 < q <= st.contiguous or q in st.links or q + 1 in st.extra:
            return False
        if q < st.contiguous:
            return q + 1 not in st.links
        above = st.buffered.get(q + 1)
        return above is None or above.prev == bytes(st.ids[-ID_SIZE:])

    def plain(self, author: bytes) -> bool:
        """True when every record held of ``author`` is in the arrays and names the one below it."""
        st = self._authors.get(author)
        return st is None or not (st.links or st.buffered or st.extra)

    def authors(self) -> list[bytes]:
        return list(self._authors)

    def __len__(self) -> int:
        return self._index.count + len(self._loose)

    def ids(self) -> Iterator[bytes]:
        """Every id held in the chains."""
        for st in self._numbered:
            ids = st.ids
            for k in range(0, len(ids), ID_SIZE):
                yield bytes(ids[k : k + ID_SIZE])
        yield from list(self._loose)

    def place(self, record: Record) -> Delivered | Buffered:
        """Put a record whose seq is free into its author's chain even though a link disagrees.

        For the validator, after :meth:`feed` reported an equivocation that left the seq free
        (the record's ``p``, or its successor's, names another record): the author is flagged,
        and every member keeps the same records whatever order they came in. Buffered
        successors are then delivered whatever their ``p``.
        """
        st = self._author(record.author)
        q = record.seq
        if st.id(q) is not None:
            raise ValueError(f"seq {q} is taken")
        if q != st.contiguous + 1:
            st.buffered[q] = record
            self._loose[record.id] = record
            return Buffered(self.missing(record.author))
        out = [record]
        self._append(st, record.id, record.prev, record.type)
        while st.contiguous + 1 in st.buffered:
            nxt_rec = st.buffered.pop(st.contiguous + 1)
            del self._loose[nxt_rec.id]
            self._append(st, nxt_rec.id, nxt_rec.prev, nxt_rec.type)
            out.append(nxt_rec)
        return Delivered(tuple(out))

    def extend(self, author: bytes, run: Iterable[Record], ok: Callable[[Record], bool]) -> int:
        """Append the leading records of ``run`` that ``ok`` passes and :meth:`feed` would deliver
        alone; how many.

        A sync batch's fast lane, on a chain with no link that disagrees and no id given as held
        above a gap: each record the next seq, naming the head (at seq 1: naming nothing), with
        nothing buffered at its seq or the one above it. For each, :meth:`feed` would find no
        record at its seq, a link that agrees, nothing to deliver after it, and return
        ``Delivered((record,))``. The first that does not fit stops the run and is left for
        :meth:`feed` (a gap, a duplicate, an equivocation, the record that fills a gap)."""
        st = self._author(author)
        if st.links or st.extra:
            return 0
        head = bytes(st.ids[-ID_SIZE:]) if st.contiguous else None
        index, buffered, n = self._index, st.buffered, 0
        for r in run:
            q = st.contiguous + 1
            if r.author != author or r.seq != q or r.prev != head or q in buffered or q + 1 in buffered:
                break
            if not ok(r):
                break
            head = r.id
            index.add(head, st, st.append(head, r.prev, r.type))
            n += 1
        return n

    def missing(self, author: bytes) -> int:
        st = self._authors.get(author)
        if not st or not st.buffered:
            return 0
        return max(st.buffered) - st.contiguous - len(st.buffered)

    def feed(self, record: Record) -> Outcome:
        st = self._author(record.author)
        q = record.seq
        known = st.id(q)
        if known is not None:
            if known == record.id:
                return Duplicate()
            return Equivocation(known, f"a second record for seq {q}")
        prev_id = st.id(q - 1) if 1 < q <= st.contiguous + 1 else st.extra.get(q - 1)
        if q > 1 and prev_id is not None and record.prev != prev_id:
            return Equivocation(prev_id, f"seq {q} does not follow the author's seq {q - 1}")
        succ = st.buffered.get(q + 1)
        if succ is not None and succ.prev != record.id:
            return Equivocation(succ.id, f"seq {q} is not the one seq {q + 1} follows")
        if q != st.contiguous + 1:
            st.buffered[q] = record
            self._loose[record.id] = record
            return Buffered(self.missing(record.author))
        out = [record]
        self._append(st, record.id, record.prev, record.type)
        while st.contiguous + 1 in st.buffered:
            nxt_rec = st.buffered[st.contiguous + 1]
            if nxt_rec.prev != bytes(st.ids[-ID_SIZE:]):
                break
            del st.buffered[st.contiguous + 1]
            del self._loose[nxt_rec.id]
            self._append(st, nxt_rec.id, nxt_rec.prev, nxt_rec.type)
            out.append(nxt_rec)
        return Delivered(tuple(out))
