"""What every dialog shares: a centred modal box that escape closes, and QR rendering.

A dialog takes its inputs in its constructor and returns its result through
``dismiss`` (``None`` when closed); one that needs the node's answer while open
(a token, a refusal to show) is given an async function that asks for it, and
that function raises :class:`~smallsocial_tui.app.link.Refused` with the sentence.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static

from smallsocial_tui.qr import qr_text as qr_text  # the dialogs' QR codes (and the CLI's)
from smallsocial_tui.text import safe

T = TypeVar("T")


class Dialog(ModalScreen[T | None]):
    """A modal box; escape dismisses it with ``None``."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > .box {
        width: 84; max-width: 95%; height: auto; max-height: 95%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    Dialog .box-title { text-style: bold; margin-bottom: 1; }
    Dialog .hint { color: $text-muted; width: 100%; }
    Dialog .error { color: $error; text-style: bold; height: auto; }
    Dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
    Dialog .buttons Button { margin-left: 1; }
    Dialog Input, Dialog Select { margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def action_close(self) -> None:
        self.dismiss(None)

    def show_error(self, message: str) -> None:
        """The one-sentence reason (the node's, or ours) in the dialog's ``#error`` line."""
        error = self.query_one("#error", Static)
        error.update(Text(safe(message)))
        error.display = True
