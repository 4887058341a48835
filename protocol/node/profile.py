"""A profile: one identity, its store, and the circle operations the CLI and node share.

:class:`Profile` opens (or creates) the identity key file (mode 0600, optional
passphrase), the storage key file (the same; what secrets at rest are sealed under,
:mod:`protocol.atrest`) and the store, and offers the user's actions: create a circle,
invite a key (a short token, format 2), join with a token (either format) or a fork
invitation, fork, send, remove, leave, change a role, read the log, and import records (a bundle file
now, the network later).
Every record, mine or another's, is committed by the profile's
:class:`~protocol.node.ledger.Ledger`; every action commits in one transaction
before it returns, so what it reports is on disk.

Past 400 lines: one method per user action (the CLI's and the node's), each a short
transaction over the ledger and the store; the rules live in :mod:`protocol`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import multiaddr

from protocol import (
    actions,
    addrpack,
    atrest,
    carry,
    circle,
    files,
    fork,
    invitation,
    messages,
    records,
    shorttoken,
    timeline,
)
from protocol.chain import ChainPos
from protocol.errors import DecryptError, IdentityError, ProtocolError, RosterError, TokenInvalid
from protocol.identity import (
    MEMLIMIT,
    OPSLIMIT,
    Identity,
    dump_identity,
    load_identity,
    parse_peer_id,
    peer_id,
)
from protocol.node import api, carrying, history, inherit, prekeys
from protocol.node.ingest import decode_bundle, encode_bundle
from protocol.node.ledger import ImportReport, Ledger, admit
from protocol.node.paths import ProfilePaths
from protocol.node.store import CircleRow, Store, Ticket
from protocol.records import Record
from protocol.view import CircleView, Dropped, Held, Stored

LOG = logging.getLogger("smallsocial.profile")

if TYPE_CHECKING:
    from protocol.node.search import SearchIndex

Clock = Callable[[], float]


@dataclass(frozen=True)
class CircleInfo:
    id: bytes
    name: str
    parent: bytes | None
    status: str
    members: int
    epoch: int | None
    waiting: str | None = None
    """Set while the roster has not confirmed the join I made with a short token: why not yet."""


LogEntry = api.HistoryEntry
"""One readable message of a circle's log; the same type the UI gets in ``HistoryLoaded``."""


