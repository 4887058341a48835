"""``/history`` in the TUI, with a real node on a real profile: it shows the setting, ``/history
forget`` deletes the keys of epochs over for three days at once and says how many, the node
keeps the setting (the profile's store), and a stray argument is one sentence and sends nothing.

The profile is made ten days in the past (an injected clock): two rekeys then, so epochs 0 and 1
are over and their later keys came long ago."""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

import pytest

from protocol.node import history, rekeying
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.node_client import real_node_factory
from tests.tui.helpers import say as say_in
from tests.tui.helpers import started_with_notes, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

TEN_DAYS = 10 * 24 * 3600


async def test_slash_history_shows_sets_and_forgets_at_once(tmp_path: Path) -> None:
    paths = ProfilePaths(tmp_path / "profiles" / "alice")
    p = Profile.create(paths, "alice", clock=lambda: time.time() - TEN_DAYS)
    cid = p.new_circle("club").circle_id
    rekeying.rekey(p, cid)
    rekeying.rekey(p, cid)
    assert len(p.store.all_epoch_keys()) == 3
    p.close()

    app = SmallSocialApp(paths, real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[]), tz=UTC)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = await started_with_notes(pilot, app)

        async def say(text: str) -> None:
            await say_in(pilot, app, text)

        await say("/history")
        await wait_for(pilot, lambda: any(n.startswith("History is kept: old messages") for n in notes))
        await say("/history maybe")
        await wait_for(pilot, lambda: any(n.startswith("/history keep: old messages") for n in notes))
        await say("/history forget")
        want = "History is forgotten from now on; 2 old epoch key(s) deleted now."
        await wait_for(pilot, lambda: want in notes, timeout=20)
        await say("/history")
        forgotten = "History is forgotten: an epoch's key"
        await wait_for(pilot, lambda: any(n.startswith(forgotten) for n in notes))
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.node._thread.alive, timeout=20)  # type: ignore[union-attr]
    p = Profile.open(paths)
    try:
        assert history.mode(p.store) == history.FORGET  # the node wrote it
        assert [e for _, e, _, _ in p.store.all_epoch_keys()] == [p.view(cid).roster.current_epoch.id]  # type: ignore[union-attr]
    finally:
        p.close()
