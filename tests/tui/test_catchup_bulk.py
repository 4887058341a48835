"""Pilot tests against the fake node: a catch-up told in bulk (``MessagesArrived``, one event a
sync batch) shows in the open circle and counts as unread in the others, once the answer ends."""

from __future__ import annotations

import pytest

from protocol.node import api
from protocol.node.paths import ProfilePaths
from tests.tui.conftest import make_app, world
from tests.tui.helpers import log_text, ready, tree_labels, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_a_bulk_catch_up_shows_when_the_sync_answer_ends(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        assert app.screen.current == ids["friends"]
        node.receive_many(ids["friends"], ids["bob"], [f"missed {i}" for i in range(40)])
        node.receive_many(ids["work"], ids["carol"], [f"work {i}" for i in range(20)])
        await pilot.pause(0.2)
        assert "missed 39" not in log_text(app)  # not per batch: once the answer ends
        node.emit(api.SyncProgress(ids["friends"], "peer", 60, 0))
        await wait_for(pilot, lambda: "missed 39" in log_text(app))
        await wait_for(pilot, lambda: tree_labels(app)["work"].endswith(" 20"))
        assert "work 0" not in log_text(app)


async def test_a_bulk_catch_up_shows_without_its_answers_end(profile_paths: ProfilePaths) -> None:
    """A sync cut short (its stream broke after some batches) still shows what was stored."""
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        loads = len(node.sent(api.LoadHistory))
        node.receive_many(ids["friends"], ids["bob"], [f"missed {i}" for i in range(40)])
        await wait_for(pilot, lambda: "missed 39" in log_text(app), timeout=5)
        assert len(node.sent(api.LoadHistory)) == loads + 1
