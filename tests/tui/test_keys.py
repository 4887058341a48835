"""Keybindings: alt+n, ctrl+n/p, pageup/pagedown, escape, help, and ctrl+q stopping the node."""

from __future__ import annotations

import pytest

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.dialogs.info import ConnectionDialog, IdentityDialog
from smallsocial_tui.app.screens.help import HelpScreen
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.message_log import MessageLog
from tests.tui.conftest import make_app, world
from tests.tui.helpers import ready, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.asyncio
async def test_alt_n_and_ctrl_n_p_move_between_circles(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        order = [ids["friends"], ids["games"], ids["chess"], ids["work"]]
        assert app.state.order() == order
        await pilot.press("alt+3")
        assert app.screen.current == ids["chess"]
        await pilot.press("ctrl+n")
        assert app.screen.current == ids["work"]
        await pilot.press("ctrl+n")  # wraps around
        assert app.screen.current == ids["friends"]
        await pilot.press("ctrl+p")
        assert app.screen.current == ids["work"]
        await pilot.press("alt+9")  # no ninth circle: nothing happens
        assert app.screen.current == ids["work"]


@pytest.mark.asyncio
async def test_pageup_pagedown_scroll_history(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    for i in range(200):
        node.add_message(ids["friends"], ids["bob"], f"line {i}")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        log = app.screen.query_one(MessageLog)
        await wait_for(pilot, lambda: log.scroll_y > 0 and log.scroll_y == log.max_scroll_y)
        bottom = log.scroll_y
        await pilot.press("pageup")
        await wait_for(pilot, lambda: log.scroll_y < bottom)
        node.receive(ids["friends"], ids["carol"], "while scrolled up")
        await pilot.pause(0.1)
        assert log.scroll_y < log.max_scroll_y  # not yanked to the bottom while reading
        await pilot.press("pagedown", "pagedown")
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y)
        node.receive(ids["friends"], ids["carol"], "pinned again")
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y and log.line_count > 0)


@pytest.mark.asyncio
async def test_escape_closes_dialogs_and_f1_shows_help(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        for key, screen in (("f1", HelpScreen), ("ctrl+g", IdentityDialog), ("ctrl+t", ConnectionDialog)):
            await pilot.press(key)
            await wait_for(pilot, lambda screen=screen: isinstance(app.screen, screen))
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


@pytest.mark.asyncio
async def test_identity_dialog_copies_my_key(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        await pilot.click("#copy")
        assert app.clipboard == node.me.peer_id


@pytest.mark.asyncio
async def test_ctrl_q_stops_the_node_and_exits(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: node.stopped)
    assert app.return_code == 0
    assert node.stopped


@pytest.mark.asyncio
async def test_a_node_that_cannot_start_says_why(profile_paths: ProfilePaths) -> None:
    node, _ = world()

    def refuse() -> None:
        raise RuntimeError("A node is already running for this profile; stop it first.")

    node.start = refuse  # type: ignore[method-assign]
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        notice = app.screen.query_one("#notice")
        await wait_for(pilot, lambda: "already running" in str(notice.render()))
        await pilot.press("ctrl+q")
    assert app.return_code == 0


def test_alt_digit_sequences_parse_as_alt_keys() -> None:
    """Terminals send alt+3 as ESC 3; Textual would read it as "£" (WezTerm's option key)."""
    from textual._xterm_parser import XTermParser

    from smallsocial_tui.app import _alt_digits_as_keys

    def keys(data: str) -> list[str]:
        parser = XTermParser()
        return [k.key for k in [*parser.feed(data), *parser.feed("")]]  # type: ignore[attr-defined]

    _alt_digits_as_keys()
    assert keys("\x1b3") == ["alt+3"]
    assert keys("£") == ["pound_sign"]  # typing £ still works


@pytest.mark.asyncio
async def test_leaving_says_so_in_the_composer(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"/leave", "enter")
        # friends has circles under it I am in: the scope dialog asks first
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ScopeDialog")
        await pilot.click("#one")
        composer = app.screen.query_one("#composer")
        await wait_for(pilot, lambda: "left" in composer.placeholder)


@pytest.mark.asyncio
async def test_escape_in_the_composer_clears_a_selected_message(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        log = app.screen.query_one(MessageLog)
        log.focus()
        await pilot.press("up")
        assert log.selected is not None
        app.screen.query_one("#composer").focus()
        await pilot.press("escape")
        assert log.selected is None
