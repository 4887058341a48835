"""The node's decisions, sans-IO: an event and the time in, effects out.

:class:`NodeCore` decides, for the trio node (:mod:`protocol.node.node`) that carries
events in and effects out (both in :mod:`protocol.node.events`), what happens to:

- a gossip record (:class:`GossipArrived`, the topic validator): refused peer, relay
  quota, parse, topic, rate per author, presence, then one commit through
  :meth:`protocol.node.ledger.Ledger.commit` (the roster's verdict and the store, before
  forwarding); the answer is :class:`Accept` (forward it) or nothing, with a dropped
  record's reason, a pull, and a strike against the forwarder (too many graylist it:
  :class:`Disconnect`);
- a sync answer's record (:class:`RecordReceived`): the same one commit; a sync answer's batch
  (:class:`BatchReceived`): the same commit per record in one transaction, members' messages
  written in one statement and, when many, told to the UI as one ``MessagesArrived`` (:data:`BULK`);
- what a stored record means: UI events (:class:`Emit`), a gap a :class:`Pull`, a roster
  change :class:`Reconsider`;
- peers coming and going, faults a peer caused, and gossip that py-libp2p dropped on its
  way to a peer (:class:`GossipDropped`): a nudge ``HINT_DELAY`` later (:class:`Wake`, then
  :class:`Tick`) makes that peer pull what it missed in that circle;
- a command (:class:`CommandArrived`): what it means is :func:`protocol.node.commands.decide`'s,
  its failure a ``CommandFailed`` answer; and which addresses the dialer keeps trying.

No trio, libp2p, sockets or clock: the time comes with each call, peers are base58
strings, and records are committed synchronously through the profile's SQLite store.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable

from protocol import files, messages, presence, records, sync
from protocol.errors import ProtocolError, sentence
from protocol.identity import peer_id
from protocol.node import api, carrying, commands, selfcircle
from protocol.node.events import (
    Accept,
    BatchReceived,
    CommandArrived,
    Committed,
    Dial,
    Dialled,
    Disconnect,
    Effect,
    Emit,
    Event,
    GossipArrived,
    GossipDropped,
    JoinTopic,
    KickOutbox,
    PeerCame,
    PeerFaulted,
    PeerWent,
    Pull,
    Reconsider,
    RecordReceived,
    Wake,
)  # fmt: skip
from protocol.node.limits import RateLimit, RelayPolicy, Strikes
from protocol.node.profile import Profile
from protocol.records import Record
from protocol.roster import RosterState
from protocol.view import Dropped, Held, Outcome, Stored

LOG = logging.getLogger("smallsocial.node")
SUSPECT = 0.25
"""A strike's weight for a record the roster refuses (see :meth:`NodeCore.gossip`)."""
HINT_DELAY = 1.0
"""Seconds after py-libp2p drops gossip on its way to a peer before that peer is nudged to pull
(the rest of the burst that overflowed its queue goes in the same nudge)."""
GAP_ASK_EVERY = 2.0
"""Seconds at least between two pulls from one peer for one circle that its records asked (a gap
below one, or a record held for what it needs). One pull brings all that peer holds of the
circle; while the gap stays (that peer lacks the record too) each later record of the author
would ask again: a sync a message, which measured a fifth of a relay's CPU
(docs/performance.md, Relay). Pulls for other reasons (a peer came, a nudge) are not counted."""
GAP_ASKS_KEPT = 1024
"""Pairs remembered before the expired ones are let go."""
HINT_EVERY = 5.0
"""Seconds at least between two nudges. A record gossip dropped is found by its receiver at the
next one from that author (a gap, pulled at once), so only the tail needs the nudge, and it
comes at most this late while drops go on.

Only the peers whose messages were dropped are nudged, in the circles dropped: py-libp2p's
per-peer queue (32 RPCs) is where gossip loses a burst's tail, and a peer that got everything
needs no sync. Nudging every peer after every send instead cost a relay 11% of its CPU with
200 members sending (py-spy, ``bench_relay.py``): a sync stream per sending member every 5 s."""
BULK = 16
"""A sync batch that brings at least this many messages by others tells the UI with one
``MessagesArrived`` instead of a ``MessageReceived`` each (each opened and decoded here): the UI
reads the page it shows from the store. Fewer keep their own events (notifications, mentions)."""
ASIDE_MAX = 32
"""Presences kept aside per circle while my roster or keys cannot judge or open them yet."""


