"""The views as they were before issue 12's compact chains (main at 1ca76e6): a test oracle.

protocol/chain.py's ChainTracker and protocol/view.py's CircleView as they kept one Python
object per record (a dict of ids per author, an Entry per record, an ``(author, seq)`` index):
tests/protocol/test_view_compact.py checks the compact view gives the same outcomes and state.
Copied, not maintained: do not use it outside that test.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from protocol import fork, records, roster
from protocol.chain import Buffered, ChainPos, Delivered, Duplicate, Equivocation
from protocol.errors import ProtocolError
from protocol.fold import RosterIndex
from protocol.records import Record
from protocol.roster import Departure, RosterState
from protocol.view import MAX_CONFLICTS_PER_AUTHOR, PENDING, Dropped, Entry, Held, Stored, _POSTS, _SEALED

Outcome = Stored | Held | Dropped | Duplicate


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


class CircleView:
    """A circle's validated state, fed one record at a time."""

    def __init__(
        self,
        genesis: Record | None,
        stored: Iterable[Record] = (),
        conflicts: Iterable[Record] = (),
        *,
        circle_id: bytes | None = None,
    ) -> None:
        self.genesis = genesis
        """None in a pending view: a circle joined by id, its genesis not here yet."""
        self.id = genesis.id if genesis is not None else bytes(circle_id or b"")
        self.records: dict[bytes, Entry] = {}
        """Every record in the chains, by id (what is kept of each: :class:`Entry`)."""
        self.roster_records: dict[bytes, Record] = {}
        """The roster records among them, whole (the fold, tokens and pins read their bodies)."""
        self.conflicts: dict[bytes, Record] = {}
        self._last: dict[bytes, Entry] = {}
        self._roster: list[Record] = []
        self.chains = ChainTracker()
        self._at: dict[tuple[bytes, int], list[Entry]] = {}
        """Every record held per (author, seq), chain and conflicts: more than one is equivocation."""
        self._keys: dict[bytes, bytes] = {}
        """One bytes object per author key, however many entries hold it."""
        self.equivocators: dict[bytes, str] = {}
        """Authors caught signing two records for one chain position (or a broken link), and how."""
        self._cut_chains: dict[tuple[bytes, bytes], dict[int, bytes]] = {}
        for r in sorted(stored, key=lambda r: (r.author, r.seq)):
            if r.type == records.GENESIS or r.id in self.records:
                continue
            e = self._keep(r)
            if isinstance(self.chains.feed(r), Equivocation) and r.seq not in self._seqs(r.author):
                self.chains.place(r)
            self._index(e)
        self._fold: RosterIndex | None = None
        """The roster, folded incrementally (protocol/fold.py): O(1) amortised per record."""
        self.roster: RosterState = roster.unknown(self.id)
        self._settle(conflicts)

    def _settle(self, conflicts: Iterable[Record]) -> None:
        """After the chains are placed: keep the conflicts, flag equivocators, fold the roster."""
        for r in conflicts:
            if r.circle == self.id and r.type != records.GENESIS and r.id not in self.records:
                self.conflicts[r.id] = r
                self._index(self._entry(r))
                if r.is_roster:
                    self._roster.append(r)
        for at in self._at.values():
            for e in at:
                self._flag(e)
        if self.genesis is not None:
            self._fold = RosterIndex(self.genesis, self._roster)
            self.roster = self._fold.state()

    @classmethod
    def from_rows(
        cls, genesis: Record, whole: list[Record], rows: list[ChainRow], conflicts: Iterable[Record] = ()
    ) -> CircleView | None:
        """The view of stored records given mostly as :data:`ChainRow` (only roster records
        whole), without decoding a message: the same view as the constructor's, built in a
        fraction of the time. Only for chains without a gap or a link that disagrees, the
        stored state of nearly every circle; None otherwise, and the caller builds the view
        from whole records (the constructor places and flags what such chains need)."""
        mine = [r for r in whole if r.type != records.GENESIS]
        by_author: dict[bytes, list[tuple[int, bytes, bytes | None]]] = {}
        for r in mine:
            by_author.setdefault(r.author, []).append((r.seq, r.id, r.prev))
        for rid, author, seq, prev, _ in rows:
            by_author.setdefault(author, []).append((seq, rid, prev))
        held: dict[bytes, dict[int, bytes]] = {}
        for author, chain in by_author.items():
            chain.sort()
            before: bytes | None = None
            for n, (seq, rid, prev) in enumerate(chain, 1):
                if seq != n or (n > 1 and prev != before):
                    return None  # a gap, a position held twice or a broken link
                before = rid
            held[author] = {seq: rid for seq, rid, _ in chain}
        view = cls(genesis, (), conflicts=(), circle_id=None)
        view.chains = ChainTracker(held)
        kept = {r.id: r for r in mine}
        for rid, author, seq, prev, rtype in sorted(
            [*((r.id, r.author, r.seq, r.prev, r.type) for r in mine), *rows], key=lambda t: (t[1], t[2])
        ):
            whole_record = kept.get(rid)
            if whole_record is not None:
                view._index(view._keep(whole_record))
                continue
            a = view._keys.setdefault(author, author)
            last = view._last.get(a)
            link = last.id if last is not None and last.id == prev else prev  # one object
            e = view.records[rid] = Entry(rid, a, seq, link, sys.intern(rtype))
            view._note(e)
            view._index(e)
        view._settle(conflicts)
        return view

    @classmethod
    def pending(cls, circle_id: bytes, stored: Iterable[Record] = ()) -> CircleView:
        """A circle I joined by its id (a short token) whose genesis has not arrived: it holds
        my own records, trusts no one's and holds every record that comes (:data:`PENDING`)."""
        return cls(None, stored, circle_id=circle_id)

    def next_pos(self, author: bytes) -> ChainPos:
        """Where ``author``'s next record goes (after the last one held)."""
        last = self._last.get(author)
        return ChainPos() if last is None else ChainPos(last.seq + 1, last.id)

    def held_seqs(self) -> dict[bytes, set[int]]:
        """Every seq held per author (gaps allowed): the input of :func:`protocol.sync.plan`."""
        held: dict[bytes, set[int]] = {}
        for r in self.records.values():
            held.setdefault(r.author, set()).add(r.seq)
        return held

    def _seqs(self, author: bytes) -> set[int]:
        return {q for (a, q) in self._at if a == author}

    def _entry(self, record: Record) -> Entry:
        author = self._keys.setdefault(record.author, record.author)
        last = self._last.get(author)
        prev = last.id if last is not None and last.id == record.prev else record.prev  # one object
        return Entry(record.id, author, record.seq, prev, sys.intern(record.type))

    def _keep(self, record: Record) -> Entry:
        """Place a record in the chains' bookkeeping: its entry, and the whole record if roster."""
        e = self.records[record.id] = self._entry(record)
        self._note(e)
        if record.is_roster:
            self.roster_records[record.id] = record
            self._roster.append(record)
        return e

    def _index(self, e: Entry) -> None:
        self._at.setdefault((e.author, e.seq), []).append(e)

    def record_ids(self) -> list[bytes]:
        """Every record the view holds, chains and conflicts."""
        return [*self.records, *self.conflicts]

    def versions(self, author: bytes, seq: int) -> list[Entry]:
        """Every record held for one chain position (two or more: the author equivocated)."""
        return list(self._at.get((author, seq), ()))

    def evidence(self) -> list[Entry]:
        """Every record that shows an author equivocating: all versions held for a position that
        has more than one, and both sides of a link that disagrees. Sync sends these always, so
        a member who holds one version gets the other, and the one who found a broken link
        hands over what it links against (the other side then finds the second version)."""
        out: dict[bytes, Entry] = {}
        for (a, q), here in self._at.items():
            if a not in self.equivocators:
                continue
            if len(here) > 1:
                out.update((r.id, r) for r in here)
            below = self._at.get((a, q - 1), [])
            if below and any(r.prev not in {b.id for b in below} for r in here):
                out.update((r.id, r) for r in [*here, *below])
        return list(out.values())

    def shown(self, record: Record | Entry) -> bool:
        """The display rule: of the messages held for one position, the smallest id is shown."""
        rivals = [r.id for r in self._at.get((record.author, record.seq), ()) if r.type == record.type]
        return not rivals or record.id == min(rivals)

    def _flag(self, record: Entry) -> None:
        """Flag the author when the set of records held shows two for one position.

        A function of the set, not of arrival order: two records at one seq, or a record
        whose ``p`` is not among those held at ``q - 1`` (while one is held there).
        """
        a, q = record.author, record.seq
        if a in self.equivocators:
            return
        here = self._at.get((a, q), [])
        below = self._at.get((a, q - 1), [])
        above = self._at.get((a, q + 1), [])
        if len(here) > 1:
            self.equivocators[a] = f"signed two records for seq {q}"
        elif below and record.prev not in {r.id for r in below}:
            self.equivocators[a] = f"seq {q} follows a seq {q - 1} that is not the one held"
        elif any(r.prev not in {h.id for h in here} for r in above):
            self.equivocators[a] = f"seq {q + 1} follows a seq {q} that is not the one held"

    def _note(self, e: Entry) -> None:
        last = self._last.get(e.author)
        if last is None or e.seq > last.seq:
            self._last[e.author] = e

    def receive(self, raw: bytes) -> Outcome:
        try:
            record = records.parse(raw)
        except ProtocolError as e:
            return Dropped(f"{type(e).__name__}: {e}")
        return self.add(record)

    def known(self, key: bytes) -> bool:
        """Founder, member, departed member or invitee: someone whose records may be kept."""
        r = self.roster
        if self._fold is None:
            return False
        return key == r.founder or key in r.members or key in r.departed or self._fold.invited(key)

    def check(self, record: Record) -> Outcome | None:
        """The authorisation checks, without storing; None when the record may go in."""
        if record.circle != self.id:
            return Dropped("the record belongs to another circle")
        if self._fold is None:
            if record.id in self.records:
                return Duplicate()
            return Held(record, PENDING)
        if record.type == records.GENESIS:
            return Duplicate() if record.id == self.id else Dropped("a second genesis")
        if record.type == records.PRESENCE:
            return Dropped("a presence announcement is not stored")
        if record.id in self.records or record.id in self.conflicts:
            return Duplicate()
        g = self.genesis
        if record.type == records.CARRY and (g is None or record.author != g.author or not g.body.get("par")):
            return Dropped("only the founder of a forked circle carries history into it")
        author = record.author
        roster = self.roster
        if not self.known(author):
            if record.type == records.JOIN and bytes(record.body["i"]) in roster.invites:
                return Dropped("the join cites an invitation for another key")
            if record.type == records.JOIN or (record.is_roster and self._missing_parents(record)):
                return Held(record, "the author's invitation has not arrived yet")
            if record.type in _SEALED and bytes(record.body["e"]) not in roster.epochs:
                return Held(record, "from an unknown author under an unknown epoch")
            return Dropped("the author is not a member of this circle")
        gone = roster.departed.get(author)
        if gone is not None and record.seq > gone.cut and record.type != records.JOIN:
            verb = {"removed": "was removed from", "unlinked": "was unlinked from"}.get(gone.kind, "left")
            return Dropped(f"the author {verb} the circle; records after that are refused")
        if gone is not None and record.seq <= gone.cut:
            expected = self.cut_expected(author, gone, record.seq)
            if expected is None:
                return Held(record, "below a departed author's cut: waiting for the records up to the cut")
            if expected != record.id:
                return Dropped(
                    "the author has departed; below the cut only the records on the chain the cut "
                    "names are accepted"
                )
        if gone is None and author not in roster.members and record.type in _POSTS:
            return Held(record, "the author was invited but is not a member yet")
        if record.type in _SEALED:
            epoch = roster.epochs.get(bytes(record.body["e"]))
            if epoch is None:
                return Held(record, "the message's epoch key has not arrived yet")
            if author not in epoch.holders:
                return Dropped("signed under an epoch the author does not hold")
        return None

    def cut_expected(self, author: bytes, gone: Departure, seq: int) -> bytes | None:
        """The id the departed ``author`` has at ``seq`` on the chain ending at the cut's record.

        Walked down from the record the departure names through the ``p`` links of records
        held; None when a link is not here yet (the record waits for it).
        """
        if gone.cut_id is None:
            return None
        chain = self._cut_chains.setdefault((author, gone.record), {gone.cut: gone.cut_id})
        low = min(chain)
        while low > seq:
            rid = chain[low]
            rec: Entry | Record | None = self.records.get(rid) or self.conflicts.get(rid)
            if rec is None or rec.author != author or rec.seq != low or rec.prev is None:
                return None
            chain[low - 1] = rec.prev
            low -= 1
        return chain.get(seq)

    def off_the_cut(self) -> list[Entry]:
        """Messages and forks held in the chain of a departed author, at or below the cut, that
        are not on the chain the cut names: another version of history, to be thrown away."""
        out = []
        for author, gone in self.roster.departed.items():
            if gone.cut_id is None:
                continue
            if gone.cut_id in self.records and author not in self.equivocators:
                # The cut's record is in the chain and no link of the author's disagrees, so
                # everything held below it is on the chain it ends: nothing to walk.
                continue
            for q in range(gone.cut, 0, -1):
                expected = self.cut_expected(author, gone, q)
                if expected is None:
                    break
                out += [
                    r
                    for r in self._at.get((author, q), ())
                    if r.id != expected and r.id in self.records and r.type in _POSTS
                ]
        return out

    def _missing_parents(self, record: Record) -> bool:
        return any(h != self.id and h not in self.records for h in record.heads)

    def add(self, record: Record) -> Outcome:
        verdict = self.check(record)
        if verdict is not None:
            return verdict
        fold = self._fold
        assert fold is not None  # a pending view holds every record (check)
        placed = self.chains.feed(record)
        if isinstance(placed, Duplicate):
            return placed
        if isinstance(placed, Equivocation):
            taken = self.records.get(placed.existing)
            if taken is None or taken.seq != record.seq:
                # Its seq is free; only a link disagrees. It takes its place in the chain, so
                # every member ends up holding the same records, and its author is flagged.
                placed = self.chains.place(record)
            else:
                # A second record for a taken position. Dropping one of the two would let members
                # who saw them in different orders keep different histories (and rosters)
                # forever: keep it, outside the chain, as evidence; sync always sends it.
                if (
                    sum(r.author == record.author for r in self.conflicts.values())
                    >= MAX_CONFLICTS_PER_AUTHOR
                ):
                    return Dropped("equivocation by the author: too many conflicting records kept already")
                self.conflicts[record.id] = record
                entry = self._entry(record)
                self._index(entry)
                self._flag(entry)
                if record.is_roster:
                    self._roster.append(record)
                    self.roster = fold.add(record)
                why = f"equivocation by the author ({placed.reason}), kept as evidence"
                changed = record.is_roster and fold.changed
                return Stored(record, (), 0, changed, why, conflict=True)
        entry = self._keep(record)
        self._index(entry)
        self._flag(entry)
        note = None
        changed = False
        if record.is_roster:
            self.roster = fold.add(record)
            changed = fold.changed
            note = self.roster.rejected.get(record.id)
        elif record.type == records.FORK:
            note = fork.check_against(self.roster, record)
        if isinstance(placed, Buffered):
            return Stored(record, (), placed.missing, changed, note)
        assert isinstance(placed, Delivered)
        return Stored(record, placed.records, self.chains.missing(record.author), changed, note)
