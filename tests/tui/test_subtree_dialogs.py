"""The scope dialog on a real node (in process, 127.0.0.1): leaving a circle with a fork
under it, and removing someone who is in that fork too, asks "this circle only / with its
descendants"; the choice is carried out by the node."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.scope import ScopeDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.composer import Composer
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def _family(root: Path) -> tuple[ProfilePaths, ProfilePaths, bytes, bytes]:
    """alice founds friends with bob, forks side with bob; bob accepts (records as bundles)."""
    pa, pb = ProfilePaths(root / "profiles" / "alice"), ProfilePaths(root / "profiles" / "bob")
    alice, bob = Profile.create(pa, "alice"), Profile.create(pb, "bob")

    def sync() -> None:
        for _ in range(2):
            for a, b in ((alice, bob), (bob, alice)):
                b.import_bundle(a.export([c.id for c in a.store.circles() if c.status != "invited"]))

    friends = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(friends, bob.me))
    sync()
    side = alice.fork(friends, "side", [bob.me])
    sync()
    bob.accept_fork(side)
    sync()
    alice.close()
    bob.close()
    return pa, pb, friends, side


def _app(paths: ProfilePaths) -> SmallSocialApp:
    return SmallSocialApp(paths, real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[]), tz=UTC)


async def _open(pilot, app: SmallSocialApp, circle: bytes) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: app.started and circle in app.state.circles, timeout=30)
    app.screen.choose(circle)
    await wait_for(pilot, lambda: app.screen.current == circle)


async def _say(pilot, app: SmallSocialApp, text: str) -> None:  # type: ignore[no-untyped-def]
    app.screen.query_one(Composer).value = text
    await pilot.press("enter")


async def test_leaving_a_circle_with_a_fork_under_it_asks_and_leaves_both(tmp_path: Path) -> None:
    _, pb, friends, side = _family(tmp_path)
    app = _app(pb)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app, friends)
        await _say(pilot, app, "/leave")
        await wait_for(pilot, lambda: isinstance(app.screen, ScopeDialog))
        assert "With its 1 descendant" in str(app.screen.query_one("#subtree").label)
        await pilot.click("#subtree")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        states = lambda: {c: app.state.circles[c].summary.status for c in (friends, side)}  # noqa: E731
        await wait_for(pilot, lambda: states() == {friends: "left", side: "left"}, timeout=20)
        await pilot.press("ctrl+q")


async def test_this_circle_only_leaves_the_fork_as_it_was(tmp_path: Path) -> None:
    _, pb, friends, side = _family(tmp_path)
    app = _app(pb)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app, friends)
        await _say(pilot, app, "/leave")
        await wait_for(pilot, lambda: isinstance(app.screen, ScopeDialog))
        await pilot.click("#one")
        await wait_for(pilot, lambda: app.state.circles[friends].summary.status == "left", timeout=20)
        assert app.state.circles[side].summary.status == "member"
        await pilot.press("ctrl+q")


async def test_removing_someone_also_in_the_fork_asks_and_removes_from_both(tmp_path: Path) -> None:
    pa, pb, friends, side = _family(tmp_path)
    bob = Profile.open(pb)
    bob_id = bob.identity.peer_id
    bob.close()
    app = _app(pa)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app, friends)
        await _say(pilot, app, f"/remove {bob_id}")
        await wait_for(pilot, lambda: isinstance(app.screen, ScopeDialog), timeout=20)
        await pilot.click("#subtree")
        await wait_for(pilot, lambda: app.state.circles[side].summary.members == 1, timeout=20)
        assert app.state.circles[friends].summary.members == 1
        await pilot.press("ctrl+q")
