"""``smallsocial react``, ``edit`` and ``delete``: the CLI's changes to a circle's messages.

They make the same ``msg`` records as the TUI's ``/react``, ``/edit`` and ``/delete``
(kinds ``react``, ``edit``, ``delete`` of :mod:`protocol.messages`), through the running
node's control socket when one runs (it owns the chain positions), else straight into
the profile's outbox. MSG_ID is a message's id as ``log --json`` prints it, or any
unique prefix of it (at least 4 hex characters). Only the author of a message may edit
or delete it: anyone else's change would be ignored by every member
(:mod:`protocol.timeline`), so it is refused here with a sentence instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import messages, timeline
from protocol.node import api
from smallsocial_tui import cli_kit
from smallsocial_tui.text import safe_name

if TYPE_CHECKING:
    from protocol.node.profile import CircleInfo, LogEntry, Profile

Add = Callable[[str, Any, str], argparse.ArgumentParser]


def find_message(profile: Profile, circle: CircleInfo, text: str) -> LogEntry:
    """The readable message (text or reply) of ``circle`` whose id is ``text`` or starts with it."""
    want = text.strip().lower()
    if len(want) < 4 or any(ch not in "0123456789abcdef" for ch in want):
        raise cli_kit.CliError(
            f"{text[:70]!r} is not a message id; `smallsocial log CIRCLE --json` shows them."
        )
    found = [e for e in profile.log(circle.id) if e.kind in timeline.READABLE and e.id.hex().startswith(want)]
    if not found:
        raise cli_kit.CliError(f"No message of {safe_name(circle.name)} has an id starting with {want}.")
    if len(found) > 1:
        raise cli_kit.CliError(f"{want} starts the ids of {len(found)} messages; give more of the id.")
    return found[0]


def _change(args: argparse.Namespace, kind: str, text: str | None) -> None:
    profile = cli_kit.open_profile(args)
    circle = cli_kit.find_circle(profile, args.circle)
    target = find_message(profile, circle, args.msg_id)
    verb = {messages.REACT: "react to", messages.EDIT: "edit", messages.DELETE: "delete"}[kind]
    if target.deleted:
        raise cli_kit.CliError(f"That message was deleted; there is nothing to {verb}.")
    if kind != messages.REACT and target.author != profile.me:
        raise cli_kit.CliError(f"Only its author may {verb} a message, and this one is not yours.")
    cmd: api.Command
    if kind == messages.REACT:
        cmd = api.ReactTo(circle.id, target.id, text or "")
    elif kind == messages.EDIT:
        cmd = api.EditMessage(circle.id, target.id, text or "")
    else:
        cmd = api.DeleteMessage(circle.id, target.id)
    node = cli_kit.via_node(profile, cmd)
    if node is not None:
        rid, seq, status = node.record_id.hex(), node.seq, "sent"
    else:
        rec = profile.send(circle.id, messages.Content(kind, int(profile.clock() * 1000), text, target.id))
        rid, seq, status = rec.id.hex(), rec.seq, "queued"
    data = {
        "id": rid,
        "circle": circle.id.hex(),
        "seq": seq,
        "status": status,
        "kind": kind,
        "target": target.id.hex(),
        "text": text,
    }
    cli_kit.emit(args, data, rid)


def cmd_react(args: argparse.Namespace) -> None:
    emoji = args.emoji.strip()
    if not emoji or len(emoji.encode()) > messages.MAX_REACTION_BYTES:
        raise cli_kit.CliError(f"A reaction is 1 to {messages.MAX_REACTION_BYTES} bytes, such as 👍.")
    _change(args, messages.REACT, emoji)


def cmd_edit(args: argparse.Namespace) -> None:
    if not args.text.strip():
        raise cli_kit.CliError("The new text is empty; to remove a message, use `smallsocial delete`.")
    _change(args, messages.EDIT, args.text)


def cmd_delete(args: argparse.Namespace) -> None:
    _change(args, messages.DELETE, None)


def register(add: Add) -> None:
    """Add ``react``, ``edit`` and ``delete`` to the parser (``add`` is ``build_parser``'s helper)."""
    ids = "a message id from `log --json`, or a unique prefix of it"
    sp = add("react", cmd_react, "react to a message with an emoji (as the TUI's /react)")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("msg_id", metavar="MSG_ID", help=ids)
    sp.add_argument("emoji", metavar="EMOJI")
    sp = add("edit", cmd_edit, "replace the text of a message of mine; shown with an (edited) mark")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("msg_id", metavar="MSG_ID", help=ids)
    sp.add_argument("text", metavar="TEXT")
    sp = add("delete", cmd_delete, "delete a message of mine; others see it as deleted")
    sp.add_argument("circle", metavar="CIRCLE")
    sp.add_argument("msg_id", metavar="MSG_ID", help=ids)
