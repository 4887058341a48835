"""The Textual app: owns the node client, the state, the settings and the answers to commands.

Start-up: onboarding (no profile yet) or unlock (a passphrase) first, then the
node starts in a worker thread and the main screen takes over. Node events are
posted to the app (thread-safe) as :class:`NodeEvent`; an answer to a command
goes to the callback given with it, and every event then reaches the main screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from protocol.identity import keyfile_is_encrypted
from protocol.node import api
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from smallsocial_tui.app.messages import NodeEvent
from smallsocial_tui.app.model import State
from smallsocial_tui.app.node_client import NodeClient, NodeFactory, real_node_factory
from smallsocial_tui.app.settings import Settings

Answer = Callable[[api.Event], None]


def _request_id(ev: api.Event) -> int | None:
    return getattr(ev, "request_id", None)


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
        self.node: NodeClient | None = None
        self.state = State()
        self.settings = Settings(paths.root / "tui.json" if paths.root.exists() else None)
        self._pending: dict[int, Answer] = {}
        self._stopping = False
        self.started = False
        self.start_error: str | None = None

    # start-up ------------------------------------------------------------------------
    def on_mount(self) -> None:
        from smallsocial_tui.app.screens.onboarding import OnboardingScreen, UnlockScreen

        if not Profile.exists(self.paths):
            self.push_screen(OnboardingScreen(), self._unlocked)
        elif keyfile_is_encrypted(self.paths.keyfile.read_bytes()):
            self.push_screen(UnlockScreen(), self._unlocked)
        else:
            self._unlocked(None)

    def _unlocked(self, passphrase: str | None) -> None:
        from smallsocial_tui.app.screens.main import MainScreen

        if self.settings.path is None:
            self.settings = Settings(self.paths.root / "tui.json")
        self.push_screen(MainScreen())
        self.node = self.node_factory(self.paths, passphrase, self._from_node)
        self._start_node()

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
        self.node = None  # nothing to stop
        self.start_error = message
        main = self.main_screen
        if main is not None and main.is_mounted:
            main.node_failed(message)
        self.notify(message, title="The node did not start", severity="error", timeout=30, markup=False)

    def _node_ready(self) -> None:
        self.started = True
        self.submit(api.LoadOverview())

    def _from_node(self, ev: api.Event) -> None:
        """The node's callback: runs on the node's thread, so it only posts."""
        self.post_message(NodeEvent(ev))

    # commands and answers -----------------------------------------------------------------
    def submit(self, cmd: api.Command, on_answer: Answer | None = None) -> None:
        """Send a command to the node; ``on_answer`` gets the event that answers it."""
        if self.node is None:
            self.notify("The node is not running yet.", severity="warning")
            return
        if on_answer is not None:
            self._pending[cmd.request_id] = on_answer
        self.node.submit(cmd)

    @on(NodeEvent)
    def _node_event(self, message: NodeEvent) -> None:
        ev = message.event
        rid = _request_id(ev)
        answer = self._pending.pop(rid, None) if rid is not None else None
        if answer is not None:
            answer(ev)
        elif isinstance(ev, api.CommandFailed):
            self.notify(ev.message, severity="error", markup=False)
        main = self.main_screen
        if main is not None:
            main.handle_event(ev, mine=answer is not None)
        if isinstance(ev, api.NodeStopped) and not self._stopping and ev.error:
            self.notify(f"The node stopped: {ev.error}", severity="error", timeout=30, markup=False)

    @property
    def main_screen(self) -> Any:
        from smallsocial_tui.app.screens.main import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # actions ------------------------------------------------------------------------
    def action_help(self) -> None:
        from smallsocial_tui.app.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Stop the node (it finishes what it holds), then exit."""
        if self._stopping:
            return
        self._stopping = True
        main = self.main_screen
        if main is not None and self.node is not None:
            main._flush_read()  # what was seen stays seen: MarkRead goes before Shutdown
        if self.node is not None:
            self.notify("Stopping the node…", timeout=5)
            await self._stop_node().wait()
        self.exit(0)

    @work(thread=True, group="node", description="stop the node")
    def _stop_node(self) -> None:
        if self.node is not None:
            self.node.stop()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main_screen
        if main is not None:
            yield from main.palette_commands()
