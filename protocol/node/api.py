"""Commands to the node and events from it: the only things that cross the bridge.

Frozen dataclasses, no libp2p types: the UI and CLI import this module and
nothing of the node's internals. Commands are imperative and carry a request
id; events are past tense. ``CommandFailed`` answers a command with one
sentence; a command that succeeds answers with its own event.

Past 400 lines: this is the whole vocabulary in one file on purpose (the codec, the CLI,
the TUI and ``run --json`` all read it); each class is a few lines of fields.

The classes are made dataclasses when first used, not at import (:func:`_lazy`): making
~100 frozen dataclasses costs 50-80 ms, which the TUI paid before its first paint; the
first instance of each pays its own share instead. Type checkers see plain
``@dataclass(frozen=True)``. Code that reads a class's fields before any instance exists
(the JSON codec) calls :func:`ready_all` first.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from dataclasses import field
from typing import TYPE_CHECKING, Any

_LOCK = threading.RLock()
_LAZY: list[type] = []


def _ready(cls: type) -> None:
    """Make ``cls`` and its lazy bases the dataclasses they were declared as (once each)."""
    with _LOCK:
        for c in reversed(cls.__mro__):
            opts = c.__dict__.get("_lazy_opts")
            if opts is not None and "__dataclass_fields__" not in c.__dict__:
                c.__new__ = _plain_new  # type: ignore[assignment]
                dataclasses.dataclass(**opts)(c)


def _plain_new(cls: type, *args: Any, **kw: Any) -> Any:
    return object.__new__(cls)


def _lazy_new(cls: type, *args: Any, **kw: Any) -> Any:
    """The first construction (or unpickling) of a class: make it a dataclass, then build."""
    _ready(cls)
    return object.__new__(cls)


def _lazy(**opts: Any) -> Any:
    """``dataclasses.dataclass(**opts)``, applied when the class is first instantiated."""

    def wrap(cls: type) -> type:
        cls._lazy_opts = opts  # type: ignore[attr-defined]
        cls.__new__ = _lazy_new  # type: ignore[assignment]
        _LAZY.append(cls)
        return cls

    return wrap


_ALL_READY: list[bool] = []


def ready_all() -> None:
    """Every class of this module a dataclass now (before reading fields off the classes)."""
    if _ALL_READY:
        return
    for cls in _LAZY:
        _ready(cls)
    _ALL_READY.append(True)


if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    dataclass = _lazy

_ids = itertools.count(1)


def next_request_id() -> int:
    return next(_ids)


# commands -----------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    request_id: int = field(default_factory=next_request_id, kw_only=True)


@dataclass(frozen=True)
class SendMessage(Command):
    circle: bytes
    text: str
    reply_to: bytes | None = None


@dataclass(frozen=True)
class ReactTo(Command):
    circle: bytes
    target: bytes
    emoji: str


@dataclass(frozen=True)
class EditMessage(Command):
    circle: bytes
    target: bytes
    text: str


@dataclass(frozen=True)
class DeleteMessage(Command):
    circle: bytes
    target: bytes


@dataclass(frozen=True)
class MarkRead(Command):
    """Everything up to and including ``record`` in ``circle`` has been seen."""

    circle: bytes
    record: bytes


@dataclass(frozen=True)
class SetDisplayName(Command):
    name: str


@dataclass(frozen=True)
class SetPetname(Command):
    """My local name for someone's key (a contact); never sent anywhere."""

    key: bytes
    petname: str


@dataclass(frozen=True)
class PinRelay(Command):
    """Give a relay (``/ip4/.../p2p/<relay peer ID>``) the relay role in a circle."""

    circle: bytes
    addr: str


@dataclass(frozen=True)
class LoadOverview(Command):
    """Answered by ``OverviewLoaded``: who I am, my circles, contacts, peers."""


