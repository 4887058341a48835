"""The family tree screen (f4, /tree): my circles as a tree, and who invited whom in one of them.

Left, every circle under the one it was forked from, with who forked it, when, its members
(against its soft cap) and what is unread in it and below it. Right, the highlighted circle's
invitation tree: each member under whoever invited them, "verified" when every join on the
way to the founder is one the roster's fold accepted, and the other circles of the family they
are in. Enter opens the highlighted circle (the screen dismisses with its id); escape closes.

It is given the function that asks the node (``LoadFamily``) and how to show a key.
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
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static, Tree
from textual.widgets.tree import TreeNode

from protocol.node import api
from smallsocial_tui.app.link import Refused
from smallsocial_tui.text import local_time, safe, safe_name

Load = Callable[[bytes | None], Awaitable[api.FamilyLoaded]]


def _when(ms: int, tz: tzinfo | None) -> str:
    return local_time(ms, tz).strftime("%Y-%m-%d %H:%M") if ms else "never"


class FamilyScreen(ModalScreen[bytes]):
    DEFAULT_CSS = """
    FamilyScreen { align: center middle; }
    FamilyScreen > VerticalScroll { width: 95%; height: 90%; border: thick $primary;
        background: $surface; padding: 0 1; }
    FamilyScreen Horizontal { height: 1fr; }
    FamilyScreen #family { width: 1fr; }
    FamilyScreen #invites { width: 1fr; border-left: vkey $surface-lighten-2; padding-left: 1; }
    FamilyScreen .hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(
        self, load: Load, who: Callable[[bytes], str], current: bytes | None, tz: tzinfo | None
    ) -> None:
        super().__init__()
        self._load = load
        self._who = who
        self.current = current
        self.tz = tz
        self.loaded: api.FamilyLoaded | None = None
        self.shown: bytes | None = None
        """The circle whose invitation tree is on the right."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(
                Text("Family tree: enter opens a circle, escape closes", style=Style(bold=True)),
                classes="hint",
            )
            with Horizontal():
                tree: Tree[bytes] = Tree(Text("circles"), id="family")
                tree.show_root = False
                tree.auto_expand = False  # enter opens the circle
                yield tree
                yield Static(Text("Loading…", style=Style(dim=True)), id="invites")

    def on_mount(self) -> None:
        self.query_one("#family", Tree).focus()
        self.run_worker(self._fetch(self.current), exclusive=True, group="family")

    async def _fetch(self, circle: bytes | None) -> None:
        try:
            ev = await self._load(circle)
        except Refused as e:
            self.query_one("#invites", Static).update(Text(safe(str(e))))
            return
        first = self.loaded is None
        self.loaded = ev
        if first:
            self._fill(ev)
        self.shown = ev.circle
        self.query_one("#invites", Static).update(self._invites(ev))

    def label(self, c: api.FamilyCircle) -> Text:
        text = Text(safe_name(c.name, 40), style=Style(bold=c.id == self.current))
        over = c.members >= c.soft_cap
        text.append(f"  {c.members}/{c.soft_cap}", Style(color="yellow" if over else None, dim=not over))
        if c.unread_below:
            text.append(f"  {c.unread_below} unread", Style(color="bright_blue"))
        if c.founder is not None:
            how = "forked" if c.parent else "founded"
            text.append(f"  {how} by {self._who(c.founder)} {_when(c.created, self.tz)}", Style(dim=True))
        if c.status != "member":
            text.append(f"  {c.status}", Style(dim=True))
        return text

    def _fill(self, ev: api.FamilyLoaded) -> None:
        tree = self.query_one("#family", Tree)
        nodes: dict[bytes, TreeNode[bytes]] = {}
        for c in ev.circles:
            parent = nodes.get(c.parent) if c.parent else None
            node = (parent or tree.root).add(self.label(c), data=c.id, expand=True)
            nodes[c.id] = node
        for node in nodes.values():
            node.allow_expand = bool(node.children)
        tree.root.expand()
        if self.current in nodes:
            tree.move_cursor(nodes[self.current])

    def _invites(self, ev: api.FamilyLoaded) -> Text:
        if ev.circle is None:
            return Text("Highlight a circle to see who invited whom in it.", style=Style(dim=True))
        names = {c.id: c.name for c in ev.circles}
        out = Text()
        out.append(f"Who invited whom in {safe_name(names.get(ev.circle, '?'), 40)}\n", Style(bold=True))
        depth: dict[bytes, int] = {}
        for link in ev.links:
            depth[link.member] = depth[link.invited_by] + 1 if link.invited_by in depth else 0
            out.append("  " * depth[link.member] + self._who(link.member))
            if link.invited_by is None:
                out.append("  founder", Style(dim=True))
            elif link.verified:
                out.append("  ✓ verified", Style(color="green"))
            else:
                out.append("  ✗ not verified back to the founder", Style(color="red", bold=True))
            if link.role == "admin":
                out.append("  admin", Style(dim=True))
            if link.others:
                also = ", ".join(safe_name(names.get(o, o.hex()[:12]), 24) for o in link.others)
                out.append(f"  also in {also}", Style(color="cyan"))
            out.append("\n")
        return out

    @on(Tree.NodeHighlighted, "#family")
    def highlighted(self, event: Tree.NodeHighlighted[bytes]) -> None:
        cid = event.node.data
        if cid is not None and cid != self.shown and self.loaded is not None:
            self.shown = cid
            self.run_worker(self._fetch(cid), exclusive=True, group="family")

    @on(Tree.NodeSelected, "#family")
    def selected(self, event: Tree.NodeSelected[bytes]) -> None:
        if event.node.data is not None:
            self.dismiss(event.node.data)
