"""The ledger: the one place a record is committed to a profile's store.

:class:`Ledger` holds each circle's :class:`~protocol.view.CircleView` and commits every
parsed record, whoever brings it (gossip and sync, a bundle, a relay's pin offer, my own
action into the outbox), through its circle's view once (membership, chain, cut): what
the view accepts is stored, what it cannot place yet held and retried when the roster
moves, and what concerns me applied (an epoch key sealed to me, a fork inviting me, a
departure: the purge past and off the cut). The caller gets the outcome and the held
records it let in, and decides what to publish and tell the UI.

A circle joined with a short token (format 2) starts as a pending view (no genesis yet):
its genesis, when sync brings it, opens the circle; and once the roster has judged the
join, :meth:`Ledger.confirm` publishes what I wrote meanwhile, or throws it away.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from protocol import atrest, circle, fork, records
from protocol.chain import Duplicate
from protocol.errors import ProtocolError, RosterError
from protocol.identity import Identity
from protocol.node.store import Store
from protocol.records import Record
from protocol.view import CircleView, Dropped, Entry, Held, Outcome, Stored


@dataclass(frozen=True)
class Commit:
    """What one commit did: the view's outcome, and the held records it let in (stored too)."""

    outcome: Outcome
    released: tuple[Record, ...] = ()
    """Records now in chain order because held ones moved (as :attr:`Stored.delivered`)."""


@dataclass(frozen=True)
class ImportReport:
    stored: int
    duplicates: int
    held: int
    dropped: list[str]
    new_circles: list[bytes]
    skipped: int = 0
    """Records of circles this profile is not in (or has not accepted yet)."""