def _once_a_batch(effects: list[Effect]) -> list[Effect]:
    """A batch's effects with each author's gap told once, at its end (the last count told),
    and each pull asked once: one at a time, each record of a run below one held above a gap
    tells its gap and asks a pull, 10,000 events where the UI keeps one count an author."""
    gaps: dict[tuple[bytes, bytes], Effect] = {}
    pulls: dict[Pull, None] = {}
    out: list[Effect] = []
    for e in effects:
        if isinstance(e, Emit) and isinstance(e.event, api.GapDetected):
            gaps.pop((e.event.circle, e.event.author), None)
            gaps[e.event.circle, e.event.author] = e
        elif isinstance(e, Pull):
            pulls[e] = None
        else:
            out.append(e)
    return out + list(gaps.values()) + list(pulls)


class NodeCore:
    """The decisions of one node (a member, or a relay when given a :class:`RelayPolicy`)."""

    def __init__(
        self,
        profile: Profile,
        *,
        relay: RelayPolicy | None = None,
        blocked: Callable[[str], bool] = lambda peer: False,
        addrs: Callable[[], list[str]] = list,
        token_addrs: Callable[[], list[str]] | None = None,
        peers: list[str] | None = None,
    ) -> None:
        """``addrs``: my dialable addresses now; ``token_addrs``: the few a token carries
        (default: ``addrs``); ``peers``: addresses to keep dialling (``--peer``)."""
        self.profile, self.relay, self.blocked = profile, relay, blocked
        self.public_addrs, self.token_addrs = addrs, token_addrs or addrs
        self.extra_peers = list(peers or [])
        self.rate = RateLimit()
        self.strikes = Strikes()
        self.stats: dict[str, int] = defaultdict(int)
        self.connected: set[str] = set()
        self.hint: set[tuple[str, bytes]] = set()
        """(peer, circle) pairs whose gossip py-libp2p dropped since the last nudge."""
        self.hint_at = 0.0
        self.hint_next = 0.0
        """The earliest time the next nudge may go (``HINT_EVERY`` after the last)."""
        self.asked: dict[tuple[str, bytes], float] = {}
        """(peer, circle) -> when its records may ask for a pull again (:meth:`_ask`)."""
        self.aside: dict[bytes, dict[bytes, Record]] = {}
        """Per circle, each author's newest presence that came before my roster could judge it
        or my keys open it (a joiner, before sync): looked at again when the roster changes,
        so a name and addresses greeted once are not lost until the next minute's presence."""

    def handle(self, event: Event, now: float) -> list[Effect]:
        """What to do about ``event`` at ``now``."""
        if isinstance(event, GossipArrived):
            return self._handed(self.gossip(event, now))
        if isinstance(event, RecordReceived):
            return self._handed(self._commit(event.record, event.source, now)[1])
        if isinstance(event, BatchReceived):
            return self._handed(self._commit_batch(event.records, event.source, now))
        if isinstance(event, PeerCame):
            if self.refused(event.peer, now):
                return [Disconnect(event.peer)]
            if event.peer in self.connected:
                return []
            self.connected.add(event.peer)
            return [Emit(api.PeerConnected(event.peer)), Pull(event.peer, None)]
        if isinstance(event, PeerWent):
            self.connected.discard(event.peer)
            return [Emit(api.PeerDisconnected(event.peer))]
        if isinstance(event, PeerFaulted):
            self.stats["peer_faults"] += 1
            return self.strike(event.peer, event.weight, now)
        if isinstance(event, CommandArrived):
            return self.command(event.command)
        if isinstance(event, Dialled):
            if not event.ok:
                return [Emit(api.CommandFailed(event.request_id, f"Could not reach {event.addr}."))]
            if event.addr not in self.extra_peers:
                self.extra_peers.append(event.addr)  # and the dialer keeps it up
            return [Emit(api.CommandDone(event.request_id))]
        if isinstance(event, GossipDropped):
            first = not self.hint
            self.hint |= {(event.peer, c) for c in event.circles}  # one nudge for the whole burst
            if first and self.hint:
                self.hint_at = max(now + HINT_DELAY, self.hint_next)
                return [Wake(self.hint_at)]
            return []
        if self.hint and now >= self.hint_at:
            # Seeing my newer vector, the peer pulls from me what gossip dropped: a receiver
            # notices a gap only at the author's next record, which may not come for a while.
            pairs, self.hint = self.hint, set()
            self.hint_next = now + HINT_EVERY
            return [Pull(p, c) for p, c in sorted(pairs) if p in self.connected]
        return []

    # my devices -------------------------------------------------------------------------------
    def devices_round(self, only: bytes | None = None) -> list[Effect]:
        """My linked devices brought into my circles where they are missing (all, or ``only``),
        and, on a linked device, the circles handed to it opened (:mod:`protocol.node.selfcircle`)."""
        p = self.profile
        if self.relay is not None or selfcircle.circle_id(p) is None:
            return []
        try:
            brought = selfcircle.reconcile(p, only)
            opened = selfcircle.take(p) if only is None else []
        except (ProtocolError, sqlite3.Error) as e:
            LOG.warning("could not hand circles to my devices: %s", e)
            return []
        out: list[Effect] = [KickOutbox()] if brought else []
        for cid in opened:
            row = p.store.circle(cid)
            name = p.circle_name(row) if row is not None else ""
            out += [JoinTopic(cid), *(Dial(a) for a in p.store.peer_addrs(cid))]
            out += [Pull(peer, cid) for peer in sorted(self.connected)]
            out.append(Emit(api.CircleJoined(None, cid, name)))
        return [*out, Reconsider()] if opened else out

    def _handed(self, out: list[Effect]) -> list[Effect]:
        """``out``, and what a handoff among the records it committed leads to (on a linked device)."""
        if self.relay is None and any(isinstance(e, Committed) and e.record.type == records.MSG for e in out):
            own = selfcircle.circle_id(self.profile)
            if own is not None and any(isinstance(e, Committed) and e.record.circle == own for e in out):
                out += self.devices_round()
        return out

    # commands ---------------------------------------------------------------------------------
    def command(self, cmd: api.Command) -> list[Effect]:
        """What ``cmd`` means; a failure is its ``CommandFailed`` answer (nothing of it was kept)."""
        try:
            effects = commands.decide(self, cmd)
        except (ProtocolError, ValueError) as e:
            why = sentence(e)
        except sqlite3.OperationalError as e:
            LOG.warning("command %s could not be stored: %s", type(cmd).__name__, e)
            full = "the disk is full" if "full" in str(e) else f"the store cannot be written ({e})"
            why = f"Nothing was done: {full}; free some space and retry."
        except Exception as e:
            LOG.exception("command %r failed", cmd)
            why = f"Internal error: {e}"
        else:
            # A join brings the keys and the roster a presence set aside waited for.
            joined = [e.circle for e in effects if isinstance(e, JoinTopic)]
            return effects + [e for c in joined for e in self._look_again(c)]
        return [Emit(api.CommandFailed(cmd.request_id, why))]

    # peers ------------------------------------------------------------------------------------
    def known_addrs(self) -> list[str]:
        """Addresses to keep dialling; a relay dials only ``--peer`` ones (many members cannot be dialled)."""
        addrs = list(self.extra_peers)
        if self.relay is None:
            for c in self.profile.store.circles():
                if c.status == "member":
                    addrs += [a for r in self.profile.view(c.id).roster.relays.values() for a in r.addrs]
                addrs += self.profile.store.peer_addrs(c.id)
        return [a for a in dict.fromkeys(addrs) if "/p2p/" in a]

    def refused(self, peer: str, now: float) -> bool:
        """A peer in the block list, or graylisted for flooding me with invalid records."""
        return self.strikes.graylisted(peer, now) or self.blocked(peer)

    def strike(self, peer: str, weight: float, now: float) -> list[Effect]:
        return [Disconnect(peer)] if self.strikes.strike(peer, weight, now) else []

    # gossip -----------------------------------------------------------------------------------
    def gossip(self, ev: GossipArrived, now: float) -> list[Effect]:
        """The topic validator: :class:`Accept` or not, and the forwarder charged for what it sent.

        A full strike for what no honest peer forwards: bytes that do not parse or verify,
        or a record on another circle's topic (honest peers check those first). A quarter
        strike for a record refused by the roster (a non-member author, a bad presence):
        an honest peer may know a join that has not reached me yet, but keys are free, and
        a flooder signing each record with a fresh key must not go uncharged. None while my
        own join (a short token's) is not in my roster: that roster cannot tell who is in
        yet, and only the peers the token named may send me the circle's records then.
        """
        if self.relay is not None and self.relay.over(ev.circle, ev.raw, None, now):
            self.stats["over_quota"] += 1
            return []
        if self.refused(ev.forwarder, now):
            return []
        out: list[Effect] = []
        weight = self._check(ev, now, out)
        if weight and not ev.own:
            out += self.strike(ev.forwarder, weight, now)
        return out

    def _check(self, ev: GossipArrived, now: float, out: list[Effect]) -> float:
        cid = ev.circle
        try:
            record = records.parse(ev.raw)
        except ProtocolError as e:
            out += self.drop(cid, f"from {ev.forwarder}: {type(e).__name__}: {e}")
            return 1.0
        if record.circle != cid:
            out += self.drop(cid, "a record published on another circle's topic")
            return 1.0
        if record.author == self.profile.me:
            # My own publish passes; a replay of my record by someone else is not forwarded again.
            out += [Accept()] if ev.own else []
            return 0.0
        if not self.rate.allow(record.author, now):
            out += self.drop(cid, f"rate limit for author {peer_id(record.author)}")
            return 0.0
        view = self.profile.view(cid)
        judged = self.relay is not None or self.profile.me in view.roster.members
        if record.type == records.PRESENCE:
            why = presence.check(record, view.roster, int(self.profile.clock() * 1000))
            if why is not None and not judged:
                self._set_aside(cid, record)
                return 0.0  # not forwarded, not held against anyone: my roster is not whole yet
            if why is not None:
                out += self.drop(cid, why)
                return SUSPECT
            out += self._presence(cid, record)
            return 0.0
        # Committed here, once: what the roster accepts is stored before it is forwarded.
        try:
            outcome, effects = self._commit(record, ev.forwarder, now)
        except ProtocolError as e:
            out += self.drop(cid, str(e))
            return 0.0
        out += effects
        LOG.debug(
            "gossip from %s: %s record by %s: %s",
            ev.forwarder,
            record.type,
            peer_id(record.author),
            type(outcome).__name__,
        )
        if isinstance(outcome, Stored):
            out.append(Accept())
        elif isinstance(outcome, Dropped) or (isinstance(outcome, Held) and not view.known(record.author)):
            # (a stranger's unplaceable record is not kept aside: sync brings it if it is real)
            return SUSPECT if judged else 0.0
        return 0.0

    def _presence(self, circle_id: bytes, record: Record) -> list[Effect]:
        """Learn a member's addresses and name from a presence I can open (a relay cannot).

        Whether to forward it: one I cannot open for want of its epoch key (a relay; a
        member before sync brings the key) goes on, its author and signature checked; one
        that does not open with the key, or says what it may not, stops here.
        """
        key = self.profile.epoch_keys(circle_id).get(bytes(record.body["e"]))
        if key is None:
            if self.relay is None:
                self._set_aside(circle_id, record)
            return [Accept()]
        try:
            seen = presence.open_presence(record, key)
        except ProtocolError as e:
            return self.drop(circle_id, f"a presence that does not open: {e}")
        out: list[Effect] = [Accept()]
        store = self.profile.store
        with contextlib.suppress(sqlite3.OperationalError):  # a full disk: the next one will do
            store.add_peer_addrs(circle_id, list(seen.addrs), "presence", int(self.profile.clock()))
            name = " ".join(seen.name.split())
            if name and store.set_name(record.author, name, int(record.body["ts"])):
                out.append(Emit(api.NameChanged(record.author, name)))
        return out

    def _set_aside(self, circle_id: bytes, record: Record) -> None:
        """Keep an author's newest presence I cannot judge or open yet (bounded per circle)."""
        held = self.aside.setdefault(circle_id, {})
        old = held.pop(record.author, None)
        if old is not None and int(old.body["ts"]) > int(record.body["ts"]):
            record = old
        held[record.author] = record
        while len(held) > ASIDE_MAX:
            del held[next(iter(held))]  # the one set aside longest ago

    def _look_again(self, circle_id: bytes) -> list[Effect]:
        """The roster changed: judge and open the presences set aside for the circle again."""
        out: list[Effect] = []
        for record in self.aside.pop(circle_id, {}).values():
            view = self.profile.view(circle_id)
            why = presence.check(record, view.roster, int(self.profile.clock() * 1000))
            if why is None:
                out += [e for e in self._presence(circle_id, record) if not isinstance(e, Accept)]
            elif self.profile.me not in view.roster.members:
                self._set_aside(circle_id, record)  # still not whole: wait for the next change
            else:
                LOG.info("a presence set aside is not believed: %s", why)
        return out

    def _ask_newcomers(self, circle_id: bytes, before: RosterState) -> list[Effect]:
        """Pull from a connected peer whose invitation just arrived (it has likely joined
        already), or whose join did: its own pulls were refused while I did not know it.

        Its join may have come first, by gossip, and been let go (a stranger's record is not
        kept). A joiner that reaches only a relay pulls on connect, before its join has reached
        the relay, and is refused. Without this, either waits for the next periodic pull."""
        after = self.profile.view(circle_id).roster
        invited = after.open_invitees() - before.open_invitees()
        joined = after.members.keys() - before.members.keys() - {self.profile.me}
        asked = sorted(p for p in (peer_id(k) for k in invited) if p in self.connected)
        welcomed = sorted(p for p in (peer_id(k) for k in joined) if p in self.connected)
        LOG.debug("new invitees in %s: %d, connected: %d", circle_id.hex()[:12], len(invited), len(asked))
        out: list[Effect] = [Pull(p, circle_id, invitee=True) for p in asked]
        return out + [Pull(p, circle_id) for p in welcomed]

    def drop(self, circle_id: bytes | None, reason: str) -> list[Effect]:
        """A record not taken: a log line and a count (a member also tells the UI; a relay keeps count)."""
        if self.relay is not None:
            self.stats["rejected"] += 1
            self.profile.store.bump("rejected")
            LOG.info("rejected: %s", reason)
            return []
        self.stats["dropped"] += 1
        LOG.info("dropped a record: %s", reason)
        return [Emit(api.RecordDropped(circle_id, reason))]

    # committing -------------------------------------------------------------------------------
    def _commit_batch(self, batch: tuple[Record, ...], source: str | None, now: float) -> list[Effect]:
        """Commit a sync batch in one transaction, each record as :meth:`_commit` does; members'
        messages written together (``Ledger.commit``'s ``defer``) and, :data:`BULK` or more,
        announced together."""
        if self.relay is not None:  # quotas and retention count each record
            return [e for r in batch for e in self._commit(r, source, now)[1]]
        out: list[Effect] = []
        shown: dict[bytes, list[Record]] = {}
        deferred: list[Record] = []
        ledger, mine = self.profile.ledger, self.profile.me
        with self.profile.store.tx():  # rolled back whole if it fails (the store forgets the views)
            i, end = 0, len(batch)
            while i < end:
                r = batch[i]
                j = i + 1
                if r.type == records.MSG:  # a run of one author's messages: the fast lane first
                    while j < end and batch[j].author == r.author and batch[j].type == records.MSG:
                        j += 1
                while i < j:
                    n = ledger.commit_run(batch[i:j], deferred)
                    if n:  # each as _commit would have: stored, committed, shown in bulk if not mine
                        taken = batch[i : i + n]
                        self.stats["stored"] += n
                        cid = taken[0].circle
                        out += map(Committed, taken)
                        gap = ledger.view(cid).chains.missing(r.author)  # below a record held above
                        if gap and source is not None:  # as _commit tells it (the last one counts)
                            out += [Emit(api.GapDetected(cid, r.author, gap)), *self._ask(source, cid, now)]
                        if r.author != mine:
                            shown.setdefault(cid, []).extend(taken)
                        i += n
                    if i < j:  # what the fast lane leaves goes the whole way, one record
                        out += self._commit(batch[i], source, now, defer=deferred, shown=shown)[1]
                        i += 1
            ledger.flush(deferred)
        out = _once_a_batch(out)
        for cid, msgs in shown.items():
            if len(msgs) >= BULK:
                out.append(Emit(api.MessagesArrived(cid, len(msgs))))
            else:
                out += self._meaning(cid, tuple(msgs), False, self.profile.view(cid).roster)
        return out

    def _ask(self, source: str, circle_id: bytes, now: float) -> list[Effect]:
        """A pull from ``source`` that its record asked, unless one went within ``GAP_ASK_EVERY``."""
        key = (source, circle_id)
        if now < self.asked.get(key, now):
            return []
        if len(self.asked) >= GAP_ASKS_KEPT:
            self.asked = {k: t for k, t in self.asked.items() if t > now}
        self.asked[key] = now + GAP_ASK_EVERY
        return [Pull(source, circle_id)]

    def _commit(
        self,
        record: Record,
        source: str | None,
        now: float,
        *,
        defer: list[Record] | None = None,
        shown: dict[bytes, list[Record]] | None = None,
    ) -> tuple[Outcome | None, list[Effect]]:
        """Commit one record through the ledger: its outcome (None if not tried) and what it
        means (:class:`Committed` if stored). In a batch (:meth:`_commit_batch`): members'
        messages are written at its end (``defer``), and the messages by others it delivers
        are put in ``shown`` (by circle) instead of opened for the UI."""
        if self.relay is not None and self.relay.over(record.circle, record.raw, record, now):
            self.stats["over_quota"] += 1
            return None, []
        view = self.profile.view(record.circle)
        before, flagged = view.roster, set(view.equivocators)
        try:
            commit = self.profile.ledger.commit(record, park_strangers=False, defer=defer)
        except sqlite3.OperationalError as e:
            if defer is not None:
                raise  # the batch's transaction is rolled back whole
            # A full disk: nothing of it was kept (and the profile dropped its cached views),
            # so sync asks for it again later; the node stays up.
            LOG.warning("could not store a record: %s", e)
            self.stats["write_failed"] += 1
            return None, []
        outcome = commit.outcome
        if isinstance(outcome, Held):
            LOG.debug(
                "held %s record %s by %s: %s",
                record.type,
                record.id.hex()[:12],
                peer_id(record.author),
                outcome.reason,
            )
            return outcome, self._ask(source, record.circle, now) if source is not None else []
        if isinstance(outcome, Dropped):
            return outcome, self.drop(record.circle, outcome.reason)
        if not isinstance(outcome, Stored):
            return outcome, []
        self.stats["stored"] += 1
        if self.relay is not None:
            self.relay.stored(record)
        # What it delivered and what held records it let in delivered (a join lets in its messages).
        delivered = (*outcome.delivered, *commit.released)
        changed = outcome.roster_changed or any(r.is_roster for r in commit.released)
        if shown is not None:
            mine = self.profile.me
            later = [r for r in delivered if r.type == records.MSG and r.author != mine]
            if later:
                shown.setdefault(record.circle, []).extend(later)
                delivered = tuple(r for r in delivered if r.type != records.MSG or r.author == mine)
        out: list[Effect] = [Committed(record), *self._meaning(record.circle, delivered, changed, before)]
        if changed:
            out.append(Reconsider(record.circle))
            out += self._look_again(record.circle)
            out += self._ask_newcomers(record.circle, before)
            if self.relay is None and record.author != self.profile.me:  # a join of mine confirmed
                out += self.devices_round(record.circle)
        caught = self.profile.view(record.circle).equivocators
        for author in caught.keys() - flagged:
            LOG.warning("equivocation by %s: %s", peer_id(author), caught[author])
            out.append(Emit(api.Equivocated(record.circle, author, caught[author])))
        if outcome.missing and source is not None:
            out.append(Emit(api.GapDetected(record.circle, record.author, outcome.missing)))
            out += self._ask(source, record.circle, now)
        return outcome, out

    def _meaning(
        self, circle_id: bytes, delivered: tuple[Record, ...], roster_changed: bool, before: RosterState
    ) -> list[Effect]:
        """The UI events records now in chain order mean (``before``: the roster until then)."""
        out: list[Effect] = []
        keys = None
        hidden = any(r.type == records.MSG for r in delivered) and selfcircle.is_self(self.profile, circle_id)
        for r in delivered:
            if r.type == records.MSG and r.author != self.profile.me and not hidden:
                keys = keys or self.profile.epoch_keys(circle_id)
                key = keys.get(bytes(r.body["e"]))
                if key is None:
                    continue
                try:
                    c = messages.open_message(r, key)
                except ProtocolError as e:
                    out += self.drop(circle_id, f"undecryptable message: {e}")
                    continue
                over = c.file and files.over_limit(c.file.size, self.profile.view(circle_id).roster.file_cap)
                if over:
                    out += self.drop(circle_id, f"file announcement {r.id.hex()[:12]}: {over}")
                    continue
                out.append(
                    Emit(api.MessageReceived(circle_id, r.id, r.author, r.seq, c.ts, c.kind, c.text, c.ref))
                )
            elif r.type == records.CARRY:
                try:
                    got = carrying.open_one(self.profile, circle_id, r)
                except ProtocolError as e:
                    out += self.drop(circle_id, carrying.refused(circle_id, r, e))
                    continue
                if got is not None:
                    out.append(Emit(api.HistoryCarried(circle_id, r.author, len(got))))
            elif r.type == records.FORK:
                row = self.profile.store.circle(circle_id)
                # The child's id is its genesis id: look it up rather than scan every circle.
                child = self.profile.store.circle(records.record_id(bytes(r.body["g"])))
                if child is not None and child.fork_record == r.raw and row is not None:
                    name = self.profile.circle_name(child)
                    out.append(Emit(api.CircleForked(None, child.id, circle_id, name, invited=True)))
        if roster_changed:
            after = self.profile.view(circle_id).roster
            out += [
                Emit(api.MemberJoined(circle_id, k)) for k in after.members.keys() - before.members.keys()
            ]
            out += [
                Emit(api.MemberRoleChanged(circle_id, k, m.role))
                for k, m in after.members.items()
                if k in before.members and before.members[k].role != m.role
            ]
            for k, d in after.departed.items():
                if k not in before.departed:
                    if k == self.profile.me and d.kind == "unlinked":
                        # The unlink came by sync (a departed key is served roster records only).
                        out.append(Emit(api.DeviceUnlinked(circle_id, d.by)))
                        continue
                    ev = api.MemberRemoved if d.kind == "removed" else api.MemberLeft
                    out.append(Emit(ev(circle_id, k)))
        return out

    def vector(self, circle_id: bytes) -> dict[bytes, int]:
        """My version vector of a circle (``sync.vector`` of :meth:`held_seqs`); a member's read
        straight from the chains, without listing every seq held."""
        if self.relay is not None:
            return sync.vector(self.held_seqs(circle_id))
        return self.profile.view(circle_id).chains.held_vector()

    def to_send(
        self, circle_id: bytes, theirs: dict[bytes, int]
    ) -> tuple[list[sync.Range], dict[bytes, int]]:
        """What a peer whose vector is ``theirs`` lacks of a circle (``sync.plan(held_seqs,
        theirs).send``) and my vector; a member's from the chains' runs, without listing every seq."""
        if self.relay is not None:
            held = self.held_seqs(circle_id)
            return list(sync.plan(held, theirs).send), sync.vector(held)
        chains = self.profile.view(circle_id).chains
        runs = {a: chains.held_runs(a) for a in chains.authors()}
        return sync.send_ranges(runs, theirs), chains.held_vector()

    def held_seqs(self, circle_id: bytes) -> dict[bytes, set[int]]:
        """What I hold of a circle, per author (a relay counts what retention deleted as held)."""
        held = self.profile.view(circle_id).held_seqs()  # in memory: no store scan per sync
        if self.relay is not None:
            for author, seq in self.relay.expired(circle_id):
                held.setdefault(author, set()).add(seq)  # deleted by retention: do not fetch again
        return held
