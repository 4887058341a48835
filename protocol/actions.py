"""Builders for roster records: invite, join, remove (+ rekey), leave, role, rekey, pin, softcap,
filecap, device, unlink (+ rekey), prekey and rekeyevery.

Each takes the author's identity, the roster state they see, their chain
position in the circle and the time, and returns signed records. They refuse
(``RosterError``) what the roster would reject, so a local mistake gets a
sentence instead of a record that every peer drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol import crypto, devicecert, records, schema
from protocol.chain import ChainPos
from protocol.errors import RosterError
from protocol.identity import Identity, peer_id
from protocol.records import Record
from protocol.roster import ADMIN, MEMBER, Epoch, RosterState

DEFAULT_INVITE_TTL_S = 7 * 24 * 3600
PREKEY_TTL_MS = 14 * 24 * 3600 * 1000
"""A prekey's ``ex``, after it is published: twice the node's rotation period
(protocol.node.prekeys). Past it a sealer still seals to it while it is its owner's newest
(:meth:`RosterState.prekey_of`)."""


def seal_to(state: RosterState, recipient: bytes, secret: bytes, now_ms: int) -> bytes:
    """``secret`` sealed to a member key: to its newest prekey (roster rule 8), or, when the
    roster holds none for it, to the X25519 key derived from the member key itself."""
    pk = state.prekey_of(recipient, now_ms)
    return crypto.seal(recipient, secret) if pk is None else crypto.seal_to_prekey(pk, secret)


@dataclass(frozen=True)
class Rekeyed:
    record: Record
    key: bytes
    before: tuple[Record, ...] = ()
    """Records to store, in order, before everything the call returned (usually none): when
    the roster has more heads than one record may cite, rekeys to the author alone (sealed
    with ``key`` too) that cite them ``MAX_HEADS`` at a time, so that the call's records
    follow every one of them and every member's join precedes the new epoch."""


def _roster_body(
    identity: Identity, state: RosterState, pos: ChainPos, t: str, now_ms: int
) -> dict[str, object]:
    return {
        "t": t,
        "a": identity.public_key,
        "c": state.circle_id,
        "q": pos.seq,
        "p": pos.prev,
        # More concurrent heads than a record may cite: cite the first MAX_HEADS; the next
        # record's heads are then this one and the rest, so they shrink again.
        "h": list(state.heads[: schema.MAX_HEADS]),
        "ts": now_ms,
    }


def invite(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    invitee: bytes,
    now_ms: int,
    *,
    role: str = MEMBER,
    ttl_s: int = DEFAULT_INVITE_TTL_S,
    nonce: bytes | None = None,
) -> Record:
    if not state.may_invite(identity.public_key):
        raise RosterError("You cannot invite in this circle; ask an admin.")
    if role not in (MEMBER, ADMIN):
        raise RosterError("The role must be member or admin.")
    if role == ADMIN and not state.may_admin(identity.public_key):
        raise RosterError("Only admins can invite admins.")
    if invitee in state.members:
        raise RosterError(f"{peer_id(invitee)} is already a member.")
    if state.current_epoch is None:
        raise RosterError("The circle needs a rekey before anyone can be invited.")
    body = _roster_body(identity, state, pos, records.INVITE, now_ms)
    body |= {
        "k": invitee,
        "r": role,
        "x": now_ms // 1000 + ttl_s,
        "n": nonce or crypto.random_bytes(16),
        "e": state.current_epoch.id,
    }
    return records.sign(identity, body)


def join(
    identity: Identity,
    invite_record: Record,
    pos: ChainPos,
    now_ms: int,
    *,
    prekey: tuple[bytes, int] | None = None,
) -> Record:
    """The invitee's join; it cites the invite as its roster head. ``prekey`` (public key,
    expiry in ms): my first prekey in the circle, carried in the join (format 2), so that
    nobody who counts me a member seals to my identity key; None writes format 1 (no prekey)."""
    if invite_record.type != records.INVITE or bytes(invite_record.body["k"]) != identity.public_key:
        raise RosterError("This invitation is not for your key.")
    return join_by_id(identity, invite_record.circle, invite_record.id, pos, now_ms, prekey=prekey)


def join_by_id(
    identity: Identity,
    circle_id: bytes,
    invite_id: bytes,
    pos: ChainPos,
    now_ms: int,
    *,
    prekey: tuple[bytes, int] | None = None,
) -> Record:
    """The join of an invite known by its id only (a short token): the roster checks the rest."""
    body: dict[str, Any] = {
        "t": records.JOIN,
        "a": identity.public_key,
        "c": circle_id,
        "q": pos.seq,
        "p": pos.prev,
        "h": [invite_id],
        "ts": now_ms,
        "i": invite_id,
    }
    return records.sign(identity, records.with_prekey(body, prekey))


