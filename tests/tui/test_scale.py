"""10,000 messages of history: loaded and scrolled without 10,000 widgets, within a generous bound."""

from __future__ import annotations

import time

import pytest

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.widgets.message_log import MessageLog
from tests.tui.conftest import make_app
from tests.tui.fake_node import FakeNode, ident
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

N = 10_000


async def test_ten_thousand_messages_load_and_scroll(profile_paths: ProfilePaths) -> None:
    node = FakeNode()
    bob = ident(2).public_key
    cid = node.add_circle("big", members=(bob,))
    for i in range(N):
        author = bob if i % 3 else node.me.public_key
        text = f"message {i} " + ("with a long tail that wraps " * 6 if i % 10 == 0 else "short")
        node.add_message(cid, author, text)
    app = make_app(profile_paths, node)
    t0 = time.perf_counter()
    async with app.run_test(size=(140, 45)) as pilot:
        log = app.screen.query_one(MessageLog)
        await wait_for(pilot, lambda: log.history is not None and len(log._blocks) == N, timeout=60)
        await pilot.pause()
        loaded = time.perf_counter() - t0
        widgets = len(list(app.screen.query("*")))
        assert widgets < 200, widgets
        assert log.line_count > N  # one block per message, some wrapped onto several lines
        assert log.scroll_y == log.max_scroll_y  # opens at the newest message
        assert log.rendered_blocks < 100  # only what is on screen is drawn

        t1 = time.perf_counter()
        for _ in range(30):
            await pilot.press("pageup")
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: log.scroll_y == 0)
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y)
        scrolled = time.perf_counter() - t1

        t2 = time.perf_counter()
        node.receive(cid, bob, "one more")
        await wait_for(pilot, lambda: len(log._blocks) == N + 1)
        appended = time.perf_counter() - t2
        print(
            f"\n10k: load+first paint {loaded:.2f}s, 30 pages+home+end {scrolled:.2f}s, "
            f"append {appended * 1000:.1f}ms, {widgets} widgets, {log.line_count} lines"
        )
        assert log.rendered_blocks < 2000
        assert loaded < 20 and scrolled < 10 and appended < 1


async def test_a_burst_of_incoming_messages_is_all_shown(profile_paths: ProfilePaths) -> None:
    """2,000 messages arriving at once (into the open circle and another) all show, in order."""
    node = FakeNode()
    bob = ident(2).public_key
    cid = node.add_circle("busy", members=(bob,))
    other = node.add_circle("other", members=(bob,))
    node.add_message(cid, bob, "start")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 45)) as pilot:
        log = app.screen.query_one(MessageLog)
        await wait_for(pilot, lambda: log.history is not None and len(log._blocks) == 1)
        t0 = time.perf_counter()
        for i in range(2000):
            node.receive(cid if i % 4 else other, bob, f"burst {i}")
        await wait_for(pilot, lambda: len(log._blocks) == 1501, timeout=60)
        took = time.perf_counter() - t0
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y  # still pinned to the newest
        assert [r.text for r in log.history.rows][-1] == "burst 1999"
        assert app.state.circles[other].summary.unread == 500
        print(f"\nburst: 2,000 messages handled and shown in {took:.2f}s ({2000 / took:.0f} msg/s)")
        assert took < 30
