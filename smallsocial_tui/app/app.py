"""The Textual app: owns the node link, the state and the settings, and routes the node's events.

Start-up: onboarding (no profile yet) or unlock (a passphrase) first, then the
main screen takes over and, once it is painted, the node starts in a worker
thread (where libp2p is imported: nothing the first paint waits for). Node events are
posted to the app (thread-safe) as :class:`~.messages.NodeEvent`; an answer that
somebody awaits goes to them (:class:`~.link.NodeLink`), and every other event
goes to the main screen as the typed message of its kind (:func:`.messages.for_event`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from protocol.identity import keyfile_is_encrypted
from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app import messages
from smallsocial_tui.app.link import NodeLink
from smallsocial_tui.app.model import State
from smallsocial_tui.app.node_client import NodeClient, NodeFactory, real_node_factory
from smallsocial_tui.app.screens.help import HelpScreen
from smallsocial_tui.app.screens.main import MainScreen
from smallsocial_tui.app.session import Session
from smallsocial_tui.app.settings import Settings


class SmallSocialApp(App[int]):
    """smallsocial: circles on the left, messages in the middle, members on the right."""

    TITLE = "smallsocial"
    CSS_PATH = "app.tcss"
    COMMAND_PALETTE_BINDING = "f2"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help", priority=True),
    ]

    def __init__(
        self,
        paths: ProfilePaths,
        node_factory: NodeFactory | None = None,
        *,
        tz: tzinfo | None = None,
        clock: Callable[[], float] = time.time,
        kdf_limits: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.node_factory = node_factory or real_node_factory()
        self.tz = tz
        self.clock = clock
        self.kdf_limits = kdf_limits or {}
        self.link = NodeLink(lambda text: self.notify(text, severity="warning"))
        self.state = State()
        self.settings = Settings(paths.root / "tui.json" if paths.root.exists() else None)
        self._stopping = False
        self.started = False
        self.start_error: str | None = None
        self.main_screen: MainScreen | None = None

    @property
    def node(self) -> NodeClient | None:
        return self.link.client

    # start-up ------------------------------------------------------------------------
    def on_mount(self) -> None:
        # The key file is what ``Profile.exists`` looks for; the profile module (the store, the
        # rosters) and the onboarding screens that use it are imported only when they are shown.
        if not self.paths.keyfile.exists():
            from smallsocial_tui.app.screens.onboarding import OnboardingScreen

            self.push_screen(OnboardingScreen(self.paths, self.kdf_limits), self._unlocked)
        elif keyfile_is_encrypted(self.paths.keyfile.read_bytes()):
            from smallsocial_tui.app.screens.onboarding import UnlockScreen

            self.push_screen(UnlockScreen(self.paths), self._unlocked)
        else:
            self._unlocked(None)

    def _unlocked(self, passphrase: str | None) -> None:
        if self.settings.path is None:
            self.settings = Settings(self.paths.root / "tui.json")
        session = Session(self.state, self.settings, self.link, self.tz, self.clock)
        self.main_screen = MainScreen(session)
        self.push_screen(self.main_screen)
        self.link.client = self.node_factory(self.paths, passphrase, self._from_node)
        # The node's imports (libp2p: about half a second) run on a worker thread, and only once
        # the main screen is on the terminal: it shows "Starting the node…" until the node is up.
        self.main_screen.call_after_refresh(self._start_node)

    @work(thread=True, exclusive=True, group="node", description="start the node")
    def _start_node(self) -> None:
        assert self.node is not None
        try:
            self.node.start()
        except Exception as e:
            self.call_from_thread(self._start_failed, str(e))
            return
        self.call_from_thread(self._node_ready)

    def _start_failed(self, message: str) -> None:
        self.link.client = None  # nothing to stop
        self.start_error = message
        self._to_screen(messages.NodeFailed(message))
        self.notify(message, title="The node did not start", severity="error", timeout=30, markup=False)

    def _node_ready(self) -> None:
        self.started = True
        self.link.submit(api.LoadOverview())
        if getattr(self.node, "attached", False):
            self.notify(
                "Attached to the node already running for this profile (smallsocial run); "
                "quitting leaves it running.",
                markup=False,
            )

    def _from_node(self, ev: api.Event) -> None:
        """The node's callback: runs on the node's thread, so it only posts (what the screen uses)."""
        if not isinstance(ev, messages.NOT_POSTED):
            self.post_message(messages.NodeEvent(ev))

    # events from the node -------------------------------------------------------------
    def on_node_event(self, message: messages.NodeEvent) -> None:
        if not self.link.answer(message.event):  # an awaited answer is its asker's alone
            self._to_screen(messages.for_event(message.event))

    def _to_screen(self, message: messages.NodeFailed | messages.NodeMessage[api.Event]) -> None:
        """To the main screen (typed node messages bubble back here from it), else to the app."""
        (self.main_screen or self).post_message(message)  # queued until the screen has mounted

    def on_command_failed(self, message: messages.CommandFailed) -> None:
        self.notify(message.event.message, severity="error", markup=False)

    def on_node_stopped(self, message: messages.NodeStopped) -> None:
        if not self._stopping and message.event.error:
            self.notify(
                f"The node stopped: {message.event.error}", severity="error", timeout=30, markup=False
            )

    # actions ------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Stop the node (it finishes what it holds), then exit."""
        if self._stopping:
            return
        self._stopping = True
        if self.main_screen is not None and self.node is not None:
            self.main_screen.flush_read()  # what was seen stays seen: MarkRead goes before Shutdown
        if self.node is not None:
            self.notify("Stopping the node…", timeout=5)
            await self._stop_node().wait()
        self.exit(0)

    @work(thread=True, group="node", description="stop the node")
    def _stop_node(self) -> None:
        if self.node is not None:
            self.node.stop()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.main_screen is not None:
            yield from self.main_screen.palette_commands()