def rekey(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    now_ms: int,
    *,
    recipients: list[bytes] | None = None,
    heads: list[bytes] | None = None,
    key: bytes | None = None,
) -> Rekeyed:
    """A fresh epoch key, sealed to each member (or the given recipients) only."""
    if not state.is_member(identity.public_key):
        raise RosterError("Only members can rekey a circle.")
    new_key = key or crypto.random_bytes(crypto.KEY_SIZE)
    keys = sorted(recipients if recipients is not None else state.recipients())
    if heads is None:
        before, pos, cite, floor = _merges(identity, state, pos, now_ms, new_key)
    else:
        before, cite, floor = [], sorted(heads), None
    rec = _rekey_record(identity, state, pos, now_ms, keys, new_key, cite, floor)
    return Rekeyed(rec, new_key, tuple(before))


def _rekey_record(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    now_ms: int,
    keys: list[bytes],
    new_key: bytes,
    heads: list[bytes],
    floor: tuple[bytes, int] | None,
) -> Record:
    """The rekey after the latest epoch (or after ``floor``, the last merge's epoch, when
    that is numbered higher), so the new epoch is the highest-numbered one."""
    prev = _latest_epoch(state)
    pe, number = prev.id, prev.number
    if floor is not None and floor[1] >= number:
        pe, number = floor
    body = _roster_body(identity, state, pos, records.REKEY, now_ms)
    sealed = [[k, seal_to(state, k, new_key, now_ms)] for k in keys]
    body |= {"h": sorted(heads), "e": number + 1, "pe": pe, "ks": sealed}
    return records.sign(identity, body)


def _merges(
    identity: Identity, state: RosterState, pos: ChainPos, now_ms: int, key: bytes
) -> tuple[list[Record], ChainPos, list[bytes], tuple[bytes, int] | None]:
    """Rekeys to the author alone that cite the roster's heads ``MAX_HEADS`` at a time, when
    there are more than that (many people joined at once, or a member made records citing old
    heads): a chain from epoch 0 (which every record follows), the first citing the author's
    own join. Returns them, the position after them, what the next record cites, and the last
    one's epoch (id, number)."""
    heads = list(state.heads)
    if len(heads) <= schema.MAX_HEADS:
        return [], pos, heads, None
    me = identity.public_key
    member = state.members.get(me)
    if member is not None and member.since in heads:
        heads.remove(member.since)
        heads.insert(0, member.since)
    out: list[Record] = []
    pe, number = state.circle_id, 0
    while len(heads) > schema.MAX_HEADS:
        take, heads = heads[: schema.MAX_HEADS], heads[schema.MAX_HEADS :]
        body = _roster_body(identity, state, pos, records.REKEY, now_ms)
        body |= {"h": sorted(take), "e": number + 1, "pe": pe, "ks": [[me, seal_to(state, me, key, now_ms)]]}
        rec = records.sign(identity, body)
        out.append(rec)
        pos, pe, number = pos.after(rec.id), rec.id, number + 1
        heads.insert(0, rec.id)
    return out, pos, heads, (pe, number)


def _latest_epoch(state: RosterState) -> Epoch:
    return min(state.epochs.values(), key=lambda e: (-e.number, e.id))