class Ledger:
    """A profile's circles as validated state, and the commit of every record into its store."""

    def __init__(
        self,
        identity: Identity,
        store: Store,
        clock: Callable[[], float],
        storage_key: bytes | None = None,
        prekeys: Callable[[], list[bytes]] = list,
    ) -> None:
        self.identity = identity
        self.store = store
        self.clock = clock
        self.storage_key = storage_key or atrest.new_storage_key()
        """What secrets at rest are sealed under (never the identity key); a profile passes its own."""
        self.prekeys = prekeys
        """My private prekeys, newest first (what a rekey or a fork may be sealed to)."""
        self.views: dict[bytes, CircleView] = {}
        self.reopened: list[Record] = []
        """Forks whose invitation to me the last commit took late (:meth:`_forks_again`)."""

    def now(self) -> int:
        return int(self.clock())

    def seal(self, data: bytes) -> bytes:
        """``data`` sealed under the storage key (epoch keys and circle names at rest)."""
        return atrest.seal(self.storage_key, data)

    def unseal(self, data: bytes) -> bytes:
        """What :meth:`seal` sealed; a profile's rows from before the storage key (sealed to my
        identity key) still open until :meth:`Profile.open` has re-sealed them."""
        try:
            return atrest.open_sealed(self.storage_key, data)
        except ProtocolError:
            return self.identity.unseal(data)

    def keep_key(self, circle_id: bytes, epoch_id: bytes, key: bytes) -> None:
        """Store an epoch key I hold, sealed under the storage key, with when it came."""
        self.store.add_epoch_key(circle_id, epoch_id, self.seal(key), self.now())

    # views -------------------------------------------------------------------------------------
    def view(self, circle_id: bytes) -> CircleView:
        v = self.views.get(circle_id)
        if v is None:
            whole, rows = self.store.load_chain_rows(circle_id)
            genesis = next((r for r in whole if r.type == records.GENESIS), None)
            if genesis is not None:
                conflicts = [records.parse(raw) for raw in self.store.conflicts(circle_id)]
                fast = CircleView.from_rows(genesis, whole, rows, conflicts)
                if fast is not None:  # chains without gaps: no message decoded
                    v = self.views[circle_id] = fast
                    return v
            stored = self.store.load_records(circle_id)
            genesis = next((r for r in stored if r.type == records.GENESIS), None)
            if genesis is None:
                if self.store.ticket(circle_id) is None:
                    raise RosterError("This circle's genesis is missing from the store.")
                v = self.views[circle_id] = CircleView.pending(circle_id, stored)  # joined by id
                return v
            conflicts = [records.parse(raw) for raw in self.store.conflicts(circle_id)]
            v = self.views[circle_id] = CircleView(genesis, stored, conflicts)
        return v

    def forget(self, circle_id: bytes | None = None) -> None:
        """Drop one circle's cached view (every view when None): the store moved without it."""
        for cid in list(self.views) if circle_id is None else [circle_id]:
            self.views.pop(cid, None)

    # committing ----------------------------------------------------------------------------------
    def commit(
        self, record: Record, *, park_strangers: bool = True, defer: list[Record] | None = None
    ) -> Commit:
        """Validate one record of a circle I am in (or relay) and commit what the view accepts.

        ``park_strangers``: hold a stranger's record too (gossip does not: keys are free; sync
        brings a real one again). ``defer`` (a sync batch, inside its transaction): a member's
        message the view accepts goes there instead of to the store, and :meth:`flush` writes
        them all in one statement; any other record stored flushes them first (:meth:`_keep`), so
        whatever then reads the store (held records, a departure's purge, a view built again)
        sees every record the view has placed."""
        row = self.store.circle(record.circle)
        if row is None or row.status == "invited":
            return Commit(Dropped("the record is for a circle you are not in"))
        view = self.view(record.circle)
        if view.genesis is None and record.type == records.GENESIS:
            return self._open_pending(record)
        outcome = view.add(record)
        if isinstance(outcome, Held):
            if park_strangers or view.known(record.author):
                self.store.hold(record, outcome.reason, self.now())
            return Commit(outcome)
        if not isinstance(outcome, Stored):
            return Commit(outcome)
        self.reopened = []
        released = self.retry_held(record.circle) if self._keep(record, outcome, defer=defer) else []
        return Commit(outcome, (*released, *self.reopened))

    def commit_run(self, run: Sequence[Record], defer: list[Record]) -> int:
        """A sync batch's fast lane: commit the leading members' messages of ``run`` (one author's,
        in seq order) that :meth:`commit` would store with nothing else to do, and defer their
        write (:meth:`flush`) as it would; how many. The rest is left for :meth:`commit`."""
        if not run:
            return 0
        row = self.store.circle(run[0].circle)
        if row is None or row.status == "invited":
            return 0
        view = self.view(run[0].circle)
        if run[0].author in view.roster.departed:
            return 0
        n = view.add_run(run)
        defer.extend(run[:n])
        return n

    def flush(self, deferred: list[Record]) -> None:
        """Store the messages :meth:`commit` deferred, in one statement; empties the list."""
        self.store.add_records(deferred, self.now())
        deferred.clear()

    def commit_own(self, record: Record) -> Stored:
        """Commit my own record like anyone else's, and queue it for publishing; refused: RosterError."""
        outcome = self.view(record.circle).add(record)
        if not isinstance(outcome, Stored):
            self.forget(record.circle)
            raise RosterError(f"Your own record was refused: {getattr(outcome, 'reason', outcome)}.")
        if self._keep(record, outcome, outbox=True):
            self.retry_held(record.circle)
        return outcome

    def open_circle(
        self, genesis: Record, parent: bytes | None, name: bytes, status: str, *, outbox: bool = False
    ) -> None:
        """Add a circle (or set the status of one I have; ``name`` sealed) and store its genesis."""
        with self.store.tx():
            self.store.add_circle(genesis.id, parent, name, status, self.now())
            self._put(genesis, False, outbox=outbox)

    def _open_pending(self, genesis: Record) -> Commit:
        """The genesis of a circle I joined by its id (a short token): its records can now be judged."""
        cid = genesis.id
        with self.store.tx():
            self._put(genesis, False)
            self.store.set_parent(cid, circle.parent_of(genesis))
        self.forget(cid)
        released = self.retry_held(cid)
        self.confirm(cid)
        return Commit(Stored(genesis, (), 0, True), tuple(released))

    def keep_unconfirmed(self, record: Record) -> None:
        """Keep my own record in a circle whose roster has not confirmed my join: stored in my
        chain, not queued for publishing (:meth:`confirm` queues it, or throws it away)."""
        self._put(record, False)
        self.forget(record.circle)

    def confirm(self, cid: bytes) -> None:
        """Once the roster has taken the join I made with a short token: publish what I wrote since.

        The token's word is checked against the invite it named: made by the token's signer,
        for the epoch whose key it sealed to me. If not, that key is not the circle's: it is
        dropped, with what I wrote under it (never sent). Until the roster takes my join (its
        invite not arrived, or refused) nothing happens; :func:`joining.waiting` says why.
        """
        ticket = self.store.ticket(cid)
        if ticket is None:
            return
        view = self.view(cid)
        me = self.identity.public_key
        inv = view.roster.invites.get(ticket.invite)
        join = view.records.get(inv.used_by) if inv is not None and inv.used_by is not None else None
        if view.genesis is None or inv is None or join is None or join.author != me:
            return
        with self.store.tx():
            mine = self.store.unqueued(cid, me, ticket.join_seq)
            honest = inv.inviter == ticket.inviter and inv.epoch == ticket.epoch
            if honest:
                self.store.queue(cid, mine, self.now())
            else:
                self.store.drop_epoch_key(cid, ticket.epoch)
                for rid in mine:
                    self.store.remove_record(rid)
            self.store.drop_ticket(cid)
        if not honest:
            self.forget(cid)

    def keep_token_records(
        self, kept: list[tuple[Record, bool]], held: list[tuple[Record, str]], join: Record
    ) -> bool:
        """Store a token's records its own view admitted and my join (False: its place is taken); settle."""
        for r, conflict in kept:
            self._put(r, conflict)
        for r, why in held:
            self.store.hold(r, why, self.now())
        if not self._put(join, False, outbox=True):
            return False
        self.forget(join.circle)
        self.settle(join.circle)
        return True

    def _keep(
        self, record: Record, outcome: Stored, *, outbox: bool = False, defer: list[Record] | None = None
    ) -> bool:
        """Store an accepted record and apply what concerns me; True if held records may move now."""
        if record.type == records.MSG and record.author not in self.view(record.circle).roster.departed:
            if defer is not None and not outcome.conflict and not outbox:
                defer.append(record)  # written with the rest of its batch (flush)
            else:
                self._put(record, outcome.conflict, outbox=outbox)  # a member's message: nothing else to do
            return False
        if defer:
            self.flush(defer)
        with self.store.tx():
            self._put(record, outcome.conflict, outbox=outbox)
            return self._effects(record, outcome)

    def _put(self, record: Record, conflict: bool, *, outbox: bool = False) -> bool:
        """The one write of an accepted record (in the chain, or as equivocation evidence)."""
        if conflict:
            self.store.add_conflict(record, self.now())
            return True
        return self.store.add_record(record, self.now(), outbox=outbox)

    # what concerns me ----------------------------------------------------------------------------
    def _effects(self, record: Record, outcome: Stored) -> bool:
        me = self.identity.public_key
        cid = record.circle
        if record.type == records.REKEY and (outcome.note is None or outcome.conflict):
            # (a rekey kept as equivocation evidence is in the roster set too: its key may be current)
            for k, sealed in record.body["ks"]:
                if bytes(k) == me:
                    with contextlib.suppress(ProtocolError):  # a key that does not open is not kept
                        key = fork.open_sealed(bytes(sealed), self.identity, self.prekeys())
                        self.keep_key(cid, record.id, key)
        elif record.type == records.FORK and outcome.note is None:
            self._take_fork(cid, record)
        if outcome.roster_changed:
            self._forks_again(cid)
            gone = self.view(cid).roster.departed.get(me)
            if gone is not None:  # an unlinked device is out as a removed member is
                self.store.set_circle_status(cid, "removed" if gone.kind == "unlinked" else gone.kind)
            self.settle(cid)
            self.confirm(cid)
            return True
        gone = self.view(cid).roster.departed.get(record.author)
        if gone is not None and record.seq <= gone.cut:
            # A departed author's record on the chain the cut names lets the one below it in.
            self._purge_off_the_cut(cid)
            return True
        return False

    def _take_fork(self, cid: bytes, record: Record) -> bool:
        """If this fork invites me, keep its child circle as an invitation; True if it was added."""
        if not any(bytes(p[0]) == self.identity.public_key for p in record.body["sl"]):
            return False
        with contextlib.suppress(ProtocolError):  # an invitation that does not open is not one
            inv = fork.open_fork(record, self.identity, self.prekeys())
            if self.store.circle(inv.circle_id) is None and self._fork_room(cid, record.author):
                name = self.seal(inv.name.encode())
                self.store.add_circle(inv.circle_id, cid, name, "invited", self.now(), record.raw)
                return True
        return False

    def _forks_again(self, cid: bytes) -> None:
        """The roster moved: a fork stored before I knew every invitee's join ("a fork invitee is
        not a member of the parent") may fit now. Its invitation to me was not taken then; take
        it now, and tell the UI as if the fork had just arrived (:attr:`reopened`)."""
        view = self.view(cid)
        me = self.identity.public_key
        for raw in self.store.raws_of_type(cid, records.FORK):
            try:
                rec = records.parse(raw)
            except ProtocolError:
                continue
            if not any(bytes(p[0]) == me for p in rec.body["sl"]):
                continue
            child = records.record_id(bytes(rec.body["g"]))
            if self.store.circle(child) is not None or fork.check_against(view.roster, rec) is not None:
                continue
            if self._take_fork(cid, rec):
                self.reopened.append(rec)

    def _fork_room(self, parent: bytes, inviter: bytes) -> bool:
        """Whether another fork invitation from ``inviter`` in ``parent`` may wait (protocol.md 12:
        at most ``fork.MAX_PENDING_PER_INVITER`` from one member, ``MAX_PENDING_PER_CIRCLE`` in all)."""
        waiting = self.store.invited_children(parent)
        if len(waiting) >= fork.MAX_PENDING_PER_CIRCLE:
            return False
        from_them = 0
        for row in waiting:
            try:
                from_them += row.fork_record is not None and records.parse(row.fork_record).author == inviter
            except ProtocolError:
                continue
        return from_them < fork.MAX_PENDING_PER_INVITER

    def settle(self, cid: bytes) -> None:
        """Bring the store in line with the circle's departures, after anything that moves the roster.

        A departed member's posts past their cut are refused by whoever got the removal first;
        whoever stored them before drops them too, or the stores never agree. So go their posts
        below the cut off the chain it names (:meth:`_purge_off_the_cut`).
        """
        departed = self.view(cid).roster.departed
        if sum(self.store.purge_after_cut(cid, k, d.cut) for k, d in departed.items()):
            self.forget()
        self._purge_off_the_cut(cid)

    def _purge_off_the_cut(self, cid: bytes) -> None:
        """Throw away a departed author's messages below the cut that are not on the chain it names.

        They came before the departure did (a removed member rewriting history for someone who
        had not seen the original); the cut now says which history is the real one. A record of
        that real chain kept as a conflict takes the freed place.
        """
        while True:
            view = self.view(cid)
            off = view.off_the_cut()
            if not off:
                return
            with self.store.tx():
                for r in off:
                    self.store.remove_record(r.id)
                    for c in view.versions(r.author, r.seq):
                        if c.id in view.conflicts and _cut_ok(view, c):
                            self.store.remove_record(c.id)
                            self._put(view.conflicts[c.id], False)
                            break
            self.forget()

    def retry_held(self, circle_id: bytes) -> list[Record]:
        """Try held records again until none moves; returns what that delivered in chain order."""

        def again(rec: Record) -> Outcome:
            out = self.view(circle_id).add(rec)
            if isinstance(out, Stored):
                self._keep(rec, out)
            elif not isinstance(out, Held):
                self.store.remove_record(rec.id)
            return out

        # Highest seq first: below a departed author's cut each record lets in the one below it.
        seen, _ = admit(sorted(map(records.parse, self.store.held(circle_id)), key=lambda r: -r.seq), again)
        return [d for _, out in seen if isinstance(out, Stored) for d in out.delivered]

    # offline bundles ----------------------------------------------------------------------------
    def import_records(self, raws: list[bytes]) -> ImportReport:
        """Commit a bundle's records, roster first, retrying what waits on what came later."""
        parsed: list[Record] = []
        dropped: list[str] = []
        for raw in raws:
            try:
                parsed.append(records.parse(raw))
            except ProtocolError as e:
                dropped.append(f"{type(e).__name__}: {e}")
        before = {c.id: c.status for c in self.store.circles()}
        mine = {cid for cid, status in before.items() if status != "invited"}  # no commit accepts a fork
        for g in parsed:  # the genesis of a circle joined by id opens it
            if g.type == records.GENESIS and g.id in mine and self.view(g.id).genesis is None:
                self.commit(g)
        todo = sorted(
            (r for r in parsed if r.circle in mine), key=lambda r: (not r.is_roster, r.author, r.seq)
        )
        seen, waiting = admit(
            [r for r in todo if r.type != records.GENESIS], lambda r: self.commit(r).outcome
        )
        done = [out for _, out in seen if not isinstance(out, Held)]
        dropped += [out.reason for out in done if isinstance(out, Dropped)]
        dup = sum(isinstance(out, Duplicate) for out in done) + sum(r.type == records.GENESIS for r in todo)
        stored = sum(isinstance(out, Stored) for out in done)
        new = [c.id for c in self.store.circles() if c.id not in before]
        return ImportReport(stored, dup, len(waiting), dropped, new, len(parsed) - len(todo))


def admit(
    pending: list[Record], add: Callable[[Record], Outcome]
) -> tuple[list[tuple[Record, Outcome]], list[Record]]:
    """Feed records to ``add`` pass after pass while any is stored: every outcome, and those still held."""
    seen: list[tuple[Record, Outcome]] = []
    progress = True
    while pending and progress:
        progress, rest = False, []
        for r in pending:
            out = add(r)
            seen.append((r, out))
            progress = progress or isinstance(out, Stored)
            rest += [r] if isinstance(out, Held) else []
        pending = rest
    return seen, pending


def _cut_ok(view: CircleView, record: Record | Entry) -> bool:
    gone = view.roster.departed.get(record.author)
    return gone is not None and view.cut_expected(record.author, gone, record.seq) == record.id
