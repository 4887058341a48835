"""The join dialog: paste a token; a bad one shows the node's one-sentence reason and changes nothing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from protocol.node import api
from smallsocial_tui.app.dialogs.base import Dialog
from smallsocial_tui.text import safe


class JoinDialog(Dialog):
    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.token = token

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label("Join a circle", classes="box-title")
            yield Label("Paste the invitation token a member made for your key:", classes="hint")
            yield Input(self.token, placeholder="token", id="token")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Join", variant="primary", id="join")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#token", Input).focus()
        if self.token:
            self.join()

    @on(Input.Submitted, "#token")
    @on(Button.Pressed, "#join")
    def join(self) -> None:
        token = "".join(self.query_one("#token", Input).value.split())
        if not token:
            return
        self.query_one("#join", Button).disabled = True
        self.ss.submit(api.AcceptInvite(token), self._answer)

    def _answer(self, ev: api.Event) -> None:
        self.query_one("#join", Button).disabled = False
        if isinstance(ev, api.CircleJoined):
            self.notify(f"You joined {safe(ev.name)[:40]}.", timeout=4, markup=False)
            self.dismiss(ev.circle)
        elif isinstance(ev, api.CommandFailed):
            self.show_error(ev.message)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
