"""The help screen: every key and slash command on one page; escape, F1 or q closes it."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from smallsocial_tui.app import slash

KEYS = [
    ("alt+1 … alt+9", "jump to the n-th circle"),
    ("ctrl+n / ctrl+p", "next / previous circle"),
    ("pageup / pagedown", "scroll the messages"),
    ("ctrl+home / ctrl+end", "oldest / newest message"),
    ("tab", "complete a /command or an @name"),
    ("up (empty composer)", "edit my last message"),
    ("shift+tab, then up/down", "select a message (for /reply, /react, /delete)"),
    ("ctrl+o", "invite someone to this circle"),
    ("ctrl+f", "fork this circle"),
    ("ctrl+s", "search messages in all circles"),
    ("f3", "join with a token"),
    ("f4", "the family tree (enter opens a circle)"),
    ("ctrl+l", "loud / quiet notifications for this circle"),
    ("ctrl+g", "my identity (key, addresses) and devices: add, revoke, link this one"),
    ("ctrl+t", "connection status"),
    ("f2", "command palette"),
    ("escape", "close a dialog; back to the composer"),
    ("F1 or ?", "this help"),
    ("ctrl+q", "stop the node and quit"),
]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 95%; height: 90%; border: thick $primary;
        background: $surface; padding: 1 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style=Style(bold=True, color="cyan"))
        keys.add_column()
        for k, what in KEYS:
            keys.add_row(k, what)
        cmds = Table.grid(padding=(0, 2))
        cmds.add_column(style=Style(bold=True, color="green"))
        cmds.add_column()
        for c, what in slash.help_lines():
            cmds.add_row(c, what)
        with VerticalScroll():
            yield Static("[b]Keys[/b]")
            yield Static(keys)
            yield Static("\n[b]Commands[/b] (type them in the composer; // sends a line that starts with /)")
            yield Static(cmds)
