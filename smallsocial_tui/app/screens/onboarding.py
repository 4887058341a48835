"""First run and unlock: pick a display name and an optional passphrase, then see my key.

Creating the profile (Argon2id when there is a passphrase: about half a second)
and checking a passphrase run in worker threads so the screen stays live. Each
screen is given the profile's paths and dismisses with the passphrase (or None).
"""

from __future__ import annotations

import os

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from protocol.errors import IdentityError
from protocol.identity import load_identity
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile

_CSS = """
{name} {{ align: center middle; }}
{name} .card {{ width: 76; height: auto; border: thick $primary; padding: 1 2; background: $surface; }}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} .hint {{ color: $text-muted; margin-bottom: 1; width: 100%; }}
{name} .error {{ color: $error; text-style: bold; height: auto; }}
{name} Input {{ margin-bottom: 1; }}
{name} .buttons {{ height: auto; align-horizontal: right; }}
{name} .buttons Button {{ margin-left: 1; }}
"""


class OnboardingScreen(Screen[str | None]):
    """Dismisses with the passphrase (or None) once the profile exists and the user has seen the key."""

    DEFAULT_CSS = _CSS.format(name="OnboardingScreen")

    def __init__(self, paths: ProfilePaths, kdf_limits: dict[str, int] | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.kdf_limits = kdf_limits or {}
        self.passphrase: str | None = None
        self.peer_id = ""

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card", id="create"):
            yield Label("Welcome to smallsocial", classes="title")
            yield Label(
                "Chat with small circles of people you trust — no server, end-to-end encrypted. "
                "First, a name your friends will see:",
                classes="hint",
            )
            yield Input(placeholder="display name", id="name", max_length=64)
            yield Label("A passphrase protects your key on this computer (optional):", classes="hint")
            yield Input(placeholder="passphrase (leave empty for none)", password=True, id="pass1")
            yield Input(placeholder="the passphrase again", password=True, id="pass2")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create my identity", variant="primary", id="create-button")
        with Center(), Vertical(classes="card", id="done"):
            yield Label("Your identity is ready", classes="title")
            yield Static("", id="key")
            with Horizontal(classes="buttons"):
                yield Button("Copy key", id="copy")
                yield Button("Continue", variant="primary", id="continue")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#done").display = False
        self.query_one("#name", Input).focus()

    def _error(self, text: str) -> None:
        error = self.query_one("#error", Static)
        error.update(Text(text))
        error.display = True

    @on(Input.Submitted, "#name")
    def _to_pass(self) -> None:
        self.query_one("#pass1", Input).focus()

    @on(Input.Submitted, "#pass1")
    def _to_pass2(self) -> None:
        self.query_one("#pass2", Input).focus()

    @on(Input.Submitted, "#pass2")
    @on(Button.Pressed, "#create-button")
    def create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        p1, p2 = self.query_one("#pass1", Input).value, self.query_one("#pass2", Input).value
        if not name:
            self._error("Pick a display name first.")
            self.query_one("#name", Input).focus()
            return
        if p1 != p2:
            self._error("The two passphrases differ; type them again.")
            self.query_one("#pass1", Input).value = self.query_one("#pass2", Input).value = ""
            self.query_one("#pass1", Input).focus()
            return
        self.passphrase = p1 or None
        self.query_one("#error").display = False
        self.query_one("#create-button", Button).disabled = True
        self._create(name, self.passphrase)

    @work(thread=True, exclusive=True, description="create the identity")
    def _create(self, name: str, passphrase: str | None) -> None:
        try:
            profile = Profile.create(self.paths, name, passphrase, **self.kdf_limits)  # type: ignore[arg-type]
        except (IdentityError, OSError) as e:
            self.app.call_from_thread(self._error, str(e))
            return
        pid = profile.identity.peer_id
        profile.close()
        self.app.call_from_thread(self._created, pid)

    def _created(self, pid: str) -> None:
        self.peer_id = pid
        t = Text()
        t.append("Your key:\n\n", Style(dim=True))
        t.append(pid + "\n\n", Style(bold=True))
        t.append(
            "Give it to a friend: they invite your key and send you a token, which you paste with "
            "/join. Or start your own circle with /new NAME. Already use smallsocial on another "
            "device? Link this one to it: ctrl+g, Link this device (or `smallsocial devices link`).",
            Style(dim=True),
        )
        self.query_one("#key", Static).update(t)
        self.query_one("#create").display = False
        self.query_one("#done").display = True
        self.query_one("#continue", Button).focus()

    @on(Button.Pressed, "#copy")
    def copy(self) -> None:
        self.app.copy_to_clipboard(self.peer_id)
        self.notify("Key copied (if your terminal allows OSC 52).", timeout=3)

    @on(Button.Pressed, "#continue")
    def done(self) -> None:
        self.dismiss(self.passphrase)


class UnlockScreen(Screen[str | None]):
    """Asks for the passphrase until it opens the key; dismisses with it."""

    DEFAULT_CSS = _CSS.format(name="UnlockScreen")

    def __init__(self, paths: ProfilePaths) -> None:
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card"):
            yield Label("Unlock smallsocial", classes="title")
            yield Label("Your key is protected by a passphrase.", classes="hint")
            yield Input(placeholder="passphrase", password=True, id="pass")
            yield Static("", id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#pass", Input).focus()
        env = os.environ.get("SMALLSOCIAL_PASSPHRASE")
        if env is not None:  # as the command line does; a wrong one asks here
            self.query_one("#pass", Input).disabled = True
            self._check(env)

    @on(Input.Submitted, "#pass")
    def unlock(self) -> None:
        self.query_one("#pass", Input).disabled = True
        self._check(self.query_one("#pass", Input).value)

    @work(thread=True, exclusive=True, description="check the passphrase")
    def _check(self, passphrase: str) -> None:
        try:
            load_identity(self.paths.keyfile.read_bytes(), passphrase)
        except (IdentityError, OSError) as e:
            self.app.call_from_thread(self._wrong, str(e))
            return
        self.app.call_from_thread(self.dismiss, passphrase)

    def _wrong(self, message: str) -> None:
        field = self.query_one("#pass", Input)
        field.disabled = False
        field.value = ""
        field.focus()
        error = self.query_one("#error", Static)
        error.update(Text(message))
        error.display = True
