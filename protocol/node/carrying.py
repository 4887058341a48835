"""History carried into a fork, on a profile: what a fork carries, and what a child shows of it.

:func:`to_carry` picks a parent circle's messages by a :class:`~protocol.carry.HistoryChoice`
and reveals each one's key (:meth:`Profile.fork` seals them into ``carry`` records);
:func:`carried` opens and checks a child's ``carry`` records (:meth:`Profile.log` shows them
first, marked as carried). A carry record that does not check out is logged and shown not at
all; it stays in the store, as the founder's chain must stay whole for sync
(docs/protocol.md, "Carried history").
"""

from __future__ import annotations

import logging
from typing import Protocol

from protocol import carry, circle, messages, records
from protocol.errors import ProtocolError, SchemaError
from protocol.node.api import HistoryEntry
from protocol.node.store import Store
from protocol.records import Record
from protocol.view import CircleView


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    store: Store

    def view(self, circle_id: bytes) -> CircleView: ...
    def epoch_keys(self, circle_id: bytes) -> dict[bytes, bytes]: ...
    def log(self, circle_id: bytes) -> list[HistoryEntry]: ...


LOG = logging.getLogger(__name__)
_logged: set[bytes] = set()
"""Carry records already reported as refused (a log is read again and again)."""


def opened(profile: Profile, circle_id: bytes) -> list[tuple[Record, messages.Content, bytes]]:
    """The circle's shown messages I can read: record, content and the epoch key that opens it."""
    view = profile.view(circle_id)
    keys = profile.epoch_keys(circle_id)
    out = []
    kept = [r for r in profile.store.load_records(circle_id, records.MSG) if r.id in view.records]
    for r in [*kept, *view.conflicts.values()]:
        if r.type != records.MSG or not view.shown(r):
            continue
        key = keys.get(bytes(r.body["e"]))
        if key is None:
            continue
        try:
            out.append((r, messages.open_message(r, key), key))
        except ProtocolError:
            continue
    return out


def to_carry(
    profile: Profile, parent_id: bytes, choice: carry.HistoryChoice, now_ms: int
) -> list[tuple[Record, bytes]]:
    """The parent's records the choice carries, each with its reveal key, in time order."""
    if choice.mode == carry.NONE:
        return []
    mine = opened(profile, parent_id)
    deleted = {e.id for e in profile.log(parent_id) if e.deleted}
    picked = carry.select([(r, c) for r, c, _ in mine], deleted, choice, now_ms)
    key_of = {r.id: k for r, _, k in mine}
    return [(r, carry.reveal_key(key_of[r.id], r)) for r, _ in picked]


def carried(profile: Profile, circle_id: bytes) -> list[carry.Carried]:
    """The checked messages carried into a forked circle, in the order they were carried."""
    view = profile.view(circle_id)
    g = view.genesis
    parent = circle.parent_of(g) if g is not None else None
    if g is None or parent is None:
        return []
    keys = profile.epoch_keys(circle_id)
    out: dict[bytes, carry.Carried] = {}
    for r in profile.store.load_records(circle_id, records.CARRY):
        key = keys.get(bytes(r.body["e"]))
        if r.id not in view.records or r.author != g.author or key is None:
            continue
        try:
            for c in carry.open_carry(r, key, parent):
                out.setdefault(c.record.id, c)
        except ProtocolError as e:
            refused(circle_id, r, e)
    return list(out.values())


def open_one(profile: Profile, circle_id: bytes, record: Record) -> list[carry.Carried] | None:
    """Open and check one carry record (raises ``ProtocolError``); None without its key (a relay)."""
    key = profile.epoch_keys(circle_id).get(bytes(record.body["e"]))
    if key is None:
        return None
    g = profile.view(circle_id).genesis
    parent = circle.parent_of(g) if g is not None else None
    if parent is None:  # the view takes carry records only in a fork
        raise SchemaError("carried history in a circle that is not a fork")
    return carry.open_carry(record, key, parent)


def refused(circle_id: bytes, record: Record, why: ProtocolError) -> str:
    """Log (once per record) why a carry record is shown not at all; returns the reason."""
    reason = f"carried history {record.id.hex()[:12]} refused: {why}"
    if record.id not in _logged:
        _logged.add(record.id)
        LOG.warning("circle %s: %s", circle_id.hex()[:12], reason)
    return reason
