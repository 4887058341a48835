"""The CLI's side of carried history: ``fork --history`` and the carried mark in ``log``.

``--history`` takes ``none`` (the default: the child starts empty), ``all``, ``last:N`` (the
last N messages) or ``days:D`` (the last D days); a message carried into a fork shows in
``log`` with its original author and time, marked ``(carried)``, and in ``--json`` with
``carried_from``: the parent circle's id (docs/protocol.md, "Carried history").
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocol.node.api import HistoryEntry
    from protocol.node.profile import Profile


def add_history_argument(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--history",
        default="none",
        metavar="WHICH",
        help="the parent's messages the new circle carries: none (default), all, last:N or days:D",
    )


def carried_count(profile: Profile, circle_id: bytes) -> int:
    """How many messages the circle shows as carried (read back from the store, checked)."""
    profile.forget_views()  # a running node wrote the fork
    return sum(e.carried_from is not None for e in profile.log(circle_id))


def carried_note(count: int) -> str:
    if not count:
        return ""
    return f"\ncarried {count} message{'s' if count != 1 else ''} of its history"


def entry_json(e: HistoryEntry) -> dict[str, Any]:
    return {"carried_from": e.carried_from.hex() if e.carried_from else None}


def entry_mark(e: HistoryEntry) -> str:
    return " (carried)" if e.carried_from is not None else ""
