"""Untrusted text: markup, links, ANSI escapes, bidi overrides and zero-width characters in a
message, a petname and a circle name are shown literally or neutralised, and nothing crashes."""

from __future__ import annotations

import json

import pytest

from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.widgets.members import MembersPanel
from tests.tui.conftest import make_app
from tests.tui.fake_node import FakeNode, ident
from tests.tui.helpers import log_text, ready, tree_labels, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NASTY = "[/b] [link=https://x]y[/link] \x1b[31mred\x1b[0m \u202eevil\u202c zero\u200bwidth [bold]"


async def test_hostile_text_is_shown_literally(profile_paths: ProfilePaths) -> None:
    node = FakeNode(name="me" + NASTY)
    bob = ident(2).public_key
    node.contacts = {bob: "bob" + NASTY + "x" * 100}
    cid = node.add_circle("club " + NASTY, members=(bob,))
    node.add_message(cid, bob, "hello " + NASTY)
    (profile_paths.root / "tui.json").write_text(json.dumps({"loud": [cid.hex()]}))
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: cid in app.state.members)
        node.receive(cid, bob, "again " + NASTY)  # a loud circle: a toast with a hostile title and body
        await wait_for(pilot, lambda: len(app._notifications) == 1)
        await pilot.pause(0.1)
        screen_svg = app.export_screenshot()  # renders every widget: must not raise
        text = log_text(app)
        assert "[/b] [link=https://x]y[/link]" in text and "[bold]" in text
        assert "\x1b" not in text and "\\u001b[31mred" in text
        assert "\u202e" not in text and "\\u202eevil" in text
        assert "\u200b" not in text and "zero\\u200bwidth" in text
        name = app.state.who(bob)
        assert len(name) <= 24 and name.endswith("…") and "\x1b" not in name
        label = tree_labels(app)["club"]
        assert "[/b]" in label and "\x1b" not in label and "\u202e" not in label
        members = app.screen.query_one(MembersPanel)
        plain, stack = [], list(members.root.children)
        while stack:
            n = stack.pop()
            plain.append(n.label.plain)
            stack.extend(n.children)
        assert any(p[2:].startswith("bob[/b]") for p in plain), plain
        assert "\x1b" not in screen_svg and "\u202e" not in screen_svg
        status = str(app.screen.query_one("#status").render())
        assert "me[/b]" in status and "\x1b" not in status and "\u202e" not in status


async def test_a_flood_of_dropped_records_puts_nothing_on_the_ui_thread(profile_paths: ProfilePaths) -> None:
    """A stranger's flood makes the node drop (and log) thousands of records: none of that is
    queued for the screen, and the friend's message after it still comes through."""
    from protocol.node import api
    from smallsocial_tui.app import messages

    node = FakeNode()
    bob = ident(2).public_key
    cid = node.add_circle("club", members=(bob,))
    node.add_message(cid, bob, "hello")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, app)
        posted: list[object] = []
        real_post = app.post_message

        def counting(message: object) -> bool:
            if isinstance(message, messages.NodeEvent):
                posted.append(message.event)
            return real_post(message)  # type: ignore[arg-type]

        app.post_message = counting  # type: ignore[method-assign]
        for i in range(5000):
            node.emit(api.RecordDropped(cid, f"the author is not a member of this circle ({i})"))
        node.receive(cid, bob, "still here")
        await wait_for(pilot, lambda: "still here" in log_text(app))
        # (The app's own commands, such as marking "still here" read once it is shown, are
        # answered with CommandDone: not the flood's, and timed by the screen, so left out.)
        from_network = [type(e) for e in posted if not isinstance(e, (api.CommandDone, api.CommandFailed))]
        assert from_network == [api.MessageReceived]
