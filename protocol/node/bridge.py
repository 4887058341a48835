"""The bridge: a trio node in a background thread, driven from any other thread.

``NodeThread.start()`` runs ``trio.run`` in a daemon thread; ``submit(cmd)``
hands a command over with ``TrioToken.run_sync_soon`` (thread-safe, never
blocks the caller); events come back through the ``on_event`` callback, which
the caller makes thread-safe (``loop.call_soon_threadsafe`` for asyncio,
``App.post_message`` for Textual). ``stop()`` shuts the node down and joins
the thread within the deadline.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import trio

from protocol.node import api
from protocol.node.host import setup_logging
from protocol.node.node import Node
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile


class BridgeError(RuntimeError):
    """The node thread is not running (not started, or already stopped)."""


class NodeThread:
    def __init__(
        self,
        paths: ProfilePaths,
        on_event: Callable[[api.Event], None],
        *,
        passphrase: str | None = None,
        listen: list[str] | None = None,
        peers: list[str] | None = None,
        **node_options: float,
    ) -> None:
        self.paths = paths
        self.on_event = on_event
        self.passphrase = passphrase
        self.listen = listen
        self.peers = peers
        self.node_options = node_options
        self._token: trio.lowlevel.TrioToken | None = None
        self._node: Node | None = None
        self._started = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="smallsocial-node", daemon=True)
        self.error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._started.wait(timeout):
            raise BridgeError("The node did not start in time.")
        if self.error is not None:
            raise BridgeError(f"The node failed to start: {self.error}")

    def _main(self) -> None:
        try:
            trio.run(self._run)
        except BaseException as e:
            self.error = e
            self._started.set()
            self.on_event(api.NodeStopped(repr(e)))
            return
        self.on_event(api.NodeStopped())

    async def _run(self) -> None:
        setup_logging(self.paths.logs)  # libp2p writes to stderr otherwise, which a TUI cannot show
        profile = Profile.open(self.paths, self.passphrase)
        try:
            node = Node(profile, self.on_event, listen=self.listen, peers=self.peers, **self.node_options)
            self._node = node
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as n:
                await n.start(node.run)
                self._started.set()
            self._fail_pending(node)
        finally:
            profile.close()

    def _fail_pending(self, node: Node) -> None:
        """Answer the commands the node stopped before reading: each caller waits for one event."""
        node.commands_in.close()  # from now on ``put`` answers at once
        while True:
            try:
                cmd = node._commands_out.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError, trio.BrokenResourceError):
                return
            self.on_event(api.CommandFailed(cmd.request_id, "The node stopped before it could do this."))

    def submit(self, command: api.Command) -> None:
        """Hand a command to the node from any thread; its answer arrives as an event.

        Every command accepted here is answered, with ``CommandFailed`` if the node
        stops before doing it; once ``stop()`` has been called this raises BridgeError.
        """
        node, token = self._node, self._token
        if node is None or token is None or not self._thread.is_alive():
            raise BridgeError("The node is not running.")
        if self._stopping:
            raise BridgeError("The node is stopping.")

        def put() -> None:
            try:
                node.submit_nowait(command)
            except trio.WouldBlock:
                self.on_event(api.CommandFailed(command.request_id, "The node is busy; try again."))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.on_event(api.CommandFailed(command.request_id, "The node has stopped."))

        try:
            token.run_sync_soon(put)
        except trio.RunFinishedError as e:
            raise BridgeError("The node has stopped.") from e

    def stop(self, timeout: float = 5.0) -> bool:
        """Shut the node down and join its thread; True if it ended within ``timeout``."""
        self._stopping = True
        node, token = self._node, self._token
        if node is not None and token is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(node.stop)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
