"""Pilot tests of the dialogs and membership flows: invite, join (good and bad token), fork,
accepting a fork, remove, change a role, leave."""

from __future__ import annotations

import pytest
from textual.widgets import Input, SelectionList, Static

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.dialogs.fork import ForkDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.dialogs.join import JoinDialog
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.members import MembersPanel
from tests.tui.conftest import make_app, world
from tests.tui.fake_node import BAD_TOKEN_REASON, ident
from tests.tui.helpers import log_text, ready, tree_labels, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_invite_dialog_shows_token_and_qr_and_copies(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    dave = ident(4)
    async with app.run_test(size=(140, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        await pilot.press(*dave.peer_id, "enter")
        await wait_for(pilot, lambda: app.screen.token is not None)
        cmd = node.sent(api.InviteKey)[-1]
        assert cmd.invitee == dave.public_key and cmd.circle == ids["friends"] and cmd.role == "member"
        assert cmd.ttl_s == 7 * 86400
        token = app.screen.token
        assert token in str(app.screen.query_one("#token", Static).render())
        assert "▀" in str(app.screen.query_one("#qr", Static).render())
        await pilot.click("#copy")
        assert app.clipboard == token
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_invite_dialog_rejects_a_non_key(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 50)) as pilot:
        await ready(pilot, app)
        await pilot.press(*"/invite nonsense", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query_one("#error").display)
        assert "not a key" in str(app.screen.query_one("#error", Static).render())
        assert not node.sent(api.InviteKey)


async def test_join_with_a_good_token(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinDialog))
        await pilot.press(*"good-books", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and "books" in tree_labels(app))
        await wait_for(pilot, lambda: app.state.circle_name(app.screen.current) == "books")


async def test_join_with_a_bad_token_explains_and_changes_nothing(profile_paths: ProfilePaths) -> None:
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        before = set(app.state.circles)
        await pilot.press(*"/join garbage-token", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JoinDialog))
        await wait_for(pilot, lambda: app.screen.query_one("#error").display)
        assert BAD_TOKEN_REASON in str(app.screen.query_one("#error", Static).render())
        assert isinstance(app.screen, JoinDialog)  # still open, to paste again
        assert set(app.state.circles) == before
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_fork_dialog_picks_members(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkDialog))
        app.screen.query_one("#name", Input).value = "side"
        app.screen.query_one(SelectionList).select(ids["bob"])
        await pilot.click("#fork")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and "side" in tree_labels(app))
        cmd = node.sent(api.ForkCircle)[-1]
        assert cmd.circle == ids["friends"] and cmd.name == "side" and cmd.members == (ids["bob"],)
        side = next(c for c in app.state.circles.values() if c.summary.name == "side")
        assert side.summary.parent == ids["friends"]
        assert app.screen.current == side.id


async def test_fork_by_command(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press(*"/fork quiet room @carol", "enter")
        await wait_for(pilot, lambda: bool(node.sent(api.ForkCircle)))
        cmd = node.sent(api.ForkCircle)[-1]
        assert cmd.name == "quiet room" and cmd.members == (ids["carol"],) and cmd.history == "none"


async def test_fork_by_command_with_history(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press(*"/fork trip --history weeks:2 @carol", "enter")
        await pilot.pause(0.3)
        assert not node.sent(api.ForkCircle)  # refused with a sentence, nothing sent
        await pilot.press(*"/fork trip --history Last:5 @carol", "enter")
        await wait_for(pilot, lambda: bool(node.sent(api.ForkCircle)))
        cmd = node.sent(api.ForkCircle)[-1]
        assert (cmd.name, cmd.members, cmd.history) == ("trip", (ids["carol"],), "last:5")


async def test_accept_a_fork_invitation(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    invited = node.add_circle("surprise", parent=ids["friends"], status="invited")
    node.add_message(invited, ids["bob"], "welcome to the surprise")
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        assert "invited" in tree_labels(app)["surprise"]
        app.screen.choose(invited)
        await pilot.press(*"/accept", "enter")
        await wait_for(pilot, lambda: "invited" not in tree_labels(app)["surprise"])
        assert node.sent(api.AcceptFork)[-1].circle == invited
        # the open circle turns from the invitation notice into its history
        await wait_for(pilot, lambda: "welcome to the surprise" in log_text(app))


async def test_remove_a_member(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press(*"/remove @carol", "enter")
        await wait_for(pilot, lambda: bool(node.sent(api.RemoveMember)))
        assert node.sent(api.RemoveMember)[-1].member == ids["carol"]
        await wait_for(pilot, lambda: ids["carol"] not in app.state.member_keys(ids["friends"]))


async def test_change_a_role(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: ids["friends"] in app.state.members)
        await pilot.press(*"/role @carol boss", "enter")  # not a role: a hint, nothing sent
        await pilot.pause(0.1)
        assert not node.sent(api.ChangeRole)
        await pilot.press(*"/role @carol admin", "enter")
        await wait_for(pilot, lambda: bool(node.sent(api.ChangeRole)))
        cmd = node.sent(api.ChangeRole)[-1]
        assert (cmd.circle, cmd.member, cmd.role) == (ids["friends"], ids["carol"], "admin")

        def role() -> str:
            loaded = app.state.members[ids["friends"]].members
            return next(m.role for m in loaded if m.key == ids["carol"])

        await wait_for(pilot, lambda: role() == "admin")

        def labels() -> list[str]:
            out, todo = [], [app.screen.query_one(MembersPanel).root]
            while todo:
                n = todo.pop()
                out.append(str(n.label))
                todo.extend(n.children)
            return out

        await wait_for(pilot, lambda: "● carol admin" in labels() or "○ carol admin" in labels())


async def test_leave_a_circle(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("alt+4")
        await wait_for(pilot, lambda: app.screen.current == ids["work"])
        await pilot.press(*"/leave", "enter")
        await wait_for(pilot, lambda: "left" in tree_labels(app)["work"])
        assert node.sent(api.LeaveCircle)[-1].circle == ids["work"]
        await pilot.press(*"still here?", "enter")
        await pilot.pause(0.1)
        assert not [c for c in node.sent(api.SendMessage) if c.circle == ids["work"]]