def remove(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    target: bytes,
    cut: int,
    now_ms: int,
    *,
    cut_id: bytes | None = None,
    device_cuts: Mapping[bytes, tuple[int, bytes | None]] | None = None,
) -> tuple[Record, Rekeyed]:
    """Remove ``target`` and rekey to the members that remain, in two records.

    ``cut`` is the highest seq of the target's chain the remover accepts and ``cut_id`` the id
    of the target's record at that seq (None when ``cut`` is 0): history below the cut is then
    fixed, and nobody can swap in other records there.

    A person's devices leave with them. ``device_cuts`` (device key -> ``(cut, cut_id)``)
    names each device's own cut: their removals come first then, in ``Rekeyed.before``
    (without one, a device departs with the person at cut 0: nothing of its is kept).
    """
    if not state.may_admin(identity.public_key):
        raise RosterError("Only admins can remove someone from this circle.")
    if target == state.founder or state.person_of(target) == state.founder:
        raise RosterError("The founder cannot be removed.")
    if target in (identity.public_key, state.person_of(identity.public_key)):
        raise RosterError("You cannot remove yourself; leave the circle instead.")
    pending = any(i.invitee == target and i.used_by is None and not i.revoked for i in state.invites.values())
    if target not in state.members and target not in state.relays and not pending:
        raise RosterError(f"{peer_id(target)} is not in this circle.")
    if (cut == 0) != (cut_id is None):
        raise RosterError("A removal names the removed member's record at the cut (none for cut 0).")
    new_key = crypto.random_bytes(crypto.KEY_SIZE)
    before, pos, cite, floor = _merges(identity, state, pos, now_ms, new_key)
    gone = set(state.keys_of(target)) | {target}
    for device in sorted(gone - {target}):
        if device_cuts is None or device not in device_cuts:
            continue
        d_cut, d_id = device_cuts[device]
        if (d_cut == 0) != (d_id is None):
            raise RosterError("A removal names the removed device's record at the cut (none for cut 0).")
        body = _roster_body(identity, state, pos, records.REMOVE, now_ms) | {
            "k": device,
            "s": d_cut,
            "sh": d_id,
        }
        body["h"] = sorted(cite)
        rec = records.sign(identity, body)
        before.append(rec)
        pos, cite = pos.after(rec.id), [rec.id]
    body = _roster_body(identity, state, pos, records.REMOVE, now_ms) | {"k": target, "s": cut, "sh": cut_id}
    body["h"] = sorted(cite)
    rm = records.sign(identity, body)
    remaining = sorted(k for k in state.recipients() if k not in gone)
    rec = _rekey_record(identity, state, pos.after(rm.id), now_ms, remaining, new_key, [rm.id], floor)
    return rm, Rekeyed(rec, new_key, tuple(before))


def leave(identity: Identity, state: RosterState, pos: ChainPos, now_ms: int) -> Record:
    if not state.is_member(identity.public_key):
        raise RosterError("You are not a member of this circle.")
    return records.sign(identity, _roster_body(identity, state, pos, records.LEAVE, now_ms))


def change_role(
    identity: Identity, state: RosterState, pos: ChainPos, target: bytes, role: str, now_ms: int
) -> Record:
    if role not in (MEMBER, ADMIN):
        raise RosterError("The role must be member or admin.")
    if not state.may_admin(identity.public_key):
        raise RosterError("Only admins can change roles.")
    if target == state.founder:
        raise RosterError("The founder's role cannot change: the founder is always an admin.")
    if target not in state.members:
        raise RosterError(f"{peer_id(target)} is not a member of this circle.")
    if state.members[target].role == role:
        raise RosterError(f"{peer_id(target)} is already {'an admin' if role == ADMIN else 'a member'}.")
    body = _roster_body(identity, state, pos, records.ROLE, now_ms) | {"k": target, "r": role}
    return records.sign(identity, body)


def pin(
    identity: Identity, state: RosterState, pos: ChainPos, relay: bytes, addrs: list[str], now_ms: int
) -> Record:
    if not state.is_member(identity.public_key):
        raise RosterError("Only members can pin a relay.")
    if relay in state.members:
        raise RosterError("A member cannot also be the circle's relay.")
    body = _roster_body(identity, state, pos, records.PIN, now_ms) | {"k": relay, "ad": list(addrs)}
    return records.sign(identity, body)


def set_soft_cap(identity: Identity, state: RosterState, pos: ChainPos, cap: int, now_ms: int) -> Record:
    """An admin's ``softcap`` record: from now on, inviting at ``cap`` members suggests a fork."""
    if not state.may_admin(identity.public_key):
        raise RosterError("Only admins can set the circle's soft cap.")
    if isinstance(cap, bool) or not schema.MIN_SOFT_CAP <= cap <= schema.MAX_MEMBERS:
        raise RosterError(f"The soft cap is a number from {schema.MIN_SOFT_CAP} to {schema.MAX_MEMBERS}.")
    body = _roster_body(identity, state, pos, records.SOFTCAP, now_ms) | {"n": cap}
    return records.sign(identity, body)


def set_file_cap(identity: Identity, state: RosterState, pos: ChainPos, cap: int, now_ms: int) -> Record:
    """An admin's ``filecap`` record: from now on, a file of the circle is at most ``cap`` bytes."""
    if not state.may_admin(identity.public_key):
        raise RosterError("Only admins can set the circle's file limit.")
    if isinstance(cap, bool) or not 0 <= cap <= schema.MAX_FILE_CAP:
        raise RosterError(f"The file limit is at most {schema.MAX_FILE_CAP // 2**20} MiB.")
    body = _roster_body(identity, state, pos, records.FILECAP, now_ms) | {"n": cap}
    return records.sign(identity, body)


