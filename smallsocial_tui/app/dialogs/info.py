"""Read-only dialogs: my identity (key, name, my devices, addresses, copy) and the connection status.

Each is given the UI's :class:`~smallsocial_tui.app.model.State` to read, and dismisses with None.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, Static

from protocol.identity import peer_id
from smallsocial_tui.app.dialogs.base import Dialog
from smallsocial_tui.app.model import State
from smallsocial_tui.text import safe, safe_name, short_key


class IdentityDialog(Dialog[None]):
    def __init__(self, state: State) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        st = self.state
        t = Text()
        t.append("Name     ", Style(dim=True))
        t.append(safe_name(st.name or "…") + "\n")
        t.append("Key      ", Style(dim=True))
        t.append((st.peer_id or "…") + "\n", Style(bold=True))
        t.append("\nGive this key to a friend; they invite it and send you a token.\n", Style(dim=True))
        devices = st.my_devices()
        t.append("\nDevices\n", Style(dim=True))
        for k in devices:
            tags = [x for x, on in (("this device", k == st.me), ("person key", k == devices[0])) if on]
            t.append(f"  {short_key(peer_id(k))}" + (f"  ({', '.join(tags)})" if tags else "") + "\n")
        t.append(
            "  Link another: `smallsocial devices link` on it, then `smallsocial devices add CODE` here;\n"
            "  unlink one: `smallsocial devices revoke NAME`.\n\n",
            Style(dim=True),
        )
        t.append("Addresses\n", Style(dim=True))
        for a in st.addrs or ("(not listening yet)",):
            t.append(f"  {safe(a)}\n")
        if st.reach[0]:
            t.append("\nReachable ", Style(dim=True))
            t.append(f"{st.reach[0]}: {st.reach[1]}\n")
        with VerticalScroll(classes="box"):
            yield Label("My identity", classes="box-title")
            yield Static(t)
            with Horizontal(classes="buttons"):
                yield Button("Copy key", variant="primary", id="copy")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    @on(Button.Pressed, "#copy")
    def copy(self) -> None:
        if self.state.peer_id:
            self.app.copy_to_clipboard(self.state.peer_id)
            self.notify("Key copied (if your terminal allows OSC 52).", timeout=3)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)


class ConnectionDialog(Dialog[None]):
    def __init__(self, state: State) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        st = self.state
        t = Text()
        t.append(f"Peers connected: {len(st.connected)}\n", Style(bold=True))
        for pid in sorted(st.connected):
            known = next(
                (k for n in st.members.values() for m in n.members if m.peer_id == pid for k in [m.key]), None
            )
            t.append(f"  ● {st.who(known) if known else short_key(safe(pid))}\n", Style(color="green"))
        t.append("\nListening on\n", Style(bold=True))
        for a in st.addrs or ("(not listening yet)",):
            t.append(f"  {safe(a)}\n")
        t.append("\nRelays\n", Style(bold=True))
        any_relay = False
        for _, node in st.walk():
            for r in node.summary.relays:
                any_relay = True
                t.append(f"  {st.circle_name(node.id)}: ", Style(dim=True))
                t.append(f"{safe(r)}\n")
        if not any_relay:
            t.append("  none — /pin RELAY_ADDR lets a relay keep a circle reachable\n", Style(dim=True))
        t.append("\nSync: ", Style(bold=True))
        t.append("syncing…" if st.syncing else "up to date")
        with VerticalScroll(classes="box"):
            yield Label("Connection", classes="box-title")
            yield Static(t)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)
