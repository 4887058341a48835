"""One circle as a member sees it: the validator every incoming record goes through.

:class:`CircleView` holds a circle's genesis, its stored records, the roster
folded from them and the per-author chains. :meth:`CircleView.receive` takes
untrusted bytes and returns one outcome:

- :class:`Stored`: keep it (and these records are now deliverable in order);
- :class:`Held`: valid, but not placeable yet (an author whose join, or an
  epoch whose rekey, has not arrived): keep it aside and let sync fetch the rest;
- :class:`Dropped`: never store or forward, with the reason for the log;
- :class:`Duplicate`: already held (gossip replays, cache replays).

It is the same code for the topic validator, sync and file import. A view of a circle
joined by a short token (format 2) before its genesis arrived (:meth:`CircleView.pending`)
holds the joiner's own records and knows nobody: everything else is held until sync
brings the genesis.
"""

from __future__ import annotations

import heapq
import itertools
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from protocol import fork, records, roster
from protocol.chain import Buffered, ChainPos, ChainTracker, Delivered, Duplicate, Equivocation
from protocol.errors import ProtocolError
from protocol.fold import RosterIndex
from protocol.records import Record
from protocol.roster import Departure, RosterState

PENDING = "the circle's genesis has not arrived yet"
"""Why a pending view (:meth:`CircleView.pending`) holds every record."""


@dataclass(frozen=True)
class Stored:
    record: Record
    delivered: tuple[Record, ...]
    """Records of the circle now in chain order (this one and any it unblocked)."""
    missing: int = 0
    """Seqs of this author still missing below it (a known gap)."""
    roster_changed: bool = False
    note: str | None = None
    """Set when the record is kept for chain completeness but has no effect."""
    conflict: bool = False
    """A roster record signed for a chain position its author already used: kept outside the
    chain, as evidence and as part of the roster set, so every member folds the same records."""


@dataclass(frozen=True)
class Held:
    record: Record
    reason: str


@dataclass(frozen=True)
class Dropped:
    reason: str


Outcome = Stored | Held | Dropped | Duplicate

_SEALED = (records.MSG, records.CARRY)
"""Record types sealed under an epoch key (``e``): only its holders may sign them."""
_POSTS = (records.MSG, records.FORK, records.CARRY)
"""What members post (not roster records): refused past a departed author's cut."""

MAX_CONFLICTS_PER_AUTHOR = 64
"""Records kept as equivocation evidence per author and circle; more are dropped (a flood)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What a view keeps of a record it placed: enough to place, check and sync the records
    around it. A message's bytes, body and signature stay in the store (a few hundred bytes
    in memory a record, not a few KiB); roster records and conflicts are also kept whole."""

    id: bytes
    author: bytes
    seq: int
    prev: bytes | None
    type: str

    @property
    def is_roster(self) -> bool:
        return self.type in records.ROSTER_TYPES


class ChainRecords(Mapping[bytes, "Entry"]):
    """Every record in a view's chains, by id: a read-only mapping to :class:`Entry`, each
    made when asked for from the chain tracker's arrays (no object is kept per record)."""

    __slots__ = ("_chains",)

    def __init__(self, chains: ChainTracker) -> None:
        self._chains = chains

    def __getitem__(self, rid: bytes) -> Entry:
        got = self.get(rid)
        if got is None:
            raise KeyError(rid)
        return got

    def get(self, rid: bytes, default: Entry | None = None) -> Entry | None:  # type: ignore[override]
        where = self._chains.find(rid)
        if where is None:
            return default
        return _at(self._chains, *where)

    def __contains__(self, rid: object) -> bool:
        return isinstance(rid, bytes) and self._chains.find(rid) is not None

    def __iter__(self) -> Iterator[bytes]:
        return self._chains.ids()

    def __len__(self) -> int:
        return len(self._chains)


def _at(chains: ChainTracker, author: bytes, seq: int) -> Entry | None:
    got = chains.at(author, seq)
    return Entry(got[0], author, seq, got[1], got[2]) if got is not None else None


