"""The soft cap's offer, the split suggestion and the family tree screen, in the real app with a
real node (127.0.0.1, no peers) on alice's profile of a six-member circle (tests/family_kit.py).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from textual.widgets import Button, Input, SelectionList, Static, Tree

from protocol.node.paths import resolve
from smallsocial_tui.app.app import SmallSocialApp
from smallsocial_tui.app.dialogs.fork import ForkDialog
from smallsocial_tui.app.dialogs.invite import InviteDialog
from smallsocial_tui.app.dialogs.split import SplitDialog
from smallsocial_tui.app.node_client import real_node_factory
from smallsocial_tui.app.screens.family import FamilyScreen
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.widgets.composer import Composer
from tests.family_kit import Six
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def _app(six: Six) -> SmallSocialApp:
    paths = resolve(str(six.root), "alice")
    six.close()
    factory = real_node_factory(listen=["/ip4/127.0.0.1/tcp/0"], peers=[], sync_interval=60.0)
    return SmallSocialApp(paths, factory, tz=UTC)


async def _open_friends(pilot, app: SmallSocialApp, cid: bytes) -> MainScreen:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: app.started and cid in app.state.circles, timeout=30)
    main = app.main_screen
    assert main is not None
    main.choose(cid)
    await wait_for(pilot, lambda: cid in app.state.members, timeout=20)
    return main


def _notes(app: SmallSocialApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_invite_at_the_cap_offers_a_fork_and_the_split(tmp_path: Path) -> None:
    six = Six(tmp_path)
    six.p["alice"].forget_views()
    from protocol.node import family

    family.set_soft_cap(six.p["alice"], six.cid, 5)
    app = _app(six)
    async with app.run_test(size=(150, 50)) as pilot:
        await _open_friends(pilot, app, six.cid)
        assert app.state.circles[six.cid].summary.soft_cap == 5
        # alice is an admin and the circle is past its cap: she is told how to see a split.
        await wait_for(pilot, lambda: any("past its soft cap of 5" in n for n in _notes(app)))

        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        offer = app.screen.query_one("#offer", Static)
        assert "has 6 members; its soft cap is 5" in str(offer.render())
        assert not app.screen.query_one("#create", Button).disabled  # a soft cap: invite anyway
        await pilot.click("#fork-instead")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog))
        await pilot.click("#split-instead")
        await wait_for(pilot, lambda: isinstance(app.screen, SplitDialog), timeout=20)
        split = app.screen
        assert isinstance(split, SplitDialog) and len(split.groups) == 2
        mine = next(i for i, g in enumerate(split.groups) if any(k == six.p["alice"].me for _, k in g))
        await pilot.click(f"#group-{mine}")
        await wait_for(pilot, lambda: isinstance(app.screen, ForkDialog))
        fork = app.screen
        assert fork.query_one("#name", Input).value == f"friends-{mine + 1}"
        picked = set(fork.query_one("#members", SelectionList).selected)
        bob, carol = six.p["bob"].me, six.p["carol"].me
        assert picked == {bob, carol}  # prefilled from the group, still editable
        await pilot.click("#fork")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), timeout=20)
        await wait_for(pilot, lambda: app.state.circle_name(app.main_screen.current) == f"friends-{mine + 1}")  # type: ignore[union-attr,arg-type]
        child = app.state.circles[app.main_screen.current]  # type: ignore[index,union-attr]
        assert child.summary.parent == six.cid
        await pilot.press("ctrl+q")


async def test_the_tree_screen_shows_forks_and_checked_invitations(tmp_path: Path) -> None:
    six = Six(tmp_path)
    alice = six.p["alice"]
    bob = six.p["bob"]
    side = alice.fork(six.cid, "side", [bob.me])
    bob.import_bundle(alice.export([six.cid, side]))
    bob.accept_fork(side)
    alice.import_bundle(bob.export([side]))
    alice.store.set_contact(six.p["bob"].me, "bob", 0)
    app = _app(six)
    async with app.run_test(size=(150, 50)) as pilot:
        await _open_friends(pilot, app, six.cid)
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, FamilyScreen))
        screen = app.screen
        assert isinstance(screen, FamilyScreen)
        await wait_for(pilot, lambda: screen.loaded is not None and screen.loaded.links, timeout=20)
        tree = screen.query_one("#family", Tree)
        (root,) = tree.root.children
        assert root.label.plain.startswith("friends  6/15") and "founded by alice" in root.label.plain
        (child,) = root.children
        assert child.label.plain.startswith("side  2/15") and "forked by alice" in child.label.plain
        invites = str(screen.query_one("#invites", Static).render())
        assert "Who invited whom in friends" in invites
        assert invites.count("✓ verified") == 5 and "founder" in invites
        assert "bob  ✓ verified  also in side" in invites

        await pilot.press("down")  # the highlighted circle's invitation tree follows
        await wait_for(pilot, lambda: screen.shown == side and "Who invited whom in side" in str(
            screen.query_one("#invites", Static).render()
        ), timeout=20)  # fmt: skip
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.main_screen is not None and app.main_screen.current == side

        app.main_screen.query_one(Composer).value = "/tree"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FamilyScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("ctrl+q")
