"""The roster fold, incrementally: one record at a time, O(1) amortised per record.

:func:`protocol.roster.fold` is the reference: it sorts the whole record set and walks it
from the genesis. :class:`RosterIndex` gives the same :class:`~protocol.roster.RosterState`
(tests/protocol/test_roster_properties.py checks it against the reference for random
histories in random arrival orders) without redoing that work for every record:

- **Placing.** A record is placed once every parent it cites is placed (until then it is
  pending, exactly as in the reference). The canonical order is kept as a list; a newly
  placed record X, whose parents end at position ``p``, goes before the first record after
  ``p`` whose id is larger than X's (that is where the reference's smallest-id-first walk
  meets it), and at the end when there is none: the common case, since a record cites the
  heads its author had seen.
- **Walking.** A record placed at the end is checked and applied to the current state
  (the reference's loop body, once). A record placed before the end (a *reorder*: it is
  concurrent with records already walked and sorts before them), or a removal that voids
  a record already applied, makes the index walk again from the genesis: the reference's
  loop, over indexed state. That is O(records) and happens only for such a record.
- **Indexed state.** The walk is :class:`protocol.roster.Walk` itself (the rules live in
  one place) with its whole-state scans replaced by indexes (open invitations per inviter
  and invitee, epochs per holder, a heap of eligible epochs), and its maps replaced by
  :class:`~protocol.versioned.VMap`: each state handed out reads them as they were when it
  was made, so nothing is copied per record.
- **Ancestry.** A record's ancestors are kept as a watermark (every record placed before
  it is an ancestor) plus a bitset above it: for histories where records cite recent
  heads, a few machine words.

Past 400 lines: the index and its walk share private state that no other module may see
(the reference in :mod:`protocol.roster` is what it is tested against).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from protocol import records, schema
from protocol.records import Record
from protocol.roster import DEPARTURES, VOID, Epoch, RosterState, Walk, lapsed_departures
from protocol.versioned import Clock, VMap, VMapView, VSet


class _IndexedWalk(Walk):
    """:class:`Walk` over versioned maps, with indexes instead of whole-state scans."""

    def __init__(self, genesis: Record, clock: Clock) -> None:
        super().__init__(genesis)
        self.clock = clock
        # The walk's rules use these as dicts; VMap has the dict methods they call.
        self.v_members = VMap(clock, self.members)
        self.v_relays = VMap(clock, self.relays)
        self.v_departed = VMap(clock, self.departed)
        self.v_invites = VMap(clock, self.invites)
        self.v_epochs = VMap(clock, self.epochs)
        self.v_prekeys = VMap(clock, self.prekeys)
        self.members = self.v_members  # type: ignore[assignment]
        self.relays = self.v_relays  # type: ignore[assignment]
        self.departed = self.v_departed  # type: ignore[assignment]
        self.invites = self.v_invites  # type: ignore[assignment]
        self.epochs = self.v_epochs  # type: ignore[assignment]
        self.prekeys = self.v_prekeys  # type: ignore[assignment]
        self.holders: dict[bytes, VSet[bytes]] = {
            eid: VSet(clock, ep.holders) for eid, ep in self.epochs.items()
        }
        self.held_by: dict[bytes, set[bytes]] = defaultdict(set)
        for eid, ep in self.epochs.items():
            for k in ep.holders:
                self.held_by[k].add(eid)
        self.eligible = [(-ep.number, ep.id) for ep in self.epochs.values()]
        heapq.heapify(self.eligible)
        self.open_for: dict[bytes, set[bytes]] = defaultdict(set)
        """Invitee -> ids of their invitations used by none and not revoked."""
        self.open_by: dict[bytes, set[bytes]] = defaultdict(set)
        """Inviter -> ids of their invitations used by none and not revoked."""
        self.unused_for: dict[bytes, int] = defaultdict(int)
        """Invitee -> number of their invitations used by none (revoked or not)."""
        self.invitees: dict[bytes, int] = defaultdict(int)
        """Invitee -> number of accepted invitations for them (any state)."""
        self.open_outsiders = 0
        """Distinct non-members with an open invitation."""

    # the indexed answers -------------------------------------------------------------
    def slots_taken(self) -> int:
        return len(self.members) + self.open_outsiders

    def has_open_invite(self, k: bytes) -> bool:
        return bool(self.open_for.get(k))

    def invited_unused(self, k: bytes) -> bool:
        return self.unused_for.get(k, 0) > 0

    def hold(self, epoch_id: bytes, k: bytes) -> None:
        self.holders[epoch_id].add(k)
        self.held_by[k].add(epoch_id)

    def open_epoch(self, epoch_id: bytes, number: int, sealed: dict[bytes, bytes]) -> None:
        self.epochs[epoch_id] = Epoch(epoch_id, number, frozenset(), sealed)
        self.holders[epoch_id] = VSet(self.clock, sealed)
        for k in sealed:
            self.held_by[k].add(epoch_id)
        heapq.heappush(self.eligible, (-number, epoch_id))

    def burn(self, k: bytes) -> None:
        self.burned |= self.held_by.pop(k, set())

    def live_epochs_of(self, k: bytes) -> list[bytes]:
        return sorted(e for e in self.held_by.get(k, ()) if e not in self.burned)

    def revoke(self, k: bytes) -> None:
        for iid in sorted(self.open_for.pop(k, set()) | self.open_by.pop(k, set())):
            inv = self.invites[iid]
            self.open_for[inv.invitee].discard(iid)
            self.open_by[inv.inviter].discard(iid)
            self.invites[iid] = replace(inv, revoked=True)

    def _outsider(self, k: bytes) -> int:
        return int(k not in self.members and bool(self.open_for.get(k)))

    def apply(self, r: Record) -> None:
        t, b = r.type, r.body
        if t == records.INVITE:
            touched = [bytes(b["k"])]
        elif t == records.JOIN:
            touched = [r.author]
        elif t in DEPARTURES:
            gone = self.departing(r)
            touched = [*gone, *(self.invites[i].invitee for k in gone for i in self.open_by.get(k, ()))]
        elif t == records.DEVICE:
            touched = [bytes(b["k"])]
        else:
            touched = []
        before = {k: self._outsider(k) for k in touched}
        super().apply(r)
        if t == records.INVITE:
            k = bytes(b["k"])
            self.open_for[k].add(r.id)
            self.open_by[r.author].add(r.id)
            self.unused_for[k] += 1
            self.invitees[k] += 1
        elif t == records.JOIN:
            inv = self.invites[bytes(b["i"])]
            self.open_for[inv.invitee].discard(inv.id)
            self.open_by[inv.inviter].discard(inv.id)
            self.unused_for[inv.invitee] -= 1
        self.open_outsiders += sum(self._outsider(k) - was for k, was in before.items())

    def current(self) -> bytes | None:
        while self.eligible and self.eligible[0][1] in self.burned:
            heapq.heappop(self.eligible)
        return self.eligible[0][1] if self.eligible else None


GAP = 1 << 32
"""Room between two neighbours' labels in the canonical order when they are (re)numbered."""
SLOTS = b"slots"
"""The token of the member count: every invite reads it, invites and departures change it."""
SOFT_CAP = b"softcap"
"""The token of the soft cap: every ``softcap`` record writes it (the last walked holds)."""
FILE_CAP = b"filecap"
"""The token of the file limit: every ``filecap`` record writes it (the last walked holds)."""
REKEY_EVERY = b"rekeyevery"
"""The token of the rekey schedule: every ``rekeyevery`` record writes it (the last walked holds)."""


