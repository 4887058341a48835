"""``/limit SIZE`` in the TUI: an admin sets the circle's file limit; a bad size is one sentence
and sends nothing."""

from __future__ import annotations

import pytest

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.widgets.composer import Composer
from tests.tui.conftest import make_app, world
from tests.tui.helpers import ready, wait_for

pytestmark = [pytest.mark.timeout(60)]


@pytest.mark.asyncio
async def test_slash_limit_sets_the_file_limit(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    notes: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        for text in ("/limit lots", "/limit 100MiB", "/limit 10MiB"):
            app.screen.query_one(Composer).value = text
            await pilot.press("enter")
        await wait_for(pilot, lambda: node.sent(api.SetFileCap))
        sent = node.sent(api.SetFileCap)
        assert [(c.circle, c.cap) for c in sent] == [(ids["friends"], 10 * 2**20)]  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "The file limit is now 10 MiB." in notes)
        assert any("is not a size" in n for n in notes) and any("at the most" in n for n in notes)
