"""``smallsocial`` opened while ``smallsocial run`` already runs for the profile attaches to that node.

A real ``run`` process (127.0.0.1) and the real app driven by Pilot with the default node
factory: the app finds the profile's node running, shows its circles, sends through it,
and quitting leaves it running; when that node stops, the app says so.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.node_client import AttachedNode, real_node_factory
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.control import node_running
from tests.node.harness import Peer, wait_until
from tests.tui.helpers import log_text, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]


async def test_the_tui_attaches_to_a_running_node_and_leaves_it_running(tmp_path: Path) -> None:
    node = Peer(tmp_path, "alice")
    try:
        node.cli("id", "--name", "alice")
        cid = node.json("circle", "new", "club")["id"]
        node.start()
        node.wait_serving()
        app = SmallSocialApp(ProfilePaths(node.root), real_node_factory(), tz=UTC)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.started and app.state.peer_id, timeout=30)
            assert isinstance(app.node, AttachedNode)
            assert app.state.peer_id == node.key
            await wait_for(pilot, lambda: app.screen.current is not None, timeout=20)
            assert app.state.circle_name(app.screen.current) == "club"

            app.screen.query_one(Composer).value = "sent from the attached screen"
            await pilot.press("enter")
            await wait_for(pilot, lambda: "sent from the attached screen" in log_text(app), timeout=20)
            wait_until(
                lambda: "sent from the attached screen" in node.texts(cid), 20, what="the node to store it"
            )
            # what another terminal sends through the same node shows up here too
            node.cli("send", "club", "sent from the command line")
            await wait_for(pilot, lambda: "sent from the command line" in log_text(app), timeout=20)

            await pilot.press("ctrl+q")
        assert node.running() and node_running(node.root)  # detached; the node runs on
        assert node.status()["peer_id"] == node.key

        app2 = SmallSocialApp(ProfilePaths(node.root), real_node_factory(), tz=UTC)
        async with app2.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app2.started and app2.state.peer_id, timeout=30)
            app2.clear_notifications()
            node.stop()
            await wait_for(
                pilot, lambda: "node stopped" in str(app2.screen.query_one("#status").render()), 20
            )
            said = [n.message for n in app2._notifications]
            assert "The node stopped: the smallsocial run this screen was attached to has ended" in said
    finally:
        if node.running():
            node.kill()
