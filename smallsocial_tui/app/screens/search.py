"""The search screen (ctrl+s, ``/search TEXT``): messages across my circles that match, newest first.

A text field on top (what ``/search`` was given, searched at once; typing searches again
after a short pause) and the results under it: time, circle, author (petname first, as the
log shows names) and the text around the match, the match in bold. Enter on a result
dismisses the screen with (circle, message id): the main screen opens that circle with the
message in view and selected. Escape closes. The node answers (``SearchMessages``); a
sentence from it (text with nothing to search for) shows in place of the results.

It is given the function that asks the node and the time zone; all text shown from others
goes through ``safe()`` and is built as ``rich.text.Text``, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from protocol import searchtext
from protocol.node import api
from smallsocial_tui.app.link import Refused
from smallsocial_tui.text import local_time, safe, safe_name

Ask = Callable[[str], Awaitable[api.SearchResults]]
Found = tuple[bytes, bytes]
"""What the screen dismisses with: (circle, message id)."""
PAUSE = 0.3
"""Seconds of no typing before the text is searched."""


def hit_text(h: api.SearchHit, tz: tzinfo | None) -> Text:
    """One result: a line of where and who, and the snippet with its matches in bold."""
    out = Text()
    out.append(local_time(h.ts, tz).strftime("%Y-%m-%d %H:%M"), Style(color="grey58"))
    out.append(f"  {safe_name(h.circle_name, 24)}", Style(color="cyan"))
    out.append(f"  {h.author_name}", Style(bold=True))
    if h.edited:
        out.append("  (edited)", Style(dim=True))
    if h.carried_from:
        out.append("  (carried)", Style(dim=True))
    out.append("\n  ")
    for piece, hit in searchtext.segments(h.snippet):
        out.append(safe(piece), Style(bold=True, color="yellow") if hit else Style())
    return out


class SearchScreen(ModalScreen[Found | None]):
    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    SearchScreen > Vertical { width: 90%; height: 85%; border: thick $primary;
        background: $surface; padding: 0 1; }
    SearchScreen #results { height: 1fr; }
    SearchScreen .hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("down", "to_results", "Results", show=False),
    ]

    def __init__(self, ask: Ask, text: str, tz: tzinfo | None) -> None:
        super().__init__()
        self._ask = ask
        self.text = text
        self.tz = tz
        self.hits: tuple[api.SearchHit, ...] = ()
        self._timer: Timer | None = None
        self.searched = ""
        """The text the results on screen are for."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text("Search all circles: enter opens a message, escape closes", style=Style(bold=True)),
                classes="hint",
            )
            yield Input(self.text, placeholder='words, a prefix, or "a phrase"', id="query")
            yield Label("", id="summary", classes="hint")
            yield OptionList(id="results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.text.strip():
            self._search()

    @on(Input.Changed, "#query")
    def _typed(self, event: Input.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PAUSE, self._search)

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        results = self.query_one(OptionList)
        if self.searched == event.value and self.hits:
            self._open(results.highlighted or 0)
        else:
            self._search()

    def _search(self) -> None:
        text = self.query_one(Input).value
        if not text.strip():
            return
        self.run_worker(self._fetch(text), exclusive=True, group="search")

    async def _fetch(self, text: str) -> None:
        summary = self.query_one("#summary", Label)
        try:
            res = await self._ask(text)
        except Refused as e:
            self.hits, self.searched = (), text
            self.query_one(OptionList).clear_options()
            summary.update(Text(safe(str(e))))
            return
        self.hits, self.searched = res.hits, text
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options([Option(hit_text(h, self.tz)) for h in res.hits])
        if res.hits:
            results.highlighted = 0
        n = len(res.hits)
        said = f"{n} message{'s' if n != 1 else ''} found" if n else "No message matches."
        if res.pending:
            said += f" ({res.pending} messages are still being indexed.)"
        summary.update(Text(said))

    def action_to_results(self) -> None:
        if self.hits:
            self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected, "#results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option_index)

    def _open(self, index: int) -> None:
        if 0 <= index < len(self.hits):
            h = self.hits[index]
            self.dismiss((h.circle, h.id))
