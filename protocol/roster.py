"""The roster: who is in a circle, with which role, and the current epoch.

:func:`fold` is a pure, deterministic function of a genesis and a *set* of
roster records (invite, join, remove, leave, role, rekey, pin, softcap, filecap, device,
unlink, prekey, rekeyevery). Two members
holding the same records get the same :class:`RosterState`, whatever order
the records arrived in. The rules (docs/protocol.md has a worked example):

1. Roster records form a DAG: each cites in ``h`` the roster heads its author
   had seen (the genesis id at first). A record whose ancestors are not all
   present is *pending* (kept, not applied; sync fetches the rest).
2. The DAG is walked in one canonical order: parents first, ties broken by the
   smaller record id. Each record is checked against the state so far.
3. A removal (or a leave) beats whatever the removed member did that is not
   causally before it: records by the removed member that are neither
   ancestors nor descendants of the removal are void, and so is everything
   that depended on them. When a removal voids a record the walk had already
   applied, the walk restarts with that record void. A departure that voided
   records but is not applied itself when a walk ends (voided in turn, or refused)
   is out for good, and what it voided is walked again, unless its voider goes out
   at the same end (then it is walked again itself); the out set only grows,
   so this ends. A pin of a departed key applies only if it has the departure
   among its ancestors: a concurrent pin (even one refused then, its key a
   member) never undoes a removal.
4. Epochs: the genesis opens epoch 0 (holder: the founder); a rekey opens the
   next epoch, its key sealed to each listed recipient. An invite hands the
   epoch it names to its invitee (the token carries that key). An epoch is
   *burned* when someone holding it departs (is removed or leaves). The
   *current* epoch is the highest-numbered one (ties: smaller id) that is not
   burned; if there is none, the circle needs a rekey before anyone sends.
   (Re-inviting a departed member hands them the current key on purpose, so
   it does not burn it.)
5. Members plus the distinct non-members holding an open invitation (used by none, not
   revoked) never pass ``schema.MAX_MEMBERS``: an invite that would is refused ("the circle
   is full"), so a rekey to every member always fits the schema.
6. The soft cap (the size at which inviting suggests a fork instead; nothing is refused
   past it) is ``DEFAULT_SOFT_CAP`` until an admin's ``softcap`` record sets it; of several,
   the one walked last in the canonical order holds.
7. The file limit (the largest file a member may send, and others fetch) is
   ``DEFAULT_FILE_CAP`` until an admin's ``filecap`` record sets it; as for the soft cap,
   the one walked last holds.
8. Prekeys: a member key's ``prekey`` record publishes an X25519 key to seal epoch keys to.
   Of a key's prekeys the roster keeps the newest (largest ``ts``, ties: the larger record
   id), whatever the walk order; a departure drops the departed keys' prekeys. A genesis or
   join of format 2 carries its author's first prekey, a device of format 2 the linked
   device's, taken by the same rule. Expiry is
   not the fold's question (:meth:`RosterState.prekey_of`).
9. The rekey schedule (a new epoch at least every so many days and messages; members' nodes
   start the rekeys, :mod:`protocol.rekeysched`) is ``DEFAULT_REKEY_DAYS`` and
   ``DEFAULT_REKEY_MESSAGES`` until an admin's ``rekeyevery`` record sets it; as for the soft
   cap, the one walked last holds.

:class:`protocol.fold.RosterIndex` computes the same state incrementally; this module's
whole-state scans (``Walk.slots_taken`` and the others below ``apply``) are the reference
it is tested against.

Past 400 lines: the rules above and the walk that applies them are one spec; split, a
rule would be read apart from the check that enforces it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from protocol import crypto, devicecert, records, schema, wire
from protocol.records import Record

K = TypeVar("K")

VOID = "its author was removed or left concurrently"
DEPARTURES = (records.REMOVE, records.LEAVE, records.UNLINK)
"""Roster records that take keys out of the circle (rule 3 applies to each)."""
"""Why a record is voided by a departure (rule 3)."""
ADMIN = "admin"
MEMBER = "member"
RELAY = "relay"
DEFAULT_SOFT_CAP = 15
DEFAULT_FILE_CAP = schema.MAX_FILE_CAP
"""A circle's file limit when no admin has set one (rule 7)."""
DEFAULT_REKEY_DAYS = 7
DEFAULT_REKEY_MESSAGES = 1000
"""A circle's rekey schedule when no admin has set one (rule 9): at least weekly, and every
1,000 messages."""
"""A circle's soft cap when no admin has set one (a Dunbar-style layer): inviting past it
suggests a fork (rule 6)."""