@dataclass(frozen=True)
class LoadHistory(Command):
    """Answered by ``HistoryLoaded``: the newest ``limit`` messages of a circle (more when
    ``around`` is older: from a few before that message to the newest, so it can be shown)."""

    circle: bytes
    limit: int = 10_000
    around: bytes | None = None


@dataclass(frozen=True)
class LoadMembers(Command):
    """Answered by ``MembersLoaded``."""

    circle: bytes


@dataclass(frozen=True)
class CreateCircle(Command):
    name: str


@dataclass(frozen=True)
class InviteKey(Command):
    circle: bytes
    invitee: bytes
    role: str = "member"
    ttl_s: int | None = None


@dataclass(frozen=True)
class AcceptInvite(Command):
    token: str


@dataclass(frozen=True)
class AcceptFork(Command):
    circle: bytes


@dataclass(frozen=True)
class ForkCircle(Command):
    circle: bytes
    name: str
    members: tuple[bytes, ...]
    history: str = "none"
    """What of the parent's messages the child carries: none, all, last:N or days:D."""


@dataclass(frozen=True)
class RemoveMember(Command):
    circle: bytes
    member: bytes


@dataclass(frozen=True)
class ChangeRole(Command):
    """Make a member an admin or a plain member (``role``: ``member`` or ``admin``); admins only."""

    circle: bytes
    member: bytes
    role: str


@dataclass(frozen=True)
class LeaveCircle(Command):
    circle: bytes


@dataclass(frozen=True)
class LinkDevice(Command):
    """Link the device whose link code is ``code`` (protocol.node.devices): a ``device`` record in
    every circle, and the sealed link bundle written to the file ``out`` (mode 0600)."""

    code: str
    out: str


@dataclass(frozen=True)
class UnlinkDevice(Command):
    """Unlink one of my person's devices (and rekey) in every circle where it is linked."""

    device: bytes


@dataclass(frozen=True)
class SetSoftCap(Command):
    """An admin sets the circle's soft cap (members at which inviting suggests a fork)."""

    circle: bytes
    cap: int


@dataclass(frozen=True)
class LoadFamily(Command):
    """Answered by ``FamilyLoaded``: my circles as a tree; with ``circle``, its invitation tree."""

    circle: bytes | None = None


@dataclass(frozen=True)
class LoadSplit(Command):
    """Answered by ``SplitSuggested``: groups the circle could split into, by who talks with whom."""

    circle: bytes


@dataclass(frozen=True)
class LeaveSubtree(Command):
    """Leave a circle and every descendant I am in, deepest first; answered by ``SubtreeLeft``."""

    circle: bytes


@dataclass(frozen=True)
class RemoveFromSubtree(Command):
    """Remove a member from a circle and from each descendant where I am an admin;
    answered by ``SubtreeRemoved``."""

    circle: bytes
    member: bytes


@dataclass(frozen=True)
class SetNotify(Command):
    """How loudly a circle (with ``subtree``, each circle under it too) notifies me:
    ``loud``, ``quiet`` or ``muted``. Answered by ``NotifySet``."""

    circle: bytes
    level: str
    subtree: bool = False


@dataclass(frozen=True)
class ConnectPeer(Command):
    addr: str


@dataclass(frozen=True)
class SyncNow(Command):
    pass


@dataclass(frozen=True)
class Shutdown(Command):
    pass


@dataclass(frozen=True)
class GetStatus(Command):
    """Answered with ``NodeStatus``: my addresses, connected peers and the node's counters."""


@dataclass(frozen=True)
class SearchMessages(Command):
    """Find messages I can read whose text matches ``text`` (``protocol.searchtext``'s rules),
    in one circle or all; answered with ``SearchResults``, newest first."""

    text: str
    circle: bytes | None = None
    limit: int = 20


# events -------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class NodeStarted(Event):
    peer_id: str
    addrs: tuple[str, ...]


