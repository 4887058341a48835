"""Pilot tests against the fake node: sending, receiving, replies, reactions, edits, unread counts."""

from __future__ import annotations

import pytest

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.widgets.composer import Composer
from smallsocial_tui.app.widgets.message_log import MessageLog
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import ident
from tests.tui.helpers import log_text, ready, tree_labels, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_history_shows_and_marks_read(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    node.circles[ids["friends"]].unread = 2
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        text = log_text(app)
        assert "hi all" in text and "hello bob" in text
        assert "bob" in text and "carol" in text
        assert "new messages" in text  # no read marker yet: the unread line sits above the first
        await wait_for(pilot, lambda: node.sent(api.MarkRead))
        marks = node.sent(api.MarkRead)
        assert len(marks) == 1 and marks[-1].record == node.circles[ids["friends"]].entries[-1].id
        for i in range(20):  # a burst in the open circle: one MarkRead for all of it
            node.receive(ids["friends"], ids["bob"], f"burst {i}")
        await wait_for(pilot, lambda: len(node.sent(api.MarkRead)) == 2)
        assert node.sent(api.MarkRead)[-1].record == node.circles[ids["friends"]].entries[-1].id


async def test_send_shows_my_message_once_committed(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"good morning", "enter")
        await wait_for(pilot, lambda: "good morning" in log_text(app))
        sent = node.sent(api.SendMessage)
        assert sent[-1].text == "good morning" and sent[-1].circle == ids["friends"]
        assert app.screen.query_one(Composer).value == ""


async def test_receive_in_the_open_circle_and_in_another(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        node.receive(ids["friends"], ids["bob"], "live one")
        await wait_for(pilot, lambda: "live one" in log_text(app))
        node.receive(ids["work"], ids["carol"], "work thing")
        await wait_for(pilot, lambda: tree_labels(app)["work"].endswith(" 1"))
        assert "work thing" not in log_text(app)


async def test_unread_and_mentions_roll_up_the_tree(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("alt+4")  # work: away from the friends subtree
        await wait_for(pilot, lambda: app.screen.current == ids["work"])
        node.receive(ids["chess"], ids["bob"], "check")
        node.receive(ids["chess"], ids["bob"], "@alice mate")
        node.receive(ids["games"], ids["bob"], "anyone?")
        await wait_for(pilot, lambda: "@1" in tree_labels(app)["friends"])
        labels = tree_labels(app)
        assert labels["chess"] == "chess @1 2"
        assert labels["games"] == "games @1 1 +2"  # its own one, and two further down
        assert labels["friends"] == "friends @1 +3"
        assert app.state.rolled_up(ids["friends"]) == (3, 1)
        await pilot.press("alt+3")  # chess: viewing it clears its count, and its parents' totals
        await wait_for(pilot, lambda: tree_labels(app)["chess"] == "chess")
        assert tree_labels(app)["games"] == "games 1"
        assert tree_labels(app)["friends"] == "friends +1"


async def test_reply_react_edit_and_delete(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"/reply sure", "enter")
        await wait_for(pilot, lambda: "↳ carol: hello bob" in log_text(app))
        assert node.sent(api.SendMessage)[-1].reply_to == node.circles[ids["friends"]].entries[1].id
        app.screen.query_one(Composer).value = "/react 👍"  # Pilot cannot type an emoji key
        await pilot.press("enter")
        await wait_for(pilot, lambda: "👍 1" in log_text(app))
        await pilot.press(*"first try", "enter")
        await wait_for(pilot, lambda: "first try" in log_text(app))
        await pilot.press("up")  # empty composer: recall my last message for edit
        composer = app.screen.query_one(Composer)
        assert composer.value == "first try" and composer.editing is not None
        composer.value = "second try"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "second try (edited)" in log_text(app))
        assert node.sent(api.EditMessage)[-1].text == "second try"
        await pilot.press(*"/delete", "enter")
        await wait_for(pilot, lambda: "(message deleted)" in log_text(app))


async def test_selecting_a_message_targets_it(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        app.screen.query_one(MessageLog).focus()
        await pilot.press("up", "up")  # the last, then the first message
        app.screen.query_one(Composer).focus()
        app.screen.query_one(Composer).value = "/react ❤"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(node.sent(api.ReactTo)))
        assert node.sent(api.ReactTo)[-1].target == node.circles[ids["friends"]].entries[0].id


async def test_typing_while_a_message_is_selected_goes_to_the_composer(profile_paths: ProfilePaths) -> None:
    """After picking a message (or a search's jump to one) the focus is on the list; what one
    types then is not lost: it lands in the composer, and /react applies to the selection."""
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        log = app.screen.query_one(MessageLog)
        log.focus()
        await pilot.press("up", "up")  # the last, then the first message
        await pilot.press(*"/react ok")
        composer = app.screen.query_one(Composer)
        assert app.focused is composer and composer.value == "/react ok"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(node.sent(api.ReactTo)))
        assert node.sent(api.ReactTo)[-1].target == node.circles[ids["friends"]].entries[0].id


async def test_tab_completes_commands_and_names(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.state.members)
        composer = app.screen.query_one(Composer)
        await pilot.press(*"/inv", "tab")
        assert composer.value == "/invite "
        composer.value = ""
        await pilot.press(*"@ca", "tab")
        assert composer.value == "@carol: "
        composer.value = "/remove @"
        await pilot.press("tab")
        first = composer.value
        await pilot.press("tab")
        assert {first, composer.value} == {"/remove @bob ", "/remove @carol "}


async def test_mention_and_loud_circles_notify(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        node.receive(ids["work"], ids["carol"], "quiet here")
        await pilot.pause(0.1)
        assert not app._notifications
        node.receive(ids["work"], ids["carol"], "ping @alice")
        await wait_for(pilot, lambda: len(app._notifications) == 1)
        await pilot.press("alt+4", "ctrl+l")  # work becomes loud
        await wait_for(pilot, lambda: node.circles[ids["work"]].notify == "loud")
        assert app.state.circles[ids["work"]].loud  # the level is the node's store's, not tui.json's
        await pilot.press("alt+1")
        app.clear_notifications()
        node.receive(ids["work"], ids["carol"], "loud now")
        await wait_for(pilot, lambda: len(app._notifications) == 1)


async def test_nick_changes_my_name(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"/nick Alicia", "enter")
        await wait_for(pilot, lambda: app.state.name == "Alicia")
        assert node.sent(api.SetDisplayName)[-1].name == "Alicia"
        assert ident(1).public_key == app.state.me


async def test_a_message_sent_from_another_terminal_shows(profile_paths: ProfilePaths) -> None:
    """``smallsocial send`` while the TUI runs goes through its node: the TUI shows it too."""
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        e = node.add_message(ids["friends"], node.me.public_key, "from the command line")
        node.emit(api.MessageSent(999_999, ids["friends"], e.id, e.seq))  # nobody here asked for it
        await wait_for(pilot, lambda: "from the command line" in log_text(app))


async def test_enter_on_a_member_mentions_them(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        members = app.screen.query_one("#members")
        members.focus()
        await pilot.press("down", "down", "down", "enter")  # heading, alice, then her first invitee
        composer = app.screen.query_one(Composer)
        assert composer.value in ("@bob: ", "@carol: ") and composer.has_focus


async def test_announced_display_names_show_and_never_pass_for_my_contacts(
    profile_paths: ProfilePaths,
) -> None:
    node, ids = world()
    dave = ident(4).public_key
    node.contacts.pop(ids["carol"])  # carol is no contact now: her own name is what we have
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        node.emit(api.NameChanged(ids["carol"], "Carol Danvers"))
        await wait_for(pilot, lambda: "Carol Danvers" in log_text(app))
        # Someone new calls himself "bob", which is my petname for the real bob: the key shows.
        node.emit(api.NameChanged(dave, "bob"))
        node.receive(ids["friends"], dave, "trust me")
        await wait_for(pilot, lambda: "trust me" in log_text(app))
        line = next(ln for ln in log_text(app).splitlines() if "trust me" in ln)
        assert "bob (12D3KooW" in line
