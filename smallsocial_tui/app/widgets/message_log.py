"""The message view: a virtualised line renderer, so 10,000 messages cost lines, not widgets.

:class:`MessageLog` is a ``ScrollView`` that draws only the visible lines
(``render_line``) from a cache of pre-wrapped ``Strip`` blocks, one block per
message (day separator, unread marker, reply context, the message, its
reactions). A message that changes (an edit, a delete, a reaction) re-renders
only its own block. It stays pinned to the bottom while messages arrive, unless
the user has scrolled up. All text from others goes through ``safe()`` and is
built as ``rich.text.Text``, never parsed as markup.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from smallsocial_tui.app.model import History, Row
from smallsocial_tui.text import local_time, safe

NAME_COL = 15
BODY_COL = 6 + NAME_COL + 3
_NAME_COLOURS = ("cyan", "magenta", "green", "yellow", "bright_blue", "bright_red", "bright_cyan", "orange3")
_DIM = Style(dim=True)
_TIME = Style(color="grey58")
_MARKER = Style(color="red", bold=True)
_SELECTED = Style(bgcolor="grey23")
_ME_STYLE = Style(bold=True, color="bright_white")


def name_style(key: bytes) -> Style:
    return Style(color=_NAME_COLOURS[zlib.crc32(key) % len(_NAME_COLOURS)], bold=True)


class MessageLog(ScrollView, can_focus=True):
    """Messages of one circle; up/down select a message for /reply, /react, /delete."""

    DEFAULT_CSS = """
    MessageLog { background: $surface; overflow-x: hidden; }
    MessageLog:focus { background-tint: $foreground 3%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "Previous message", show=False),
        Binding("down", "select(1)", "Next message", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]

    class Selected(Message):
        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(
        self,
        who: Callable[[bytes], str],
        *,
        tz: tzinfo | None = None,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.who = who
        self.tz = tz
        self.me = b""
        self.history: History | None = None
        self._blocks: list[list[Strip] | None] = []
        self._head: list[int] = []  # decoration lines at the top of each block (not selectable)
        self._starts: list[int] = [0]
        self._width = 0
        self._unread_at: int | None = None
        self.selected: int | None = None
        self._follow = True
        self._text_console = Console(width=200, color_system="truecolor", markup=False, emoji=False)

    # content -------------------------------------------------------------------
    def show(self, history: History | None, me: bytes) -> None:
        """Show another circle's history (or none); the unread marker is placed once, here."""
        self.history, self.me = history, me
        self._unread_at = history.first_unread(me) if history is not None else None
        self.selected = None
        self._follow = True
        self._rebuild()
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.scroll_end(animate=False, immediate=False, x_axis=False)

    def appended(self) -> None:
        """The history has one or more new rows at its end."""
        if self.history is None or not self._width:
            return
        for i in range(len(self._blocks), len(self.history.rows)):
            self._blocks.append(None)
            self._head.append(0)
            self._starts.append(self._starts[-1] + self._height(i))
        self._resize_virtual()
        if self._follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def changed(self, row: Row) -> None:
        """One row changed in place (edited, deleted, a reaction)."""
        if self.history is None or not self._width:
            return
        rows = self.history.rows
        i = next((k for k in range(len(rows) - 1, -1, -1) if rows[k] is row), None)
        if i is None:
            return
        if i >= len(self._blocks):
            self.appended()
            return
        self._blocks[i] = None
        self._set_height(i, self._height(i))
        self.refresh()

    def follow(self) -> None:
        """Stay pinned to the newest message again (what I send brings me to the bottom)."""
        self._follow = True

    def names_changed(self) -> None:
        """Someone's shown name changed: draw again (heights may change), keeping the position."""
        if self.history is None or not self._width:
            return
        y, follow = self.scroll_y, self._follow
        self._rebuild()
        if follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        else:
            self.scroll_to(y=min(y, self.max_scroll_y), animate=False, immediate=True)
        self.refresh()

    def _set_height(self, i: int, height: int) -> None:
        delta = height - (self._starts[i + 1] - self._starts[i])
        if not delta:
            return
        for k in range(i + 1, len(self._starts)):
            self._starts[k] += delta
        self._resize_virtual()
        if self._follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    @property
    def line_count(self) -> int:
        return self._starts[-1]

    @property
    def rendered_blocks(self) -> int:
        """How many messages have been drawn into lines so far (the rest are only measured)."""
        return sum(b is not None for b in self._blocks)

    def selected_row(self) -> Row | None:
        if self.history is None or self.selected is None or self.selected >= len(self.history.rows):
            return None
        return self.history.rows[self.selected]

    # measuring and rendering ----------------------------------------------------------
    def _rebuild(self) -> None:
        """Measure every message (cheap); lines are drawn only when they scroll into view."""
        region = self.scrollable_content_region
        self._width = region.width
        rows = len(self.history.rows) if self.history is not None else 0
        if region.width and rows > region.height and not self.show_vertical_scrollbar:
            self._width -= self.styles.scrollbar_size_vertical  # it is about to appear: measure once
        n = len(self.history.rows) if self.history is not None and self._width else 0
        self._blocks = [None] * n
        self._head = [0] * n
        starts = [0] * (n + 1)
        total = 0
        for i in range(n):
            total += self._height(i)
            starts[i + 1] = total
        self._starts = starts
        self._resize_virtual()
        self.refresh()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._width, self._starts[-1])

    def _time(self, ts: int) -> datetime:
        return local_time(ts, self.tz)

    @property
    def _body_width(self) -> int:
        return max(10, max(self._width, NAME_COL + 12) - BODY_COL)

    def _decorations(self, i: int) -> int:
        assert self.history is not None
        rows = self.history.rows
        n = int(i == self._unread_at)
        if i == 0 or self._time(rows[i - 1].ts).date() != self._time(rows[i].ts).date():
            n += 1
        return n

    def _height(self, i: int) -> int:
        """The number of lines row ``i`` takes, without drawing it (plain short text: no Rich at all)."""
        assert self.history is not None
        row = self.history.rows[i]
        n = self._decorations(i) + (row.kind == "reply" and row.ref is not None) + bool(row.reactions)
        text = row.text or ""
        if row.deleted:
            return n + 1
        n += row.preview.rows if row.preview is not None else 0
        extra = (9 if row.edited else 0) + (2 if row.pending else 0) + (10 if row.carried else 0)
        plain = text.isascii() and text.isprintable() and not text.startswith("/me ")
        if plain and len(text) + extra <= self._body_width:
            return n + 1
        return n + len(self._body_lines(row))

    def _body_lines(self, row: Row) -> list[Text]:
        text = row.text or ""
        if row.deleted:
            body = Text("(message deleted)", style=Style(dim=True, italic=True))
        elif text.startswith("/me "):
            body = Text(
                f"{self.who(row.author)} {safe(text[4:], keep_newlines=True)}", style=Style(italic=True)
            )
        else:
            body = Text(safe(text, keep_newlines=True))
        if row.edited and not row.deleted:
            body.append(" (edited)", _DIM)
        if row.carried:
            body.append(" (carried)", _DIM)
        if row.pending:
            body.append(" …", _DIM)
        width = self._body_width
        if "\n" not in body.plain and body.cell_len <= width:
            return [body]
        return list(body.wrap(self._text_console, width, overflow="fold"))

    def _render_row(self, i: int) -> list[Strip]:
        assert self.history is not None
        rows = self.history.rows
        row = rows[i]
        width = max(self._width, NAME_COL + 12)
        out: list[Strip] = []
        when = self._time(row.ts)
        if i == 0 or self._time(rows[i - 1].ts).date() != when.date():
            out.append(self._centered(when.strftime(" %a %d %b %Y "), _DIM, width))
        if i == self._unread_at:
            out.append(self._centered(" new messages ", _MARKER, width))
        self._head[i] = len(out)
        body_width = self._body_width
        action = (row.text or "").startswith("/me ") and not row.deleted
        author = "*" if action else self.who(row.author)
        name_text = Text(author, style=_ME_STYLE if row.author == self.me else name_style(row.author))
        name_text.truncate(NAME_COL, overflow="ellipsis")
        name_text.align("right", NAME_COL)
        prefix = Text.assemble((when.strftime("%H:%M "), _TIME), name_text, (" │ ", _DIM))
        pad = Text(" " * (BODY_COL - 2) + "│ ", style=_DIM)
        lines = self._body_lines(row)
        if row.kind == "reply" and row.ref is not None:  # the quoted message first, beside my name
            target = self.history.by_id.get(row.ref)
            if target is None:
                ctx = Text("↳ replying to a message not here yet", style=_DIM)
            else:
                quoted = "(deleted)" if target.deleted else safe((target.text or "").replace("\n", " "))
                ctx = Text.assemble(
                    ("↳ ", _DIM), (self.who(target.author), name_style(target.author)), (": ", _DIM)
                )
                ctx.append(quoted[: max(10, body_width - ctx.cell_len - 1)], _DIM)
            ctx.truncate(body_width, overflow="ellipsis")
            lines = [ctx, *lines]
        for k, line in enumerate(lines):
            out.append(self._line((prefix if k == 0 else pad) + line, width))
        if row.preview is not None and not row.deleted:
            pad_segments = list(pad.render(self._text_console))
            for segments in row.preview.lines(self._text_console):
                out.append(Strip([*pad_segments, *segments]).crop_extend(0, width, None))
        if row.reactions:
            r = Text(" " * BODY_COL)
            for emoji, who in row.reactions.items():
                r.append(f" {safe(emoji)[:8]} {len(who)} ", Style(bgcolor="grey27"))
                r.append(" ")
            r.truncate(width, overflow="ellipsis")
            out.append(self._line(r, width))
        return out

    def _block(self, b: int) -> list[Strip]:
        block = self._blocks[b]
        if block is None:
            block = self._blocks[b] = self._render_row(b)
            if len(block) != self._starts[b + 1] - self._starts[b]:  # a measuring shortcut was wrong
                self._set_height(b, len(block))
        return block

    def _line(self, text: Text, width: int) -> Strip:
        segments = list(text.render(self._text_console))
        return Strip(segments, text.cell_len).crop_extend(0, width, None)

    def _centered(self, label: str, style: Style, width: int) -> Strip:
        side = max(0, (width - len(label)) // 2)
        line = Text("─" * side, style=_DIM) + Text(label, style=style)
        line.append("─" * max(0, width - line.cell_len), _DIM)
        return Strip(list(line.render(self._text_console)), line.cell_len)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_offset.y) + y
        if not self._blocks and self.history is not None and index == 1:
            hint = Text("  No messages yet: say hello, or invite someone with ctrl+o.", style=_DIM)
            return self._line(hint, width)
        if index >= self._starts[-1] or not self._blocks:
            return Strip([Segment(" " * width)], width)
        b = bisect_right(self._starts, index) - 1
        block = self._block(b)
        if index - self._starts[b] >= len(block):
            return Strip([Segment(" " * width)], width)
        strip = block[index - self._starts[b]]
        if b == self.selected and index - self._starts[b] >= self._head[b]:
            strip = strip.apply_style(_SELECTED)
        return strip.crop_extend(0, width, None)

    # events ---------------------------------------------------------------------------
    def watch_show_vertical_scrollbar(self) -> None:
        """The scrollbar coming or going changes the width the messages are measured for."""
        if self._width and self.scrollable_content_region.width != self._width:
            self.on_resize()

    def on_resize(self) -> None:
        """A new width measures every message again; following, any new size stays at the bottom."""
        follow = self._follow
        if self.scrollable_content_region.width != self._width:
            self._rebuild()
        if follow:  # forced: the scrollbars of the new size may not be worked out yet
            self._follow = True
            self.scroll_end(animate=False, immediate=False, x_axis=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._follow = new_value >= self.max_scroll_y - 1

    def action_select(self, step: int) -> None:
        if self.history is None or not self.history.rows:
            return
        n = len(self.history.rows)
        if self.selected is None:
            self.selected = n - 1
        else:
            self.selected = max(0, min(n - 1, self.selected + step))
        top, bottom = self._starts[self.selected], self._starts[self.selected + 1]
        if top < self.scroll_y:
            self.scroll_to(y=top, animate=False)
        elif bottom > self.scroll_y + self.scrollable_content_region.height:
            self.scroll_to(y=bottom - self.scrollable_content_region.height, animate=False)
        self.refresh()
        self.post_message(self.Selected(self.selected_row()))

    def select_id(self, record_id: bytes) -> bool:
        """Select the message ``record_id`` and scroll it into view, a third down (a search result)."""
        if self.history is None or not self._width:
            return False
        rows = self.history.rows
        i = next((k for k in range(len(rows) - 1, -1, -1) if rows[k].id == record_id), None)
        if i is None or i + 1 >= len(self._starts):
            return False
        self.selected = i
        top = self._starts[i]
        self.scroll_to(y=max(0, top - self.scrollable_content_region.height // 3), animate=False)
        self._follow = False
        self.refresh()
        self.post_message(self.Selected(self.selected_row()))
        return True

    def clear_selection(self) -> None:
        if self.selected is not None:
            self.selected = None
            self.refresh()
            self.post_message(self.Selected(None))

    def action_scroll_home(self) -> None:
        self.scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.scroll_end(animate=False)
