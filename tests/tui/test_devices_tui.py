"""Devices in the TUI (issue 14 part 1): the identity dialog lists my person's devices, and a
friend's device writes under the friend's name. Linking and revoking are CLI-only for now."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from protocol.display import short_key
from protocol.identity import peer_id
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.dialogs.info import IdentityDialog
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import ident
from tests.tui.helpers import log_text, ready, wait_for

LAPTOP = ident(41).public_key
BOB_PHONE = ident(42).public_key


@pytest.mark.asyncio
async def test_identity_dialog_lists_my_devices_and_a_friends_device_shows_as_them(
    profile_paths: ProfilePaths,
) -> None:
    node, w = world()
    me = node.me.public_key
    node.circles[w["friends"]].devices = {me: (LAPTOP,), w["bob"]: (BOB_PHONE,)}
    node.add_message(w["friends"], BOB_PHONE, "from bob's phone")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: w["friends"] in app.screen.state.members)
        await wait_for(pilot, lambda: "from bob's phone" in log_text(app))
        line = next(x for x in log_text(app).splitlines() if "from bob's phone" in x)
        assert "bob" in line and short_key(peer_id(BOB_PHONE)) not in line
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog))
        text = "\n".join(str(s.render()) for s in app.screen.query(Static))
        assert f"{short_key(peer_id(me))}  (this device, person key)" in text
        assert short_key(peer_id(LAPTOP)) in text
        assert "smallsocial devices link" in text
