"""The fork dialog: a name, the members of the parent to take along (checkboxes), and the
parent's history to carry (none, the last messages or days, all; or typed as ``last:N``/``days:D``).

It is given the parent's name, the members to offer (label, key) and the function
that forks; it dismisses with the new circle's id (None when cancelled).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from protocol.carry import HistoryChoice
from protocol.node import api
from smallsocial_tui.app.dialogs.base import Dialog
from smallsocial_tui.app.link import Refused

Fork = Callable[[str, tuple[bytes, ...], str], Awaitable[api.CircleForked]]
"""(name, members to invite, history to carry) -> the node's answer; raises Refused with its sentence."""

CUSTOM = "custom"
HISTORY = [
    ("carry no history", "none"),
    ("carry the last 20 messages", "last:20"),
    ("carry the last 100 messages", "last:100"),
    ("carry the last 7 days", "days:7"),
    ("carry all I can read", "all"),
    ("carry… (type last:N or days:D)", CUSTOM),
]
"""The history choices offered (``protocol.carry.HistoryChoice`` text)."""


class ForkDialog(Dialog[bytes]):
    DEFAULT_CSS = """
    ForkDialog SelectionList { height: auto; max-height: 14; margin-bottom: 1; }
    """

    def __init__(
        self,
        parent_name: str,
        members: list[tuple[str, bytes]],
        fork: Fork,
        *,
        name: str = "",
        chosen: frozenset[bytes] = frozenset(),
    ) -> None:
        """``name`` and ``chosen`` prefill it (a split suggestion's group), still editable."""
        super().__init__()
        self.prefill_name = name
        self.chosen = chosen
        self.parent_name = parent_name
        self.members = members
        self._fork = fork

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(f"Fork {self.parent_name}"), classes="box-title")
            yield Label(
                "A side circle with fresh keys; the members you pick get an invitation.", classes="hint"
            )
            yield Input(self.prefill_name, placeholder="name of the new circle", id="name")
            yield Label("Members to invite (space toggles):", classes="hint")
            yield SelectionList[bytes](
                *(Selection(Text(who), k, k in self.chosen) for who, k in self.members), id="members"
            )
            yield Select(HISTORY, value="none", allow_blank=False, id="history")
            yield Input(placeholder="last:N or days:D", id="history-custom")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Fork", variant="primary", id="fork")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#history-custom").display = False
        self.query_one("#name", Input).focus()

    @on(Select.Changed, "#history")
    def history_changed(self, event: Select.Changed) -> None:
        self.query_one("#history-custom").display = event.value == CUSTOM

    def history(self) -> str:
        """The chosen history as ``HistoryChoice`` text; ValueError with the sentence to show."""
        value = self.query_one("#history", Select).value
        if value == CUSTOM:
            value = self.query_one("#history-custom", Input).value
        return str(HistoryChoice.parse(str(value)))

    @on(Input.Submitted, "#name")
    @on(Button.Pressed, "#fork")
    def fork(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        error = self.query_one("#error", Static)
        if not name:
            error.update("Give the new circle a name.")
            error.display = True
            return
        try:
            history = self.history()
        except ValueError as e:
            error.update(str(e))
            error.display = True
            return
        members = tuple(self.query_one("#members", SelectionList).selected)
        self.query_one("#fork", Button).disabled = True
        self.run_worker(self._forked(name, members, history), exclusive=True, group="fork")

    async def _forked(self, name: str, members: tuple[bytes, ...], history: str) -> None:
        try:
            ev = await self._fork(name, members, history)
        except Refused as e:
            self.show_error(str(e))
            return
        finally:
            self.query_one("#fork", Button).disabled = False
        self.dismiss(ev.circle)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