@dataclass(frozen=True)
class Member:
    key: bytes
    role: str
    invited_by: bytes | None
    since: bytes
    """The join record (or the genesis, for the founder) that made them a member; for a
    device, its ``device`` record."""
    person: bytes | None = None
    """For a device's key, the person it belongs to (None: the key is a person's own)."""


@dataclass(frozen=True)
class Relay:
    key: bytes
    addrs: tuple[str, ...]
    pinned_by: bytes
    record: bytes


@dataclass(frozen=True)
class Invitation:
    id: bytes
    inviter: bytes
    invitee: bytes
    role: str
    expires: int
    epoch: bytes
    used_by: bytes | None = None
    revoked: bool = False


@dataclass(frozen=True)
class Departure:
    key: bytes
    kind: str  # "removed", "left" or "unlinked" (a device)
    by: bytes
    record: bytes
    cut: int
    """The departed member's messages with a higher seq than this are refused."""
    cut_id: bytes | None = None
    """The record at the cut (a removal's ``sh``, a leave's own id; None for cut 0): the
    departed member's records at or below the cut must be this one or on the chain it ends."""


@dataclass(frozen=True)
class Prekey:
    """A member key's newest published prekey (rule 8)."""

    key: bytes
    """The X25519 public key."""
    expires: int
    """Milliseconds since the epoch after which nobody seals to it."""
    ts: int
    record: bytes


