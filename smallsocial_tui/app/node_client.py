"""The seam between the app and a node: anything with ``start``, ``submit`` and ``stop``.

:class:`ThreadNode` wraps :class:`protocol.node.bridge.NodeThread`, importing it
(and so libp2p) only when a real node starts; the tests pass a fake with the
same three methods. Events reach the app through the callback given to the
factory, which the app makes thread-safe with ``App.post_message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from protocol.node import api
from protocol.node.paths import ProfilePaths

EventCallback = Callable[[api.Event], None]


class NodeClient(Protocol):
    def start(self) -> None: ...
    def submit(self, command: api.Command) -> None: ...
    def stop(self) -> bool: ...


NodeFactory = Callable[[ProfilePaths, str | None, EventCallback], NodeClient]
"""(profile paths, passphrase, event callback) -> a node, not started yet."""


class ThreadNode:
    """The real node in a background thread, holding the profile's lock and control socket."""

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
        from protocol.node.bridge import NodeThread  # loads libp2p: only when a real node runs

        if listen is None:
            from protocol.node.runner import default_listen

            listen = default_listen(paths)
        self._thread = NodeThread(
            paths,
            on_event,
            passphrase=passphrase,
            listen=listen,
            peers=peers or [],
            serve_control=serve_control,
            **node_options,
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, command: api.Command) -> None:
        from protocol.node.bridge import BridgeError

        try:
            self._thread.submit(command)
        except BridgeError as e:
            self._thread.on_event(api.CommandFailed(command.request_id, str(e)))

    def stop(self) -> bool:
        return self._thread.stop()


def real_node_factory(**options: object) -> NodeFactory:
    def make(paths: ProfilePaths, passphrase: str | None, on_event: EventCallback) -> NodeClient:
        return ThreadNode(paths, passphrase, on_event, **options)  # type: ignore[arg-type]

    return make
