"""The join dialog: paste a token; a bad one shows the node's one-sentence reason and changes nothing.

It is given the token (if any) and the function that joins; it dismisses with the
joined circle's id (None when cancelled).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from protocol.node import api
from smallsocial_tui.app.dialogs.base import Dialog
from smallsocial_tui.app.link import Refused
from smallsocial_tui.text import safe

Join = Callable[[str], Awaitable[api.CircleJoined]]
"""token -> the node's answer; raises Refused with its sentence."""


class JoinDialog(Dialog[bytes]):
    def __init__(self, token: str, join: Join) -> None:
        super().__init__()
        self.token = token
        self._join = join

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
        self.run_worker(self._joined(token), exclusive=True, group="join")

    async def _joined(self, token: str) -> None:
        try:
            ev = await self._join(token)
        except Refused as e:
            self.show_error(str(e))
            return
        finally:
            self.query_one("#join", Button).disabled = False
        self.notify(f"You joined {safe(ev.name)[:40]}.", timeout=4, markup=False)
        self.dismiss(ev.circle)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
