"""The node core's vocabulary: the events it takes and the effects it returns (frozen dataclasses).

:class:`~protocol.node.core.NodeCore` takes an :data:`Event` with the time and returns a list
of :data:`Effect`; :class:`~protocol.node.node.Node` carries events in and effects out. Peers
are base58 peer ID strings, so nothing here needs libp2p.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.node import api
from protocol.records import Record


# events ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GossipArrived:
    """A gossip message on ``circle``'s topic, forwarded by ``forwarder`` (``own``: my own publish)."""

    forwarder: str
    circle: bytes
    raw: bytes
    own: bool = False


@dataclass(frozen=True)
class RecordReceived:
    """A parsed record to commit (a sync answer); ``source`` is asked for what it places, if any."""

    record: Record
    source: str | None = None


@dataclass(frozen=True)
class BatchReceived:
    """A sync answer's batch of parsed records of one circle, committed in one transaction."""

    records: tuple[Record, ...]
    source: str | None = None


@dataclass(frozen=True)
class PeerCame:
    peer: str


@dataclass(frozen=True)
class PeerWent:
    peer: str


@dataclass(frozen=True)
class PeerFaulted:
    """A peer sent bytes that broke a handler or a libp2p signature (``weight``: one strike)."""

    peer: str
    weight: float = 1.0


@dataclass(frozen=True)
class GossipDropped:
    """py-libp2p dropped a message of these circles that was on its way to ``peer`` (its
    queue for the peer was full: a burst, or a slow peer)."""

    peer: str
    circles: frozenset[bytes]


@dataclass(frozen=True)
class Tick:
    """A :class:`Wake` came due."""


@dataclass(frozen=True)
class CommandArrived:
    """A command from the UI, the control socket or a test (see :mod:`protocol.node.api`)."""

    command: api.Command


@dataclass(frozen=True)
class Dialled:
    """A :class:`Dial` that asked for an answer ended: ``ok`` if the peer is connected."""

    addr: str
    ok: bool
    request_id: int


Event = (
    GossipArrived | RecordReceived | BatchReceived | PeerCame | PeerWent | PeerFaulted | GossipDropped | Tick
    | CommandArrived | Dialled
)  # fmt: skip


# effects --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accept:
    """Forward this gossip message (the validator says yes)."""


@dataclass(frozen=True)
class Committed:
    """The record is stored (the store committed it)."""

    record: Record


@dataclass(frozen=True)
class Emit:
    """Post this event to the UI and the control socket."""

    event: api.Event


@dataclass(frozen=True)
class Pull:
    """Sync with ``peer``: the circle ``circle`` (every shared circle when None).

    ``invitee``: ``peer`` holds an open invitation there and is asked for its join (a pull
    otherwise goes only to members and relays: one from a joiner on connect would take its
    join by sync, before its gossip, and a join taken by sync is not forwarded)."""

    peer: str
    circle: bytes | None
    invitee: bool = False


@dataclass(frozen=True)
class Disconnect:
    peer: str


@dataclass(frozen=True)
class Reconsider:
    """A roster changed: connected peers may now learn more of my topics (guard.py); ``circle``:
    only that circle's roster changed, so only its topic is asked about (None: every topic)."""

    circle: bytes | None = None


@dataclass(frozen=True)
class Wake:
    """Send a :class:`Tick` at ``at`` (the same clock as the events')."""

    at: float


@dataclass(frozen=True)
class JoinTopic:
    """Subscribe to a circle's topic (before the effects after it)."""

    circle: bytes


@dataclass(frozen=True)
class Publish:
    """Publish a record just put in the outbox: now if the publisher is idle, else in its turn."""

    record: Record


@dataclass(frozen=True)
class KickOutbox:
    """Wake the publisher: the outbox has new records."""


@dataclass(frozen=True)
class Dial:
    """Connect to ``addr``; with a ``request_id``, answer with :class:`Dialled` (else in the background)."""

    addr: str
    request_id: int | None = None


@dataclass(frozen=True)
class ReachRelay:
    """A relay was just pinned to ``circle``: connect to it, or offer it the circle if connected."""

    circle: bytes
    addr: str


@dataclass(frozen=True)
class Stop:
    """Shut the node down."""


@dataclass(frozen=True)
class FetchFile:
    """Fetch a file message's blobs (``protocol/node/filexfer.py``); ``wait``: answer when done."""

    circle: bytes
    record: bytes
    request_id: int
    wait: bool
    save_to: str | None = None


@dataclass(frozen=True)
class LinkStep:
    """A link command (``protocol/node/linking.py``): carried out on the link stream, answered when done."""

    command: api.Command


Effect = (
    Accept | Committed | Emit | Pull | Disconnect | Reconsider | Wake
    | JoinTopic | Publish | KickOutbox | Dial | ReachRelay | Stop | FetchFile | LinkStep
)  # fmt: skip