@dataclass(frozen=True)
class Reachability(Event):
    """How friends can reach this node (``direct``, ``relay``, ``lan``, ``nowhere``) and what to do."""

    state: str
    hint: str


@dataclass(frozen=True)
class AddressesChanged(Event):
    """The addresses friends can dial changed (a laptop moved); presence already carries them."""

    addrs: tuple[str, ...]


@dataclass(frozen=True)
class NodeStopped(Event):
    error: str | None = None


@dataclass(frozen=True)
class CommandDone(Event):
    """A command that has no event of its own finished."""

    request_id: int


@dataclass(frozen=True)
class CommandFailed(Event):
    request_id: int
    message: str


@dataclass(frozen=True)
class MessageSent(Event):
    request_id: int | None
    circle: bytes
    record_id: bytes
    seq: int


@dataclass(frozen=True)
class MessagePublished(Event):
    circle: bytes
    record_id: bytes


@dataclass(frozen=True)
class MessageReceived(Event):
    circle: bytes
    record_id: bytes
    author: bytes
    seq: int
    ts: int
    kind: str
    text: str | None
    ref: bytes | None


@dataclass(frozen=True)
class MessagesArrived(Event):
    """Many messages of a circle stored at once (a sync answer's batch), instead of one
    :class:`MessageReceived` each: their bodies stay sealed in the store until shown
    (``LoadHistory``) or counted (``LoadOverview``)."""

    circle: bytes
    count: int
    """Messages by others now in chain order."""


@dataclass(frozen=True)
class MemberJoined(Event):
    circle: bytes
    member: bytes


@dataclass(frozen=True)
class MemberLeft(Event):
    circle: bytes
    member: bytes


@dataclass(frozen=True)
class MemberRemoved(Event):
    circle: bytes
    member: bytes


@dataclass(frozen=True)
class MemberRoleChanged(Event):
    """A member became an admin or a plain member (``role``)."""

    circle: bytes
    member: bytes
    role: str


@dataclass(frozen=True)
class CircleCreated(Event):
    request_id: int | None
    circle: bytes
    name: str


@dataclass(frozen=True)
class CircleJoined(Event):
    request_id: int | None
    circle: bytes
    name: str


@dataclass(frozen=True)
class CircleForked(Event):
    request_id: int | None
    circle: bytes
    parent: bytes
    name: str
    invited: bool
    """True when someone else's fork invited me (accept with AcceptFork)."""


@dataclass(frozen=True)
class SubtreeLeft(Event):
    request_id: int
    circles: tuple[bytes, ...]
    """The circles left, deepest first (the one named last)."""


@dataclass(frozen=True)
class SubtreeRemoved(Event):
    request_id: int
    member: bytes
    removed: tuple[bytes, ...]
    """Where the member was removed (the circle named first)."""
    skipped: tuple[bytes, ...]
    """Descendants where they are a member but I am not an admin."""


@dataclass(frozen=True)
class NotifySet(Event):
    request_id: int
    circles: tuple[bytes, ...]
    level: str


@dataclass(frozen=True)
class InviteCreated(Event):
    request_id: int
    circle: bytes
    token: str


@dataclass(frozen=True)
class NameChanged(Event):
    """A member announced (signed) the display name they chose; petnames still win."""

    key: bytes
    name: str


@dataclass(frozen=True)
class NodeStatus(Event):
    request_id: int
    peer_id: str
    addrs: tuple[str, ...]
    peers: int
    stats: dict[str, int]


@dataclass(frozen=True)
class PeerConnected(Event):
    peer_id: str


@dataclass(frozen=True)
class PeerDisconnected(Event):
    peer_id: str


@dataclass(frozen=True)
class SyncProgress(Event):
    circle: bytes
    peer_id: str
    received: int
    sent: int


@dataclass(frozen=True)
class GapDetected(Event):
    circle: bytes
    author: bytes
    missing: int


