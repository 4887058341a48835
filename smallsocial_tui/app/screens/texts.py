"""What the main screen writes in its own words: the welcome, the title, notices and event sentences.

Plain functions of the :class:`~smallsocial_tui.app.model.State` that return
``rich.text.Text`` or ``str``; every name in them is already terminal-safe
(``State.who`` and ``State.circle_name``), and untrusted text goes through ``safe``.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from protocol.node import api
from smallsocial_tui.app.model import State
from smallsocial_tui.text import safe

_DIM = Style(dim=True)


def welcome(st: State) -> Text:
    t = Text()
    t.append("Welcome to smallsocial.\n\n", Style(bold=True))
    t.append("You have no circles yet. Start one with  /new NAME  or join one with  /join TOKEN\n")
    t.append("(a friend makes the token for your key with /invite).\n\nYour key: ")
    t.append(st.peer_id or "…", Style(bold=True))
    t.append("\nCopy it with ctrl+g, and F1 lists every key.")
    if st.unlinked_by is not None:
        t.append(f"\n\nThis device was unlinked by {st.unlinker_name()}.", Style(bold=True))
    t.append(
        "\n\nAlready use smallsocial on another device? Link this one to it: /devices (ctrl+g), "
        "Link this device (or run  smallsocial devices link), and add its code on the other device.",
        _DIM,
    )
    return t


def title(st: State, current: bytes | None) -> Text:
    if current is None or current not in st.circles:
        return Text("smallsocial", style=Style(bold=True))
    s = st.circles[current].summary
    t = Text(st.circle_name(current), style=Style(bold=True))
    if s.parent and s.parent in st.circles:
        t.append(f"  fork of {st.circle_name(s.parent)}", _DIM)
    t.append(f"  · {s.members} member{'s' if s.members != 1 else ''}", _DIM)
    if s.relays:
        t.append(f" · {len(s.relays)} relay{'s' if len(s.relays) != 1 else ''}", _DIM)
    return t


def invited(st: State, cid: bytes) -> Text:
    """The notice in place of an invited circle's messages."""
    parent = st.circles[cid].summary.parent
    t = Text()
    t.append("You are invited into ", Style())
    t.append(st.circle_name(cid), Style(bold=True))
    if parent:
        t.append(f", a fork of {st.circle_name(parent)}")
    t.append(".\n\nType  /accept  (or press enter on it in the tree) to join it.")
    return t


def node_failed(reason: str) -> Text:
    t = Text("The node did not start.\n\n", style=Style(bold=True, color="red"))
    t.append(safe(reason))
    t.append("\n\nctrl+q quits.", style=_DIM)
    return t


PLACEHOLDERS = {
    "member": "Message, or /help",
    "left": "You have left this circle; /help",
    "removed": "You were removed from this circle; /help",
    "invited": "Type /accept to join this circle",
}
"""The composer's placeholder by my status in the open circle."""


def membership(st: State, verb: str, circle: bytes, member: bytes) -> str:
    """What a membership event says: 'bob joined friends', 'You were removed from work', …"""
    who = "You" if member == st.me else st.who(member)
    if verb == "was removed from" and member == st.me:
        return f"You were removed from {st.circle_name(circle)}"
    text = f"{who} {verb} {st.circle_name(circle)}"
    if verb == "joined" and member != st.me and member not in st.contacts:
        text += f"; name them with /petname @{who} NAME"
    return text


def role_changed(st: State, circle: bytes, member: bytes, role: str) -> str:
    """'bob is now an admin of friends', 'You are now a member of work'."""
    who = "You are" if member == st.me else f"{st.who(member)} is"
    return f"{who} now {'an admin' if role == 'admin' else 'a member'} of {st.circle_name(circle)}"


def equivocated(st: State, ev: api.Equivocated) -> str:
    return (
        f"{st.who(ev.author)} signed two versions of their history in {st.circle_name(ev.circle)}: "
        f"{ev.reason}; both are kept, one is shown to everyone"
    )


def fork_invitation(st: State, ev: api.CircleForked) -> str:
    return (
        f"You are invited into the fork {safe(ev.name)[:40]} of {st.circle_name(ev.parent)}; "
        "select it and type /accept."
    )


def past_cap(st: State, cid: bytes, members: int, cap: int) -> str:
    return (
        f"{st.circle_name(cid)} has {members} members, past its soft cap of {cap}: "
        "/split suggests how it could split into smaller circles (/cap N changes the cap)."
    )
