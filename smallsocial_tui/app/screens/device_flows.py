"""The main screen's device flows: the identity dialog's device actions, ``/devices``, ``/link``
and ``/revoke``, and what the screen does with the node's link events.

- **Add a device** (on the device with my person's key): :class:`AddDeviceDialog` is given
  ``StartLink`` (the node reaches the new device and answers with its digits) and
  ``ConfirmLink`` (yes links it; no, or closing the dialog, tells the new device and writes nothing).
- **Link this device** (a fresh profile): :class:`LinkThisDeviceDialog` shows ``AwaitLink``'s
  code and QR; the node's ``LinkRequested``/``LinkCancelled`` update it, ``DeviceLinked``
  closes it and lists the circles that came with the link.
- **Revoke**: :class:`RevokeDialog` first, then ``UnlinkDevice``.
- ``DeviceUnlinked`` (this device was unlinked in a circle): said once, as the CLI's ``run`` does.
"""

from __future__ import annotations

import socket

from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui.app.dialogs.devices import AddDeviceDialog, LinkThisDeviceDialog, RevokeDialog
from smallsocial_tui.app.dialogs.info import DeviceAction, IdentityDialog
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.screens.host import Host
from smallsocial_tui.text import safe_name, short_key


def linked_text(ev: api.DeviceLinked, who: str) -> str:
    """ "Linked as NAME to PERSON: N circles" (the CLI prints the same)."""
    return f"Linked as {safe_name(ev.name)} to {who}: {len(ev.circles)} circle(s)."


def unlinked_text(circle: str, by: str) -> str:
    return f"This device was unlinked from {circle} by {by}; it cannot read new messages there."


class DeviceFlows:
    """Device dialogs of one main screen, and the node's link events."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def identity(self) -> None:
        self.host.app.push_screen(IdentityDialog(self.host.state), self._chosen)

    def _chosen(self, action: DeviceAction | None) -> None:
        if action is None:
            return
        kind, key = action
        if kind == "add":
            self.add()
        elif kind == "link":
            self.link_this()
        elif kind == "revoke" and key is not None:
            self.revoke(key)

    # add a device --------------------------------------------------------------------------
    def add(self, code: str = "") -> None:
        dialog = AddDeviceDialog(code, self._start, self._confirm, self._cancel)
        self.host.app.push_screen(dialog, self._added)

    async def _start(self, code: str) -> api.LinkConfirm:
        return await self.host.link.ask(api.StartLink(code), api.LinkConfirm)

    async def _confirm(self, link: int, yes: bool) -> api.Event:
        return await self.host.link.ask(api.ConfirmLink(link, yes), api.Event)

    def _cancel(self, link: int) -> None:
        self.host.link.submit(api.ConfirmLink(link, False))

    def _added(self, done: api.DeviceLinkDone | None) -> None:
        if done is None:
            return
        self.host.notify(
            f"Linked {safe_name(done.name)} ({short_key(peer_id(done.device))}) "
            f"in {len(done.circles)} circle(s).",
            timeout=6,
            markup=False,
        )
        self._reload()

    # link this device ----------------------------------------------------------------------
    def link_this(self) -> None:
        name = (socket.gethostname() or "device")[:64]
        self.host.app.push_screen(LinkThisDeviceDialog(name, self._await_code))

    async def _await_code(self, name: str) -> api.LinkCodeReady:
        return await self.host.link.ask(api.AwaitLink(name), api.LinkCodeReady)

    def _waiting_dialog(self) -> LinkThisDeviceDialog | None:
        screen = self.host.app.screen
        return screen if isinstance(screen, LinkThisDeviceDialog) else None

    def requested(self, ev: api.LinkRequested) -> None:
        dialog = self._waiting_dialog()
        if dialog is not None:
            dialog.requested(ev)
        else:
            who = safe_name(ev.person_name) or short_key(peer_id(ev.person))
            self.host.notify(f"{who}'s device is linking this one: it should show {ev.digits}.", markup=False)

    def cancelled(self, ev: api.LinkCancelled) -> None:
        dialog = self._waiting_dialog()
        if dialog is not None:
            dialog.cancelled(ev)

    def linked(self, ev: api.DeviceLinked) -> None:
        dialog = self._waiting_dialog()
        if dialog is not None:
            dialog.dismiss(None)
        who = safe_name(ev.person_name) or short_key(peer_id(ev.person))
        self.host.notify(linked_text(ev, who), timeout=10, markup=False)
        self._reload()

    # revoke ----------------------------------------------------------------------------------
    def revoke(self, device: bytes) -> None:
        label = self.host.state.device_label(device)

        def chosen(yes: bool | None) -> None:
            if yes:
                self.host.run_worker(self._revoked(device, label), group="commands")

        self.host.app.push_screen(RevokeDialog(device, label), chosen)

    async def _revoked(self, device: bytes, label: str) -> None:
        try:
            await self.host.link.ask(api.UnlinkDevice(device), api.CommandDone)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        self.host.notify(f"Unlinked {label}: each circle has a new key it cannot read.", timeout=6)
        self._reload()

    def find(self, text: str) -> bytes | None:
        """One of my revocable devices by name, short key or peer-ID prefix (None: not one, said)."""
        st = self.host.state
        want = text.strip().removeprefix("@")
        if not want:
            self.host.notify(
                "Name the device to revoke: /revoke NAME (ctrl+g lists them).", severity="warning"
            )
            return None
        devices = st.my_devices()
        named = {d.key: d.name for d in st.devices}
        others = [k for k in devices[1:] if k != st.me]
        found = [k for k in others if named.get(k) == want] or [
            k for k in others if peer_id(k).startswith(want) or short_key(peer_id(k)) == want
        ]
        if len(found) == 1:
            return found[0]
        if any(d.name == want and not d.linked for d in st.devices):
            said = f"The device {safe_name(want, 32)} was already unlinked."
        elif len(found) > 1:
            said = (
                f"Several devices are named {safe_name(want, 32)}; name one by its key (ctrl+g lists them)."
            )
        else:
            said = f"No linked device is named {safe_name(want, 32)}; ctrl+g lists them."
        self.host.notify(said, severity="warning", markup=False)
        return None

    # this device unlinked --------------------------------------------------------------------
    def unlinked(self, ev: api.DeviceUnlinked) -> None:
        st = self.host.state
        self.host.notify(
            unlinked_text(st.circle_name(ev.circle), st.who(ev.author)), timeout=15, markup=False
        )
        self._reload()

    def _reload(self) -> None:
        self.host.link.submit(api.LoadOverview())
        if self.host.current is not None:
            self.host.link.submit(api.LoadMembers(self.host.current))
