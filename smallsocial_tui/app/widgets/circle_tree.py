"""The circle tree: children under parents to any depth, unread and mention counts rolled up.

Labels are ``rich.text.Text`` built from terminal-safe names (a ``str`` label
would be parsed as markup). Circles I am invited into by a fork show as
"invited" until accepted; left or removed circles are dimmed.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from smallsocial_tui.app.model import State

_MENTION = Style(color="black", bgcolor="bright_red", bold=True)
_UNREAD = Style(color="black", bgcolor="bright_blue", bold=True)


class CircleTree(Tree[bytes]):
    DEFAULT_CSS = """
    CircleTree { width: 30; border-right: vkey $surface-lighten-2; padding: 0 1 0 0; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("circles"), id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self.current: bytes | None = None
        self._by_id: dict[bytes, TreeNode[bytes]] = {}

    def label_for(self, state: State, cid: bytes) -> Text:
        """Name, then this circle's own counts as badges and what is unread further down as ``+N``."""
        node = state.circles[cid]
        s = node.summary
        total_unread, total_ment = state.rolled_up(cid)
        style = Style(bold=True) if cid == self.current else Style()
        if s.status in ("left", "removed"):
            style = Style(dim=True, strike=s.status == "removed")
        label = Text(state.circle_name(cid), style=style)
        if node.loud:
            label.append(" ♪", Style(color="yellow"))
        elif node.muted:
            label.append(" muted", Style(dim=True, italic=True))
        if s.status == "invited":
            label.append(" invited", Style(color="black", bgcolor="yellow"))
        elif s.status in ("left", "removed"):
            label.append(f" {s.status}", Style(dim=True))
        if total_ment:
            label.append(f" @{total_ment}", _MENTION)
        if s.unread:
            label.append(f" {s.unread}", _UNREAD)
        if total_unread > s.unread:
            label.append(f" +{total_unread - s.unread}", Style(dim=True))
        return label

    def rebuild(self, state: State) -> None:
        """Redraw the whole tree from the state (few circles: cheap)."""
        expanded = {cid for cid, n in self._by_id.items() if not n.is_expanded}
        self.clear()
        self._by_id = {}
        for depth, node in state.walk():
            parent_id = node.summary.parent
            parent = self._by_id.get(parent_id) if parent_id and depth > 0 else None
            where = parent if parent is not None else self.root
            tnode = where.add(self.label_for(state, node.id), data=node.id, expand=node.id not in expanded)
            if not node.children:
                tnode.allow_expand = False
            self._by_id[node.id] = tnode
        self.root.expand()
        if self.current in self._by_id:
            self.move_cursor(self._by_id[self.current])

    def refresh_labels(self, state: State) -> None:
        for cid, tnode in self._by_id.items():
            if cid in state.circles:
                tnode.set_label(self.label_for(state, cid))

    def select_circle(self, cid: bytes) -> None:
        self.current = cid
        if cid in self._by_id:
            self.move_cursor(self._by_id[cid])
