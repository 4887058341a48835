"""The composer: an input line with tab completion of /commands and @names, and edit recall.

Up on an empty composer recalls my last message for editing (enter sends an
``EditMessage``; escape cancels). Tab completes the last word; pressing it
again cycles through the matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from smallsocial_tui.app import slash
from smallsocial_tui.app.model import Row


class Composer(Input):
    DEFAULT_CSS = """
    Composer { dock: bottom; border: tall $primary 40%; margin: 0 0; }
    Composer:focus { border: tall $primary; }
    Composer.-editing { border: tall $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("up", "recall", "Edit last", show=False),
        Binding("escape", "cancel_edit", "Cancel edit", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """Text to send (``editing`` set when it replaces one of my messages)."""

        text: str
        editing: Row | None

    @dataclass
    class RecallRequested(Message):
        """Up on an empty composer: the screen answers with :meth:`start_edit`."""

    def __init__(self, names: Callable[[], list[str]], *, id: str | None = None) -> None:
        super().__init__(placeholder="Message, or /help", id=id, select_on_focus=False)
        self.names = names
        self.editing: Row | None = None
        self._matches: list[str] = []
        self._match_at = 0
        self._completed: str | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape and up are mine only while editing / while empty; otherwise they go on up."""
        if action == "cancel_edit":
            return self.editing is not None
        if action == "recall":
            return not self.value
        return super().check_action(action, parameters)

    def action_complete(self) -> None:
        if self._completed is not None and self.value == self._completed and len(self._matches) > 1:
            self._match_at = (self._match_at + 1) % len(self._matches)
        else:
            self._matches = slash.complete(self.value, self.names())
            self._match_at = 0
        if not self._matches:
            self.app.bell()
            return
        self.value = self._completed = self._matches[self._match_at]
        self.cursor_position = len(self.value)

    def action_recall(self) -> None:
        if not self.value:
            self.post_message(self.RecallRequested())

    def start_edit(self, row: Row) -> None:
        self.editing = row
        self.value = row.text or ""
        self.cursor_position = len(self.value)
        self.add_class("-editing")
        self.placeholder = "Editing my last message — enter to save, escape to cancel"

    def action_cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.value = ""
            self.remove_class("-editing")
            self.placeholder = "Message, or /help"

    async def action_submit(self) -> None:
        text = self.value.strip()
        editing = self.editing
        self.action_cancel_edit()
        self.value = ""
        if text:
            self.post_message(self.Submitted(text, editing))
