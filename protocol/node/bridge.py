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
from typing import Any

import trio

from protocol.node import api, control
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
        serve_control: bool = False,
        **node_options: float,
    ) -> None:
        self.paths = paths
        self.serve_control = serve_control
        """Hold the profile's node lock and serve its control socket, as ``smallsocial run`` does
        (the TUI sets it, so ``smallsocial send`` from another terminal goes through this node)."""
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
        lock = control.NodeLock(self.paths.root) if self.serve_control else None
        if lock is not None and not lock.acquire():
            raise BridgeError("A node is already running for this profile; stop it first.")
        try:
            profile = Profile.open(self.paths, self.passphrase)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            node = Node(profile, self.on_event, listen=self.listen, peers=self.peers, **self.node_options)
            self._node = node
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as n:

                async def run_node(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                    try:
                        await node.run(task_status=task_status)
                    finally:
                        n.cancel_scope.cancel()  # the control socket ends with the node

                await n.start(run_node)
                if lock is not None:
                    (self.paths.root / "addrs").write_text("\n".join(node.public_addrs()) + "\n")
                    await n.start(control.serve, node, self.paths.root / "control.sock")
                self._started.set()
            self._fail_pending(node)
        finally:
            profile.close()
            if lock is not None:
                lock.release()

    def _fail_pending(self, node: Node) -> None:
        """Answer the commands the node stopped before reading: each caller waits for one event."""
        node.commands_in.close()  # from now on ``put`` answers at once
        while True:
            try:
                cmd = node.commands_out.receive_nowait()
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