class _Broken(Exception):
    """A stored chain :meth:`CircleView.from_rows` cannot build (the caller builds it otherwise)."""


def _checked(
    chain: Iterable[tuple[bytes, int, bytes, bytes | None, str]],
) -> Iterator[tuple[bytes, bytes | None, str]]:
    """One author's stored chain, from seq 1 up, as ``ChainTracker.load`` takes it; raises
    :class:`_Broken` at a gap, a position held twice or a link that disagrees."""
    before: bytes | None = None
    for n, (_, seq, rid, prev, rtype) in enumerate(chain, 1):
        if seq != n or (n > 1 and prev != before):
            raise _Broken
        before = rid
        yield rid, prev, rtype


ChainRow = tuple[bytes, bytes, int, bytes | None, str]
"""A stored record as the view keeps it, read from the store's columns: id, author, seq, the
chain link ``p`` (None for none) and type (:meth:`CircleView.from_rows`)."""


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
        self.chains = ChainTracker()
        """Every author's chain: what is kept of each record in it (chain.py's arrays)."""
        self.records: Mapping[bytes, Entry] = ChainRecords(self.chains)
        """Every record in the chains, by id (an :class:`Entry` made when asked for)."""
        self.roster_records: dict[bytes, Record] = {}
        """The roster records among them, whole (the fold, tokens and pins read their bodies)."""
        self.conflicts: dict[bytes, Record] = {}
        self._roster: list[Record] = []
        self._rivals: dict[tuple[bytes, int], list[Entry]] = {}
        """The conflicts per (author, seq): with the chain's record there, two or more versions."""
        self._rival_authors: set[bytes] = set()
        self._may_post: set[tuple[bytes, bytes]] = set()
        """(author, epoch) whose messages passed :meth:`check`'s roster checks under ``_posting``."""
        self._posting: RosterState | None = None
        self.equivocators: dict[bytes, str] = {}
        """Authors caught signing two records for one chain position (or a broken link), and how."""
        self._cut_chains: dict[tuple[bytes, bytes], dict[int, bytes]] = {}
        twice: list[Record] = []
        for r in sorted(stored, key=lambda r: (r.author, r.seq)):
            if r.type == records.GENESIS:
                continue
            placed = self.chains.feed(r)
            if isinstance(placed, Equivocation):
                if self.chains.id_at(r.author, r.seq) is not None:
                    twice.append(r)  # two stored for one position: the second is evidence
                    continue
                placed = self.chains.place(r)
            if not isinstance(placed, Duplicate) and r.is_roster:
                self.roster_records[r.id] = r
                self._roster.append(r)
        self._fold: RosterIndex | None = None
        """The roster, folded incrementally (protocol/fold.py): O(1) amortised per record."""
        self.roster: RosterState = roster.unknown(self.id)
        self._settle([*twice, *conflicts])

    def _settle(self, conflicts: Iterable[Record]) -> None:
        """After the chains are placed: keep the conflicts, flag equivocators, fold the roster."""
        for r in conflicts:
            if r.circle == self.id and r.type != records.GENESIS and r.id not in self.records:
                self.conflicts[r.id] = r
                self._index(self._entry(r))
                if r.is_roster:
                    self._roster.append(r)
        for author in self.chains.authors():
            for e in self._walk(author):
                self._flag(e)
        if self.genesis is not None:
            self._fold = RosterIndex(self.genesis, self._roster)
            self.roster = self._fold.state()

    def _walk(self, author: bytes) -> Iterator[Entry]:
        """Every record held in ``author``'s chain where a link may disagree (the author has
        conflicts, a link exception or a gap); nothing for a plain chain."""
        seqs = self.chains.held(author)
        plain = (
            not any(a == author for a, _ in self._rivals)
            and self.chains.plain(author)
            and (not seqs or seqs[-1] == len(seqs))
        )
        if plain:
            return
        for q in sorted({*seqs, *(q for a, q in self._rivals if a == author)}):
            yield from self._versions(author, q)

    @classmethod
    def from_rows(
        cls, genesis: Record, whole: list[Record], rows: Iterable[ChainRow], conflicts: Iterable[Record] = ()
    ) -> CircleView | None:
        """The view of stored records given mostly as :data:`ChainRow` (only roster records
        whole), without decoding a message: the same view as the constructor's, built in a
        fraction of the time. Only for chains without a gap or a link that disagrees, the
        stored state of nearly every circle; None otherwise, and the caller builds the view
        from whole records (the constructor places and flags what such chains need).

        ``rows`` in (author, seq) order (as the store reads them; ``whole`` in any order):
        each author's chain is checked and built as its rows come, so a circle's rows are never
        all held at once. A chain that fails the check leaves the partly built view unused."""
        mine = sorted((r.author, r.seq, r.id, r.prev, r.type) for r in whole if r.type != records.GENESIS)
        rest = ((author, seq, rid, prev, rtype) for rid, author, seq, prev, rtype in rows)
        view = cls(genesis, (), conflicts=(), circle_id=None)
        try:
            for author, chain in itertools.groupby(heapq.merge(mine, rest), key=lambda x: x[0]):
                view.chains.load(author, _checked(chain))
        except _Broken:
            return None  # a gap, a position held twice or a broken link
        for r in sorted(whole, key=lambda r: (r.author, r.seq)):
            if r.is_roster:
                view.roster_records[r.id] = r
                view._roster.append(r)
        view._settle(conflicts)
        return view

    @classmethod
    def pending(cls, circle_id: bytes, stored: Iterable[Record] = ()) -> CircleView:
        """A circle I joined by its id (a short token) whose genesis has not arrived: it holds
        my own records, trusts no one's and holds every record that comes (:data:`PENDING`)."""
        return cls(None, stored, circle_id=circle_id)

    def next_pos(self, author: bytes) -> ChainPos:
        """Where ``author``'s next record goes (after the last one held)."""
        seq, rid = self.chains.top(author)
        return ChainPos() if rid is None else ChainPos(seq + 1, rid)

    def held_seqs(self) -> dict[bytes, set[int]]:
        """Every seq held per author (gaps allowed): the input of :func:`protocol.sync.plan`."""
        return {a: set(seqs) for a in self.chains.authors() if (seqs := self.chains.held(a))}

    def _entry(self, record: Record) -> Entry:
        return Entry(record.id, record.author, record.seq, record.prev, sys.intern(record.type))

    def _keep(self, record: Record) -> None:
        """A record the chains placed: the whole record too if it is a roster record."""
        if record.is_roster:
            self.roster_records[record.id] = record
            self._roster.append(record)

    def _index(self, e: Entry) -> None:
        self._rivals.setdefault((e.author, e.seq), []).append(e)
        self._rival_authors.add(e.author)

    def record_ids(self) -> list[bytes]:
        """Every record the view holds, chains and conflicts."""
        return [*self.records, *self.conflicts]

    def _versions(self, author: bytes, seq: int) -> list[Entry]:
        e = _at(self.chains, author, seq)
        rivals = self._rivals.get((author, seq))
        if rivals:
            return [e, *rivals] if e is not None else list(rivals)
        return [e] if e is not None else []

    def versions(self, author: bytes, seq: int) -> list[Entry]:
        """Every record held for one chain position (two or more: the author equivocated)."""
        return self._versions(author, seq)

    def evidence(self) -> list[Entry]:
        """Every record that shows an author equivocating: all versions held for a position that
        has more than one, and both sides of a link that disagrees. Sync sends these always, so
        a member who holds one version gets the other, and the one who found a broken link
        hands over what it links against (the other side then finds the second version)."""
        out: dict[bytes, Entry] = {}
        for a in self.equivocators:
            seqs = {*self.chains.held(a), *(q for x, q in self._rivals if x == a)}
            for q in sorted(seqs):
                here = self._versions(a, q)
                if len(here) > 1:
                    out.update((r.id, r) for r in here)
                below = self._versions(a, q - 1)
                if below and any(r.prev not in {b.id for b in below} for r in here):
                    out.update((r.id, r) for r in [*here, *below])
        return list(out.values())

    def shown(self, record: Record | Entry) -> bool:
        """The display rule: of the messages held for one position, the smallest id is shown."""
        rivals = [r.id for r in self._versions(record.author, record.seq) if r.type == record.type]
        return not rivals or record.id == min(rivals)

    def _flag(self, record: Entry | Record) -> None:
        """Flag the author when the set of records held shows two for one position.

        A function of the set, not of arrival order: two records at one seq, or a record
        whose ``p`` is not among those held at ``q - 1`` (while one is held there).
        """
        a, q = record.author, record.seq
        if a in self.equivocators or (a not in self._rival_authors and self.chains.linked(a, q)):
            return  # flagged already, or one record here, linked both ways: nothing to find
        here = self._versions(a, q)
        below = self._versions(a, q - 1)
        above = self._versions(a, q + 1)
        if len(here) > 1:
            self.equivocators[a] = f"signed two records for seq {q}"
        elif below and record.prev not in {r.id for r in below}:
            self.equivocators[a] = f"seq {q} follows a seq {q - 1} that is not the one held"
        elif any(r.prev not in {h.id for h in here} for r in above):
            self.equivocators[a] = f"seq {q + 1} follows a seq {q} that is not the one held"

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
        if self.chains.id_at(record.author, record.seq) == record.id or record.id in self.conflicts:
            return Duplicate()
        g = self.genesis
        if record.type == records.CARRY and (g is None or record.author != g.author or not g.body.get("par")):
            return Dropped("only the founder of a forked circle carries history into it")
        author = record.author
        roster = self.roster
        if record.type == records.MSG:
            if self._posting is not roster:  # the roster moved: judge every author again
                self._may_post, self._posting = set(), roster
            if (author, record.body["e"]) in self._may_post:
                return None  # a member's message, not departed, under an epoch it holds
            verdict = self._check_author(record, roster)
            if verdict is None and author not in roster.departed:
                self._may_post.add((author, bytes(record.body["e"])))
            return verdict
        return self._check_author(record, roster)

    def _check_author(self, record: Record, roster: RosterState) -> Outcome | None:
        """What :meth:`check` asks of the record's author and epoch."""
        author = record.author
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
                    for r in self._versions(author, q)
                    if r.id != expected and r.id in self.records and r.type in _POSTS
                ]
        return out

    def _missing_parents(self, record: Record) -> bool:
        return any(h != self.id and h not in self.records for h in record.heads)

    def add_run(self, run: Sequence[Record]) -> int:
        """Place the leading messages of ``run`` (one author's, in seq order) that need none of
        :meth:`add`'s general case; how many. Each is what :meth:`add` would store as
        ``Stored(r, (r,), missing)``: a message of this circle, not held as a conflict, by an
        author whose right to post under its epoch :meth:`check` has already granted for this
        roster (not departed), who is not flagged and holds no rival version, going straight onto
        the chain (``ChainTracker.extend``; ``missing`` is the chain's gap below what it holds
        above, if anything). The first that does not fit stops it: it goes through :meth:`add`,
        which also grants the right the next run is checked against."""
        if self._fold is None or not run:
            return 0
        author = run[0].author
        if author in self.equivocators or author in self._rival_authors:
            return 0
        if self._posting is not self.roster:
            self._may_post, self._posting = set(), self.roster
        may, conflicts, cid = self._may_post, self.conflicts, self.id

        def ok(r: Record) -> bool:
            if r.type != records.MSG or r.circle != cid or r.id in conflicts:
                return False
            return (author, r.body["e"]) in may

        return self.chains.extend(author, run, ok)

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
            if self.chains.id_at(record.author, record.seq) is None:
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
        self._keep(record)
        self._flag(record)
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
