"""The ``roster`` fuzz target for ``scripts/fuzz`` (registered in fuzzkit.TARGETS).

The input drives :func:`rosterkit.history`: a stream of choices from which a few people sign
roster records (invite, join, remove with its rekey, leave, role, rekey, pin, bulk invites,
records citing heads nobody has) from stale views of the circle, valid and invalid ones
alike. Every record goes into a :class:`~protocol.view.CircleView` as raw bytes, in the
order made or, when the input says so, reversed (sync out of order). Checked afterwards:

- only ``ProtocolError`` escapes (fuzzkit's contract);
- the view's roster (the incremental fold) equals the reference ``roster.fold`` of the
  roster records it stored (a plain ``AssertionError``: reported as a crash);
- **no wedged circle** (:class:`Wedged`, kind ``wedged``): an admin can still remove a member
  with its rekey and a member can rekey, with records ``records.sign`` accepts and the fold
  applies (:func:`rosterkit.after_checks`).
"""

from __future__ import annotations

import random
from typing import Any

import rosterkit
from fuzzstate import Wedged  # the same kind as the node-state targets' wedge

from protocol.errors import ProtocolError
from protocol.fold import RosterIndex
from protocol.roster import RosterState, fold
from protocol.view import CircleView

STEPS = 16


def _plain(s: RosterState) -> tuple[Any, ...]:
    return (
        dict(s.members), dict(s.relays), dict(s.departed), dict(s.invites), frozenset(s.accepted),
        dict(s.rejected), frozenset(s.pending), s.heads,
        {k: (e.number, frozenset(e.holders)) for k, e in s.epochs.items()},
        None if s.current_epoch is None else s.current_epoch.id,
    )  # fmt: skip


def t_roster(data: bytes) -> object:
    h = rosterkit.history(rosterkit.Choices(data[1:]), STEPS, bulk_max=3)
    view = CircleView(h.genesis)
    order = list(h.made)
    if data and data[0] & 1:
        order.reverse()
    if data and data[0] & 2:
        random.Random(data).shuffle(order)
    for _ in range(2):  # a second round: what was held for a missing parent now fits
        for r in order:
            view.receive(r.raw)
    held = [r for r in (*view.roster_records.values(), *view.conflicts.values()) if r.is_roster]
    if _plain(view.roster) != _plain(fold(h.genesis, held)):
        raise AssertionError("the incremental roster differs from the reference fold")
    try:
        rosterkit.after_checks(h.genesis, held, lambda recs: RosterIndex(h.genesis, recs).state())
    except (AssertionError, ProtocolError) as e:
        raise Wedged(f"{type(e).__name__}: {e}") from e
    return len(held)


def seeds_roster() -> dict[str, bytes]:
    rng = random.Random(10)
    out = {f"random_{i}": bytes(rng.randrange(256) for _ in range(400)) for i in range(6)}
    out["zeros"] = bytes(300)
    out["bulk"] = bytes([0]) + bytes([0, 9] * 150)
    return out


def targets() -> list[Any]:
    import fuzzkit  # fuzzkit imports this module for its TARGETS: resolved at call time

    return [
        fuzzkit.Target(
            "roster",
            "random roster histories (valid and invalid records) into CircleView: the incremental "
            "fold equals the reference, and remove and rekey still work (no wedge)",
            t_roster,
            seeds_roster,
        )
    ]


__all__ = ["Wedged", "t_roster", "targets"]
