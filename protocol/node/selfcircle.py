"""A person's own circle: how a linked device learns of circles made after it was linked.

The link bundle (:mod:`protocol.node.devices`) brings a new device into the circles of the
moment. Circles the person creates, forks, accepts or joins later reach their devices this
way (docs/protocol.md 8.5, "Circles after the link"):

- The first link makes the person a hidden circle of their own, **the self circle**: its
  members are the person and their devices (``device`` records, as in any circle), it is
  pinned to the relays of the person's other circles, and the bundle names it (item
  ``self``). The UI does not list it.
- :func:`reconcile` (on the device holding the person's key): in every circle of mine where
  a live device of my person is not a member yet, write its ``device`` record (carrying the
  device's newest prekey that a roster of mine knows, so nobody seals to its identity key),
  and post one **handoff** in the self circle: a message of kind ``circle``
  (:data:`protocol.messages.CIRCLE`) whose payload is the circle's genesis, parent, name,
  the epoch keys I hold and known addresses. It is encrypted under the self circle's epoch
  key like any message, so relays store it unreadable, and offline devices get it later.
- :func:`take` (on a linked device): opens every circle a handoff in the self circle names
  that this profile does not hold yet; the node then joins its topic and syncs it.

A device linked by an earlier release was not given a self circle: it is not told of later
circles (link it again to be).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from protocol import actions, circle, messages, records, schema, wire
from protocol.errors import DecodeError, ProtocolError
from protocol.node import inherit
from protocol.node.store import CircleRow
from protocol.records import Record

LOG = logging.getLogger("smallsocial.selfcircle")


class Profile(inherit.Profile, Protocol):
    """What of :class:`protocol.node.profile.Profile` this needs (it calls in here: no import):
    what :mod:`protocol.node.inherit` needs, and these."""

    def epoch_keys(self, circle_id: bytes) -> dict[bytes, bytes]: ...
    def circle_name(self, row: CircleRow) -> str: ...
    def my_prekey(self) -> tuple[bytes, int]: ...
    def send(self, circle_id: bytes, content: messages.Content) -> Record: ...
    def forget_views(self) -> None: ...


SETTING = "self_circle"
NAME = "Your devices"
MAX_KEYS = 48
"""The newest epoch keys a handoff carries (older history comes by the keys' own rekeys)."""
MAX_ADDRS = 8


@dataclass(frozen=True)
class Live:
    """A live device of my person: its certificate and newest known prekey (or None)."""

    cert: bytes
    prekey: tuple[bytes, int] | None


def circle_id(profile: Profile) -> bytes | None:
    """The self circle of this profile (None: it has none)."""
    got = profile.store.setting(SETTING)
    return bytes.fromhex(got) if got else None


def remember(profile: Profile, cid: bytes) -> None:
    """Note ``cid`` as this profile's self circle (the bundle named it, or I made it)."""
    profile.store.set_setting(SETTING, cid.hex())


def is_self(profile: Profile, cid: bytes) -> bool:
    return circle_id(profile) == cid


def person(profile: Profile) -> bytes:
    """The person this profile is a device of: my own key unless a roster lists me as a device."""
    me = profile.me
    for row in profile.store.circles("member"):
        view = profile.view(row.id)
        if view.genesis is None:
            continue
        p = view.roster.person_of(me)
        if p is not None and p != me:
            return p
    return me


def _member_circles(profile: Profile) -> list[bytes]:
    me = profile.me
    out = []
    for row in profile.store.circles("member"):
        view = profile.view(row.id)
        if view.genesis is not None and view.roster.person_of(me) == me:
            out.append(row.id)
    return out


def live_devices(profile: Profile) -> dict[bytes, Live]:
    """My person's devices linked in some circle of mine and unlinked in none (on the person's device)."""
    me = profile.me
    found: dict[bytes, bytes] = {}
    gone: set[bytes] = set()
    newest: dict[bytes, tuple[bytes, int]] = {}
    for cid in _member_circles(profile):
        roster = profile.view(cid).roster
        gone.update(k for k, d in roster.departed.items() if d.kind in ("unlinked", "removed"))
        for k in roster.keys_of(me):
            if k == me:
                continue
            p = roster.prekeys.get(k)
            if p is not None and (k not in newest or p.expires > newest[k][1]):
                newest[k] = (p.key, p.expires)
            if k not in found:
                raws = profile.store.raws([roster.members[k].since])
                if raws:
                    found[k] = bytes(records.load(raws[0], roster.members[k].since).body["dc"])
    return {k: Live(cert, newest.get(k)) for k, cert in found.items() if k not in gone}


def ensure(profile: Profile) -> bytes:
    """My self circle, made now (pinned to my circles' relays) if I have none."""
    cid = circle_id(profile)
    if cid is not None and profile.store.circle(cid) is not None:
        return cid
    now_ms = int(profile.clock() * 1000)
    c = circle.create(profile.identity, NAME, now_ms, prekey=profile.my_prekey())
    with profile.store.tx():
        profile.ledger.open_circle(c.genesis, None, profile.ledger.seal(NAME.encode()), "member", outbox=True)
        profile.ledger.keep_key(c.circle_id, c.circle_id, c.epoch_key)
        remember(profile, c.circle_id)
        for other in _member_circles(profile):
            if other != c.circle_id:
                inherit.pins(profile, other, c.circle_id)
    return c.circle_id


def reach(profile: Profile) -> list[tuple[bytes, str]]:
    """The self circle and each of its relays' first address: what to tell them once it is made."""
    cid = circle_id(profile)
    if cid is None or profile.store.circle(cid) is None:
        return []
    return [(cid, r.addrs[0]) for r in profile.view(cid).roster.relays.values() if r.addrs]


def _prekey_for(live: Live, now_ms: int) -> tuple[bytes, int] | None:
    """The prekey a new ``device`` record may carry: one that a record made now accepts."""
    if live.prekey is None:
        return None
    pk, ex = live.prekey
    return (pk, ex) if now_ms < ex <= now_ms + records.MAX_PREKEY_TTL_MS else None


def reconcile(profile: Profile, only: bytes | None = None) -> list[bytes]:
    """Bring my person's live devices into my circles where they are not yet (all, or ``only``),
    and hand each such circle to them through the self circle; the circles done."""
    self_cid = circle_id(profile)
    if self_cid is None or profile.store.circle(self_cid) is None or person(profile) != profile.me:
        return []
    live = live_devices(profile)
    if not live:
        return []
    done: list[bytes] = []
    targets = [only] if only is not None else _member_circles(profile)
    with profile.store.tx():
        for cid in targets:
            row = profile.store.circle(cid)
            if row is None or row.status != "member":
                continue
            view = profile.view(cid)
            if view.genesis is None or view.roster.person_of(profile.me) != profile.me:
                continue
            added = False
            for k, d in sorted(live.items()):
                roster = profile.view(cid).roster
                if k in roster.members or k in roster.departed or k in roster.relays:
                    continue
                now_ms = int(profile.clock() * 1000)
                try:
                    rec = actions.link_device(
                        profile.identity,
                        roster,
                        profile.view(cid).next_pos(profile.me),
                        d.cert,
                        now_ms,
                        prekey=_prekey_for(d, now_ms),
                    )
                except ProtocolError as e:
                    LOG.info("could not link device %s in %s: %s", k.hex()[:12], cid.hex()[:12], e)
                    continue
                profile.ledger.commit_own(rec)
                added = True
            if cid != self_cid:
                inherit.pins(profile, cid, self_cid)
                if added:
                    profile.send(self_cid, handoff(profile, cid))
                    done.append(cid)
    return done


def handoff(profile: Profile, cid: bytes) -> messages.Content:
    """The handoff message for circle ``cid``: what a device needs to open it."""
    row = profile.store.circle(cid)
    view = profile.view(cid)
    assert row is not None and view.genesis is not None
    keys = sorted(profile.epoch_keys(cid).items(), key=lambda kv: _epoch_number(profile, cid, kv[0]))
    payload = [
        view.genesis.raw,
        row.parent,
        profile.circle_name(row),
        [[eid, k] for eid, k in keys[-MAX_KEYS:]],
        profile.store.peer_addrs(cid)[:MAX_ADDRS],
    ]
    data = wire.encode(payload)
    while len(data) > schema.MAX_TEXT_BYTES and payload[4]:
        payload[4] = payload[4][:-1]
        data = wire.encode(payload)
    return messages.Content(messages.CIRCLE, int(profile.clock() * 1000), circle=data)


def _epoch_number(profile: Profile, cid: bytes, eid: bytes) -> int:
    ep = profile.view(cid).roster.epochs.get(eid)
    return ep.number if ep is not None else -1


def _parse(data: bytes) -> tuple[Record, bytes | None, str, list[tuple[bytes, bytes]], list[str]]:
    body: Any = wire.decode(data, schema.MAX_TEXT_BYTES)
    genesis_raw, parent, name, keys, addrs = body
    genesis = records.parse(bytes(genesis_raw))
    if genesis.type != records.GENESIS:
        raise DecodeError("a handoff names no genesis")
    pairs = [(bytes(e), bytes(k)) for e, k in keys]
    return genesis, bytes(parent) if parent else None, str(name), pairs, [str(a) for a in addrs][:MAX_ADDRS]


def take(profile: Profile) -> list[bytes]:
    """On a linked device: open the circles the self circle's handoffs name and I lack."""
    self_cid = circle_id(profile)
    me = profile.me
    if self_cid is None or profile.store.circle(self_cid) is None:
        return []
    view = profile.view(self_cid)
    who = view.roster.person_of(me)
    if who is None or who == me:
        return []
    keys = profile.epoch_keys(self_cid)
    opened: list[bytes] = []
    now = int(profile.clock())
    for rec in profile.store.load_records(self_cid, records.MSG):
        if rec.author != who or bytes(rec.body["e"]) not in keys:
            continue
        try:
            content = messages.open_message(rec, keys[bytes(rec.body["e"])], handoff=True)
            if content.kind != messages.CIRCLE or content.circle is None:
                continue
            genesis, parent, name, pairs, addrs = _parse(content.circle)
        except (ProtocolError, DecodeError, TypeError, ValueError) as e:
            LOG.warning("dropped a handoff %s: %s", rec.id.hex()[:12], e)
            continue
        cid = genesis.id
        row = profile.store.circle(cid)
        if row is not None and row.status != "invited":
            continue
        with profile.store.tx():
            profile.ledger.open_circle(genesis, parent, profile.ledger.seal(name.encode()), "member")
            for eid, key in pairs:
                profile.ledger.keep_key(cid, eid, key)
            profile.store.add_peer_addrs(cid, addrs, "link", now)
        opened.append(cid)
    if opened:
        profile.forget_views()
    return opened
