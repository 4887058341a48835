"""Forks: a child circle made from a subset of a parent's members.

The forking member creates a child genesis citing the parent circle and the
parent's roster hash, signs child-circle invites for the chosen members, and
posts one ``fork`` record in the *parent* circle carrying the child genesis,
the invites, and per invitee the child's epoch key and name sealed to them.
An invitee accepts with a join in the child: no token, because the trust is
inherited from the parent. Children can fork again; :func:`protocol.circle.ancestry`
walks the tree from genesis records alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocol import actions, circle, crypto, records, schema, wire
from protocol.chain import ChainPos
from protocol.circle import NewCircle
from protocol.errors import DecodeError, DecryptError, ProtocolError, RosterError, SchemaError
from protocol.identity import Identity, peer_id
from protocol.records import Record
from protocol.roster import RosterState, fold

MAX_PENDING_PER_INVITER = 8
"""Fork invitations from one member of a circle that a node offers at a time (children in
state "invited"); further ones stay in the parent's log as records but are not offered until
some are accepted. docs/protocol.md section 12."""
MAX_PENDING_PER_CIRCLE = 64
"""Fork invitations a node offers at a time per parent circle, from all its members together."""

_SEALED_SCHEMA = {
    "c": schema.ident,
    "k": schema.fixed_bytes(crypto.KEY_SIZE),
    "nm": schema.text(schema.MAX_NAME_CHARS * 4, 1),
}


@dataclass(frozen=True)
class ForkCreated:
    child: NewCircle
    invites: tuple[Record, ...]
    fork_record: Record
    """The record to post in the parent circle."""


@dataclass(frozen=True)
class ForkContents:
    """A fork record's verified parts, readable by anyone who can read roster records."""

    genesis: Record
    invites: tuple[Record, ...]
    invitees: tuple[bytes, ...]


@dataclass(frozen=True)
class ForkInvitation:
    """A fork opened by one of its invitees."""

    contents: ForkContents
    invite: Record
    epoch_key: bytes
    name: str

    @property
    def circle_id(self) -> bytes:
        return self.contents.genesis.id


def create(
    identity: Identity,
    parent: RosterState,
    parent_pos: ChainPos,
    name: str,
    members: Sequence[bytes],
    now_ms: int,
    *,
    ttl_s: int = actions.DEFAULT_INVITE_TTL_S,
    prekey: tuple[bytes, int] | None = None,
) -> ForkCreated:
    """Fork ``parent`` into a child circle with ``members`` (parent members, not yourself);
    ``prekey``: mine, carried in the child's genesis (:func:`protocol.circle.create`)."""
    me = identity.public_key
    if not parent.is_member(me):
        raise RosterError("Only members of a circle can fork it.")
    chosen = sorted(set(members) - {me})
    if not chosen:
        raise RosterError("Pick at least one other member for the new circle.")
    for k in chosen:
        if not parent.is_member(k):
            raise RosterError(f"{peer_id(k)} is not a member of the parent circle.")
    link = (parent.circle_id, parent.roster_hash)
    child = circle.create(identity, name, now_ms, parent=link, prekey=prekey)
    invites: list[Record] = []
    pos = ChainPos()
    for k in chosen:
        state = fold(child.genesis, invites)
        inv = actions.invite(identity, state, pos, k, now_ms, ttl_s=ttl_s)
        invites.append(inv)
        pos = pos.after(inv.id)
    secret = {"c": child.circle_id, "k": child.epoch_key, "nm": child.name}
    sealed = [[k, actions.seal_to(parent, k, wire.encode(secret), now_ms)] for k in chosen]
    body = {
        "t": records.FORK,
        "a": me,
        "c": parent.circle_id,
        "q": parent_pos.seq,
        "p": parent_pos.prev,
        "ts": now_ms,
        "g": child.genesis.raw,
        "iv": [i.raw for i in invites],
        "sl": sealed,
    }
    return ForkCreated(child, tuple(invites), records.sign(identity, body))


def contents(fork_record: Record) -> ForkContents:
    """Verify the parts of a fork record (raises ``ProtocolError``)."""
    if fork_record.type != records.FORK:
        raise SchemaError("not a fork record")
    genesis = records.parse(bytes(fork_record.body["g"]))
    if genesis.type != records.GENESIS:
        raise SchemaError("a fork must carry a genesis")
    par = genesis.body.get("par")
    if genesis.author != fork_record.author or not par or bytes(par["c"]) != fork_record.circle:
        raise SchemaError("the child genesis does not belong to this fork")
    invites = tuple(records.parse(bytes(raw)) for raw in fork_record.body["iv"])
    for inv in invites:
        if inv.type != records.INVITE or inv.circle != genesis.id or inv.author != genesis.author:
            raise SchemaError("a fork invite does not belong to the child circle")
    invitees = tuple(bytes(p[0]) for p in fork_record.body["sl"])
    if sorted(bytes(i.body["k"]) for i in invites) != list(invitees):
        raise SchemaError("the fork's invites and sealed keys name different people")
    return ForkContents(genesis, invites, invitees)


def check_against(parent: RosterState, fork_record: Record) -> str | None:
    """Why a fork does not fit its parent's roster, or None."""
    try:
        c = contents(fork_record)
    except ProtocolError as e:
        return str(e)
    for k in c.invitees:
        if not parent.is_member(k) and k not in parent.departed:
            return "a fork invitee is not a member of the parent"
    return None


def open_sealed(sealed: bytes, me: Identity, prekeys: Sequence[bytes] = ()) -> bytes:
    """Open what was sealed to me (a rekey's ``ks`` entry, a fork's ``sl`` entry): with my private
    prekeys, newest first, then with my identity key (roster rule 8: the sealer used the newest
    prekey it saw, or my identity key when it saw none)."""
    for private in prekeys:
        try:
            return crypto.unseal_with_prekey(private, sealed)
        except DecryptError:
            continue
    return me.unseal(sealed)


def open_fork(fork_record: Record, me: Identity, prekeys: Sequence[bytes] = ()) -> ForkInvitation:
    """The child circle's key, name and my invite, for an invitee of this fork (``prekeys``: my
    private prekeys, newest first)."""
    c = contents(fork_record)
    sealed = {bytes(p[0]): bytes(p[1]) for p in fork_record.body["sl"]}
    if me.public_key not in sealed:
        raise RosterError("This fork did not invite you.")
    try:
        inner = wire.decode(open_sealed(sealed[me.public_key], me, prekeys), 1024)
        schema.check(inner, _SEALED_SCHEMA)
    except (DecryptError, DecodeError) as e:
        raise RosterError("The fork's sealed key does not open with your key.") from e
    if inner["c"] != c.genesis.id:
        raise RosterError("The fork's sealed key is for another circle.")
    invite = next(i for i in c.invites if bytes(i.body["k"]) == me.public_key)
    name = circle.open_name(bytes(inner["k"]), c.genesis)
    return ForkInvitation(c, invite, bytes(inner["k"]), name)
