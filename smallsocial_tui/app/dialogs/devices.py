"""The device dialogs: add a device (paste its code, compare the digits, link), link this one
(show its code and QR, wait), and revoke one (confirm first).

Like every dialog, none touches the node: each is given the async functions that ask it
(:class:`~smallsocial_tui.app.screens.device_flows.DeviceFlows` makes them), which raise
:class:`~smallsocial_tui.app.link.Refused` with the node's sentence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui.app.dialogs.base import Dialog, qr_text
from smallsocial_tui.app.link import Refused
from smallsocial_tui.text import safe_name, short_key

Start = Callable[[str], Awaitable[api.LinkConfirm]]
"""code -> the new device's name and digits (the link is held open until confirmed)."""
Confirm = Callable[[int, bool], Awaitable[api.Event]]
"""(the link, yes) -> ``DeviceLinkDone`` for yes, ``CommandDone`` for no."""
AwaitCode = Callable[[str], Awaitable[api.LinkCodeReady]]
"""this device's name -> its link code."""


def question(ev: api.LinkConfirm) -> str:
    """What the person's device asks before it links (the CLI asks the same)."""
    return f"Link device {safe_name(ev.name)}? The new device shows {ev.digits}."


class AddDeviceDialog(Dialog[api.DeviceLinkDone]):
    """Paste a new device's code; it is reached, then the user compares six digits and says yes."""

    def __init__(self, code: str, start: Start, confirm: Confirm, cancel: Callable[[int], None]) -> None:
        super().__init__()
        self.code = code
        self._start, self._confirm, self._cancel = start, confirm, cancel
        self.pending: api.LinkConfirm | None = None
        """The link reached and not yet answered (its digits are shown)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label("Add a device", classes="box-title")
            yield Label(
                "On the new device run  smallsocial devices link  (or in its app: ctrl+g, "
                "Link this device) and paste the code it shows:",
                classes="hint",
            )
            yield Input(self.code, placeholder="ssd2…", id="code")
            yield Static("", id="question")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Reach it", variant="primary", id="reach")
                yield Button("Link", variant="warning", id="link")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        for wid in ("#error", "#question", "#link"):
            self.query_one(wid).display = False
        self.query_one("#code", Input).focus()
        if self.code:
            self.reach()

    @on(Input.Submitted, "#code")
    @on(Button.Pressed, "#reach")
    def reach(self) -> None:
        code = "".join(self.query_one("#code", Input).value.split())
        if not code or self.pending is not None:
            return
        self.query_one("#reach", Button).disabled = True
        self.query_one("#error").display = False
        self.run_worker(self._reached(code), exclusive=True, group="link")

    async def _reached(self, code: str) -> None:
        try:
            ev = await self._start(code)
        except Refused as e:
            self.query_one("#reach", Button).disabled = False
            self.show_error(str(e))
            return
        self.pending = ev
        q = self.query_one("#question", Static)
        q.update(
            Text(
                question(ev) + "\nLink only if the device in your hand shows these digits.", Style(bold=True)
            )
        )
        q.display = True
        self.query_one("#reach").display = False
        self.query_one("#link").display = True
        self.query_one("#cancel", Button).focus()  # enter alone does not link

    @on(Button.Pressed, "#link")
    def link(self) -> None:
        if self.pending is None:
            return
        self.query_one("#link", Button).disabled = True
        self.run_worker(self._linked(self.pending), exclusive=True, group="link")

    async def _linked(self, ev: api.LinkConfirm) -> None:
        self.pending = None
        try:
            done = await self._confirm(ev.request_id or 0, True)
        except Refused as e:
            self.show_error(str(e))
            return
        if isinstance(done, api.DeviceLinkDone):
            self.dismiss(done)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        if self.pending is not None:
            self._cancel(self.pending.request_id or 0)  # the new device is told; nothing is written
            self.pending = None
        self.dismiss(None)


class LinkThisDeviceDialog(Dialog[None]):
    """This (new) device's link code and QR code, shown while it waits to be linked."""

    def __init__(self, name: str, await_code: AwaitCode) -> None:
        super().__init__()
        self.device_name = name
        self._await_code = await_code
        self.code: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box"):
            yield Label("Link this device to your other one", classes="box-title")
            yield Label("Name this device (your circles see it):", classes="hint")
            yield Input(self.device_name, id="name")
            yield Static("", id="code")
            yield Static("", id="status")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Show the code", variant="primary", id="show")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#name", Input).focus()  # name it first; enter shows the code

    @on(Input.Submitted, "#name")
    @on(Button.Pressed, "#show")
    def show(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        self.query_one("#show", Button).disabled = True
        self.run_worker(self._shown(name), exclusive=True, group="link")

    async def _shown(self, name: str) -> None:
        try:
            ev = await self._await_code(name)
        except Refused as e:
            self.query_one("#show", Button).disabled = False
            self.show_error(str(e))
            return
        self.code = ev.code
        t = Text()
        t.append("On the device that holds your key: ctrl+g, Add a device, and paste\n", Style(dim=True))
        t.append(ev.code + "\n", Style(bold=True))
        t.append("or run  smallsocial devices add CODE  there, or scan:\n", Style(dim=True))
        t.append(qr_text(ev.code.upper()))
        self.query_one("#code", Static).update(t)
        self.status("Waiting for your other device… (good for 10 minutes)")

    def status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text, Style(bold=True)))

    def requested(self, ev: api.LinkRequested) -> None:
        who = safe_name(ev.person_name) if ev.person_name else short_key(peer_id(ev.person))
        self.status(f"{who}'s device is linking this one. Check that it shows {ev.digits}.")

    def cancelled(self, ev: api.LinkCancelled) -> None:
        self.status(f"{ev.message} Still waiting…")

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)


class RevokeDialog(Dialog[bool]):
    """Revoke one of my devices? (Cancel has the focus.)"""

    def __init__(self, device: bytes, label: str) -> None:
        super().__init__()
        self.device, self.label = device, label

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(f"Revoke the device {self.label}?"), classes="box-title")
            yield Label(
                "It is unlinked from every circle and each circle gets a new key: it cannot read "
                "new messages. It keeps what it already has. It cannot be linked again.",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Revoke", variant="error", id="revoke")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def chosen(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "revoke")
