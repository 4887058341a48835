"""Snapshot tests (pytest-textual-snapshot) of the main screen, the invite and the fork dialogs.

Fixed identities (``Identity.from_seed``), fixed message timestamps, UTC and a
fixed clock keep them stable. Update with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.dialogs.fork import ForkDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import ident
from tests.tui.helpers import ready, wait_for

pytestmark = pytest.mark.timeout(120)
SIZE = (150, 36)


def snapshot_world(paths: ProfilePaths):  # type: ignore[no-untyped-def]
    node, ids = world()
    friends = ids["friends"]
    first = node.circles[friends].entries[0]
    node.circles[friends].read_marker = first.id
    node.add_message(friends, ids["bob"], "shall we fork a side circle for the board games?")
    q = node.add_message(friends, node.me.public_key, "yes — games, with you and carol")
    node.add_message(friends, ids["carol"], "count me in", kind="reply", ref=q.id)
    node.add_message(friends, ids["bob"], "👍", kind="react", ref=q.id)
    node.add_message(friends, ids["carol"], "👍", kind="react", ref=q.id)
    node.add_message(friends, ids["bob"], "this was a typo, fixed", edited=True)
    node.add_message(friends, ids["carol"], None, deleted=True)  # type: ignore[arg-type]
    node.add_message(
        friends, ids["bob"], "a long message that wraps " * 8 + "and ends here, @alice — see you later"
    )
    node.circles[ids["chess"]].unread = 3
    node.circles[ids["work"]].unread, node.circles[ids["work"]].mentions = 2, 1
    node.circles[friends].missing = 2
    node.connected = {ident(2).peer_id}
    return make_app(paths, node), ids


def test_main_screen(snap_compare, profile_paths: ProfilePaths) -> None:  # type: ignore[no-untyped-def]
    app, ids = snapshot_world(profile_paths)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.pause(0.2)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_invite_dialog(snap_compare, profile_paths: ProfilePaths) -> None:  # type: ignore[no-untyped-def]
    app, _ = snapshot_world(profile_paths)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        app.screen.query_one("#key", Input).value = ident(4).peer_id
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.token is not None)
        await pilot.pause(0.2)

    assert snap_compare(app, run_before=run_before, terminal_size=(150, 60))


def test_fork_dialog(snap_compare, profile_paths: ProfilePaths) -> None:  # type: ignore[no-untyped-def]
    app, ids = snapshot_world(profile_paths)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkDialog))
        app.screen.query_one("#name", Input).value = "board games"
        app.screen.query_one(SelectionList).select(ids["bob"])
        await pilot.pause(0.2)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)