def tokens(r: Record, inviter: bytes | None = None) -> tuple[list[bytes], list[bytes]]:
    """What a record's check and effect read, and what its effect writes (effects that do not
    depend on order, such as adding a holder to an epoch, aside). Two records where neither
    writes what the other reads or writes give the same outcomes in either order.

    ``inviter``: for a join, the author of its invitation when that is known. A departure
    of the inviter revokes the invitation if it comes first, so the join reads the
    inviter's key, which a departure writes. (Without it, a leave that sorted before a
    join already walked, and revoked its invitation, went unnoticed: the fuzzer's
    ``roster`` target found it.) An invitation not known yet is refused by the check, and
    placing it later clashes on its id."""
    b, t = r.body, r.type
    reads, writes = [r.author], []
    if t in (records.INVITE, records.REMOVE, records.ROLE, records.PIN, records.DEVICE, records.UNLINK):
        reads.append(bytes(b["k"]))
        writes.append(bytes(b["k"]))
    if t == records.INVITE:
        reads += [b"E" + bytes(b["e"]), SLOTS]
        writes += [r.id, SLOTS]  # a join reads whether its invitation is in
    elif t == records.JOIN:
        reads.append(bytes(b["i"]))
        if inviter is not None:
            reads.append(inviter)
        writes += [r.author, bytes(b["i"])]
        if "pk" in b:
            writes.append(b"P" + r.author)  # format 2 carries the joiner's first prekey
    elif t == records.REKEY:
        keys = [bytes(p[0]) for p in b["ks"]]
        reads += [b"E" + bytes(b["pe"]), *keys]
        writes += [b"E" + r.id, *keys]
    elif t in DEPARTURES:
        writes += [bytes(b["k"]) if t != records.LEAVE else r.author, SLOTS]
    elif t == records.DEVICE:
        writes.append(SLOTS)
        if "pk" in b:
            writes.append(b"P" + bytes(b["k"]))  # format 2 carries the device's first prekey
    elif t == records.SOFTCAP:
        writes.append(SOFT_CAP)
    elif t == records.FILECAP:
        writes.append(FILE_CAP)
    elif t == records.PREKEY:
        writes.append(b"P" + r.author)  # the newest wins whatever the order; a departure drops it
    elif t == records.REKEYEVERY:
        writes.append(REKEY_EVERY)
    return reads, writes


