"""First run (name, optional passphrase, my key shown) and unlocking a protected profile."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from protocol.node import api
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app import messages
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.screens.onboarding import OnboardingScreen, UnlockScreen
from smallsocial_tui.app.session import Session
from tests.tui.conftest import CHEAP_KDF, make_app
from tests.tui.fake_node import FakeNode

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def wait_for(pilot, cond, tries: int = 100) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def test_first_run_creates_a_profile_and_shows_the_key(paths: ProfilePaths) -> None:
    node = FakeNode()
    app = make_app(paths, node)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, OnboardingScreen)
        await pilot.click("#name")
        await pilot.press(*"dora", "enter")
        await pilot.press(*"pw", "enter")
        await pilot.press(*"pw", "enter")
        await wait_for(pilot, lambda: Profile.exists(paths) and app.screen.query_one("#done").display)
        key_text = str(app.screen.query_one("#key", Static).render())
        profile = Profile.open(paths, "pw")
        assert profile.identity.peer_id in key_text
        assert profile.display_name == "dora"
        profile.close()
        await pilot.click("#copy")
        assert app.clipboard == profile.identity.peer_id
        await pilot.click("#continue")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and node.started)
        assert node.passphrase == "pw"


async def test_first_run_rejects_differing_passphrases(paths: ProfilePaths) -> None:
    app = make_app(paths, FakeNode())
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#name", Input).value = "dora"
        app.screen.query_one("#pass1", Input).value = "one"
        app.screen.query_one("#pass2", Input).value = "two"
        await pilot.click("#create-button")
        await pilot.pause()
        assert "differ" in str(app.screen.query_one("#error", Static).render())
        assert not Profile.exists(paths)


async def test_unlock_asks_again_after_a_wrong_passphrase(
    paths: ProfilePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMALLSOCIAL_PASSPHRASE", raising=False)
    Profile.create(paths, "alice", "secret", **CHEAP_KDF).close()
    node = FakeNode()
    app = make_app(paths, node)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, UnlockScreen)
        await pilot.press(*"wrong", "enter")
        await wait_for(pilot, lambda: app.screen.query_one("#error").display)
        assert "Wrong passphrase" in str(app.screen.query_one("#error", Static).render())
        assert not node.started
        await pilot.press(*"secret", "enter")
        await wait_for(pilot, lambda: node.started)
        assert node.passphrase == "secret"


async def test_unlock_takes_the_passphrase_from_the_environment(
    paths: ProfilePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    Profile.create(paths, "alice", "secret", **CHEAP_KDF).close()
    monkeypatch.setenv("SMALLSOCIAL_PASSPHRASE", "secret")
    node = FakeNode()
    app = make_app(paths, node)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: node.started)
        assert node.passphrase == "secret"


async def test_node_events_before_the_main_screen_is_mounted_wait_for_it(paths: ProfilePaths) -> None:
    """The node may answer before the screen has its widgets: the typed message waits in the
    screen's queue until it has mounted (handling it early used to raise NoMatches)."""
    app = make_app(paths, FakeNode())  # no profile yet: onboarding, no main screen
    async with app.run_test(size=(120, 40)) as pilot:
        screen = MainScreen(Session(app.state, app.settings, app.link, None, app.clock))
        started = api.NodeStarted("12D3KooWexample", ("/ip4/127.0.0.1/tcp/4001",))
        assert screen.post_message(messages.for_event(started))
        await pilot.pause()
        assert app.state.peer_id == ""  # not handled: the screen has no widgets yet
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.state.peer_id == "12D3KooWexample")
        assert app.state.addrs == ("/ip4/127.0.0.1/tcp/4001",)
        assert "node" not in str(screen.query_one("#status").render())  # no failure shown
