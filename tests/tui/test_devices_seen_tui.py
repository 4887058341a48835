"""Linked devices as a TUI user sees them, each app on a real node and real profiles.

alice's laptop is linked in "friends" (alice and bob): on the laptop, ctrl+g shows alice's key
as the key to give and says whose device this is; the circle's header and members panel count
two people; alice revokes the laptop by name with /revoke; bob's invitation of the laptop's key
is refused naming alice; a fresh profile's link dialog starts on the name field and its
welcome says how to link it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from protocol.identity import peer_id
from protocol.node import devices
from protocol.node.paths import ProfilePaths, resolve
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.devices import LinkThisDeviceDialog, RevokeDialog
from smallsocial_tui.app.dialogs.info import IdentityDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.members import MembersPanel
from tests.devices_kit import alice_laptop_bob, make
from tests.tui.helpers import say, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def linked_world(root: Path) -> tuple[bytes, bytes, bytes, bytes]:
    """alice and bob in "friends", alice's laptop linked there, and bob's own "bobs": (friends,
    alice, bob, laptop)."""
    return alice_laptop_bob(root, then=["bobs"])


@asynccontextmanager
async def app_of(root: Path, who: str) -> AsyncIterator[tuple[SmallSocialApp, object]]:
    factory = real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[], sync_interval=2.0)
    app = SmallSocialApp(ProfilePaths(resolve(str(root), who).root), factory, tz=UTC)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(pilot, lambda: app.started and isinstance(app.screen, MainScreen), timeout=30)
        yield app, pilot
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.node._thread.alive, timeout=20)  # type: ignore[union-attr]


def shown(app: SmallSocialApp) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(Static))


def notes(app: SmallSocialApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_linked_device_shows_its_persons_key_and_counts_people(tmp_path: Path) -> None:
    cid, alice, _, laptop = linked_world(tmp_path)
    async with app_of(tmp_path, "laptop") as (app, pilot):
        await wait_for(pilot, lambda: app.state.person == alice, timeout=20)
        app.screen.choose(cid)  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: cid in app.state.members, timeout=20)
        assert app.state.circles[cid].summary.members == 2
        assert "2 members" in str(app.screen.query_one("#title", Static).render())
        heading = app.screen.query_one(MembersPanel).root.children[0].label.plain
        assert heading == "2 members"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        text = shown(app)
        key_line = next(line for line in text.splitlines() if line.startswith("Key"))
        assert peer_id(alice) in key_line and peer_id(laptop) not in key_line
        assert "This is laptop (" in text and "a linked device of alice" in text
        assert f"Device   {peer_id(laptop)}" in text
        assert app.screen.key_text() == peer_id(alice)  # type: ignore[attr-defined]  # Copy key copies it


async def test_alice_revokes_her_laptop_by_name(tmp_path: Path) -> None:
    linked_world(tmp_path)
    async with app_of(tmp_path, "alice") as (app, pilot):
        await wait_for(pilot, lambda: len(app.state.devices) == 2, timeout=20)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        assert "laptop (" in shown(app)
        options = app.screen.query_one("#devices", OptionList)
        assert str(options.get_option_at_index(0).prompt).startswith("laptop (")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await say(pilot, app, "/revoke phone")
        await wait_for(pilot, lambda: any("No linked device is named phone" in n for n in notes(app)))
        await say(pilot, app, "/revoke laptop")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeDialog))
        assert "laptop (" in app.screen.label  # type: ignore[attr-defined]
        await pilot.click("#revoke")
        await wait_for(pilot, lambda: any(n.startswith("Unlinked laptop (") for n in notes(app)), timeout=20)
        await wait_for(pilot, lambda: [d.linked for d in app.state.devices] == [True, False], timeout=20)
        await say(pilot, app, "/revoke laptop")
        await wait_for(pilot, lambda: any("The device laptop was already unlinked" in n for n in notes(app)))


async def test_inviting_a_devices_key_is_refused_in_the_invite_dialog(tmp_path: Path) -> None:
    _, alice, _, laptop = linked_world(tmp_path)
    async with app_of(tmp_path, "bob") as (app, pilot):
        await wait_for(pilot, lambda: len(app.state.circles) == 2, timeout=20)
        bobs = next(c for c, node in app.state.circles.items() if node.summary.name == "bobs")
        app.screen.choose(bobs)  # type: ignore[attr-defined]  # a circle the laptop was never in
        await wait_for(pilot, lambda: bobs in app.state.members, timeout=20)
        await say(pilot, app, "/invite @bobby")
        await wait_for(pilot, lambda: any(n.startswith("Nobody is named @bobby here;") for n in notes(app)))
        await say(pilot, app, "/invite @alice")  # my petname for alice: her key, filled in
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        assert app.screen.query_one("#key", Input).value == peer_id(alice)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await say(pilot, app, "/invite")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        app.screen.query_one("#key", Input).value = peer_id(laptop)
        await pilot.click("#create")
        error = app.screen.query_one("#error", Static)
        await wait_for(pilot, lambda: error.display, timeout=20)
        said = str(error.render())
        assert said == f"That key is a linked device of alice ({peer_id(alice)}); invite alice's key instead."


async def test_a_fresh_profile_is_told_how_to_link_and_names_itself_first(tmp_path: Path) -> None:
    make(tmp_path, "fresh", 9).close()
    async with app_of(tmp_path, "fresh") as (app, pilot):
        await wait_for(pilot, lambda: "smallsocial devices link" in shown(app), timeout=20)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        await pilot.click("#link")
        await wait_for(pilot, lambda: isinstance(app.screen, LinkThisDeviceDialog))
        await wait_for(pilot, lambda: app.focused is not None)
        assert isinstance(app.focused, Input) and app.focused.id == "name"
        await pilot.press("escape")


async def test_an_unlinked_device_says_who_unlinked_it(tmp_path: Path) -> None:
    cid, _, _, _ = linked_world(tmp_path)
    alice = Profile.open(resolve(str(tmp_path), "alice"))
    laptop = Profile.open(resolve(str(tmp_path), "laptop"))
    try:
        devices.revoke(alice, laptop.me)
        laptop.import_bundle(alice.export([cid]))  # as the laptop's next pull would bring
    finally:
        alice.close()
        laptop.close()
    async with app_of(tmp_path, "laptop") as (app, pilot):
        await wait_for(pilot, lambda: app.state.unlinked_by is not None, timeout=20)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        assert "This device was unlinked by alice: it cannot read new messages" in shown(app)
