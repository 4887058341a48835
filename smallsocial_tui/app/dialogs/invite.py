"""The invite dialog: a key, a role and an expiry in; a token, its QR code and a copy action out.

It is given the circle's name, a key to start with and the function that makes a
token; it dismisses with the token made (None when none was). At the circle's soft cap it is
also given an offer (a sentence) and what to open instead: its "Fork instead" and "Suggested
split" buttons close it and open those (the soft cap is advice: the invitation can still be made).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from protocol.errors import ProtocolError
from protocol.identity import parse_peer_id
from smallsocial_tui.app.dialogs.base import Dialog, qr_text
from smallsocial_tui.app.link import Refused
from smallsocial_tui.text import safe

Invite = Callable[[bytes, str, int], Awaitable[str]]
"""(invitee's key, role, seconds valid) -> the token; raises Refused with the node's sentence."""


@dataclass(frozen=True)
class ForkOffer:
    """What the invite dialog offers at the soft cap."""

    text: str
    fork: Callable[[], None]
    """Opens the fork dialog."""
    split: Callable[[], None]
    """Opens the split suggestion."""


EXPIRIES = [("1 hour", 3600), ("1 day", 86400), ("7 days", 7 * 86400), ("30 days", 30 * 86400)]


class InviteDialog(Dialog[str]):
    DEFAULT_CSS = """
    InviteDialog > .box.-token { width: 118; max-width: 100%; overflow-x: auto; }
    InviteDialog #qr { width: auto; text-wrap: nowrap; margin-top: 1; }
    """

    def __init__(self, circle_name: str, key: str, invite: Invite, offer: ForkOffer | None = None) -> None:
        super().__init__()
        self.offer = offer
        self.circle_name = circle_name
        self.key = key
        self._invite = invite
        self.token: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box"):
            yield Label(Text(f"Invite someone to {self.circle_name}"), classes="box-title")
            yield Label("Their key (they see it with ctrl+g or `smallsocial id`):", classes="hint")
            if self.offer is not None:
                yield Static(Text(self.offer.text), id="offer", classes="hint")
                with Horizontal(classes="buttons", id="offer-buttons"):
                    yield Button("Suggested split", id="split-instead")
                    yield Button("Fork instead", variant="warning", id="fork-instead")
            yield Input(self.key, placeholder="12D3KooW…", id="key")
            with Horizontal(classes="buttons"):
                yield Select(
                    [("member", "member"), ("admin", "admin")], value="member", allow_blank=False, id="role"
                )
                yield Select(EXPIRIES, value=7 * 86400, allow_blank=False, id="ttl")
            yield Static("", id="error", classes="error")
            yield Static("", id="token")
            yield Static("", id="qr")
            with Horizontal(classes="buttons"):
                yield Button("Copy token", id="copy", disabled=True)
                yield Button("Create invitation", variant="primary", id="create")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        for hidden in ("#error", "#token", "#qr", "#copy"):
            self.query_one(hidden).display = False
        self.query_one("#key", Input).focus()

    @on(Input.Submitted, "#key")
    @on(Button.Pressed, "#create")
    def create(self) -> None:
        if self.query_one("#create", Button).disabled:
            return  # one request at a time
        error = self.query_one("#error", Static)
        text = self.query_one("#key", Input).value.strip()
        try:
            key = parse_peer_id(text)
        except (ProtocolError, ValueError):
            error.update(Text("That is not a key; a key looks like 12D3KooW… (52 characters)."))
            error.display = True
            return
        role = str(self.query_one("#role", Select).value)
        ttl = int(self.query_one("#ttl", Select).value)  # type: ignore[arg-type]
        error.display = False
        self.query_one("#create", Button).disabled = True
        self.run_worker(self._created(key, role, ttl), exclusive=True, group="invite")

    async def _created(self, key: bytes, role: str, ttl: int) -> None:
        try:
            token = await self._invite(key, role, ttl)
        except Refused as e:
            self.show_error(str(e))
            return
        finally:
            self.query_one("#create", Button).disabled = False
        self.show_token(token)

    def show_token(self, token: str) -> None:
        self.token = token
        self.query_one("#token", Static).update(
            Text.assemble(("Send them this token (single use):\n", "bold"), safe(token))
        )
        self.query_one(".box").add_class("-token")
        try:
            self.query_one("#qr", Static).update(Text(qr_text(token.upper())))  # tokens read either case
        except Exception:  # a token too long for a QR code: the text is enough
            self.query_one("#qr", Static).update(Text("(too long for a QR code)"))
        for shown in ("#token", "#qr", "#copy"):
            self.query_one(shown).display = True
        self.query_one("#copy", Button).disabled = False
        self.query_one("#create", Button).display = False
        self.query_one("#copy", Button).focus()

    @on(Button.Pressed, "#copy")
    def copy(self) -> None:
        if self.token:
            self.app.copy_to_clipboard(self.token)
            self.notify("Token copied (if your terminal allows OSC 52).", timeout=3)

    @on(Button.Pressed, "#fork-instead")
    @on(Button.Pressed, "#split-instead")
    def instead(self, event: Button.Pressed) -> None:
        if self.offer is not None:
            self.dismiss(self.token)
            (self.offer.fork if event.button.id == "fork-instead" else self.offer.split)()

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(self.token)
