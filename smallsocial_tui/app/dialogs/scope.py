"""The scope dialog: do this to one circle only, or to it and the circles under it.

Leaving a circle that has descendants I am in, or removing a member from a circle
that has descendants, asks here first. It is given the question and the two choices'
labels; it dismisses with ``"one"``, ``"subtree"`` or ``None`` (cancelled).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label

from smallsocial_tui.app.dialogs.base import Dialog


class ScopeDialog(Dialog[str]):
    def __init__(self, title: str, hint: str, one: str, subtree: str) -> None:
        super().__init__()
        self.title_text, self.hint, self.one, self.subtree = title, hint, one, subtree

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(self.title_text), classes="box-title")
            yield Label(Text(self.hint), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button(Text(self.one), variant="warning", id="one")
                yield Button(Text(self.subtree), variant="error", id="subtree")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # enter alone does nothing drastic

    @on(Button.Pressed)
    def chosen(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("one", "subtree") else None)
