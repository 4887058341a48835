"""Two app instances with real nodes (127.0.0.1 only): alice forks a circle from the TUI's fork
dialog carrying the last two messages; bob accepts the fork in his TUI and, after sync, reads
those two messages, marked "(carried)", with their original authors."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, SelectionList

from smallsocial_tui.app.dialogs.fork import CUSTOM, ForkDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.screens.main import MainScreen
from tests.tui.helpers import log_lines, log_text, wait_for
from tests.tui.test_real_node import _app, _say

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


async def test_fork_with_history_from_the_dialog_reaches_the_invitee(tmp_path: Path) -> None:
    alice, bob = _app(tmp_path, "alice"), _app(tmp_path, "bob")
    async with alice.run_test(size=(120, 40)) as pa, bob.run_test(size=(120, 40)) as pb:
        await wait_for(pa, lambda: alice.started and alice.state.peer_id, timeout=30)
        await wait_for(pb, lambda: bob.started and bob.state.peer_id, timeout=30)
        await _say(pa, alice, "/new club")
        await wait_for(pa, lambda: alice.screen.current is not None, timeout=20)
        club = alice.screen.current
        await _say(pa, alice, f"/invite {bob.state.peer_id}")
        await wait_for(pa, lambda: isinstance(alice.screen, InviteDialog))
        await pa.press("enter")
        await wait_for(pa, lambda: alice.screen.token is not None, timeout=20)
        token = alice.screen.token
        await pa.press("escape")
        await wait_for(pa, lambda: isinstance(alice.screen, MainScreen))
        await _say(pb, bob, f"/join {token}")
        await wait_for(pb, lambda: isinstance(bob.screen, MainScreen) and bob.screen.current == club, 30)

        for text in ("first, not carried", "second, carried", "third, carried"):
            await _say(pa, alice, text)
        await wait_for(pb, lambda: "third, carried" in log_text(bob), timeout=45)
        await wait_for(pa, lambda: bob.state.me in alice.state.member_keys(club), timeout=30)

        await pa.press("ctrl+f")
        await wait_for(pa, lambda: isinstance(alice.screen, ForkDialog))
        dialog = alice.screen
        dialog.query_one("#name", Input).value = "trip"
        dialog.query_one(SelectionList).select(bob.state.me)
        dialog.query_one("#history", Select).value = CUSTOM  # typed: last 2 is not a preset
        await pa.pause()
        dialog.query_one("#history-custom", Input).value = "last:2"
        dialog.query_one("#name", Input).focus()
        await pa.press("enter")
        await wait_for(pa, lambda: isinstance(alice.screen, MainScreen) and alice.screen.current != club, 20)
        await wait_for(pa, lambda: "third, carried" in log_text(alice), timeout=20)
        mine = [line for line in log_lines(alice) if "carried" in line]
        assert len(mine) == 2 and all(line.endswith("(carried)") for line in mine)
        trip = alice.screen.current

        await wait_for(pb, lambda: trip in bob.state.circles, timeout=45)
        bob.screen.choose(trip)
        await _say(pb, bob, "/accept")
        await wait_for(pb, lambda: bob.state.circles[trip].summary.status == "member", timeout=30)
        bob.screen.choose(trip)
        await wait_for(pb, lambda: "third, carried" in log_text(bob), timeout=60)
        lines = log_lines(bob)
        assert not any("first, not carried" in line for line in lines)
        assert [line for line in lines if "carried" in line][-2:] == [
            line for line in lines if line.endswith("(carried)")
        ]
        assert sum(line.endswith("(carried)") for line in lines) == 2
        assert all("alice" in line for line in lines if line.endswith("(carried)"))

        for pilot, app in ((pa, alice), (pb, bob)):
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda app=app: not app.node._thread.alive, timeout=20)  # type: ignore[attr-defined]