def relay_key_of(addr: str) -> bytes:
    """The key in a relay address's ``/p2p/<peer ID>`` part, or a one-sentence ValueError."""
    addr = addr.strip()
    if "/p2p/" not in addr or not addr.startswith("/"):
        raise ValueError(
            "A relay address looks like /ip4/HOST/tcp/PORT/p2p/PEER_ID; ask the relay's operator for it."
        )
    key = parse_peer_id(addr.rsplit("/p2p/", 1)[1].strip("/"))
    try:
        multiaddr.Multiaddr(addr)  # signed into the roster and dialled by every member: it must parse
    except Exception:
        raise ValueError(
            f"The relay address {addr} does not parse; ask the relay's operator for it."
        ) from None
    return key


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (no half-written key file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Profile:
    """A user's identity and store, and the actions on their circles."""

    def __init__(
        self,
        paths: ProfilePaths,
        identity: Identity,
        store: Store,
        clock: Clock = time.time,
        storage_key: bytes | None = None,
    ):
        """``storage_key``: the profile's (:meth:`open` and :meth:`create` pass it); None, for a
        profile made in memory (tests, the fuzzer): a fresh one that lives as long as this object."""
        self.paths = paths
        self.identity = identity
        self.store = store
        self.clock = clock
        self.ledger = Ledger(identity, store, clock, storage_key, self.private_prekeys)
        self.storage_key = self.ledger.storage_key
        self._keys: dict[bytes, dict[bytes, bytes]] = {}
        self._search: SearchIndex | None = None
        store.on_rollback = self._rolled_back

    # opening ---------------------------------------------------------------
    @staticmethod
    def exists(paths: ProfilePaths) -> bool:
        return paths.keyfile.exists()

    @classmethod
    def create(
        cls,
        paths: ProfilePaths,
        display_name: str,
        passphrase: str | None = None,
        clock: Clock = time.time,
        identity: Identity | None = None,
        opslimit: int = OPSLIMIT,
        memlimit: int = MEMLIMIT,
    ) -> Profile:
        if paths.keyfile.exists():
            raise IdentityError(f"A profile already exists in {paths.root}.")
        paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        identity = identity or Identity.generate()
        keyfile = dump_identity(identity, passphrase, opslimit=opslimit, memlimit=memlimit)
        storage_key = atrest.new_storage_key()
        sk_file = atrest.dump_storage_key(storage_key, passphrase, opslimit=opslimit, memlimit=memlimit)
        write_private(paths.storage_key, sk_file)
        write_private(paths.keyfile, keyfile)
        store = Store(paths.database)
        store.set_identity(identity.public_key, display_name, int(clock()))
        return cls(paths, identity, store, clock, storage_key)

    @classmethod
    def open(cls, paths: ProfilePaths, passphrase: str | None = None, clock: Clock = time.time) -> Profile:
        if not paths.keyfile.exists():
            raise IdentityError(f"No identity in {paths.root}; run `smallsocial id` to create one.")
        keyfile = paths.keyfile.read_bytes()
        identity = load_identity(keyfile, passphrase)
        if paths.storage_key.exists():
            storage_key = atrest.load_storage_key(paths.storage_key.read_bytes(), passphrase)
        else:  # a profile from before the storage key: make one, wrapped as the identity is
            storage_key = atrest.new_storage_key()
            ops, mem = atrest.kdf_costs(keyfile) or (OPSLIMIT, MEMLIMIT)
            sk_file = atrest.dump_storage_key(
                storage_key, passphrase if atrest.kdf_costs(keyfile) else None, opslimit=ops, memlimit=mem
            )
            write_private(paths.storage_key, sk_file)
        store = Store(paths.database)
        row = store.identity_row()
        if row is None:
            store.set_identity(identity.public_key, "me", int(clock()))
        elif row[0] != identity.public_key:
            raise IdentityError("The identity file does not match this profile's store.")
        profile = cls(paths, identity, store, clock, storage_key)
        profile.reseal_at_rest()
        return profile

    def close(self) -> None:
        if self._search is not None:
            self._search.close()
        self.store.close()

    def search_index(self) -> SearchIndex:
        """The profile's search index (``search.sqlite3``), opened on first need."""
        if self._search is None:
            from protocol.node.search import SearchIndex

            self._search = SearchIndex(self)
        return self._search

    @property
    def me(self) -> bytes:
        return self.identity.public_key

    @property
    def display_name(self) -> str:
        row = self.store.identity_row()
        return row[1] if row else "me"

    def set_passphrase(
        self, passphrase: str | None, *, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT
    ) -> None:
        keyfile = dump_identity(self.identity, passphrase, opslimit=opslimit, memlimit=memlimit)
        sk_file = atrest.dump_storage_key(self.storage_key, passphrase, opslimit=opslimit, memlimit=memlimit)
        write_private(self.paths.storage_key, sk_file)
        write_private(self.paths.keyfile, keyfile)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _now(self) -> int:
        return int(self.clock())

    # secrets at rest: sealed under the storage key ------------------------
    def epoch_keys(self, circle_id: bytes) -> dict[bytes, bytes]:
        """Epoch keys I hold for a circle, unsealed (kept in memory after the first read)."""
        sealed = self.store.epoch_keys(circle_id)
        cache = self._keys.setdefault(circle_id, {})
        for e, k in sealed.items():
            if e not in cache:
                cache[e] = self.ledger.unseal(k)
        if len(cache) > len(sealed):  # a key deleted from the store (by another process too) goes here
            for e in [e for e in cache if e not in sealed]:
                del cache[e]
        return {e: cache[e] for e in sealed}

    def circle_name(self, row: CircleRow) -> str:
        try:
            return self.ledger.unseal(row.name_sealed).decode()
        except (DecryptError, UnicodeDecodeError):
            return "(unreadable name)"

    def drop_key_cache(self, circle_id: bytes) -> None:
        """Forget the unsealed epoch keys held in memory for a circle (some were deleted)."""
        self._keys.pop(circle_id, None)

    def forget_old_history(self) -> int:
        """With history ``forget``, delete the keys of epochs that are over (:mod:`protocol.node.history`)."""
        return history.forget_old(self)

    def private_prekeys(self) -> list[bytes]:
        """My private prekeys, newest first (:mod:`protocol.node.prekeys`)."""
        return prekeys.private_keys(self.store, self.storage_key)

    def refresh_prekeys(self, only: bytes | None = None) -> list[Record]:
        """Rotate my prekey when due and publish it in my circles, or in circle ``only``
        (queued in the outbox)."""
        return prekeys.refresh(self, only)

    def reseal_at_rest(self) -> int:
        """Re-seal under the storage key what an older profile sealed to the identity key (epoch
        keys, circle names); how many rows moved. Runs at every open; writes nothing once done."""
        keys: list[tuple[bytes, bytes, bytes | None]] = []  # (circle, epoch, new sealed or None)
        for cid, eid, sealed, added in self.store.all_epoch_keys():
            if len(sealed) != atrest.SEALED_KEY_SIZE:
                with contextlib.suppress(DecryptError):  # one that never opened stays as it is
                    keys.append((cid, eid, self.ledger.seal(self.identity.unseal(sealed))))
            elif added is None:
                keys.append((cid, eid, None))
        names: list[tuple[bytes, bytes]] = []
        for row in self.store.circles():
            try:
                atrest.open_sealed(self.storage_key, row.name_sealed)
            except DecryptError:
                with contextlib.suppress(DecryptError):
                    names.append((row.id, self.ledger.seal(self.identity.unseal(row.name_sealed))))
        if not keys and not names:
            return 0
        now = self._now()
        with self.store.tx():
            for cid, eid, resealed in keys:
                if resealed is not None:
                    self.store.reseal_epoch_key(cid, eid, resealed)
                self.store.set_epoch_key_added(cid, eid, now)
            for cid, name in names:
                self.store.set_name_sealed(cid, name)
        self._keys.clear()
        return sum(r is not None for _, _, r in keys) + len(names)

    # views -----------------------------------------------------------------
    def view(self, circle_id: bytes) -> CircleView:
        return self.ledger.view(circle_id)

    def forget_views(self) -> None:
        """Drop cached views (another process wrote to the store)."""
        self.ledger.forget()

    def _rolled_back(self) -> None:
        """A write failed (a full disk): the views may hold records the store never kept."""
        self.ledger.forget()
        self._keys.clear()

    def circles(self) -> list[CircleInfo]:
        """Every circle the user sees (not the hidden self circle of my devices)."""
        hidden = self.store.setting("self_circle")
        return [self._info(row) for row in self.store.circles() if row.id.hex() != hidden]

    def circle_info(self, circle_id: bytes) -> CircleInfo | None:
        """One circle's summary, found by its id (not by listing every circle)."""
        row = self.store.circle(circle_id)
        return None if row is None else self._info(row)

    def _info(self, row: CircleRow) -> CircleInfo:
        members, epoch = 0, None
        if row.status != "invited":
            roster = self.view(row.id).roster
            members = len(roster.persons())  # people: a person's linked devices are not counted
            epoch = roster.current_epoch.number if roster.current_epoch else None
        waiting = self.waiting(row.id) if row.status == "member" else None
        return CircleInfo(row.id, self.circle_name(row), row.parent, row.status, members, epoch, waiting)

    def waiting(self, circle_id: bytes) -> str | None:
        """Why the roster has not confirmed the join I made with a short token (None: it has)."""
        ticket = self.store.ticket(circle_id)
        if ticket is None:
            return None
        view = self.view(circle_id)
        if view.genesis is None:
            return "Waiting to meet the circle: what you write is sent once its history confirms you."
        join = next(
            (r for r in view.records.values() if r.author == self.me and r.seq == ticket.join_seq), None
        )
        why = view.roster.rejected.get(join.id) if join is not None else None
        inv = view.roster.invites.get(ticket.invite)
        if why is None and inv is not None and inv.used_by not in (None, join.id if join else None):
            why = "the invitation was used by another join"
        if why is not None:
            return f"The circle refused your join ({why}); ask for a new invitation."
        return "Waiting for the circle's history to confirm your invitation; what you write is sent then."

    def contacts(self, circle_id: bytes) -> tuple[bytes, ...]:
        """Whom I may sync a circle with beyond its roster: before the roster confirms a join I
        made with a short token, the keys the token named (its inviter, the peers of its
        addresses); for a fork whose roster I hold names no relay yet, the relays pinned to its
        parent (the forker pins them to the child at once, docs/protocol.md 12), so an invitee
        who reaches only a relay gets in. Empty otherwise."""
        ticket = self.store.ticket(circle_id)
        if ticket is not None:
            return ticket.contacts
        row = self.store.circle(circle_id)
        if row is None or row.parent is None or row.status != "member" or self.view(circle_id).roster.relays:
            return ()
        if self.store.circle(row.parent) is None:
            return ()
        return tuple(self.view(row.parent).roster.relays)

    # actions ---------------------------------------------------------------
    def new_circle(self, name: str, *, parent: tuple[bytes, bytes] | None = None) -> circle.NewCircle:
        self._not_a_linked_device("create circles")
        with self.store.tx():
            c = circle.create(self.identity, name, self._now_ms(), parent=parent, prekey=self.my_prekey())
            self.ledger.open_circle(c.genesis, None, self.ledger.seal(c.name.encode()), "member", outbox=True)
            self.ledger.keep_key(c.circle_id, c.circle_id, c.epoch_key)
        self._to_my_devices(c.circle_id)
        return c

    def _not_a_linked_device(self, what: str) -> None:
        """Refuse ``what`` on a linked device: a circle is its person's, who brings the device in."""
        from protocol.node import selfcircle

        who = selfcircle.person(self)
        if who != self.me:
            raise RosterError(
                f"This is a linked device of {peer_id(who)}: {what} on the device that holds that "
                "key; this device is brought into them from there."
            )

    def _to_my_devices(self, circle_id: bytes) -> None:
        """Bring my linked devices into a circle I just made or entered (docs/protocol.md 8.5)."""
        from protocol.node import selfcircle

        try:
            selfcircle.reconcile(self, circle_id)
        except (ProtocolError, sqlite3.Error) as e:  # the node's next round tries again
            LOG.warning("could not bring my devices into %s: %s", circle_id.hex()[:12], e)

    def invite(
        self,
        circle_id: bytes,
        invitee: bytes,
        *,
        role: str = "member",
        ttl_s: int | None = None,
        addrs: Iterable[str] = (),
    ) -> str:
        from protocol.node import whois  # a device's key is refused, naming its person: invite them

        whois.refuse_device_invite(self, invitee)
        view = self.view(circle_id)
        if invitee in view.roster.members:
            raise RosterError(f"{peer_id(invitee)} is already a member.")
        with self.store.tx():
            self._ensure_epoch(circle_id)  # rekeys first when someone left (or the roster needs it)
        roster = view.roster
        assert roster.current_epoch is not None
        keys = self.epoch_keys(circle_id)
        ttl = actions.DEFAULT_INVITE_TTL_S if ttl_s is None else ttl_s
        inv = actions.invite(
            self.identity, roster, view.next_pos(self.me), invitee, self._now_ms(), role=role, ttl_s=ttl
        )
        row = self.store.circle(circle_id)
        assert row is not None
        self.ledger.commit_own(inv)
        relays = [a for r in roster.relays.values() for a in r.addrs]  # always on: try them first
        all_addrs = list(dict.fromkeys([*relays, *addrs, *self.store.peer_addrs(circle_id)]))[:16]
        epoch = roster.current_epoch.id
        name = self.circle_name(row)
        return invitation.make_short_token(self.identity, inv, epoch, keys[epoch], name, all_addrs)

    def join_token(self, token_text: str) -> bytes:
        """Join with a pasted token (either format); all or nothing."""
        self._not_a_linked_device("join circles")
        decoded = invitation.decode_token(token_text)
        cid = decoded.circle_id
        row = self.store.circle(cid)
        known = row is not None and row.status != "invited"
        ticket = self.store.ticket(cid)
        pending = ticket is not None and ticket.invite == decoded.invite_id  # joined with it, unconfirmed
        if known and row is not None and (pending or self.me in self.view(cid).roster.members):
            raise RosterError(f"You are already a member of {self.circle_name(row)}.")
        opened = invitation.open_token(token_text, self.identity, self._now(), self.store.used_invites())
        tok = opened.token
        if isinstance(tok, shorttoken.ShortToken):
            return self._join_short(tok, opened, known)
        # Someone who left and is invited back continues their own chain in the circle.
        pos = self.view(cid).next_pos(self.me) if known else ChainPos()
        join = actions.join(self.identity, tok.invite, pos, self._now_ms(), prekey=self.my_prekey())
        view = self.view(cid) if known else CircleView(tok.genesis)
        kept, held = self._admit_token_records(view, tok)
        own = view.add(join)
        if not isinstance(own, (Stored, Held)):
            self.ledger.forget(cid)
            raise RosterError(f"Your join could not be recorded: {getattr(own, 'reason', 'already held')}.")
        with self.store.tx():
            name = self.ledger.seal(opened.name.encode())
            self.ledger.open_circle(tok.genesis, circle.parent_of(tok.genesis), name, "member")
            self.ledger.keep_key(cid, opened.epoch_id, opened.epoch_key)
            self.store.mark_invite_used(tok.invite.id, cid, self._now())
            self.store.add_peer_addrs(cid, list(tok.addrs), "token", self._now())
            # A removal among them purges the records past or off its cut, as one by one it would.
            if not self.ledger.keep_token_records(kept, held, join):
                raise RosterError("Your join could not be recorded; your store already has that position.")
        self.ledger.forget(cid)
        self._publish_prekey(cid)
        self._to_my_devices(cid)
        return cid

    def my_prekey(self) -> tuple[bytes, int]:
        """My newest prekey (public key, expiry), made now when due: carried in a genesis or a
        join of mine, so nobody who counts me a member seals to my identity key (section 8.6)."""
        return prekeys.current(self, self._now_ms())

    def _publish_prekey(self, circle_id: bytes) -> None:
        """After a join: my prekey in that circle (the node's refresh retries what fails here)."""
        with contextlib.suppress(ProtocolError, sqlite3.Error):
            self.refresh_prekeys(circle_id)

    def _join_short(
        self, tok: shorttoken.ShortToken, opened: invitation.OpenedInvitation, known: bool
    ) -> bytes:
        """Join with a short token: my join, and the token's word kept until the roster confirms it.

        The records it names (genesis, invite, the chain to the founder) come by sync on first
        contact; until then the circle is a pending view (no genesis) and what I write is kept,
        not sent (:meth:`Ledger.confirm`).
        """
        cid = tok.circle_id
        pos = self.view(cid).next_pos(self.me) if known else ChainPos()
        mine = self.my_prekey()
        join = actions.join_by_id(self.identity, cid, tok.invite_id, pos, self._now_ms(), prekey=mine)
        contacts = tuple(dict.fromkeys([tok.inviter, *addrpack.keys_in(tok.addrs)]))
        with self.store.tx():
            name = self.ledger.seal(opened.name.encode())
            self.store.add_circle(cid, None, name, "member", self._now())
            self.ledger.keep_key(cid, opened.epoch_id, opened.epoch_key)
            self.store.mark_invite_used(tok.invite_id, cid, self._now())
            self.store.add_peer_addrs(cid, list(tok.addrs), "token", self._now())
            ticket = Ticket(cid, tok.invite_id, tok.inviter, opened.epoch_id, join.seq, contacts)
            self.store.add_ticket(ticket, self._now())
            if not self.store.add_record(join, self._now(), outbox=True):
                raise RosterError("Your join could not be recorded; your store already has that position.")
            self.ledger.forget(cid)
            self.ledger.confirm(cid)  # a circle I was in may hold the invite already
        return cid

    def _admit_token_records(
        self, view: CircleView, tok: invitation.Token
    ) -> tuple[list[tuple[Record, bool]], list[tuple[Record, str]]]:
        """Run the token's records through the circle's validator, as if they came by gossip.

        Returns what to store (with whether it is an equivocation kept as a conflict) and what
        to hold; whatever the validator drops (another circle's records, a non-member's, a
        departed member's past its cut, ...) is not kept. The invite itself must not be dropped.
        """
        seen, waiting = admit([*tok.chain, tok.invite], view.add)
        kept = [(r, out.conflict) for r, out in seen if isinstance(out, Stored)]
        verdicts = {r.id: out.reason for r, out in seen if isinstance(out, (Held, Dropped))}
        # What is still held waits in the store like a held gossip record: only if its author
        # is someone the circle knows (a stranger's record is not parked).
        held = [(r, verdicts[r.id]) for r in waiting if view.known(r.author) or r.id == tok.invite.id]
        last = {r.id: out for r, out in seen}  # a record held in one pass may be stored in the next
        if isinstance(last.get(tok.invite.id), Dropped):
            self.ledger.forget(view.id)
            why = verdicts[tok.invite.id]
            raise TokenInvalid(f"The invitation does not hold up in its circle ({why}); ask for a new one.")
        return kept, held

    def accept_fork(self, child_id: bytes) -> bytes:
        row = self.store.circle(child_id)
        if row is None or row.status != "invited" or row.fork_record is None:
            raise RosterError("There is no fork invitation for that circle.")
        self._not_a_linked_device("accept forks")
        fork_rec = records.parse(row.fork_record)
        inv = fork.open_fork(fork_rec, self.identity, self.private_prekeys())
        join = actions.join(self.identity, inv.invite, ChainPos(), self._now_ms(), prekey=self.my_prekey())
        with self.store.tx():
            self.ledger.open_circle(inv.contents.genesis, row.parent, row.name_sealed, "member")
            for r in inv.contents.invites:
                self.ledger.commit(r)
            self.ledger.keep_key(child_id, child_id, inv.epoch_key)
            self.ledger.commit_own(join)
            self.store.mark_invite_used(inv.invite.id, child_id, self._now())
            if row.parent is not None:
                inherit.level(self, row.parent, child_id)
        self._publish_prekey(child_id)
        self._to_my_devices(child_id)
        return child_id

    def fork(
        self,
        parent_id: bytes,
        name: str,
        members: list[bytes],
        *,
        history: carry.HistoryChoice = carry.NO_HISTORY,
    ) -> bytes:
        """Fork ``parent_id``; ``history``: what of the parent's messages the child carries."""
        self._not_a_linked_device("fork circles")
        view = self.view(parent_id)
        carried = carrying.to_carry(self, parent_id, history, self._now_ms())
        f = fork.create(
            self.identity,
            view.roster,
            view.next_pos(self.me),
            name,
            members,
            self._now_ms(),
            prekey=self.my_prekey(),
        )
        cid = f.child.circle_id
        with self.store.tx():
            sealed = self.ledger.seal(f.child.name.encode())
            self.ledger.open_circle(f.child.genesis, parent_id, sealed, "member", outbox=True)
            for inv in f.invites:
                self.ledger.commit_own(inv)
            self.ledger.keep_key(cid, cid, f.child.epoch_key)
            self.ledger.commit_own(f.fork_record)
            pos = self.view(cid).next_pos(self.me)
            for r in carry.seal(
                self.identity,
                cid,
                pos,
                cid,
                f.child.epoch_key,
                parent_id,
                carried,
                f.child.genesis.body["ts"],
            ):
                self.ledger.commit_own(r)
            inherit.pins(self, parent_id, cid)  # reachable through the parent's relays at once
            inherit.level(self, parent_id, cid)
        self._to_my_devices(cid)
        return cid

    def locked_out(self, circle_id: bytes) -> bool:
        """The circle's current epoch was sealed to me, yet its key did not open here (sealed to
        a private prekey of mine already deleted, by a member who saw no newer one for days):
        only a rekey of mine lets me read and send again."""
        roster = self.view(circle_id).roster
        cur = roster.current_epoch
        return (
            cur is not None
            and self.me in cur.sealed
            and roster.is_member(self.me)
            and cur.id not in self.store.epoch_keys(circle_id)
        )

    def _ensure_epoch(self, circle_id: bytes) -> tuple[bytes, bytes]:
        """The epoch to send in, rekeying first when the roster needs it, or when the current
        key was sealed to me but does not open here (:meth:`locked_out`)."""
        view = self.view(circle_id)
        roster = view.roster
        if not roster.is_member(self.me):
            raise RosterError("You are not a member of this circle.")
        if roster.needs_rekey or self.locked_out(circle_id):
            rk = actions.rekey(self.identity, roster, view.next_pos(self.me), self._now_ms())
            with self.store.tx():
                for r in (*rk.before, rk.record):
                    self.ledger.commit_own(r)
                    self.ledger.keep_key(circle_id, r.id, rk.key)
            roster = view.roster
        cur = roster.current_epoch
        keys = self.epoch_keys(circle_id)
        if cur is None or cur.id not in keys:
            raise RosterError("You do not hold the circle's current key yet; sync first.")
        return cur.id, keys[cur.id]

    def send(self, circle_id: bytes, content: messages.Content) -> Record:
        with self.store.tx():
            ticket = self.store.ticket(circle_id)
            view = self.view(circle_id)
            if ticket is not None and not view.roster.is_member(self.me):
                # Joined by a short token, not confirmed yet: kept under the token's key, sent
                # once the roster takes my join (Ledger.confirm).
                key = self.epoch_keys(circle_id)[ticket.epoch]
                pos = view.next_pos(self.me)
                rec = messages.seal(self.identity, circle_id, pos, ticket.epoch, key, content)
                self.ledger.keep_unconfirmed(rec)
                return rec
            epoch_id, key = self._ensure_epoch(circle_id)
            view = self.view(circle_id)
            rec = messages.seal(self.identity, circle_id, view.next_pos(self.me), epoch_id, key, content)
            self.ledger.commit_own(rec)
        return rec

    def send_text(self, circle_id: bytes, text: str, *, reply_to: bytes | None = None) -> Record:
        kind = messages.REPLY if reply_to else messages.TEXT
        return self.send(circle_id, messages.Content(kind, self._now_ms(), text, reply_to))

    def remove(self, circle_id: bytes, target: bytes) -> None:
        view = self.view(circle_id)
        cut, cut_id = view.chains.head(target)
        rm, rk = actions.remove(
            self.identity, view.roster, view.next_pos(self.me), target, cut, self._now_ms(), cut_id=cut_id
        )
        with self.store.tx():
            for r in rk.before:  # merges of more heads than one record may cite, if any
                self.ledger.commit_own(r)
                self.ledger.keep_key(circle_id, r.id, rk.key)
            self.ledger.commit_own(rm)
            self.ledger.commit_own(rk.record)
            self.ledger.keep_key(circle_id, rk.record.id, rk.key)

    def leave(self, circle_id: bytes) -> None:
        view = self.view(circle_id)
        rec = actions.leave(self.identity, view.roster, view.next_pos(self.me), self._now_ms())
        with self.store.tx():
            self.ledger.commit_own(rec)
            self.store.set_circle_status(circle_id, "left")

    def change_role(self, circle_id: bytes, target: bytes, role: str) -> None:
        """Make a member an admin or a plain member (admins only; never the founder)."""
        view = self.view(circle_id)
        rec = actions.change_role(
            self.identity, view.roster, view.next_pos(self.me), target, role, self._now_ms()
        )
        with self.store.tx():
            self.ledger.commit_own(rec)

    def pin(self, circle_id: bytes, relay_addr: str) -> bytes:
        """Pin a relay to a circle by its address (ending in ``/p2p/<peer ID>``); returns its key."""
        relay = relay_key_of(relay_addr)
        view = self.view(circle_id)
        rec = actions.pin(
            self.identity, view.roster, view.next_pos(self.me), relay, [relay_addr], self._now_ms()
        )
        with self.store.tx():
            self.ledger.commit_own(rec)
            self.store.add_peer_addrs(circle_id, [relay_addr], "pin", self._now())
        return relay

    def set_display_name(self, name: str) -> None:
        name = " ".join(name.split())
        if not 1 <= len(name) <= 64:
            raise ValueError("A display name has 1 to 64 characters.")
        self.store.set_identity(self.me, name, self._now())

    # reading ---------------------------------------------------------------
    def log(self, circle_id: bytes) -> list[LogEntry]:
        """Readable messages in order of their authors' time, edits and deletes applied."""
        view = self.view(circle_id)
        keys = self.epoch_keys(circle_id)
        entries: dict[bytes, LogEntry] = {}
        changes: list[timeline.Change] = []
        # The messages come from the store: a view keeps only their place (view.Entry).
        kept = [r for r in self.store.load_records(circle_id, records.MSG) if r.id in view.records]
        for r in [*kept, *view.conflicts.values()]:
            if r.type != records.MSG or not view.shown(r):
                continue  # of two messages signed for one position, every member shows the same
            key = keys.get(bytes(r.body["e"]))
            if key is None:
                continue
            try:
                c = messages.open_message(r, key)
            except ProtocolError:
                continue
            if c.file is not None and files.over_limit(c.file.size, view.roster.file_cap):
                continue  # dropped as it arrived (core.Core._meaning): over the circle's file limit
            if c.kind not in timeline.CHANGES:
                entries[r.id] = LogEntry(r.id, r.author, r.seq, c.ts, c.kind, c.text, c.ref)
            elif c.ref is not None:
                changes.append(timeline.Change(c.kind, r.author, c.ts, c.ref, c.text))
        for got in carrying.carried(self, circle_id):  # a fork's carried history, checked and marked
            r, m = got.record, got.content
            if m.file is not None and files.over_limit(m.file.size, view.roster.file_cap):
                continue  # not shown, as a file announced here over the limit is not
            if m.kind not in timeline.CHANGES:
                entries[r.id] = LogEntry(
                    r.id, r.author, r.seq, m.ts, m.kind, m.text, m.ref, carried_from=r.circle
                )
            elif m.ref is not None:
                changes.append(timeline.Change(m.kind, r.author, m.ts, m.ref, m.text))
        shown = {e.id: (e.author, e.text) for e in entries.values() if e.kind in timeline.READABLE}
        for mid, v in timeline.fold(shown, changes).items():  # the TUI folds live messages the same way
            entries[mid] = replace(entries[mid], text=v.text, edited=v.edited, deleted=v.deleted)
        return sorted(entries.values(), key=lambda e: (e.carried_from is None, e.ts, e.author, e.seq))

    # moving records between profiles without a network --------------------
    def export(self, circle_ids: Iterable[bytes]) -> bytes:
        """A bundle of the circles' records, less what I wrote since a join the roster has not
        confirmed yet (sync does not send it either: it waits for :meth:`Ledger.confirm`)."""
        raws: list[bytes] = []
        for cid in circle_ids:
            ticket = self.store.ticket(cid)
            waiting = set(self.store.unqueued(cid, self.me, ticket.join_seq)) if ticket else set()
            raws += [raw for raw in self.store.raw_records(cid) if records.record_id(raw) not in waiting]
            raws += self.store.conflicts(cid)  # equivocation evidence travels like sync sends it
        return encode_bundle(raws)

    def import_bundle(self, data: bytes) -> ImportReport:
        return self.ledger.import_records(decode_bundle(data))
