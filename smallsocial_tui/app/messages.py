"""App-wide Textual messages: what crosses from the node's thread into the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from protocol.node import api


@dataclass
class NodeEvent(Message):
    """One event from the node, posted (thread-safely) to the app."""

    event: api.Event
