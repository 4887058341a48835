"""``/mute``: a muted circle does not notify, even on a mention, and its unread messages do
not count in the badges rolled up on the circles above it; the level is the node's."""

from __future__ import annotations

import pytest

from protocol.node import api
from protocol.node.paths import ProfilePaths
from tests.tui.conftest import make_app, world
from tests.tui.helpers import ready, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_a_muted_fork_is_silent_and_not_rolled_up(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        app.screen.choose(ids["games"])
        await pilot.press(*"/mute", "enter")
        await wait_for(pilot, lambda: node.sent(api.SetNotify))
        assert node.sent(api.SetNotify)[-1] == api.SetNotify(
            ids["games"], "muted", False, request_id=node.sent(api.SetNotify)[-1].request_id
        )
        await wait_for(pilot, lambda: app.state.circles[ids["games"]].muted)
        app.screen.choose(ids["work"])
        app.clear_notifications()
        node.receive(ids["games"], ids["bob"], "ping @alice")
        await wait_for(pilot, lambda: app.state.circles[ids["games"]].summary.unread == 1)
        await pilot.pause(0.1)
        assert not app._notifications
        assert app.state.rolled_up(ids["friends"]) == (0, 0)  # games is muted: nothing rolls up
        node.receive(ids["chess"], ids["bob"], "check")  # chess (under games) is not muted
        await wait_for(pilot, lambda: app.state.rolled_up(ids["friends"])[0] == 1)
        app.screen.choose(ids["games"])
        await pilot.press(*"/mute", "enter")  # again: unmuted
        await wait_for(pilot, lambda: not app.state.circles[ids["games"]].muted)
        assert node.sent(api.SetNotify)[-1].level == "quiet"


async def test_loud_marks_of_an_older_tui_json_move_into_the_store_once(profile_paths: ProfilePaths) -> None:
    import json

    node, ids = world()
    profile_paths.root.mkdir(parents=True, exist_ok=True)
    (profile_paths.root / "tui.json").write_text(json.dumps({"loud": [ids["work"].hex()]}))
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: node.circles[ids["work"]].notify == "loud")
        assert app.state.circles[ids["work"]].loud
        assert json.loads((profile_paths.root / "tui.json").read_text()) == {"loud": []}
        assert [c.circle for c in node.sent(api.SetNotify)] == [ids["work"]]
