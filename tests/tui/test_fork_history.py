"""Pilot tests of carried history in the TUI: the fork dialog's history choice (presets, typed,
refused), the "(carried)" mark on carried messages, and the reload when carried history arrives."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select, SelectionList, Static

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.dialogs.fork import CUSTOM, ForkDialog
from smallsocial_tui.app.screens.main import MainScreen
from tests.tui.conftest import make_app, world
from tests.tui.helpers import log_lines, ready, tree_labels, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def _fork_with(profile_paths: ProfilePaths, choice: str, typed: str = "") -> api.ForkCircle | str:
    """Fork ``friends`` with bob choosing ``choice`` (and typing ``typed`` for a custom one):
    the command the node got, or the error the dialog shows."""
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkDialog))
        dialog = app.screen
        dialog.query_one("#name", Input).value = "trip"
        dialog.query_one(SelectionList).select(ids["bob"])
        custom = dialog.query_one("#history-custom", Input)
        assert not custom.display
        dialog.query_one("#history", Select).value = choice
        await pilot.pause()
        assert custom.display == (choice == CUSTOM)
        custom.value = typed
        await pilot.click("#fork")
        if typed and "weeks" in typed:
            await wait_for(pilot, lambda: dialog.query_one("#error").display)
            assert isinstance(app.screen, ForkDialog) and not node.sent(api.ForkCircle)
            return str(dialog.query_one("#error", Static).render())
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and "trip" in tree_labels(app))
        cmd = node.sent(api.ForkCircle)[-1]
        assert cmd.circle == ids["friends"] and cmd.members == (ids["bob"],)
        return cmd


async def test_the_fork_dialog_starts_with_no_history(profile_paths: ProfilePaths) -> None:
    cmd = await _fork_with(profile_paths, "none")
    assert isinstance(cmd, api.ForkCircle) and cmd.history == "none"


async def test_the_fork_dialog_carries_a_preset(profile_paths: ProfilePaths) -> None:
    cmd = await _fork_with(profile_paths, "last:20")
    assert isinstance(cmd, api.ForkCircle) and cmd.history == "last:20"


async def test_the_fork_dialog_carries_a_typed_choice(profile_paths: ProfilePaths) -> None:
    cmd = await _fork_with(profile_paths, CUSTOM, " Days:3 ")
    assert isinstance(cmd, api.ForkCircle) and cmd.history == "days:3"


async def test_the_fork_dialog_refuses_a_bad_choice_in_one_sentence(profile_paths: ProfilePaths) -> None:
    error = await _fork_with(profile_paths, CUSTOM, "weeks:2")
    assert "not a history choice" in error and "last:N" in error


async def test_carried_messages_are_marked_and_arrival_reloads_the_history(
    profile_paths: ProfilePaths,
) -> None:
    node, ids = world()
    trip = node.add_circle("trip", parent=ids["friends"], members=(ids["bob"],))
    node.add_message(trip, ids["bob"], "the coast", carried_from=ids["friends"])  # type: ignore[arg-type]
    node.add_message(trip, ids["bob"], "packing now")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        app.screen.choose(trip)
        await wait_for(pilot, lambda: any("packing now" in line for line in log_lines(app)))
        lines = log_lines(app)
        assert any("the coast (carried)" in line for line in lines)
        assert not any("packing now (carried)" in line for line in lines)
        loads = len(node.sent(api.LoadHistory))
        node.emit(api.HistoryCarried(trip, ids["bob"], 1))
        await wait_for(pilot, lambda: len(node.sent(api.LoadHistory)) > loads)
