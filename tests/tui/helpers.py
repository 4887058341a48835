"""Helpers for Pilot tests: wait on a condition, read what the message log and tree show."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.widgets.circle_tree import CircleTree
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.message_log import MessageLog


async def wait_for(pilot: Pilot, cond: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``cond()`` is true, with a deadline (never a bare sleep)."""
    steps = int(timeout / 0.02)
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"condition not reached in {timeout}s")


def log_lines(app: object) -> list[str]:
    log = app.screen.query_one(MessageLog)  # type: ignore[attr-defined]
    blocks = [log._block(i) for i in range(len(log._blocks))]  # draws what is only measured so far
    return ["".join(seg.text for seg in strip).rstrip() for block in blocks for strip in block]


def log_text(app: object) -> str:
    return "\n".join(log_lines(app))


def tree_labels(app: object) -> dict[str, str]:
    """Circle name → its whole label text, as the tree shows it."""
    tree = app.screen.query_one(CircleTree)  # type: ignore[attr-defined]
    out = {}
    for node in tree._by_id.values():
        label = node.label.plain
        out[label.split(" ")[0]] = label
    return out


async def ready(pilot: Pilot, app: object) -> None:
    """Wait until the main screen shows the first circle's history."""
    await wait_for(pilot, lambda: getattr(app.screen, "current", None) is not None and log_lines(app))


async def started_with_notes(pilot: Pilot, app: SmallSocialApp) -> list[str]:
    """Wait for the app's real node to start; from then on, what ``app.notify`` says (a list)."""
    notes: list[str] = []
    await wait_for(pilot, lambda: app.started and app.state.peer_id, timeout=30)
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
    return notes


async def say(pilot: Pilot, app: SmallSocialApp, text: str) -> None:
    """Type ``text`` in the composer and press enter."""
    app.screen.query_one(Composer).value = text
    await pilot.press("enter")
