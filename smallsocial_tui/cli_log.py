"""What ``smallsocial log`` shows besides each message: its author's name and its reactions.

Names follow the TUI's one rule (:func:`protocol.display.who`): my name, then my petname
for the key, then the name the member announced (presence), the short key only when
nothing else is known. Reactions gather under the message they answer, each author
once per emoji, as the TUI's message log draws them (``smallsocial_tui.app.model.Row``);
a reaction to a message not in the log is not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from protocol import display, messages, timeline
from protocol.identity import peer_id
from smallsocial_tui.text import safe

if TYPE_CHECKING:
    from protocol.node.profile import LogEntry, Profile

Reactions = dict[str, list[bytes]]
"""emoji → who reacted with it, in order of their reactions."""


def namer(profile: Profile, circle: bytes | None = None) -> Callable[[bytes], str]:
    """How this profile shows a key by name, from the contacts and announced names stored now;
    with ``circle``, a device's key as its person (that circle's roster says whose it is)."""
    contacts, names = profile.store.contacts(), profile.store.names()
    me, mine = profile.me, profile.display_name
    persons: dict[bytes, bytes] = {}
    if circle is not None:
        roster = profile.view(circle).roster
        persons = {k: m.person for k, m in roster.devices().items() if m.person is not None}
        persons |= {k: d.by for k, d in roster.departed.items() if d.kind == "unlinked"}
        mine_p = roster.person_of(me)
        if mine_p is not None and mine_p != me:
            persons[me] = mine_p
    return lambda key: display.who(key, me=me, my_name=mine, contacts=contacts, names=names, persons=persons)


def reactions(entries: Sequence[LogEntry]) -> dict[bytes, Reactions]:
    """The reactions of each readable message of ``entries`` (by its id)."""
    readable = {e.id for e in entries if e.kind in timeline.READABLE}
    out: dict[bytes, Reactions] = {}
    for e in entries:
        if e.kind == messages.REACT and e.ref in readable and e.text:
            who = out.setdefault(e.ref, {}).setdefault(e.text, [])
            if e.author not in who:
                who.append(e.author)
    return out


def reactions_json(r: Reactions) -> dict[str, list[str]]:
    return {emoji: [peer_id(k) for k in keys] for emoji, keys in r.items()}


def reactions_text(r: Reactions, who: Callable[[bytes], str]) -> str:
    """``👍 2 (bob, carol)   ❤️ 1 (alice)``: each emoji made safe and cut as the TUI cuts it."""
    return "   ".join(
        f"{safe(emoji)[:8]} {len(keys)} ({', '.join(who(k) for k in keys)})" for emoji, keys in r.items()
    )