class RosterIndex:
    """One circle's roster, fed record by record; :meth:`state` equals ``fold`` of all fed."""

    def __init__(self, genesis: Record, roster_records: Iterable[Record] = ()) -> None:
        self.genesis = genesis
        self.cid = genesis.id
        self.clock = Clock()
        self.recs: dict[bytes, Record] = {}
        self.outside: dict[bytes, str] = {}
        """Rejected before the walk (not a roster record, another circle)."""
        self.waiting: dict[bytes, list[bytes]] = defaultdict(list)
        """A parent not placed yet -> the records waiting for it."""
        self.unplaced: dict[bytes, int] = {}
        """A pending record -> how many of its parents are not placed yet."""
        self.pending: VSet[bytes] = VSet(self.clock)
        self.bit: dict[bytes, int] = {}
        """A placed record -> its stable number (placement order, never changes)."""
        self.low: list[int] = []
        self.above: list[int] = []
        """Per stable number: every record numbered below ``low`` is an ancestor; ``above`` is
        the bitset of ancestors numbered ``low`` and up (bit 0 = ``low``)."""
        self.order: list[bytes] = []
        """The placed records in canonical order."""
        self.labels: list[int] = []
        """Increasing numbers parallel to ``order``: a record's label never changes unless
        every label is renumbered (when two neighbours leave no room between them)."""
        self.label: dict[bytes, int] = {}
        self.touched: dict[bytes, int] = {}
        """Token -> the largest label of a placed record that reads or writes it (:func:`tokens`)."""
        self.written: dict[bytes, int] = {}
        """Token -> the largest label of a placed record that writes it."""
        self.by_author: dict[bytes, list[bytes]] = defaultdict(list)
        self.targeted: dict[bytes, list[bytes]] = defaultdict(list)
        """A key -> the placed removals of it and leaves by it, whatever their outcome."""
        self.device_keys: set[bytes] = set()
        """Keys some placed ``device`` record links: a record by one, or a departure of one,
        makes the index walk again from the genesis (see :meth:`_place`)."""
        self.device_people: set[bytes] = set()
        """Authors of placed ``device`` records: a departure of one walks again too (it takes
        their devices with them)."""
        self.refolds = 0
        """How many times the index walked again from the genesis (for tests and benches)."""
        self.changed = False
        """Whether the accepted set changed in the last :meth:`add`."""
        self._dirty = False
        self._state: RosterState | None = None
        self.out: set[bytes] = set()
        """Departures void for good in the last full walk (:func:`protocol.roster.fold`'s ``out``)."""
        self.out_why: dict[bytes, str] = {}
        self._walk_fresh()
        self.add_many(roster_records)

    # placing -----------------------------------------------------------------------------
    def add(self, record: Record) -> RosterState:
        """Take one record (any order, duplicates ignored) and return the new state."""
        return self.add_many((record,))

    def add_many(self, batch: Iterable[Record]) -> RosterState:
        """Take records (any order); at most one walk from the genesis for the whole batch."""
        self.changed = False
        for r in batch:
            self._take(r)
        if self._dirty:
            self._refold()
        return self.state()

    def _take(self, r: Record) -> None:
        if r.id in self.recs or r.id in self.outside:
            return
        self._state = None
        if not r.is_roster or r.circle != self.cid:
            self.outside[r.id] = "not a roster record" if not r.is_roster else "belongs to another circle"
            self.rejected[r.id] = self.outside[r.id]
            return
        self.recs[r.id] = r
        missing = [h for h in r.heads if h != self.cid and h not in self.bit]
        if missing:
            self.unplaced[r.id] = len(missing)
            for h in missing:
                self.waiting[h].append(r.id)
            self.pending.add(r.id)
            return
        ready = [r.id]
        while ready:
            rid = ready.pop()
            self._place(rid)
            for c in self.waiting.pop(rid, ()):
                self.unplaced[c] -= 1
                if self.unplaced[c] == 0:
                    del self.unplaced[c]
                    self.pending.discard(c)
                    ready.append(c)

    def _place(self, rid: bytes) -> None:
        r = self.recs[rid]
        parents = [h for h in r.heads if h != self.cid]
        self.bit[rid] = len(self.low)
        low, above = self._ancestry([self.bit[h] for h in parents])
        self.low.append(low)
        self.above.append(above)
        self.by_author[r.author].append(rid)
        if r.type in DEPARTURES:
            self.targeted[self._target(r)].append(rid)
        # The reference's walk takes it once its last parent is walked, before the first
        # later record with a larger id.
        after = max((bisect_left(self.labels, self.label[h]) for h in parents), default=-1) + 1
        at = next((i for i in range(after, len(self.order)) if self.order[i] > rid), len(self.order))
        at_end = at == len(self.order)
        self._insert(at, rid)
        if r.type == records.DEVICE:
            self.device_keys.add(bytes(r.body["k"]))
            self.device_people.add(r.author)
        if self.device_keys and (
            not at_end
            or r.type in (records.DEVICE, records.UNLINK)
            or r.author in self.device_keys
            or (r.type in DEPARTURES and self._target(r) in self.device_keys | self.device_people)
        ):
            # Devices are rare and their rules read whole people (a removal takes every device
            # of its target, a device holds what its linker holds): rather than track what they
            # touch, a record that involves one, or any reordering once there is one, is decided
            # by the reference walk.
            self._dirty = True
        mine = self.label[rid]
        invitation = self.recs.get(bytes(r.body["i"])) if r.type == records.JOIN else None
        reads, writes = tokens(r, invitation.author if invitation is not None else None)
        clash = any(self.touched.get(tok, -1) > mine for tok in writes if tok != SLOTS) or any(
            self.written.get(tok, -1) > mine for tok in reads if tok != SLOTS
        )
        if SLOTS in writes and self.touched.get(SLOTS, -1) > mine:
            # The order of invitations and departures matters only if the member count can
            # reach the cap in some order: it never exceeds the founder plus every key ever
            # invited (one more with this record), whatever the order.
            clash = clash or len(self.walk.invitees) + 3 > schema.MAX_MEMBERS
        self._touch(mine, reads, writes)
        if clash:
            self._dirty = True
        if not self._dirty:
            self._step(rid)

    def _insert(self, at: int, rid: bytes) -> None:
        lo = self.labels[at - 1] if at > 0 else 0
        if at == len(self.order):
            label = lo + GAP
        elif self.labels[at] - lo > 1:
            label = (lo + self.labels[at]) // 2
        else:
            # No room: number everything again (rare: ~32 insertions at one place), keeping
            # which record each token's label points at.
            new = {old: GAP * (i + 1) for i, old in enumerate(self.labels)}
            self.labels = list(new.values())
            for x in self.order:
                self.label[x] = new[self.label[x]]
            self.touched = {tok: new[v] for tok, v in self.touched.items()}
            self.written = {tok: new[v] for tok, v in self.written.items()}
            self._insert(at, rid)
            return
        self.order.insert(at, rid)
        self.labels.insert(at, label)
        self.label[rid] = label

    def _touch(self, label: int, reads: list[bytes], writes: list[bytes]) -> None:
        for tok in (*reads, *writes):
            self.touched[tok] = max(self.touched.get(tok, -1), label)
        for tok in writes:
            self.written[tok] = max(self.written.get(tok, -1), label)

    def _ancestry(self, parents: list[int]) -> tuple[int, int]:
        if not parents:
            return 0, 0
        base = max(self.low[p] for p in parents)
        rel = 0
        for p in parents:
            rel |= self.above[p] >> (base - self.low[p])
            if p >= base:
                rel |= 1 << (p - base)
        ones = (~rel & (rel + 1)).bit_length() - 1
        return base + ones, rel >> ones

    def is_ancestor(self, a: bytes, of: bytes) -> bool:
        """``a`` is an ancestor of ``of`` (both placed)."""
        i, j = self.bit[a], self.bit[of]
        low = self.low[j]
        return i < low or bool((self.above[j] >> (i - low)) & 1)

    # walking -----------------------------------------------------------------------------
    def _walk_fresh(self) -> None:
        self.walk = _IndexedWalk(self.genesis, self.clock)
        self.accepted: VSet[bytes] = VSet(self.clock)
        self.rejected: VMap[bytes, str] = VMap(self.clock, self.outside)
        self.void: dict[bytes, bytes] = {}
        """A voided record -> the departure that voids it (as in :func:`protocol.roster.fold`)."""
        self.departures: dict[bytes, list[bytes]] = defaultdict(list)
        self.heads: set[bytes] = set()
        self._heads_tuple: tuple[bytes, ...] = ()

    def _target(self, r: Record) -> bytes:
        return bytes(r.body["k"]) if r.type != records.LEAVE else r.author

    def _check(self, r: Record) -> str | None:
        cited = self.walk.cites(r)
        is_anc = cited is not None and (
            cited in r.heads or (cited in self.bit and self.is_ancestor(cited, r.id))
        )
        return self.walk.check(r, is_anc)

    def _accept(self, r: Record) -> None:
        if r.type in DEPARTURES:
            mine = self.label[r.id]
            for k in self.walk.departing(r):
                revoked = self.walk.open_for.get(k, set()) | self.walk.open_by.get(k, set())
                self._touch(mine, [], list(revoked))
                self.departures[k].append(r.id)
        self.walk.apply(r)
        self.accepted.add(r.id)
        self.rejected.pop(r.id)
        self.changed = True
        for h in r.heads:
            self.heads.discard(h)
        self.heads.add(r.id)
        self._heads_tuple = ()

    def _step(self, rid: bytes) -> None:
        """The reference walk's loop body for one record, on the state of all walked so far
        (which, for a record placed before the end, no later record's outcome depends on)."""
        r = self.recs[rid]
        for d in self.targeted.get(r.author, ()):
            if d == rid or self.is_ancestor(d, rid):
                continue
            if d not in self.accepted:
                # It may have passed its check in a pass of the reference's walk that then
                # restarted, and voided this record there (the void set is kept): walk again.
                self._dirty = True
                return
            self.void[rid] = d
            self.rejected[rid] = VOID
            return
        why = self._check(r)
        if why is not None:
            self.rejected[rid] = why
            return
        if r.type in DEPARTURES:
            for k in self.walk.departing(r):
                for j in self.by_author.get(k, ()):
                    if j == rid or j in self.void or j in self.out or self.is_ancestor(j, rid):
                        continue
                    if j in self.accepted:
                        self._dirty = True
                        return
                    self.void[j] = rid
                    self.rejected[j] = VOID
        self._accept(r)

    def _refold(self) -> None:
        """The reference loop (protocol.roster.fold) over the indexed walk."""
        self.refolds += 1
        before = frozenset(self.accepted)
        out: set[bytes] = set()
        out_why: dict[bytes, str] = {}
        void: dict[bytes, bytes] = {}
        while True:
            self._walk_fresh()
            self.void = void
            restart = False
            for rid in self.order:
                if rid in void or rid in out:
                    continue
                r = self.recs[rid]
                why = self._check(r)
                if why is not None:
                    self.rejected[rid] = why
                    continue
                if r.type in DEPARTURES:
                    for j in (j for k in self.walk.departing(r) for j in self.by_author.get(k, ())):
                        if (
                            j == rid
                            or j in void
                            or j in out
                            or self.is_ancestor(j, rid)
                            or self.is_ancestor(rid, j)
                        ):
                            continue
                        void[j] = rid
                        restart = restart or j in self.accepted
                    if restart:
                        break
                self._accept(r)
            if restart:
                continue
            lapsed = lapsed_departures(void, self.accepted)
            if not lapsed:
                break
            out_why.update({c: VOID if c in void else self.rejected.get(c) or VOID for c in lapsed})
            out |= lapsed
            void = {j: c for j, c in void.items() if c not in lapsed}
        self.out, self.out_why = out, out_why
        for j, why in out_why.items():
            self.rejected[j] = why
        for j in void:
            self.rejected[j] = VOID
        self._dirty = False
        self.changed = self.changed or before != frozenset(self.accepted)

    # the state -----------------------------------------------------------------------------
    def invited(self, key: bytes) -> bool:
        """``key`` is the invitee of an accepted invitation (used, open or revoked)."""
        return self.walk.invitees.get(key, 0) > 0

    def state(self) -> RosterState:
        if self._state is not None:
            return self._state
        w, t = self.walk, self.clock.now
        self.clock.now += 1
        if not self._heads_tuple:
            self._heads_tuple = tuple(sorted(self.heads)) or (self.cid,)
        cur = w.current()
        holders = w.holders

        def epoch_at(ep: Epoch, at: int) -> Epoch:
            return Epoch(ep.id, ep.number, holders[ep.id].at(at), ep.sealed)

        epochs = VMapView(w.v_epochs, t, epoch_at)
        self._state = RosterState(
            circle_id=self.cid,
            founder=w.founder,
            invite_policy=w.policy,
            members=w.v_members.at(t),
            relays=w.v_relays.at(t),
            departed=w.v_departed.at(t),
            invites=w.v_invites.at(t),
            epochs=epochs,
            current_epoch=None if cur is None else epochs[cur],
            heads=self._heads_tuple,
            accepted=self.accepted.at(t),
            rejected=self.rejected.at(t),
            pending=self.pending.at(t),
            soft_cap=w.soft_cap,
            soft_cap_by=w.soft_cap_by,
            file_cap=w.file_cap,
            file_cap_by=w.file_cap_by,
            prekeys=w.v_prekeys.at(t),
            rekey_days=w.rekey_days,
            rekey_messages=w.rekey_messages,
            rekey_by=w.rekey_by,
        )
        return self._state