def set_rekey_schedule(
    identity: Identity, state: RosterState, pos: ChainPos, days: int, messages: int, now_ms: int
) -> Record:
    """An admin's ``rekeyevery`` record: from now on, a new epoch at least every ``days`` days
    and every ``messages`` messages (members' nodes start it, :mod:`protocol.rekeysched`)."""
    if not state.may_admin(identity.public_key):
        raise RosterError("Only admins can set the circle's rekey schedule.")
    if isinstance(days, bool) or not 1 <= days <= schema.MAX_REKEY_DAYS:
        raise RosterError(f"Rekey at least every 1 to {schema.MAX_REKEY_DAYS} days.")
    if isinstance(messages, bool) or not 1 <= messages <= schema.MAX_REKEY_MESSAGES:
        raise RosterError(f"Rekey at least every 1 to {schema.MAX_REKEY_MESSAGES:,} messages.")
    body = _roster_body(identity, state, pos, records.REKEYEVERY, now_ms) | {"d": days, "m": messages}
    return records.sign(identity, body)


def link_device(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    cert: bytes,
    now_ms: int,
    *,
    prekey: tuple[bytes, int] | None = None,
) -> Record:
    """The ``device`` record bringing ``cert`` (the person's certificate for a new device) into
    this circle; by the person or one of their devices already linked here. ``prekey``: the
    device's first prekey (format 2; its linker made it and hands the private half over in
    the link bundle); None writes format 1."""
    parsed = devicecert.parse(cert)
    me = identity.public_key
    if state.person_of(me) != parsed.person:
        raise RosterError("Only the person a device belongs to, or one of their devices, can link it.")
    if parsed.device in state.members or parsed.device in state.relays:
        raise RosterError(f"{peer_id(parsed.device)} is already in this circle.")
    if parsed.device in state.departed:
        raise RosterError(f"{peer_id(parsed.device)} has departed from this circle; link a new key.")
    body = _roster_body(identity, state, pos, records.DEVICE, now_ms) | {"k": parsed.device, "dc": parsed.raw}
    return records.sign(identity, records.with_prekey(body, prekey))


def unlink(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    device: bytes,
    cut: int,
    now_ms: int,
    *,
    cut_id: bytes | None = None,
) -> tuple[Record, Rekeyed]:
    """Unlink one of my person's devices and rekey to every key that remains, in two records.

    ``cut`` and ``cut_id`` are as for :func:`remove`: the device's records above the cut are
    refused from then on. The device held every epoch key its linker held, so they are all
    burned; the rekey makes a new one, sealed to everyone but the device."""
    me = identity.public_key
    m = state.members.get(device)
    if state.person_of(me) is None:
        raise RosterError("You are not a member of this circle.")
    if m is None or m.person != state.person_of(me):
        raise RosterError(f"{peer_id(device)} is not one of your linked devices in this circle.")
    if device == me:
        raise RosterError("A device cannot unlink itself; unlink it from another of your devices.")
    if (cut == 0) != (cut_id is None):
        raise RosterError("An unlink names the device's record at the cut (none for cut 0).")
    new_key = crypto.random_bytes(crypto.KEY_SIZE)
    before, pos, cite, floor = _merges(identity, state, pos, now_ms, new_key)
    body = _roster_body(identity, state, pos, records.UNLINK, now_ms) | {"k": device, "s": cut, "sh": cut_id}
    body["h"] = sorted(cite)
    rec = records.sign(identity, body)
    remaining = sorted(k for k in state.recipients() if k != device)
    rk = _rekey_record(identity, state, pos.after(rec.id), now_ms, remaining, new_key, [rec.id], floor)
    return rec, Rekeyed(rk, new_key, tuple(before))


def prekey(
    identity: Identity,
    state: RosterState,
    pos: ChainPos,
    public: bytes,
    now_ms: int,
    *,
    ttl_ms: int = PREKEY_TTL_MS,
) -> Record:
    """The ``prekey`` record publishing my X25519 key ``public`` in this circle until ``now_ms + ttl_ms``."""
    if not state.is_member(identity.public_key):
        raise RosterError("Only members publish prekeys in a circle.")
    body = _roster_body(identity, state, pos, records.PREKEY, now_ms) | {"pk": public, "ex": now_ms + ttl_ms}
    return records.sign(identity, body)
