"""Answers to the UI's Load* commands: overview, history and members, read from the store.

Plain functions over a :class:`Profile` (and the set of connected peers'
keys) that build the frozen answers defined in :mod:`protocol.node.api`, so the
TUI never opens the store or the node's internals itself.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection

from protocol import messages, records, timeline
from protocol.errors import ProtocolError
from protocol.identity import peer_id
from protocol.node import api, devices, whois
from protocol.node.profile import Profile
from protocol.roster import DEFAULT_FILE_CAP, DEFAULT_SOFT_CAP


def unread(profile: Profile, circle_id: bytes) -> tuple[int, int]:
    """(unread messages, of which mention me) after the circle's read marker."""
    keys = profile.epoch_keys(circle_id)
    name = profile.display_name
    count = mentions = 0
    for rid, raw in profile.store.after_marker(circle_id, profile.me):
        try:
            rec = records.load(raw, rid)  # a damaged row is not counted, and does not stop the count
            key = keys.get(bytes(rec.body["e"]))
            if key is None:
                continue
            c = messages.open_message(rec, key)
        except ProtocolError:
            continue
        if c.kind in timeline.READABLE:
            count += 1
            mentions += timeline.mentions(c.text, name)
    return count, mentions


_UNREAD: weakref.WeakKeyDictionary[Profile, dict[bytes, tuple[tuple[object, ...], tuple[int, int]]]] = (
    weakref.WeakKeyDictionary()
)
"""Per profile and circle: the unread counts and what they were computed from."""


def unread_cached(profile: Profile, circle_id: bytes) -> tuple[int, int]:
    """:func:`unread`, recomputed only for a circle whose records, read marker, keys or my
    name changed since the last overview: an overview costs O(circles), not O(messages)."""
    view = profile.view(circle_id)
    stamp = (
        profile.store.read_marker(circle_id),
        len(view.records),
        len(view.conflicts),
        len(profile.epoch_keys(circle_id)),
        profile.display_name,
    )
    cache = _UNREAD.setdefault(profile, {})
    hit = cache.get(circle_id)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    counts = unread(profile, circle_id)
    cache[circle_id] = (stamp, counts)
    return counts


def overview(
    profile: Profile, request_id: int, addrs: list[str], connected: Collection[str]
) -> api.OverviewLoaded:
    summaries = []
    levels = profile.store.notify_levels()
    for info in profile.circles():
        relays: tuple[str, ...] = ()
        n_unread = n_mentions = 0
        soft_cap, file_cap = DEFAULT_SOFT_CAP, DEFAULT_FILE_CAP
        if info.status != "invited":
            roster = profile.view(info.id).roster
            relays = tuple(a for r in roster.relays.values() for a in r.addrs)
            soft_cap, file_cap = roster.soft_cap, roster.file_cap
            if info.status == "member":
                n_unread, n_mentions = unread_cached(profile, info.id)
        summaries.append(
            api.CircleSummary(
                info.id, info.name, info.parent, info.status, info.members, info.epoch,
                n_unread, n_mentions, relays, soft_cap, levels.get(info.id, "quiet"), file_cap,
            )
        )  # fmt: skip
    mine = devices.listing(profile)
    person = mine[0].person if mine else profile.me
    return api.OverviewLoaded(
        request_id,
        profile.me,
        profile.identity.peer_id,
        profile.display_name,
        tuple(addrs),
        tuple(summaries),
        tuple(sorted(profile.store.contacts().items(), key=lambda kv: kv[1])),
        tuple(sorted(connected)),
        tuple(sorted(profile.store.names().items())),
        person,
        tuple(api.MyDevice(d.key, d.name if d.key != person else "", bool(d.circles)) for d in mine),
        None if mine else whois.unlinked_by(profile),
    )


AROUND = 50
"""Messages loaded before the one a history is asked ``around`` (a search result opened)."""


def history(
    profile: Profile, request_id: int, circle_id: bytes, limit: int, around: bytes | None = None
) -> api.HistoryLoaded:
    log = profile.log(circle_id)
    at = next((i for i, e in enumerate(log) if e.id == around), None) if around is not None else None
    if at is not None:
        limit = max(limit, len(log) - at + AROUND)
    entries = log[-limit:] if limit > 0 else []
    return api.HistoryLoaded(
        request_id,
        circle_id,
        tuple(entries),
        profile.store.read_marker(circle_id),
        len(profile.store.held(circle_id)),
    )


def members(
    profile: Profile, request_id: int, circle_id: bytes, connected: Collection[str]
) -> api.MembersLoaded:
    view = profile.view(circle_id)
    roster = view.roster
    names = profile.store.names()
    names[profile.me] = profile.display_name

    def info(key: bytes, role: str, invited_by: bytes | None) -> api.MemberInfo:
        pid = peer_id(key)
        devices = tuple(d for d in roster.keys_of(key) if d != key)
        online = any(k == profile.me or peer_id(k) in connected for k in (key, *devices))
        flag = view.equivocators.get(key, "")
        return api.MemberInfo(key, pid, role, invited_by, online, names.get(key, ""), flag, devices)

    return api.MembersLoaded(
        request_id,
        circle_id,
        tuple(info(m.key, m.role, m.invited_by) for m in roster.persons().values()),
        tuple(info(r.key, "relay", r.pinned_by) for r in roster.relays.values()),
    )
