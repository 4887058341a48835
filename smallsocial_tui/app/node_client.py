"""The seam between the app and a node: anything with ``start``, ``submit`` and ``stop``.

:class:`ThreadNode` wraps :class:`protocol.node.bridge.NodeThread`, importing it
(and so libp2p, about half a second of imports) in ``start``, which the app calls
on a worker thread once its main screen is painted; the tests pass a fake with the
same three methods. Events reach the app through the callback given to the
factory, which the app makes thread-safe with ``App.post_message``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.control import Watch, node_running

if TYPE_CHECKING:
    from protocol.node.bridge import NodeThread

EventCallback = Callable[[api.Event], None]


class NodeClient(Protocol):
    def start(self) -> None: ...
    def submit(self, command: api.Command) -> None: ...
    def stop(self) -> bool: ...


NodeFactory = Callable[[ProfilePaths, str | None, EventCallback], NodeClient]
"""(profile paths, passphrase, event callback) -> a node, not started yet."""


class ThreadNode:
    """The real node in a background thread, holding the profile's lock and control socket.

    Making one imports nothing of the node; ``start`` does, and blocks until the node
    listens (the app calls it from a worker thread).
    """

    def __init__(
        self,
        paths: ProfilePaths,
        passphrase: str | None,
        on_event: EventCallback,
        *,
        listen: list[str] | None = None,
        peers: list[str] | None = None,
        serve_control: bool = True,
        **node_options: float,
    ) -> None:
        self._paths = paths
        self._on_event = on_event
        self._listen = listen
        self._options: dict[str, Any] = {
            "passphrase": passphrase,
            "peers": peers or [],
            "serve_control": serve_control,
            **node_options,
        }
        self._thread: NodeThread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        from protocol.node.loading import collector_paused

        with collector_paused():  # loads libp2p: only when a real node runs
            from protocol.node.bridge import BridgeError, NodeThread
            from protocol.node.runner import default_listen

        listen = self._listen if self._listen is not None else default_listen(self._paths)
        with self._lock:  # the app quit while the imports ran: no node to start
            if self._stopped:
                raise BridgeError("The node was stopped before it started.")
            self._thread = NodeThread(self._paths, self._on_event, listen=listen, **self._options)
        self._thread.start()

    def submit(self, command: api.Command) -> None:
        if self._thread is None:  # the app submits once the node has started; answer all the same
            self._on_event(api.CommandFailed(command.request_id, "The node is not running yet."))
            return
        from protocol.node.bridge import BridgeError

        try:
            self._thread.submit(command)
        except BridgeError as e:
            self._thread.on_event(api.CommandFailed(command.request_id, str(e)))

    def stop(self) -> bool:
        with self._lock:
            self._stopped = True
            thread = self._thread
        return thread.stop() if thread is not None else True


class AttachedNode:
    """The node ``smallsocial run`` already runs for the profile, through its control socket.

    The TUI sees the same events and sends the same commands as with its own node; quitting
    detaches and leaves that node running. If it stops, the TUI is told (``NodeStopped``).
    """

    attached = True

    def __init__(self, paths: ProfilePaths, on_event: EventCallback) -> None:
        self._paths, self._on_event = paths, on_event
        self._watch: Watch | None = None

    def start(self) -> None:
        try:
            self._watch = Watch(self._paths.root, self._on_event, self._gone)
        except OSError as e:
            raise RuntimeError(
                f"A node runs for this profile but its control socket does not answer ({e})."
            ) from e

    def _gone(self) -> None:
        self._on_event(api.NodeStopped("the smallsocial run this screen was attached to has ended"))

    def submit(self, command: api.Command) -> None:
        watch = self._watch
        try:
            if watch is None:
                raise OSError("not attached")
            watch.send(command)
        except OSError:
            self._on_event(api.CommandFailed(command.request_id, "The node is not running."))

    def stop(self) -> bool:
        if self._watch is not None:
            self._watch.close()
        return True


def real_node_factory(**options: object) -> NodeFactory:
    """Attach to the profile's running node if there is one (``smallsocial run``), else start one."""

    def make(paths: ProfilePaths, passphrase: str | None, on_event: EventCallback) -> NodeClient:
        if node_running(paths.root):
            return AttachedNode(paths, on_event)
        return ThreadNode(paths, passphrase, on_event, **options)  # type: ignore[arg-type]

    return make
