"""The TUI's typed node messages and its answers by request id.

Every kind of node event has its own Textual message; an answer somebody awaits
reaches them alone (never the screen's handlers); a refusal comes back as
``Refused`` with the node's sentence; a live edit folds as the node's history does.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from textual.message import Message

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app import messages
from smallsocial_tui.app.link import NOT_RUNNING, NodeLink, Refused
from tests.tui.conftest import make_app, world
from tests.tui.helpers import log_text, ready, wait_for

pytestmark = pytest.mark.timeout(60)


def test_every_node_event_kind_has_its_own_message() -> None:
    kinds = {c for _, c in inspect.getmembers(api, inspect.isclass) if issubclass(c, api.Event)}
    kinds.discard(api.Event)
    assert set(messages.BY_EVENT) == kinds - set(messages.NOT_POSTED)  # those never reach the screen
    assert len(set(messages.BY_EVENT.values())) == len(messages.BY_EVENT)
    for event, cls in messages.BY_EVENT.items():
        assert cls.__name__ == event.__name__ and cls.handler_name == f"on_{_snake(event.__name__)}"
    bubbling = {cls for cls in messages.BY_EVENT.values() if cls.bubble}
    assert bubbling == {messages.CommandFailed, messages.NodeStopped}  # the app's concerns too
    ev = api.MessageReceived(b"c" * 32, b"r" * 32, b"a" * 32, 1, 5, "text", "hi", None)
    typed = messages.for_event(ev)
    assert isinstance(typed, messages.MessageReceived) and typed.event is ev


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name).lstrip("_")


class _Client:
    def __init__(self) -> None:
        self.sent: list[api.Command] = []

    def start(self) -> None: ...

    def submit(self, command: api.Command) -> None:
        self.sent.append(command)

    def stop(self) -> bool:
        return True


@pytest.mark.asyncio
async def test_an_answer_goes_to_whoever_awaits_its_request_id() -> None:
    warned: list[str] = []
    link = NodeLink(warned.append)
    with pytest.raises(Refused, match=NOT_RUNNING):
        await link.ask(api.SyncNow(), api.CommandDone)
    assert not link.submit(api.SyncNow()) and warned == [NOT_RUNNING]
    link.client = client = _Client()
    nick = api.SetDisplayName("x")
    pending = asyncio.ensure_future(link.ask(nick, api.CommandDone))
    await asyncio.sleep(0)
    assert client.sent == [nick]
    assert not link.answer(api.CommandDone(nick.request_id + 1_000))  # someone else's answer
    assert link.answer(api.CommandDone(nick.request_id))
    assert (await pending).request_id == nick.request_id
    assert not link.answer(api.CommandDone(nick.request_id))  # answered once only

    token = api.AcceptInvite("bad")
    pending = asyncio.ensure_future(link.ask(token, api.CircleJoined))
    await asyncio.sleep(0)
    assert link.answer(api.CommandFailed(token.request_id, "This token is damaged."))
    with pytest.raises(Refused, match="This token is damaged"):
        await pending

    gone = api.SetDisplayName("y")
    pending = asyncio.ensure_future(link.ask(gone, api.CommandDone))
    await asyncio.sleep(0)
    pending.cancel()  # the dialog that asked was closed
    await asyncio.sleep(0)
    assert not link.answer(api.CommandDone(gone.request_id))  # then the screen handles it


@pytest.mark.asyncio
async def test_awaited_answers_never_reach_the_screens_handlers(profile_paths: ProfilePaths) -> None:
    node, ids = world()
    app = make_app(profile_paths, node)
    posted: list[Message] = []
    async with app.run_test(size=(140, 40), message_hook=posted.append) as pilot:
        await ready(pilot, app)
        await pilot.press(*"/nick Alicia", "enter")
        await wait_for(pilot, lambda: app.state.name == "Alicia")
        nick = node.sent(api.SetDisplayName)[-1]
        typed = [m for m in posted if isinstance(m, messages.NodeMessage)]
        assert not [m for m in typed if getattr(m.event, "request_id", None) == nick.request_id]
        node.receive(ids["friends"], ids["bob"], "typed")
        await wait_for(pilot, lambda: "typed" in log_text(app))
        received = [m for m in posted if isinstance(m, messages.MessageReceived)]
        assert [m.event.text for m in received] == ["typed"]  # handled on the screen only


@pytest.mark.asyncio
async def test_a_late_older_edit_does_not_undo_a_newer_one(profile_paths: ProfilePaths) -> None:
    """Live edits fold as the node's history does (protocol.timeline): the newest by time wins."""
    node, ids = world()
    first = node.circles[ids["friends"]].entries[0]
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        base = first.ts
        for ts, text in ((base + 9_000, "newest words"), (base + 5_000, "older words")):
            node.emit(
                api.MessageReceived(ids["friends"], bytes(32), ids["bob"], 9, ts, "edit", text, first.id)
            )
        await wait_for(pilot, lambda: "newest words (edited)" in log_text(app))
        await pilot.pause(0.1)
        assert "older words" not in log_text(app)
        node.emit(
            api.MessageReceived(ids["friends"], bytes(32), ids["bob"], 10, base + 1, "delete", None, first.id)
        )
        await wait_for(pilot, lambda: "(message deleted)" in log_text(app))


@pytest.mark.asyncio
async def test_a_failure_nobody_awaits_and_a_node_that_stops_are_told(profile_paths: ProfilePaths) -> None:
    """Typed messages bubble from the main screen to the app, which tells what concerns it."""
    node, _ = world()
    app = make_app(profile_paths, node)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot, app)
        app.clear_notifications()
        node.emit(api.CommandFailed(999_999, "That went wrong elsewhere."))  # another terminal's
        await wait_for(pilot, lambda: len(app._notifications) == 1)
        node.emit(api.NodeStopped("the disk is full"))
        await wait_for(pilot, lambda: len(app._notifications) == 2)
        said = [n.message for n in app._notifications]
        assert said == ["That went wrong elsewhere.", "The node stopped: the disk is full"]
        await wait_for(pilot, lambda: "node stopped" in str(app.screen.query_one("#status").render()))
