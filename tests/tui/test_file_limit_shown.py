"""The TUI shows the open circle's file limit: in the status bar once an admin set one, and
``/limit`` alone says it (issue 14 part 1's file limit, from ``CircleSummary.file_cap``)."""

from __future__ import annotations

import dataclasses

import pytest

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.status_bar import StatusBar
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import FakeNode
from tests.tui.helpers import ready, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


class CappedNode(FakeNode):
    """The fake node, with a file limit per circle in its summaries."""

    caps: dict[bytes, int]

    def emit(self, ev: api.Event) -> None:
        if isinstance(ev, api.OverviewLoaded):
            circles = tuple(
                dataclasses.replace(s, file_cap=self.caps[s.id]) if s.id in self.caps else s
                for s in ev.circles
            )
            ev = dataclasses.replace(ev, circles=circles)
        super().emit(ev)


async def test_the_status_bar_and_slash_limit_show_the_file_limit(profile_paths: ProfilePaths) -> None:
    node, w = world()
    node.__class__ = CappedNode
    node.caps = {w["friends"]: 10 * 2**20, w["work"]: 0}  # type: ignore[attr-defined]
    app = make_app(profile_paths, node)
    notes: list[str] = []
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        bar = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "files ≤ 10 MiB" in str(bar.render()))
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        app.screen.query_one(Composer).value = "/limit"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.startswith("Files up to 10 MiB.") for n in notes))
        app.screen.choose(w["work"])
        await wait_for(pilot, lambda: "no files" in str(bar.render()))
        app.screen.choose(w["games"])  # no limit set: nothing said
        await wait_for(pilot, lambda: "files" not in str(bar.render()))
