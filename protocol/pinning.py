"""A member's offer of a pinned circle to its relay, and the relay's check of it.

A relay learns of a circle only from a member: the member sends the circle's
genesis and roster records (:func:`offer_records`); the relay accepts the
circle only if those records, validated like any others, fold into a roster
that names the relay's own key as the circle's relay (:func:`check_offer`).
Everything the relay needs to validate later records is in the roster; the
records carry no content key, so the relay can store and forward but not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import records
from protocol.errors import ProtocolError, SchemaError
from protocol.records import Record
from protocol.view import CircleView, Held, Stored

MAX_OFFER_RECORDS = 20_000


@dataclass(frozen=True)
class Offer:
    circle_id: bytes
    genesis: Record
    accepted: tuple[Record, ...]
    """Roster records that validated, in an order that stores them cleanly."""


def offer_records(view: CircleView) -> list[bytes]:
    """What a member sends: the genesis, then every roster record and roster conflict it holds
    (nothing for a circle whose genesis has not arrived: no relay is pinned in it yet)."""
    if view.genesis is None:
        return []
    roster = list(view.roster_records.values())
    roster.sort(key=lambda r: (r.author, r.seq))
    conflicts = [r.raw for r in view.conflicts.values() if r.is_roster]
    return [view.genesis.raw] + [r.raw for r in roster] + conflicts


def check_offer(raws: Sequence[bytes], relay_key: bytes) -> Offer:
    """Validate an offer; raises ProtocolError (one sentence) unless it pins ``relay_key``."""
    if not raws or len(raws) > MAX_OFFER_RECORDS:
        raise SchemaError(f"an offer holds 1..{MAX_OFFER_RECORDS} records")
    parsed = [records.parse(raw) for raw in raws]
    genesis = parsed[0]
    if genesis.type != records.GENESIS:
        raise SchemaError("an offer starts with the circle's genesis")
    view = CircleView(genesis)
    pending: list[Record] = [r for r in parsed[1:] if r.circle == genesis.id and r.is_roster]
    accepted = _place(view, pending)
    if relay_key not in view.roster.relays:
        raise ProtocolError("the circle's roster does not pin this relay")
    return Offer(genesis.id, genesis, tuple(accepted))


def _place(view: CircleView, pending: Iterable[Record]) -> list[Record]:
    """Add records until none moves (causes may come after their effects); the stored ones."""
    rest = list(pending)
    accepted: list[Record] = []
    progress = True
    while rest and progress:
        progress = False
        later: list[Record] = []
        for r in rest:
            out = view.add(r)
            if isinstance(out, Stored):
                accepted.append(r)
                progress = True
            elif isinstance(out, Held):
                later.append(r)
        rest = later
    return accepted
