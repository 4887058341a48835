"""The members panel: who invited whom as a tree, each with role and an online dot; then relays."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree

from protocol.node import api
from smallsocial_tui.app.model import State
from smallsocial_tui.text import safe

_ONLINE = Style(color="green", bold=True)
_OFFLINE = Style(color="grey42")


class MembersPanel(Tree[bytes]):
    DEFAULT_CSS = """
    MembersPanel { width: 32; border-left: vkey $surface-lighten-2; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("members"), id=id)
        self.show_root = False
        self.guide_depth = 2

    def _label(self, state: State, m: api.MemberInfo) -> Text:
        online = m.online or m.peer_id in state.connected or m.key == state.me
        label = Text("● " if online else "○ ", style=_ONLINE if online else _OFFLINE)
        label.append(state.who(m.key), Style(bold=m.key == state.me))
        if m.role != "member":
            label.append(f" {safe(m.role)[:10]}", Style(color="yellow"))
        if m.equivocated:
            label.append(" ⚠ equivocated", Style(color="red", bold=True))
        return label

    def show(self, state: State, loaded: api.MembersLoaded | None) -> None:
        self.clear()
        if loaded is None:
            self.root.add_leaf(Text("—", style=_OFFLINE))
            self.root.expand()
            return
        by_key = {m.key: m for m in loaded.members}
        children: dict[bytes | None, list[api.MemberInfo]] = {}
        for m in loaded.members:
            parent = m.invited_by if m.invited_by in by_key and m.invited_by != m.key else None
            children.setdefault(parent, []).append(m)
        n = len(loaded.members)
        heading = self.root.add(
            Text(f"{n} member{'s' if n != 1 else ''}", style=Style(bold=True)), expand=True
        )
        seen: set[bytes] = set()

        def add(where, parent: bytes | None) -> None:  # type: ignore[no-untyped-def]
            for m in sorted(children.get(parent, []), key=lambda m: state.who(m.key).lower()):
                if m.key in seen:
                    continue
                seen.add(m.key)
                kids = children.get(m.key)
                node = where.add(self._label(state, m), data=m.key, expand=True, allow_expand=bool(kids))
                add(node, m.key)

        add(heading, None)
        for m in loaded.members:  # anyone cut off by a cycle in bad data still shows
            if m.key not in seen:
                heading.add_leaf(self._label(state, m), data=m.key)
        if loaded.relays:
            relays = self.root.add(Text("relays", style=Style(bold=True)), expand=True)
            for r in loaded.relays:
                relays.add_leaf(self._label(state, r), data=r.key)
        self.root.expand()
