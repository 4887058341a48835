"""The split suggestion: groups a circle could split into, by who replies to and reacts to whom.

It is given the circle's name, its size and soft cap, and the groups as (label, key) lists;
each group has a "Fork with these" button. It dismisses with the chosen group's index (the
caller opens the fork dialog prefilled with it, to edit), or None ("Ignore", escape).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, Static

from smallsocial_tui.app.dialogs.base import Dialog


class SplitDialog(Dialog[int]):
    DEFAULT_CSS = """
    SplitDialog .group { height: auto; margin-top: 1; }
    SplitDialog .group Static { width: 1fr; }
    """

    def __init__(self, circle_name: str, size: int, cap: int, groups: list[list[tuple[str, bytes]]]) -> None:
        super().__init__()
        self.circle_name = circle_name
        self.count = size
        self.cap = cap
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box"):
            yield Label(Text(f"How {self.circle_name} could split"), classes="box-title")
            past = "past" if self.count > self.cap else "at" if self.count == self.cap else "below"
            yield Label(
                Text(f"{self.count} members, {past} its soft cap of {self.cap}. ")
                + Text("Groups by who replies to and reacts to whom; fork one, edit it, or ignore this."),
                classes="hint",
            )
            if len(self.groups) < 2:
                yield Static(
                    Text("No split to suggest yet: not enough replies and reactions to group by."),
                    id="nothing",
                )
            else:
                for i, group in enumerate(self.groups):
                    with Horizontal(classes="group"):
                        names = ", ".join(who for who, _ in group)
                        yield Static(Text(f"Group {i + 1} ({len(group)}): {names}"))
                        yield Button("Fork with these", id=f"group-{i}")
            with Horizontal(classes="buttons"):
                yield Button("Ignore", id="ignore")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        self.dismiss(int(bid.removeprefix("group-")) if bid.startswith("group-") else None)
