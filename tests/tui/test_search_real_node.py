"""Search in the real app with a real node (127.0.0.1 only): ctrl+s and /search open the results
across circles, enter opens the message in its circle, in view and selected, even one older
than the history the app had loaded."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from protocol.node import queries
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.screens.search import SearchScreen
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.message_log import MessageLog
from tests.tui.helpers import ready, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def _profile(root: Path) -> tuple[ProfilePaths, dict[str, bytes]]:
    paths = ProfilePaths(root / "profiles" / "alice")
    p = Profile.create(paths, "alice")
    club, work = p.new_circle("club").circle_id, p.new_circle("work").circle_id
    ids = {"club": club, "work": work}
    ids["old"] = p.send_text(club, "the secret word is pumpernickel").id
    for i in range(300):
        p.send_text(club, f"filler line {i}")
    ids["work_hit"] = p.send_text(work, "pumpernickel for the office party").id
    p.send_text(work, "nothing to see")
    p.close()
    return paths, ids


def _app(paths: ProfilePaths) -> SmallSocialApp:
    return SmallSocialApp(paths, real_node_factory(listen=LOOPBACK, peers=[], sync_interval=2.0), tz=UTC)


def _in_view(log: MessageLog) -> bool:
    i = log.selected
    if i is None:
        return False
    top = log._starts[i]
    return log.scroll_y <= top < log.scroll_y + log.scrollable_content_region.height


async def test_ctrl_s_finds_across_circles_and_enter_opens_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = queries.history

    def short(p: Profile, rid: int, circle: bytes, limit: int, around: bytes | None = None):  # type: ignore[no-untyped-def]
        return real(p, rid, circle, min(limit, 100), around)  # the old message is not loaded at first

    monkeypatch.setattr(queries, "history", short)
    paths, ids = _profile(tmp_path)
    app = _app(paths)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.started, timeout=30)
        main = app.screen
        assert isinstance(main, MainScreen)
        main.choose(ids["club"])
        await wait_for(pilot, lambda: ids["club"] in app.state.histories, timeout=20)
        assert ids["old"] not in app.state.histories[ids["club"]].by_id
        main.choose(ids["work"])  # the result opens its own circle

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.press(*"pumper")
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await wait_for(pilot, lambda: len(screen.hits) == 2, timeout=15)
        # newest first, across circles, with the circle's name and the match
        assert [h.circle for h in screen.hits] == [ids["work"], ids["club"]]
        assert [h.id for h in screen.hits] == [ids["work_hit"], ids["old"]]
        assert screen.hits[1].circle_name == "club" and screen.hits[1].author_name == "alice"
        await pilot.press("down", "down", "enter")  # to the results, the second one, open it
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        log = main.query_one(MessageLog)
        await wait_for(pilot, lambda: (row := log.selected_row()) is not None and row.id == ids["old"], 20)
        assert main.current == ids["club"]
        await wait_for(pilot, lambda: _in_view(log))
        assert len(app.state.histories[ids["club"]].rows) == 301  # all of it, not 100

        # /search TEXT opens the screen with the text searched; enter opens the newest result
        assert log.has_focus  # up and down move on from the message found; escape to write
        await pilot.press("escape")
        main.query_one(Composer).value = "/search office"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen) and len(app.screen.hits) == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and main.current == ids["work"])
        await wait_for(pilot, lambda: (row := log.selected_row()) is not None and row.id == ids["work_hit"])

        # text with nothing to search for: the node's sentence in place of results
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.press("?", "!", "enter")
        summary = app.screen.query_one("#summary")
        await wait_for(pilot, lambda: "at least one word" in str(summary.render()), timeout=10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.node._thread.alive, timeout=20)  # type: ignore[union-attr]
