"""What the node's helpers may use of a running node: one narrow, public interface.

:mod:`~protocol.node.peers`, :mod:`~protocol.node.syncer`, :mod:`~protocol.node.announce`,
:mod:`~protocol.node.circuit`, :mod:`~protocol.node.lan` and :mod:`~protocol.node.upnp` take a
:class:`NodePort` rather than the :class:`~protocol.node.node.Node` class, so none of them
imports the node (the node imports them: the dependencies point one way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from libp2p.abc import IHost
from libp2p.peer.id import ID

from protocol.node import api
from protocol.node.core import NodeCore
from protocol.node.events import Effect, Event
from protocol.node.guard import GuardedPubsub
from protocol.node.limits import RelayPolicy
from protocol.node.profile import Profile
from protocol.records import Record

ACTIVE = ("member", "relay")
"""Circle statuses a node takes part in: as a member, or as the circle's relay."""


class PeersPort(Protocol):
    """A node's peers (:class:`protocol.node.peers.Peers`)."""

    connected: set[ID]

    async def connect(self, addr: str) -> bool: ...
    def redial_soon(self, addr: str | None = None) -> None: ...
    async def offer_pins(self, pid: ID, only: bytes | None = None) -> None: ...
    async def announce_presence(self, circle_id: bytes) -> None: ...


class NodePort(Protocol):
    """The public face of a running node (see :class:`protocol.node.node.Node` for each member)."""

    profile: Profile
    host: IHost
    pubsub: GuardedPubsub
    addrs: list[str]
    stats: dict[str, int]
    relay: RelayPolicy | None
    core: NodeCore
    emit: Callable[[api.Event], None]

    @property
    def peers(self) -> PeersPort: ...
    def public_addrs(self) -> list[str]: ...
    def joined(self, circle_id: bytes) -> bool: ...
    def feed(self, event: Event) -> list[Effect]: ...
    async def disconnect(self, pid: ID) -> None: ...
    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None: ...
    def want_sync(self, pid: ID, circle_id: bytes | None) -> None: ...
    def take(self, record: Record, source: ID | None) -> bool: ...
    def take_batch(self, batch: list[Record], source: ID | None) -> int: ...
    def drop(self, circle_id: bytes | None, reason: str) -> None: ...
    async def join_topic(self, circle_id: bytes) -> None: ...
    def reconsider_peers(self, topics: Collection[str] | None = None) -> None: ...
    async def disconnect_all(self) -> None: ...
    def stop(self) -> None: ...