@dataclass(frozen=True)
class Equivocated(Event):
    """A member signed two records for one chain position (or broke their chain's links)."""

    circle: bytes
    author: bytes
    reason: str


@dataclass(frozen=True)
class HistoryCarried(Event):
    """A fork's founder carried checked messages of the parent into this circle (a reload shows them)."""

    circle: bytes
    author: bytes
    count: int


@dataclass(frozen=True)
class RecordDropped(Event):
    circle: bytes | None
    reason: str


# answers to the Load* commands ------------------------------------------------
@dataclass(frozen=True)
class CircleSummary:
    id: bytes
    name: str
    parent: bytes | None
    status: str
    """member, invited (a fork invitation to accept), left or removed."""
    members: int
    epoch: int | None
    unread: int
    mentions: int
    relays: tuple[str, ...]
    soft_cap: int = 15  # protocol.roster.DEFAULT_SOFT_CAP (api imports nothing of the core)
    """Members at which inviting suggests a fork (the roster's ``soft_cap``)."""
    notify: str = "quiet"
    """How loudly the circle notifies me: loud, quiet or muted."""
    file_cap: int = 64 * 1024 * 1024  # protocol.files.MAX_FILE_BYTES, the limit when none is set
    """The largest file the circle takes, in bytes (its ``filecap``; 0: no files)."""


@dataclass(frozen=True)
class MyDevice:
    """One device of my person (docs/protocol.md 8.5), as ``smallsocial devices`` lists it."""

    key: bytes
    name: str
    """The name its certificate gives it ("" for the person's own key)."""
    linked: bool
    """Linked in some circle now (False: unlinked wherever it was linked)."""


@dataclass(frozen=True)
class OverviewLoaded(Event):
    request_id: int
    me: bytes
    peer_id: str
    name: str
    addrs: tuple[str, ...]
    circles: tuple[CircleSummary, ...]
    contacts: tuple[tuple[bytes, str], ...]
    connected: tuple[str, ...]
    """Peer IDs of connected peers."""
    names: tuple[tuple[bytes, str], ...] = ()
    """Display names members announced for themselves (untrusted text)."""
    person: bytes = b""
    """My person's key: the key friends invite (``me`` itself unless this is a linked device)."""
    devices: tuple[MyDevice, ...] = ()
    """My person's key and devices, the person's key first (empty while I am in no circle)."""
    unlinked_by: bytes | None = None
    """Set on a device its person unlinked: that person's key."""


@dataclass(frozen=True)
class HistoryEntry:
    id: bytes
    author: bytes
    seq: int
    ts: int
    kind: str
    """text, reply or react (edits and deletes are applied: see ``edited``, ``deleted``)."""
    text: str | None
    ref: bytes | None
    edited: bool = False
    deleted: bool = False
    carried_from: bytes | None = None
    """Set on a message carried into a fork: the parent circle it was written in (its ``id``,
    ``author``, ``seq`` and ``ts`` are the original's, checked against the author's signature)."""


@dataclass(frozen=True)
class HistoryLoaded(Event):
    request_id: int
    circle: bytes
    entries: tuple[HistoryEntry, ...]
    read_marker: bytes | None
    missing: int
    """Records known to exist (held, waiting for earlier ones) that are not placed yet."""


@dataclass(frozen=True)
class MemberInfo:
    key: bytes
    peer_id: str
    role: str
    invited_by: bytes | None
    online: bool
    name: str = ""
    """The display name they announced ("" if none yet): untrusted text."""
    equivocated: str = ""
    """Why this member is flagged for signing two versions of their history ("" if not)."""
    devices: tuple[bytes, ...] = ()
    """The keys of this person's linked devices (docs/protocol.md 8.5); the member is the person."""


@dataclass(frozen=True)
class MembersLoaded(Event):
    request_id: int
    circle: bytes
    members: tuple[MemberInfo, ...]
    relays: tuple[MemberInfo, ...]