@dataclass(frozen=True)
class Epoch:
    id: bytes
    number: int
    holders: AbstractSet[bytes]
    sealed: Mapping[bytes, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RosterState:
    """The outcome of :func:`fold`."""

    circle_id: bytes
    founder: bytes
    invite_policy: str
    members: Mapping[bytes, Member]
    relays: Mapping[bytes, Relay]
    departed: Mapping[bytes, Departure]
    invites: Mapping[bytes, Invitation]
    epochs: Mapping[bytes, Epoch]
    current_epoch: Epoch | None
    heads: tuple[bytes, ...]
    accepted: AbstractSet[bytes]
    rejected: Mapping[bytes, str]
    pending: AbstractSet[bytes]
    soft_cap: int = DEFAULT_SOFT_CAP
    """Members at which inviting suggests a fork instead (rule 6); advice, never refused."""
    soft_cap_by: bytes | None = None
    """The admin whose ``softcap`` record set ``soft_cap`` (None: the default)."""
    file_cap: int = DEFAULT_FILE_CAP
    """The largest file, in bytes, members send and fetch in this circle (rule 7)."""
    file_cap_by: bytes | None = None
    """The admin whose ``filecap`` record set ``file_cap`` (None: the default)."""
    prekeys: Mapping[bytes, Prekey] = field(default_factory=dict)
    """Each member key's newest prekey (rule 8); a key that published none is absent."""

    def prekey_of(self, key: bytes, now_ms: int) -> bytes | None:
        """The X25519 key to seal to ``key`` at ``now_ms``: its newest prekey, expired or not;
        None when it has none (seal to the key derived from ``key`` itself: a key brought in
        by a format-1 genesis or join, or a device, before its first prekey arrives).

        An expired prekey means its owner has not been online to replace it; its private key
        stays with them until a newer one does (docs/protocol.md 8.6). Sealing to the identity
        key instead would hand that epoch to whoever stole the identity key."""
        del now_ms  # expiry tells the owner's node when to rotate, not the sealer what to seal to
        p = self.prekeys.get(key)
        return None if p is None else p.key

    rekey_days: int = DEFAULT_REKEY_DAYS
    """A scheduled rekey is due once the current epoch is this many days old (rule 9)."""
    rekey_messages: int = DEFAULT_REKEY_MESSAGES
    """... or once this many messages were sent in it (rule 9)."""
    rekey_by: bytes | None = None
    """The admin whose ``rekeyevery`` record set the schedule (None: the default)."""

    @cached_property
    def roster_hash(self) -> bytes:
        """H(canonical msgpack of the ascending accepted ids); computed when first asked for."""
        return crypto.blake2b256(wire.encode(sorted(self.accepted)))

    def is_member(self, key: bytes) -> bool:
        """A person's key or a live device's: a key that may write in the circle."""
        return key in self.members

    def person_of(self, key: bytes) -> bytes | None:
        """The person a member key belongs to (itself for a person's own key); None for a non-member."""
        m = self.members.get(key)
        if m is None:
            return None
        return key if m.person is None else m.person

    def keys_of(self, person: bytes) -> list[bytes]:
        """The person's key and their live devices' keys, sorted (empty for a non-member)."""
        if person not in self.members or self.members[person].person is not None:
            return []
        return sorted([person, *(k for k, m in self.members.items() if m.person == person)])

    def persons(self) -> dict[bytes, Member]:
        """The members as people: every member key that is not a device's."""
        return {k: m for k, m in self.members.items() if m.person is None}

    def devices(self) -> dict[bytes, Member]:
        """The live devices' member entries (``person`` names whose each is)."""
        return {k: m for k, m in self.members.items() if m.person is not None}

    def may_sync(self, key: bytes) -> bool:
        """A member or the circle's relay: who may fetch its records and be asked for them."""
        return key in self.members or key in self.relays

    def may_know(self, key: bytes) -> bool:
        """Who may learn that I am in the circle: those who may sync it, and invitees not joined yet."""
        return key in self._knowers

    @cached_property
    def _knowers(self) -> frozenset[bytes]:
        """:meth:`may_know`'s keys, gathered once per state: a relay asks per connected peer
        per circle it serves (its repair pass), and walking the invitations each time was 2%
        of its CPU."""
        return frozenset(self.members) | frozenset(self.relays) | self.open_invitees()

    def open_invitees(self) -> set[bytes]:
        """The keys of invitations not used and not revoked."""
        return {i.invitee for i in self.invites.values() if i.used_by is None and not i.revoked}

    def role(self, key: bytes) -> str | None:
        if key in self.members:
            return self.members[key].role
        return RELAY if key in self.relays else None

    def may_invite(self, key: bytes) -> bool:
        m = self.members.get(key)
        return m is not None and (self.invite_policy == MEMBER or m.role == ADMIN)

    def may_admin(self, key: bytes) -> bool:
        m = self.members.get(key)
        return m is not None and m.role == ADMIN

    @property
    def needs_rekey(self) -> bool:
        """True when no safe epoch exists or a member does not hold the current one."""
        cur = self.current_epoch
        return cur is None or any(k not in cur.holders for k in self.members)

    def recipients(self) -> list[bytes]:
        """Who a new epoch key must be sealed to: every member key (people and their live
        devices), sorted."""
        return sorted(self.members)


class Walk:
    """The mutable state of one canonical walk over the DAG."""

    def __init__(self, genesis: Record) -> None:
        self.cid = genesis.id
        self.founder = genesis.author
        self.policy = str(genesis.body["pol"]["inv"])
        self.members: dict[bytes, Member] = {self.founder: Member(self.founder, ADMIN, None, genesis.id)}
        self.relays: dict[bytes, Relay] = {}
        self.departed: dict[bytes, Departure] = {}
        self.invites: dict[bytes, Invitation] = {}
        self.epochs: dict[bytes, Epoch] = {self.cid: Epoch(self.cid, 0, frozenset({self.founder}))}
        self.burned: set[bytes] = set()
        """Epochs that someone held when they departed: never current again."""
        self.soft_cap = DEFAULT_SOFT_CAP
        self.soft_cap_by: bytes | None = None
        self.file_cap = DEFAULT_FILE_CAP
        self.file_cap_by: bytes | None = None
        self.prekeys: dict[bytes, Prekey] = {}
        if "pk" in genesis.body:  # format 2: the founder's first prekey
            self.take_prekey(genesis)
        self.rekey_days, self.rekey_messages = DEFAULT_REKEY_DAYS, DEFAULT_REKEY_MESSAGES
        self.rekey_by: bytes | None = None

    def cites(self, r: Record) -> bytes | None:
        """The record whose being among ``r``'s ancestors :meth:`check` asks about: a JOIN's
        invitation; for a PIN of a departed key, their departure (a pin that did not see it is
        concurrent with it, and the departure wins, as in rule 3)."""
        if r.type == records.JOIN:
            return bytes(r.body["i"])
        if r.type == records.PIN:
            gone = self.departed.get(bytes(r.body["k"]))
            return None if gone is None else gone.record
        return None

    def check(self, r: Record, is_ancestor: bool) -> str | None:
        """Why ``r`` cannot apply now, or None. ``is_ancestor``: the record :meth:`cites`
        names is among ``r``'s ancestors."""
        b, a, t = r.body, r.author, r.type
        if t == records.JOIN:
            inv = self.invites.get(bytes(b["i"]))
            if inv is None:
                return "cites an invitation that is unknown or was not valid"
            if not is_ancestor:
                return "does not cite its invitation among its ancestors"
            if inv.invitee != a:
                return "the invitation is for another key"
            if inv.used_by is not None:
                return "the invitation was already used"
            if inv.revoked:
                return "the invitation was revoked"
            if int(b["ts"]) > inv.expires * 1000:
                return "joined after the invitation expired"
            if a in self.members:
                return "already a member"
            return None
        member = self.members.get(a)
        if member is None:
            return "the author is not a member"
        person = a if member.person is None else member.person
        if t == records.DEVICE:
            k = bytes(b["k"])
            if devicecert.verified(bytes(b["dc"])).person != person:
                return "the certificate is for another person"
            if k in self.members or k in self.relays:
                return "the key is already in the circle"
            if k in self.departed:
                return "the key has departed from this circle; link a new key"
            if self.slots_taken() >= schema.MAX_MEMBERS and not self.has_open_invite(k):
                return "the circle is full"
            return None
        if t == records.UNLINK:
            m = self.members.get(bytes(b["k"]))
            if m is None or m.person != person:
                return "the key is not a linked device of the author's person"
            return None
        if t == records.INVITE:
            k = bytes(b["k"])
            if not (self.policy == MEMBER or member.role == ADMIN):
                return "only admins may invite in this circle"
            if b["r"] == ADMIN and member.role != ADMIN:
                return "only admins may invite admins"
            if k in self.members or k in self.relays:
                return "the invitee is already in the circle"
            if bytes(b["e"]) not in self.epochs:
                return "cites an unknown epoch"
            if self.slots_taken() >= schema.MAX_MEMBERS and not self.has_open_invite(k):
                return "the circle is full"
            return None
        if t == records.REMOVE:
            k = bytes(b["k"])
            if member.role != ADMIN:
                return "only admins may remove"
            if k == self.founder or (k in self.members and self.members[k].person == self.founder):
                return "the founder cannot be removed"
            if k not in self.members and k not in self.relays and not self.invited_unused(k):
                return "the key is not in the circle"
            return None
        if t == records.LEAVE:
            return None
        if t == records.ROLE:
            k = bytes(b["k"])
            if member.role != ADMIN:
                return "only admins may change roles"
            if k == self.founder:
                return "the founder's role cannot change"
            if k not in self.members:
                return "the key is not a member"
            if self.members[k].person is not None:
                return "a device's role is its person's"
            return None
        if t == records.REKEY:
            prev = self.epochs.get(bytes(b["pe"]))
            if prev is None:
                return "cites an unknown previous epoch"
            if int(b["e"]) != prev.number + 1:
                return "epoch number does not follow its previous epoch"
            keys = [bytes(p[0]) for p in b["ks"]]
            if a not in keys:
                return "the author must be among the recipients"
            if any(k not in self.members for k in keys):
                return "a recipient is not a member"
            return None
        if t == records.PIN:
            k = bytes(b["k"])
            if k in self.members:
                return "a member cannot be pinned as a relay"
            if k in self.departed and not is_ancestor:
                return "the pinned key departed concurrently"
            return None
        if t == records.SOFTCAP:
            if member.role != ADMIN:
                return "only admins may set the soft cap"
            return None
        if t == records.FILECAP:
            if member.role != ADMIN:
                return "only admins may set the file limit"
            return None
        if t == records.PREKEY:
            return None
        if t == records.REKEYEVERY:
            if member.role != ADMIN:
                return "only admins may set the rekey schedule"
            return None
        return "not a roster record"

    def apply(self, r: Record) -> None:
        b, a, t = r.body, r.author, r.type
        if t == records.INVITE:
            e = bytes(b["e"])
            inv = Invitation(r.id, a, bytes(b["k"]), str(b["r"]), int(b["x"]), e)
            self.invites[r.id] = inv
            self.hold(e, inv.invitee)
        elif t == records.JOIN:
            inv = self.invites[bytes(b["i"])]
            self.invites[inv.id] = Invitation(
                inv.id, inv.inviter, inv.invitee, inv.role, inv.expires, inv.epoch, used_by=r.id
            )
            self.members[a] = Member(a, inv.role, inv.inviter, r.id)
            self.departed.pop(a, None)
            if "pk" in b:  # format 2: the joiner's first prekey
                self.take_prekey(r)
        elif t in DEPARTURES:
            k = bytes(b["k"]) if t != records.LEAVE else a
            cut = int(b["s"]) if t != records.LEAVE else r.seq
            sh = b["sh"] if t != records.LEAVE else r.id
            cut_id = bytes(sh) if sh is not None else None
            kind = {records.REMOVE: "removed", records.LEAVE: "left", records.UNLINK: "unlinked"}[t]
            for d in self.departing(r):
                self.members.pop(d, None)
                self.relays.pop(d, None)
                self.prekeys.pop(d, None)
                # A person's devices go with them; their own cuts are named only when each
                # departs first (actions.remove, actions.unlink): here nothing of theirs stays.
                self.departed[d] = (
                    Departure(d, kind, a, r.id, cut, cut_id) if d == k else Departure(d, kind, a, r.id, 0)
                )
                self.burn(d)
                self.revoke(d)
        elif t == records.ROLE:
            k = bytes(b["k"])
            for d in self.person_keys(k):
                m = self.members[d]
                self.members[d] = Member(d, str(b["r"]), m.invited_by, m.since, m.person)
        elif t == records.DEVICE:
            k = bytes(b["k"])
            member = self.members[a]
            person = a if member.person is None else member.person
            self.members[k] = Member(k, member.role, person, r.id, person)
            for eid in self.live_epochs_of(a):
                self.hold(eid, k)
            if "pk" in b:  # format 2: the device's first prekey, made by its linker
                self.take_prekey(r, k)
        elif t == records.REKEY:
            self.open_epoch(r.id, int(b["e"]), {bytes(p[0]): bytes(p[1]) for p in b["ks"]})
        elif t == records.PIN:
            k = bytes(b["k"])
            self.relays[k] = Relay(k, tuple(b["ad"]), a, r.id)
            self.departed.pop(k, None)
        elif t == records.SOFTCAP:
            self.soft_cap, self.soft_cap_by = int(b["n"]), a
        elif t == records.FILECAP:
            self.file_cap, self.file_cap_by = int(b["n"]), a
        elif t == records.PREKEY:
            self.take_prekey(r)
        elif t == records.REKEYEVERY:
            self.rekey_days, self.rekey_messages, self.rekey_by = int(b["d"]), int(b["m"]), a

    def take_prekey(self, r: Record, owner: bytes | None = None) -> None:
        """The prekey ``r`` (a ``prekey`` record, or a genesis, join or device of format 2)
        carries for ``owner`` (its author, or the device a ``device`` record links), kept if it
        is the owner's newest (rule 8)."""
        b, a = r.body, r.author if owner is None else owner
        cur = self.prekeys.get(a)
        if cur is None or (int(b["ts"]), r.id) > (cur.ts, cur.record):
            self.prekeys[a] = Prekey(bytes(b["pk"]), int(b["ex"]), int(b["ts"]), r.id)

    def departing(self, r: Record) -> list[bytes]:
        """The keys a departure record (remove, leave, unlink) takes out if it applies: its
        target and, when that is a person's own key, every live device of theirs."""
        if r.type == records.UNLINK:
            return [bytes(r.body["k"])]
        k = bytes(r.body["k"]) if r.type == records.REMOVE else r.author
        m = self.members.get(k)
        return self.person_keys(k) if m is not None and m.person is None else [k]

    def person_keys(self, person: bytes) -> list[bytes]:
        """``person`` and their live devices' keys (sorted after it)."""
        return [person, *sorted(d for d, m in self.members.items() if m.person == person)]

    # The queries and updates below scan the whole state: the reference. protocol/fold.py
    # overrides them with indexed versions (the same answers, O(1) amortised).

    def live_epochs_of(self, k: bytes) -> list[bytes]:
        """The epochs ``k`` holds that are not burned: what a device ``k`` links is handed."""
        return sorted(eid for eid, ep in self.epochs.items() if k in ep.holders and eid not in self.burned)

    def slots_taken(self) -> int:
        """Members plus the distinct non-members holding an open invitation (used by none,
        not revoked): what ``MAX_MEMBERS`` bounds, so a rekey to every member always fits."""
        open_keys = {i.invitee for i in self.invites.values() if i.used_by is None and not i.revoked}
        return len(self.members) + len(open_keys - self.members.keys())

    def has_open_invite(self, k: bytes) -> bool:
        return any(i.invitee == k and i.used_by is None and not i.revoked for i in self.invites.values())

    def invited_unused(self, k: bytes) -> bool:
        """``k`` is the invitee of an invitation nobody used (revoked or not)."""
        return any(i.invitee == k and i.used_by is None for i in self.invites.values())

    def hold(self, epoch_id: bytes, k: bytes) -> None:
        ep = self.epochs[epoch_id]
        self.epochs[epoch_id] = Epoch(ep.id, ep.number, frozenset(ep.holders) | {k}, ep.sealed)

    def open_epoch(self, epoch_id: bytes, number: int, sealed: dict[bytes, bytes]) -> None:
        self.epochs[epoch_id] = Epoch(epoch_id, number, frozenset(sealed), sealed)

    def burn(self, k: bytes) -> None:
        """Every epoch ``k`` held is never current again."""
        self.burned.update(eid for eid, ep in self.epochs.items() if k in ep.holders)

    def revoke(self, k: bytes) -> None:
        """Every unused invitation by or for ``k`` is revoked."""
        for iid, inv in list(self.invites.items()):
            if inv.used_by is None and (inv.invitee == k or inv.inviter == k):
                self.invites[iid] = Invitation(
                    inv.id, inv.inviter, inv.invitee, inv.role, inv.expires, inv.epoch, revoked=True
                )


def _order(cid: bytes, recs: Mapping[bytes, Record]) -> tuple[list[bytes], set[bytes]]:
    """Canonical topological order of the placeable records, and the pending ones."""
    children: dict[bytes, list[bytes]] = defaultdict(list)
    indeg: dict[bytes, int] = {}
    pending: set[bytes] = set()
    for rid, r in recs.items():
        parents = [h for h in r.heads if h != cid]
        indeg[rid] = len(parents)
        for h in parents:
            children[h].append(rid)
            if h not in recs:
                pending.add(rid)
    stack = list(pending)
    while stack:
        x = stack.pop()
        for c in children.get(x, ()):
            if c not in pending:
                pending.add(c)
                stack.append(c)
    heap = [rid for rid in recs if rid not in pending and indeg[rid] == 0]
    heapq.heapify(heap)
    order: list[bytes] = []
    while heap:
        x = heapq.heappop(heap)
        order.append(x)
        for c in children.get(x, ()):
            indeg[c] -= 1
            if indeg[c] == 0 and c not in pending:
                heapq.heappush(heap, c)
    placed = set(order)
    pending |= {rid for rid in recs if rid not in placed}
    return order, pending


def lapsed_departures(void: Mapping[K, K], applied: Container[K]) -> set[K]:
    """The departures that go out for good when a walk ends: those that voided records
    (``void`` maps each void record to the departure that voided it) but are not applied.
    One that was itself voided by a departure going out too is not among them: its cause
    is gone, so it is walked again (a member's old leave, refused at first, met after the
    member's removal of someone in the walk, voided that removal and then lapsed; the
    removal went out with it, and the circle could never remove that someone)."""
    down = {c for c in void.values() if c not in applied}
    lapsed = {c for c in down if void.get(c) not in down}
    # A chain of voids ends in one whose cause stands (or that was refused), so ``lapsed``
    # is empty only when ``down`` is; ``or down`` keeps the walk's end certain regardless.
    return lapsed or down


def unknown(circle_id: bytes) -> RosterState:
    """The roster of a circle whose genesis has not arrived yet: nobody is known in it."""
    return RosterState(
        circle_id, b"", MEMBER, {}, {}, {}, {}, {}, None, (circle_id,), frozenset(), {}, frozenset()
    )


def fold(genesis: Record, roster_records: Iterable[Record]) -> RosterState:
    """The roster and current epoch of ``genesis``'s circle given a set of roster records."""
    cid = genesis.id
    recs: dict[bytes, Record] = {}
    rejected: dict[bytes, str] = {}
    for r in roster_records:
        if not r.is_roster:
            rejected[r.id] = "not a roster record"
        elif r.circle != cid:
            rejected[r.id] = "belongs to another circle"
        else:
            recs[r.id] = r
    order, pending = _order(cid, recs)
    index = {rid: i for i, rid in enumerate(order)}
    anc: list[int] = []
    for rid in order:
        bits = 0
        for h in recs[rid].heads:
            j = index.get(h)
            if j is not None:
                bits |= anc[j] | (1 << j)
        anc.append(bits)
    by_author: dict[bytes, list[int]] = defaultdict(list)
    for i, rid in enumerate(order):
        by_author[recs[rid].author].append(i)

    out: set[int] = set()  # departures void for good: only grows, so the loop ends
    out_why: dict[int, str] = {}  # why each went out: voided, or refused by the walk
    void: dict[int, int] = {}  # a voided record -> the departure that voids it
    while True:
        walk = Walk(genesis)
        applied: list[int] = []
        applied_set: set[int] = set()
        reasons: dict[int, str] = {}
        restart = False
        for i, rid in enumerate(order):
            if i in void or i in out:
                continue
            r = recs[rid]
            named = walk.cites(r)
            named_idx = None if named is None else index.get(named)
            is_anc = named_idx is not None and bool((anc[i] >> named_idx) & 1)
            why = walk.check(r, is_anc)
            if why is not None:
                reasons[i] = why
                continue
            if r.type in DEPARTURES:
                for target in walk.departing(r):
                    for j in by_author.get(target, ()):
                        if j == i or j in void or j in out or (anc[i] >> j) & 1 or (anc[j] >> i) & 1:
                            continue
                        void[j] = i
                        restart = restart or j in applied_set
                if restart:
                    break
            walk.apply(r)
            applied.append(i)
            applied_set.add(i)
        if restart:
            continue
        # A departure that voided records but is not applied itself (voided in turn, or
        # refused once what it relied on was voided) voids nothing: it is out for good and
        # what it voided is walked again.
        lapsed = lapsed_departures(void, applied_set)
        if not lapsed:
            break
        out_why.update({c: VOID if c in void else reasons.get(c, VOID) for c in lapsed})
        out |= lapsed
        void = {j: c for j, c in void.items() if c not in lapsed}

    for i, why in {**reasons, **out_why, **dict.fromkeys(void, VOID)}.items():
        rejected[order[i]] = why
    accepted = frozenset(order[i] for i in applied)
    cited: set[bytes] = set()
    for rid in accepted:
        cited.update(recs[rid].heads)
    heads = tuple(sorted(rid for rid in accepted if rid not in cited)) or (cid,)
    eligible = [e for e in walk.epochs.values() if e.id not in walk.burned]
    current = min(eligible, key=lambda e: (-e.number, e.id)) if eligible else None
    return RosterState(
        circle_id=cid,
        founder=walk.founder,
        invite_policy=walk.policy,
        members=dict(walk.members),
        relays=dict(walk.relays),
        departed=dict(walk.departed),
        invites=dict(walk.invites),
        epochs=dict(walk.epochs),
        current_epoch=current,
        heads=heads,
        accepted=accepted,
        rejected=rejected,
        pending=frozenset(pending),
        soft_cap=walk.soft_cap,
        soft_cap_by=walk.soft_cap_by,
        file_cap=walk.file_cap,
        file_cap_by=walk.file_cap_by,
        prekeys=dict(walk.prekeys),
        rekey_days=walk.rekey_days,
        rekey_messages=walk.rekey_messages,
        rekey_by=walk.rekey_by,
    )
