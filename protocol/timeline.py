"""How a circle's messages read: which version of an edited message shows, deletes, and mentions.

Pure functions over message contents (no IO, no clock), shared by the node's
history (:mod:`protocol.node.profile`, :mod:`protocol.node.queries`) and the
TUI's live view (``smallsocial_tui.app.model``), so a message reads the same
whether it arrived a moment ago or was loaded from the store.

The rules:

- Text, reply and file messages are shown as messages of their own (:data:`READABLE`);
  a reaction gathers under one, an edit or a delete changes one (:data:`CHANGES`).
- A change applies only to a readable message written by the change's author.
- The newest change, by its author's time, decides the text: an older edit that
  arrives late does not undo a newer one, so the order of arrival does not matter.
- A delete is final: the message shows as deleted, and its text is gone, whatever
  edits come before or after it.
- A mention of ``name`` is ``@name`` (any case) that is not glued to a word or
  another ``@`` before it and ends at a word boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol import messages

READABLE = (messages.TEXT, messages.REPLY, messages.FILE)
"""Kinds shown as a message of their own (and counted as unread)."""

CHANGES = (messages.EDIT, messages.DELETE)
"""Kinds that change a readable message of the same author."""


@dataclass(frozen=True)
class Version:
    """What one message shows after the changes applied to it so far."""

    text: str | None
    edited: bool = False
    deleted: bool = False
    at: int | None = None
    """The author's time (ms) of the newest change applied; None while the message is as written."""


@dataclass(frozen=True)
class Change:
    """An edit or a delete: its kind, author and time, the message it changes, the new text."""

    kind: str
    author: bytes
    ts: int
    target: bytes
    text: str | None = None


def revise(version: Version, target_author: bytes, change: Change) -> Version | None:
    """The version shown after ``change``; None when it does not apply (another author, not a change)."""
    if change.author != target_author or change.kind not in CHANGES:
        return None
    newest = version.at is None or change.ts >= version.at
    at = change.ts if newest else version.at
    if change.kind == messages.DELETE:
        return Version(None, version.edited, True, at)
    text = None if version.deleted else (change.text if newest else version.text)
    return Version(text, True, version.deleted, at)


def fold(shown: Mapping[bytes, tuple[bytes, str | None]], changes: Iterable[Change]) -> dict[bytes, Version]:
    """The versions of the messages that ``changes`` change, in any order of the changes.

    ``shown`` maps each readable message's id to (its author, its text as written);
    a change whose target is not there (unknown, or not readable) is skipped.
    """
    out: dict[bytes, Version] = {}
    for change in changes:
        target = shown.get(change.target)
        if target is None:
            continue
        author, text = target
        version = revise(out.get(change.target, Version(text)), author, change)
        if version is not None:
            out[change.target] = version
    return out


def mentions(text: str | None, name: str) -> bool:
    """Whether ``text`` mentions ``@name`` (see the module's rules); never for an empty name."""
    if not text or not name:
        return False
    return re.search(r"(?<![\w@])@" + re.escape(name) + r"\b", text, re.IGNORECASE) is not None
