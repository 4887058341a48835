"""``/rekey`` and ``/rekey all`` in the TUI, with a real node on a real profile: the node rekeys
and the user is told "Rekeyed NAME: epoch N, sealed to M devices."; a stray argument is one
sentence and sends nothing."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.node_client import real_node_factory
from tests.tui.helpers import say as say_in
from tests.tui.helpers import started_with_notes, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


async def test_slash_rekey_this_circle_and_all(tmp_path: Path) -> None:
    paths = ProfilePaths(tmp_path / "profiles" / "alice")
    Profile.create(paths, "alice").close()
    app = SmallSocialApp(paths, real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[]), tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = await started_with_notes(pilot, app)

        async def say(text: str) -> None:
            await say_in(pilot, app, text)

        await say("/new club")
        await wait_for(pilot, lambda: app.screen.current is not None, timeout=20)
        await say("/rekey now please")
        await wait_for(pilot, lambda: any("/rekey all: every circle" in n for n in notes))
        await say("/rekey")
        await wait_for(pilot, lambda: "Rekeyed club: epoch 1, sealed to 1 device." in notes, timeout=20)
        await say("/new other")
        await wait_for(pilot, lambda: len(app.state.circles) == 2, timeout=20)
        await say("/rekey all")
        want = {"Rekeyed club: epoch 2, sealed to 1 device.", "Rekeyed other: epoch 1, sealed to 1 device."}
        await wait_for(pilot, lambda: any(set(n.splitlines()) == want for n in notes), timeout=20)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.node._thread.alive, timeout=20)  # type: ignore[union-attr]
    p = Profile.open(paths)
    try:
        assert sorted(c.epoch or 0 for c in p.circles()) == [1, 2]  # the node wrote them
    finally:
        p.close()
