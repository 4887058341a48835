"""Devices from the TUI on real nodes (issue 14 part 1): alice's app adds her laptop, then revokes it.

alice's profile (her person's key) is in a circle with bob; her app runs a real node. Her
fresh laptop runs ``smallsocial devices link``; in the app, ctrl+g, Add a device, the code,
Reach it: the dialog shows the digits the laptop prints; Link. The laptop says it is linked,
then runs and reads what alice writes. ctrl+g, the laptop selected, Revoke, Revoke: alice and
bob read the next message, the laptop does not, and the laptop is told it was unlinked.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, OptionList

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.devices import AddDeviceDialog, RevokeDialog
from smallsocial_tui.app.dialogs.info import IdentityDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.nodeproc import PROGRAM, JsonProc
from tests.node.harness import Peer
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(240)]


def _find(proc: JsonProc, key: str) -> dict[str, Any] | None:
    return next((e for e in proc.events if key in e), None)


async def _say(pilot, app: SmallSocialApp, text: str) -> None:  # type: ignore[no-untyped-def]
    app.screen.query_one(Composer).value = text
    await pilot.press("enter")


async def test_add_and_revoke_a_device_from_the_tui(tmp_path: Path) -> None:
    alice, bob, laptop = Peer(tmp_path, "alice"), Peer(tmp_path, "bob"), Peer(tmp_path, "laptop")
    for p in (alice, bob, laptop):
        p.cli("id", "--name", p.name)
    circle = alice.json("circle", "new", "friends")["id"]
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    factory = real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[], sync_interval=2.0)
    app = SmallSocialApp(ProfilePaths(alice.root), factory, tz=UTC)
    link = JsonProc("laptop-link")
    try:
        async with app.run_test(size=(140, 50)) as pilot:
            await wait_for(pilot, lambda: app.started and app.state.addrs, timeout=30)
            addr = next(a for a in app.state.addrs if "/p2p/" in a)
            bob.start(addr)

            link.spawn([*PROGRAM, "devices", "link", "--json", "--name", "laptop"], laptop.env)
            await wait_for(pilot, lambda: _find(link, "code"), timeout=60)
            code = str(_find(link, "code")["code"])  # type: ignore[index]

            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
            await pilot.click("#add")
            await wait_for(pilot, lambda: isinstance(app.screen, AddDeviceDialog))
            app.screen.query_one("#code", Input).value = code
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.query_one("#question").display, timeout=30)
            await wait_for(pilot, lambda: _find(link, "digits"), timeout=30)
            digits = _find(link, "digits")["digits"]  # type: ignore[index]
            assert app.screen.pending is not None and app.screen.pending.digits == digits  # type: ignore[attr-defined]
            await pilot.click("#link")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), timeout=60)
            await wait_for(pilot, lambda: _find(link, "linked"), timeout=60)
            assert link.reap(30) == 0
            assert _find(link, "linked")["circles"] == [{"id": circle, "name": "friends"}]  # type: ignore[index]

            laptop.start(addr)
            app.screen.choose(bytes.fromhex(circle))
            await _say(pilot, app, "hello laptop")
            await wait_for(pilot, lambda: "hello laptop" in laptop.texts(circle), timeout=60)

            await wait_for(pilot, lambda: len(app.state.my_devices()) == 2, timeout=30)
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
            app.screen.query_one("#devices", OptionList).highlighted = 0
            await pilot.click("#revoke")
            await wait_for(pilot, lambda: isinstance(app.screen, RevokeDialog))
            await pilot.click("#revoke")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            await wait_for(pilot, lambda: any("Unlinked" in n.message for n in app._notifications), 30)

            await _say(pilot, app, "after the revoke")
            await wait_for(pilot, lambda: "after the revoke" in bob.texts(circle), timeout=60)
            told = "DeviceUnlinked"
            await wait_for(pilot, lambda: laptop.saw(told, circle=circle, author=alice.key), timeout=60)
            assert "after the revoke" not in laptop.texts(circle)
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: not app.node._thread.alive, timeout=20)  # type: ignore[union-attr]
    finally:
        if link.running():
            link.reap(0)
        for p in (bob, laptop):
            if p.running():
                p.kill()
    line = laptop.cli("log", circle).stdout
    assert "after the revoke" not in line
