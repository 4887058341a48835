"""Two app instances with real nodes (two profiles, 127.0.0.1 only) in one test exchange messages:
alice creates a circle, invites bob's key, bob joins with the token, a message goes each way."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.composer import Composer
from tests.tui.helpers import log_text, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def _app(root: Path, name: str) -> SmallSocialApp:
    paths = ProfilePaths(root / "profiles" / name)
    Profile.create(paths, name).close()
    return SmallSocialApp(paths, real_node_factory(listen=LOOPBACK, peers=[], sync_interval=2.0), tz=UTC)


async def _say(pilot, app: SmallSocialApp, text: str) -> None:  # type: ignore[no-untyped-def]
    app.screen.query_one(Composer).value = text  # typing 1,400 characters key by key is slow
    await pilot.press("enter")


async def test_two_apps_exchange_messages(tmp_path: Path) -> None:
    alice, bob = _app(tmp_path, "alice"), _app(tmp_path, "bob")
    async with alice.run_test(size=(120, 40)) as pa, bob.run_test(size=(120, 40)) as pb:
        await wait_for(pa, lambda: alice.started and alice.state.peer_id, timeout=30)
        await wait_for(pb, lambda: bob.started and bob.state.peer_id, timeout=30)
        assert all("/ip4/127.0.0.1/" in a for a in alice.state.addrs + bob.state.addrs)

        await _say(pa, alice, "/new club")
        await wait_for(pa, lambda: alice.screen.current is not None, timeout=20)
        await _say(pa, alice, f"/invite {bob.state.peer_id}")
        await wait_for(pa, lambda: isinstance(alice.screen, InviteDialog))
        await pa.press("enter")
        await wait_for(pa, lambda: alice.screen.token is not None, timeout=20)
        token = alice.screen.token
        await pa.press("escape")
        await wait_for(pa, lambda: isinstance(alice.screen, MainScreen))

        await _say(pb, bob, f"/join {token}")
        await wait_for(pb, lambda: isinstance(bob.screen, MainScreen) and bob.screen.current is not None, 30)
        assert bob.state.circle_name(bob.screen.current) == "club"

        await _say(pa, alice, "hello bob, from alice")
        await wait_for(pb, lambda: "hello bob, from alice" in log_text(bob), timeout=45)
        await _say(pb, bob, "hi alice, bob here")
        await wait_for(pa, lambda: "hi alice, bob here" in log_text(alice), timeout=45)

        await pa.press("ctrl+q")
        await pb.press("ctrl+q")
        await wait_for(pa, lambda: not alice.node._thread.alive, timeout=20)  # type: ignore[union-attr]
        await wait_for(pb, lambda: not bob.node._thread.alive, timeout=20)  # type: ignore[union-attr]
