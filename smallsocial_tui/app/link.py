"""The UI's end of the node: submit a command, or submit it and await its answer by request id.

:class:`NodeLink` holds the node client once it runs. ``submit`` sends and
forgets (the answer then reaches the main screen as a typed message);
``ask`` awaits the event that answers the command and returns it typed, or
raises :class:`Refused` with the node's one sentence. The app hands each node
event to :meth:`NodeLink.answer` first: an event somebody awaits is theirs alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from protocol.node import api
from smallsocial_tui.app.node_client import NodeClient

E = TypeVar("E", bound=api.Event)

NOT_RUNNING = "The node is not running yet."


class Refused(Exception):
    """The node refused a command (or could not take it); ``str(e)`` is the sentence to show."""


class NodeLink:
    """Commands to the node, and the answers awaited for them, keyed by request id."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.client: NodeClient | None = None
        self._warn = warn
        self._waiting: dict[int, asyncio.Future[api.Event]] = {}

    def submit(self, cmd: api.Command) -> bool:
        """Send ``cmd`` without waiting; False (and a warning) when no node runs."""
        if self.client is None:
            self._warn(NOT_RUNNING)
            return False
        self.client.submit(cmd)
        return True

    async def ask(self, cmd: api.Command, answer: type[E]) -> E:
        """Send ``cmd`` and await the ``answer`` event with its request id.

        Raises :class:`Refused` when the node answers ``CommandFailed`` (or something else
        than ``answer``), or runs no node.
        """
        if self.client is None:
            raise Refused(NOT_RUNNING)
        rid = cmd.request_id
        waiting: asyncio.Future[api.Event] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = waiting
        try:
            self.client.submit(cmd)
            event = await waiting
        finally:
            self._waiting.pop(rid, None)
        if isinstance(event, api.CommandFailed):
            raise Refused(event.message)
        if not isinstance(event, answer):
            raise Refused(f"The node answered {type(event).__name__}, not {answer.__name__}.")
        return event

    def answer(self, event: api.Event) -> bool:
        """Give ``event`` to whoever awaits its request id; False when nobody does (any more)."""
        rid = getattr(event, "request_id", None)
        waiting = self._waiting.pop(rid, None) if rid is not None else None
        if waiting is None or waiting.done():
            return False
        waiting.set_result(event)
        return True
