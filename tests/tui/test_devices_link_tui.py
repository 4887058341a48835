"""Devices from the TUI (issue 14 part 1), driven by Pilot against a fake node that answers the
link commands as the real one does: Add a device (paste a code, the six digits, Link or
Cancel), Revoke (asks first), Link this device on a fresh profile (code, QR, the digits when
the other device reaches it, then linked), ``/devices``, ``/link``, ``/revoke``, and the
sentence an unlinked device is told."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList, Static

from protocol.identity import peer_id
from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app import slash
from smallsocial_tui.app.dialogs.devices import AddDeviceDialog, LinkThisDeviceDialog, RevokeDialog
from smallsocial_tui.app.dialogs.info import IdentityDialog
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.text import short_key
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import FakeNode, ident
from tests.tui.helpers import ready, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

LAPTOP = ident(41).public_key
CODE = "ssd2" + "a" * 60
BAD = "ssd2damaged"
REFUSED = "The link code is damaged (its checksum does not match); copy it again exactly."


class LinkingNode(FakeNode):
    """The fake node, answering the link commands as protocol/node/linking.py does."""

    def submit(self, cmd: api.Command) -> None:
        rid = cmd.request_id
        if isinstance(cmd, api.StartLink):
            self.commands.append(cmd)
            if cmd.code == BAD:
                self.emit(api.CommandFailed(rid, REFUSED))
            else:
                self.emit(api.LinkConfirm(rid, LAPTOP, "laptop", "123 456"))
        elif isinstance(cmd, api.ConfirmLink):
            self.commands.append(cmd)
            done = api.DeviceLinkDone(rid, LAPTOP, "laptop", tuple(self.circles))
            self.emit(done if cmd.yes else api.CommandDone(rid))
        elif isinstance(cmd, api.AwaitLink):
            self.commands.append(cmd)
            self.emit(api.LinkCodeReady(rid, CODE, 1_700_000_600))
        else:
            super().submit(cmd)


def _text(app: object) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(Static))  # type: ignore[attr-defined]


def _said(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


async def _add_dialog(pilot, app, code: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
    await pilot.click("#add")
    await wait_for(pilot, lambda: isinstance(app.screen, AddDeviceDialog))
    app.screen.query_one("#code", Input).value = code
    await pilot.press("enter")


async def test_add_a_device_shows_the_digits_and_links_only_on_yes(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    node.__class__ = LinkingNode
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        await _add_dialog(pilot, app, CODE)
        await wait_for(pilot, lambda: app.screen.query_one("#question").display)
        assert "Link device laptop? The new device shows 123 456." in _text(app)
        assert node.sent(api.ConfirmLink) == []  # nothing linked before the user says yes
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        await pilot.click("#link")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        start, confirm = node.sent(api.StartLink)[0], node.sent(api.ConfirmLink)[0]
        assert isinstance(confirm, api.ConfirmLink) and isinstance(start, api.StartLink)
        assert (confirm.link, confirm.yes, start.code) == (start.request_id, True, CODE)
        await wait_for(pilot, lambda: any("Linked laptop" in m for m in _said(app)))


async def test_cancel_tells_the_new_device_and_links_nothing(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    node.__class__ = LinkingNode
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        await _add_dialog(pilot, app, CODE)
        await wait_for(pilot, lambda: app.screen.query_one("#question").display)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_for(pilot, lambda: node.sent(api.ConfirmLink))
        confirm = node.sent(api.ConfirmLink)[0]
        assert isinstance(confirm, api.ConfirmLink) and not confirm.yes
        assert not any("Linked" in m for m in _said(app))


async def test_a_refused_code_shows_the_nodes_sentence(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    node.__class__ = LinkingNode
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        await _add_dialog(pilot, app, BAD)
        await wait_for(pilot, lambda: app.screen.query_one("#error").display)
        assert REFUSED in _text(app)
        assert isinstance(app.screen, AddDeviceDialog) and not app.screen.query_one("#link").display


async def test_revoke_asks_first(profile_paths: ProfilePaths) -> None:
    node, w = world()
    me = node.me.public_key
    node.circles[w["friends"]].devices = {me: (LAPTOP,)}
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: w["friends"] in app.screen.state.members)
        for answer in ("#cancel", "#revoke"):
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
            devices = app.screen.query_one("#devices", OptionList)
            devices.highlighted = 0
            await pilot.click("#revoke")
            await wait_for(pilot, lambda: isinstance(app.screen, RevokeDialog))
            assert short_key(peer_id(LAPTOP)) in _text(app) or app.screen.label == short_key(peer_id(LAPTOP))
            assert node.sent(api.UnlinkDevice) == []
            await pilot.click(answer)
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_for(pilot, lambda: node.sent(api.UnlinkDevice))
        unlink = node.sent(api.UnlinkDevice)
        assert len(unlink) == 1 and isinstance(unlink[0], api.UnlinkDevice) and unlink[0].device == LAPTOP


async def test_slash_commands_open_the_device_dialogs(profile_paths: ProfilePaths) -> None:
    assert {"devices", "link", "revoke"} <= set(slash.COMMANDS)
    node, w = world()
    node.__class__ = LinkingNode
    node.circles[w["friends"]].devices = {node.me.public_key: (LAPTOP,)}
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: w["friends"] in app.screen.state.members)
        composer = app.screen.composer
        composer.value = "/devices"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        composer.value = f"/link {CODE}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AddDeviceDialog))
        await wait_for(pilot, lambda: app.screen.query_one("#question").display)  # reached at once
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        composer.value = f"/revoke {peer_id(LAPTOP)}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RevokeDialog))
        assert app.screen.device == LAPTOP


async def test_a_fresh_profile_shows_its_code_and_is_told_when_linked(profile_paths: ProfilePaths) -> None:
    node = LinkingNode()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 60)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.started)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        await pilot.click("#link")
        await wait_for(pilot, lambda: isinstance(app.screen, LinkThisDeviceDialog))
        app.screen.query_one("#name", Input).value = "laptop"
        await pilot.click("#show")
        await wait_for(pilot, lambda: CODE in _text(app))
        waiting = node.sent(api.AwaitLink)[0]
        assert isinstance(waiting, api.AwaitLink) and waiting.name == "laptop"
        assert "█" in _text(app) or "▀" in _text(app)  # the QR code
        alice = ident(1).public_key
        node.emit(api.LinkRequested(alice, "alice", "123 456"))
        await wait_for(pilot, lambda: "Check that it shows 123 456" in _text(app))
        node.emit(api.DeviceLinked(alice, "alice", "laptop", (b"\x01" * 32,), ("friends",)))
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_for(pilot, lambda: any("Linked as laptop to alice: 1 circle(s)." in m for m in _said(app)))


async def test_an_unlinked_device_is_told(profile_paths: ProfilePaths) -> None:
    node, w = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        await ready(pilot, app)
        node.emit(api.DeviceUnlinked(w["friends"], w["bob"]))
        want = "This device was unlinked from friends by bob; it cannot read new messages there."
        await wait_for(pilot, lambda: want in _said(app))
