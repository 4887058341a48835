"""Presence announcements: a member's signed "here is where to reach me", gossiped in a circle.

A ``presence`` record (``{v, t, a, c, ts, ad, nm}``) is outside the authors'
chains and never stored as a record: it feeds the dialer (``ad``) and tells the
circle the display name its author chose (``nm``; a petname always wins). :func:`check` accepts it when the
author is a member (or the circle's relay), its time is within ``max_skew_ms``
of the receiver's clock (so an old announcement cannot be replayed for long),
and every address ends in the author's own ``/p2p/<peer ID>``. The addresses
are visible to anyone subscribed to the topic, like member keys are.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol import records
from protocol.identity import Identity, peer_id
from protocol.records import Record
from protocol.roster import RosterState

MAX_SKEW_MS = 5 * 60 * 1000


def announce(
    identity: Identity, circle_id: bytes, addrs: Sequence[str], now_ms: int, name: str = ""
) -> Record:
    """A signed announcement of where I am, and the display name I chose ("" for none)."""
    body = {
        "t": records.PRESENCE,
        "a": identity.public_key,
        "c": circle_id,
        "ts": now_ms,
        "ad": list(addrs),
        "nm": name[:64],
    }
    return records.sign(identity, body)


def check(record: Record, roster: RosterState, now_ms: int, max_skew_ms: int = MAX_SKEW_MS) -> str | None:
    """Why a presence record is not to be believed, or None."""
    if record.type != records.PRESENCE:
        return "not a presence announcement"
    if record.circle != roster.circle_id:
        return "the announcement is for another circle"
    if not (roster.is_member(record.author) or record.author in roster.relays):
        return "the announcement's author is not a member"
    if abs(int(record.body["ts"]) - now_ms) > max_skew_ms:
        return "the announcement is too old or from the future"
    suffix = "/p2p/" + peer_id(record.author)
    if not all(str(a).endswith(suffix) for a in record.body["ad"]):
        return "an announced address is not the author's own"
    return None
