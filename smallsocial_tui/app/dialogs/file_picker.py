"""The file picker behind ``/send`` without a path: a directory tree; a file chosen is dismissed with.

Returns the chosen file's :class:`~pathlib.Path` (``None`` when closed). Hidden entries are
left out of the tree; a path can also be typed in the field above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DirectoryTree, Input, Static

from smallsocial_tui.app.dialogs.base import Dialog


class VisibleTree(DirectoryTree):
    """A directory tree without dot-files."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")]


class FilePicker(Dialog[Path]):
    """Pick a file to send to ``circle_name``."""

    DEFAULT_CSS = """
    FilePicker VisibleTree { height: 20; border: round $panel; }
    """

    def __init__(self, circle_name: str, start: Path) -> None:
        super().__init__()
        self.circle_name = circle_name
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Static(f"Send a file to {self.circle_name}", classes="box-title", markup=False)
            yield Input(placeholder="a path, or pick one below", id="path")
            yield VisibleTree(self.start, id="tree")
            yield Static(id="error", classes="error")
            yield Static("enter on a file sends it; escape closes", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Send", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#error", Static).display = False
        self.query_one("#tree", VisibleTree).focus()

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#send")
    def _typed(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        path = Path(text).expanduser() if text else None
        if path is None or not path.is_file():
            self.show_error("Type the path of a file, or pick one in the tree.")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
