"""The status bar: my name, peers connected, relays, sync state, reachability, and the circle's
loudness (and its file limit, when an admin set one)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from protocol.files import MAX_FILE_BYTES as DEFAULT_FILE_CAP
from protocol.files import human_size
from smallsocial_tui.app.model import State
from smallsocial_tui.text import safe_name

REACH_LABEL = {
    "direct": ("reachable", "green"),
    "relay": ("via relay", "green"),
    "lan": ("LAN only", "yellow"),
    "nowhere": ("unreachable", "red"),
}
"""How the bar names each reachability state (the identity dialog says what to do)."""


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: bottom; height: 1; background: $primary-background; color: $text; padding: 0 1; }
    """

    def update_from(self, state: State, circle: bytes | None, note: str = "") -> None:
        t = Text()
        t.append(safe_name(state.name or "…", 24), Style(bold=True))
        peers = len(state.connected)
        t.append("  ● " if peers else "  ○ ", Style(color="green" if peers else "grey50"))
        t.append(f"{peers} peer{'s' if peers != 1 else ''}")
        relays = len(state.relays())
        t.append(f"  {relays} relay{'s' if relays != 1 else ''}")
        t.append("  syncing…" if state.syncing else "  synced", Style(dim=not state.syncing))
        if state.reach[0]:
            label, color = REACH_LABEL.get(state.reach[0], (state.reach[0], "grey50"))
            t.append(f"  {label}", Style(color=color))
        if circle is not None and circle in state.circles:
            node = state.circles[circle]
            t.append(f"  │ {state.circle_name(circle)} ", Style(bold=True))
            n = node.summary.members
            t.append(f"{n} member{'s' if n != 1 else ''}", Style(dim=True))
            level = "loud" if node.loud else "muted" if node.muted else "quiet"
            t.append(f"  {level}", Style(dim=not node.loud))
            cap = node.summary.file_cap
            if cap != DEFAULT_FILE_CAP:  # an admin set it (/limit)
                t.append(f"  {f'files ≤ {human_size(cap)}' if cap else 'no files'}", Style(dim=True))
        if note:
            t.append(f"  │ {note}", Style(italic=True))
        t.append("   F1 help  F2 palette", Style(dim=True))
        self.update(t)
