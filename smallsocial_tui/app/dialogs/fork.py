"""The fork dialog: a name and the members of the parent to take along (checkboxes)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from protocol.node import api
from smallsocial_tui.app.dialogs.base import Dialog


class ForkDialog(Dialog):
    DEFAULT_CSS = """
    ForkDialog SelectionList { height: auto; max-height: 14; margin-bottom: 1; }
    """

    def __init__(self, circle: bytes) -> None:
        super().__init__()
        self.circle = circle

    def compose(self) -> ComposeResult:
        st = self.ss.state
        others = [k for k in st.member_keys(self.circle) if k != st.me]
        with Vertical(classes="box"):
            yield Label(Text(f"Fork {st.circle_name(self.circle)}"), classes="box-title")
            yield Label(
                "A side circle with fresh keys; the members you pick get an invitation.", classes="hint"
            )
            yield Input(placeholder="name of the new circle", id="name")
            yield Label("Members to invite (space toggles):", classes="hint")
            yield SelectionList[bytes](
                *(Selection(Text(st.who(k)), k, False) for k in sorted(others, key=st.who)), id="members"
            )
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Fork", variant="primary", id="fork")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#name", Input).focus()

    @on(Input.Submitted, "#name")
    @on(Button.Pressed, "#fork")
    def fork(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        error = self.query_one("#error", Static)
        if not name:
            error.update("Give the new circle a name.")
            error.display = True
            return
        members = tuple(self.query_one("#members", SelectionList).selected)
        self.query_one("#fork", Button).disabled = True
        self.ss.submit(api.ForkCircle(self.circle, name, members), self._answer)

    def _answer(self, ev: api.Event) -> None:
        self.query_one("#fork", Button).disabled = False
        if isinstance(ev, api.CircleForked):
            self.dismiss(ev.circle)
        elif isinstance(ev, api.CommandFailed):
            self.show_error(ev.message)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