@dataclass(frozen=True)
class FamilyCircle:
    """One circle in the family tree (``protocol/node/family.py``)."""

    id: bytes
    name: str
    parent: bytes | None
    status: str
    members: int
    soft_cap: int
    founder: bytes | None
    """Who created it: for a fork, who forked it (None while its genesis is unknown)."""
    created: int
    """Its genesis time, ms (0: unknown)."""
    last_activity: int
    """The newest readable message's time, ms (0: none)."""
    unread: int
    unread_below: int
    """Unread here and in every circle below it in the tree."""


@dataclass(frozen=True)
class InviteLink:
    """One member of a circle and who invited them, checked back to the founder by the roster."""

    member: bytes
    invited_by: bytes | None
    role: str
    verified: bool
    """Every join on the way to the founder is one the roster's fold accepted (it checked each
    invitation's signature and that its inviter could invite then)."""
    path: tuple[bytes, ...]
    """The member, their inviter, theirs, ... up to the founder (as far as it could be traced)."""
    others: tuple[bytes, ...]
    """Other circles of the same family (same root) that this member is in."""


@dataclass(frozen=True)
class FamilyLoaded(Event):
    request_id: int
    circles: tuple[FamilyCircle, ...]
    """Parents before children, siblings by creation time."""
    circle: bytes | None
    links: tuple[InviteLink, ...]
    """``circle``'s invitation tree (empty without one), in tree order."""


@dataclass(frozen=True)
class SplitSuggested(Event):
    request_id: int
    circle: bytes
    size: int
    soft_cap: int
    groups: tuple[tuple[bytes, ...], ...]
    """Largest first; one group when there is nothing to split by."""


@dataclass(frozen=True)
class SearchHit:
    """One message a search found (``snippet``: the text around the match, each match between
    ``\\x02`` and ``\\x03``; untrusted text, like the names)."""

    circle: bytes
    circle_name: str
    id: bytes
    author: bytes
    author_name: str
    ts: int
    kind: str
    snippet: str
    edited: bool = False
    carried_from: bytes | None = None


@dataclass(frozen=True)
class SearchResults(Event):
    request_id: int
    text: str
    hits: tuple[SearchHit, ...]
    pending: int = 0
    """Messages not indexed yet (a profile's first search backfills in the background)."""


# files (docs/protocol.md 10.1, 14.3; protocol/node/filexfer.py) ------------------------------
@dataclass(frozen=True)
class SendFile(Command):
    """Seal the file at ``path`` (read by the node) into the circle and announce it."""

    circle: bytes
    path: str


@dataclass(frozen=True)
class SetFileCap(Command):
    """An admin sets the circle's file limit: the largest file, in bytes, its members send (0: none)."""

    circle: bytes
    cap: int


@dataclass(frozen=True)
class FetchFile(Command):
    """Fetch a file message's blobs from connected members and relays.

    ``wait``: answer with ``FileFetched`` when done (the CLI); else ``CommandDone`` now, and
    ``FileFetched`` (without a request id) when done (the TUI)."""

    circle: bytes
    record: bytes
    wait: bool = False
    save_to: str | None = None
    """Once every blob is here, put the file together there (a directory: under the file's name)."""


@dataclass(frozen=True)
class FileSent(Event):
    request_id: int | None
    circle: bytes
    record_id: bytes
    seq: int
    name: str
    size: int


@dataclass(frozen=True)
class FileProgress(Event):
    """Bytes of a file message's file here so far, of ``total``."""

    circle: bytes
    record_id: bytes
    have: int
    total: int


@dataclass(frozen=True)
class FileFetched(Event):
    """A fetch ended: ``ok`` when every blob is here (``have`` == ``total``), else ``message`` says why."""

    request_id: int | None
    circle: bytes
    record_id: bytes
    ok: bool
    message: str
    have: int
    total: int
    path: str | None = None
    """Where the file was saved (``save_to``), if asked to."""


