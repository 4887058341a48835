"""Dialogs that show: my identity (key, name, my devices, addresses, copy) and the connection status.

Each is given the UI's :class:`~smallsocial_tui.app.model.State` to read. The identity dialog
also offers the device actions (add a device, revoke a selected one, link this one): it
dismisses with the one chosen, ``("add", None)``, ``("revoke", key)`` or ``("link", None)``,
which :class:`~smallsocial_tui.app.screens.device_flows.DeviceFlows` carries out; otherwise None.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, OptionList, Static
from textual.widgets.option_list import Option

from protocol.identity import peer_id
from smallsocial_tui.app.dialogs.base import Dialog
from smallsocial_tui.app.model import State
from smallsocial_tui.text import safe, safe_name, short_key

DeviceAction = tuple[str, bytes | None]


class IdentityDialog(Dialog[DeviceAction]):
    def __init__(self, state: State) -> None:
        super().__init__()
        self.state = state

    def revocable(self) -> list[bytes]:
        """My person's devices I may revoke from here: not the person's key, not this device."""
        devices = self.state.my_devices()
        return [k for k in devices[1:] if k != self.state.me]

    def compose(self) -> ComposeResult:
        st = self.state
        t = Text()
        t.append("Name     ", Style(dim=True))
        t.append(safe_name(st.name or "…") + "\n")
        t.append("Key      ", Style(dim=True))
        t.append((self.key_text() or "…") + "\n", Style(bold=True))
        if st.is_linked_device():
            label = st.device_label(st.me)
            t.append(f"\nThis is {label}, a linked device of {st.person_name()}.\n", Style(bold=True))
            t.append("Device   ", Style(dim=True))
            t.append(f"{st.peer_id}\n")
        if st.unlinked_by is not None:
            t.append(
                f"\nThis device was unlinked by {st.unlinker_name()}: it cannot read new messages "
                "in their circles.\n",
                Style(bold=True),
            )
        t.append("\nGive this key to a friend; they invite it and send you a token.\n", Style(dim=True))
        devices = st.my_devices()
        gone = [d for d in st.devices if not d.linked and d.key != st.person]
        t.append("\nDevices\n", Style(dim=True))
        for k in devices:
            tags = [x for x, on in (("this device", k == st.me), ("person key", k == devices[0])) if on]
            t.append(f"  {st.device_label(k)}" + (f"  ({', '.join(tags)})" if tags else "") + "\n")
        for d in gone:
            t.append(f"  {st.device_label(d.key)}  (unlinked)\n", Style(dim=True))
        t.append(
            "  Add a device: on it, Link this device (or `smallsocial devices link`), then Add a device\n"
            "  here and compare the six digits. Revoke: select a device below.\n\n",
            Style(dim=True),
        )
        t.append("Addresses\n", Style(dim=True))
        for a in st.addrs or ("(not listening yet)",):
            t.append(f"  {safe(a)}\n")
        if st.reach[0]:
            t.append("\nReachable ", Style(dim=True))
            t.append(f"{st.reach[0]}: {st.reach[1]}\n")
        revocable = self.revocable()
        with VerticalScroll(classes="box"):
            yield Label("My identity", classes="box-title")
            yield Static(t)
            if revocable:
                yield OptionList(
                    *(Option(st.device_label(k), id=peer_id(k)) for k in revocable), id="devices"
                )
            with Horizontal(classes="buttons"):
                yield Button("Copy key", variant="primary", id="copy")
                yield Button("Add a device", id="add")
                if revocable:
                    yield Button("Revoke", variant="error", id="revoke")
                if not self.state.circles:  # a fresh profile: it may become another device of mine
                    yield Button("Link this device", id="link")
                yield Button("Close", id="close")

    def key_text(self) -> str:
        """The key friends invite: my person's (on a linked device, not this device's own)."""
        st = self.state
        return peer_id(st.person) if st.is_linked_device() else st.peer_id

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    @on(Button.Pressed, "#copy")
    def copy(self) -> None:
        if self.key_text():
            self.app.copy_to_clipboard(self.key_text())
            self.notify("Key copied (if your terminal allows OSC 52).", timeout=3)

    @on(Button.Pressed, "#add")
    def add(self) -> None:
        self.dismiss(("add", None))

    @on(Button.Pressed, "#link")
    def link(self) -> None:
        self.dismiss(("link", None))

    @on(Button.Pressed, "#revoke")
    def revoke(self) -> None:
        devices = self.query_one("#devices", OptionList)
        index = devices.highlighted
        keys = self.revocable()
        if index is None or not 0 <= index < len(keys):
            self.notify("Select the device to revoke first.", severity="warning")
            return
        self.dismiss(("revoke", keys[index]))

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