# linking a device over the network (protocol/node/linking.py, docs/protocol.md 8.5) ----------
@dataclass(frozen=True)
class AwaitLink(Command):
    """On a new device: wait up to ``ttl_s`` to be linked; answered by ``LinkCodeReady``."""

    name: str
    ttl_s: int = 600


@dataclass(frozen=True)
class StartLink(Command):
    """On the device with the person's key: reach the device of ``code`` and check its MAC;
    answered by ``LinkConfirm`` (the six digits to compare) or ``CommandFailed``."""

    code: str


@dataclass(frozen=True)
class ConfirmLink(Command):
    """The user's answer to ``LinkConfirm`` (``link``: the ``StartLink``'s request id). Yes
    certifies the device, links it in every circle and hands it the bundle (answered by
    ``DeviceLinkDone``); no cancels (``CommandDone``)."""

    link: int
    yes: bool


@dataclass(frozen=True)
class LinkCodeReady(Event):
    """This device's link code (``ssd2``), good until ``expires_s`` (Unix seconds)."""

    request_id: int | None
    code: str
    expires_s: int


@dataclass(frozen=True)
class LinkConfirm(Event):
    """The device of the code answered with the secret's MAC; ``digits`` are what it shows."""

    request_id: int | None
    device: bytes
    name: str
    digits: str


@dataclass(frozen=True)
class DeviceLinkDone(Event):
    """The device is linked in ``circles`` and took its bundle in."""

    request_id: int | None
    device: bytes
    name: str
    circles: tuple[bytes, ...]


@dataclass(frozen=True)
class LinkRequested(Event):
    """On the waiting device: ``person``'s device proved it holds this code; show ``digits``."""

    person: bytes
    person_name: str
    digits: str


@dataclass(frozen=True)
class LinkCancelled(Event):
    """On the waiting device: a link that had started did not finish (it keeps waiting)."""

    message: str


@dataclass(frozen=True)
class DeviceLinked(Event):
    """On the waiting device: it is now ``person``'s device ``name``, in ``circles``."""

    person: bytes
    person_name: str
    name: str
    circles: tuple[bytes, ...]
    circle_names: tuple[str, ...]


@dataclass(frozen=True)
class DeviceUnlinked(Event):
    """This device was unlinked from ``circle`` by ``author`` (a device of its person): it
    cannot read the circle's new messages."""

    circle: bytes
    author: bytes


# rekeys (docs/security.md, "When keys change"; protocol/node/rekeying.py) --------------------
@dataclass(frozen=True)
class Rekey(Command):
    """A new epoch key for ``circle``, or for every circle I am a member of when None ("rotate
    everything"); answered by ``Rekeyed``."""

    circle: bytes | None = None


@dataclass(frozen=True)
class SetRekeySchedule(Command):
    """An admin sets how often the circle rekeys on its own: at least every ``days`` days and
    every ``messages`` messages (a ``rekeyevery`` record)."""

    circle: bytes
    days: int
    messages: int


@dataclass(frozen=True)
class SetHistory(Command):
    """Keep old messages readable (``keep``) or forget them (``forget``: an epoch's key is
    deleted 3 days after a later one came); None only asks. Answered by ``HistorySetting``."""

    mode: str | None = None


@dataclass(frozen=True)
class HistorySetting(Event):
    """The profile's history setting, after ``SetHistory``."""

    request_id: int
    mode: str
    deleted: int
    """Old epoch keys deleted at once (when set to ``forget``)."""


@dataclass(frozen=True)
class RekeyResult:
    circle: bytes
    name: str
    epoch: int
    """The new epoch's number."""
    keys: int
    """Member keys (devices) its key is sealed to."""


@dataclass(frozen=True)
class Rekeyed(Event):
    """Rekeys done: on demand (``request_id`` set) or on the circle's schedule (None)."""

    request_id: int | None
    results: tuple[RekeyResult, ...]
