"""App-wide Textual messages: one per kind of node event, and what the app tells the main screen.

The node's callback runs on the node's thread and only posts a :class:`NodeEvent`
(thread-safe) to the app. The app hands an answer to whoever awaits it (by request
id, :mod:`smallsocial_tui.app.link`) and posts everything else to the main screen
as the typed message of its kind (:func:`for_event`): ``MessageReceived``,
``OverviewLoaded``, … each carrying the node's frozen event, handled there with
``on_<kind>`` handlers. The two that concern the app too bubble on to it (a failed
command nobody awaited, the node stopping); the others stop at the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from textual.message import Message

from protocol.node import api

E = TypeVar("E", bound=api.Event)


@dataclass
class NodeEvent(Message):
    """One event from the node, as it crosses from the node's thread (posted to the app)."""

    event: api.Event


@dataclass
class NodeFailed(Message):
    """The node did not start; ``reason`` is its sentence."""

    reason: str


class NodeMessage(Message, Generic[E], bubble=False):
    """A node event nobody awaited, as the UI handles it; ``event`` is the node's frozen event."""

    EVENT: ClassVar[type[api.Event]] = api.Event

    def __init_subclass__(cls, bubble: bool | None = None, **options: object) -> None:
        """A kind stays on the screen unless it says ``bubble=True``."""
        super().__init_subclass__(bubble=bubble, **options)  # type: ignore[arg-type]

    def __init__(self, event: E) -> None:
        super().__init__()
        self.event = event


# the node and its peers -----------------------------------------------------------------
class NodeStarted(NodeMessage[api.NodeStarted]):
    EVENT = api.NodeStarted


class NodeStopped(NodeMessage[api.NodeStopped], bubble=True):
    EVENT = api.NodeStopped


class Reachability(NodeMessage[api.Reachability]):
    EVENT = api.Reachability


class AddressesChanged(NodeMessage[api.AddressesChanged]):
    EVENT = api.AddressesChanged


class PeerConnected(NodeMessage[api.PeerConnected]):
    EVENT = api.PeerConnected


class PeerDisconnected(NodeMessage[api.PeerDisconnected]):
    EVENT = api.PeerDisconnected


class SyncProgress(NodeMessage[api.SyncProgress]):
    EVENT = api.SyncProgress


class GapDetected(NodeMessage[api.GapDetected]):
    EVENT = api.GapDetected


# answers nobody awaited (another terminal's, or a command sent without waiting) -----------
class CommandDone(NodeMessage[api.CommandDone]):
    EVENT = api.CommandDone


class CommandFailed(NodeMessage[api.CommandFailed], bubble=True):
    EVENT = api.CommandFailed


class OverviewLoaded(NodeMessage[api.OverviewLoaded]):
    EVENT = api.OverviewLoaded


class HistoryLoaded(NodeMessage[api.HistoryLoaded]):
    EVENT = api.HistoryLoaded


class MembersLoaded(NodeMessage[api.MembersLoaded]):
    EVENT = api.MembersLoaded


class InviteCreated(NodeMessage[api.InviteCreated]):
    EVENT = api.InviteCreated


class FamilyLoaded(NodeMessage[api.FamilyLoaded]):
    EVENT = api.FamilyLoaded


class SplitSuggested(NodeMessage[api.SplitSuggested]):
    EVENT = api.SplitSuggested


class SubtreeLeft(NodeMessage[api.SubtreeLeft]):
    EVENT = api.SubtreeLeft


class SubtreeRemoved(NodeMessage[api.SubtreeRemoved]):
    EVENT = api.SubtreeRemoved


class NotifySet(NodeMessage[api.NotifySet]):
    EVENT = api.NotifySet


class NodeStatus(NodeMessage[api.NodeStatus]):
    EVENT = api.NodeStatus


# messages ------------------------------------------------------------------------------
class MessageSent(NodeMessage[api.MessageSent]):
    EVENT = api.MessageSent


class MessagePublished(NodeMessage[api.MessagePublished]):
    EVENT = api.MessagePublished


class MessageReceived(NodeMessage[api.MessageReceived]):
    EVENT = api.MessageReceived


class MessagesArrived(NodeMessage[api.MessagesArrived]):
    EVENT = api.MessagesArrived


class NameChanged(NodeMessage[api.NameChanged]):
    EVENT = api.NameChanged


class Equivocated(NodeMessage[api.Equivocated]):
    EVENT = api.Equivocated


class HistoryCarried(NodeMessage[api.HistoryCarried]):
    EVENT = api.HistoryCarried


# circles and their members -------------------------------------------------------------
class CircleAdded(NodeMessage[E]):
    """A circle appeared in my list (created, joined, forked): the overview is loaded again."""


class CircleCreated(CircleAdded[api.CircleCreated]):
    EVENT = api.CircleCreated


class CircleJoined(CircleAdded[api.CircleJoined]):
    EVENT = api.CircleJoined


class CircleForked(CircleAdded[api.CircleForked]):
    EVENT = api.CircleForked


class MembershipChanged(NodeMessage[E]):
    """Someone joined, left or was removed from a circle (``VERB`` says which)."""

    VERB: ClassVar[str] = ""


class MemberJoined(MembershipChanged[api.MemberJoined]):
    EVENT = api.MemberJoined
    VERB = "joined"


class MemberLeft(MembershipChanged[api.MemberLeft]):
    EVENT = api.MemberLeft
    VERB = "left"


class MemberRemoved(MembershipChanged[api.MemberRemoved]):
    EVENT = api.MemberRemoved
    VERB = "was removed from"


class MemberRoleChanged(NodeMessage[api.MemberRoleChanged]):
    EVENT = api.MemberRoleChanged


class FileSent(NodeMessage[api.FileSent]):
    EVENT = api.FileSent


class FileProgress(NodeMessage[api.FileProgress]):
    EVENT = api.FileProgress


class FileFetched(NodeMessage[api.FileFetched]):
    EVENT = api.FileFetched


class LinkCodeReady(NodeMessage[api.LinkCodeReady]):
    """The answer to the link dialog's ask (it takes it from the link)."""

    EVENT = api.LinkCodeReady


class LinkConfirm(NodeMessage[api.LinkConfirm]):
    """The answer to the add-a-device dialog's ask (it takes it from the link)."""

    EVENT = api.LinkConfirm


class DeviceLinkDone(NodeMessage[api.DeviceLinkDone]):
    """The answer to the add-a-device dialog's Link (it takes it from the link)."""

    EVENT = api.DeviceLinkDone


class LinkRequested(NodeMessage[api.LinkRequested]):
    EVENT = api.LinkRequested


class LinkCancelled(NodeMessage[api.LinkCancelled]):
    EVENT = api.LinkCancelled


class DeviceLinked(NodeMessage[api.DeviceLinked]):
    EVENT = api.DeviceLinked


class DeviceUnlinked(NodeMessage[api.DeviceUnlinked]):
    EVENT = api.DeviceUnlinked


class SearchResults(NodeMessage[api.SearchResults]):
    """The answer to the search screen's ask (it takes it from the link); nothing else uses it."""

    EVENT = api.SearchResults


class Rekeyed(NodeMessage[api.Rekeyed]):
    """Rekeys done: the answer to ``/rekey`` (its command takes it from the link), or one on a
    circle's schedule (nothing on screen is about it)."""

    EVENT = api.Rekeyed


class HistorySetting(NodeMessage[api.HistorySetting]):
    """The history setting: the answer to ``/history`` (its command takes it from the link)."""

    EVENT = api.HistorySetting


def _kinds(cls: type[NodeMessage[api.Event]]) -> dict[type[api.Event], type[NodeMessage[api.Event]]]:
    out = {}
    for sub in cls.__subclasses__():
        if sub.EVENT is not api.Event:
            out[sub.EVENT] = sub
        out.update(_kinds(sub))
    return out


BY_EVENT = _kinds(NodeMessage)
"""The message class of each kind of node event the app posts."""
NOT_POSTED: tuple[type[api.Event], ...] = (api.RecordDropped,)
"""Events the app does not post: nothing on screen is about them (the node's log has each),
and a stranger's flood of dropped records must not queue work for the screen."""


def for_event(event: api.Event) -> NodeMessage[api.Event]:
    """The typed message for one node event (a kind added to the API later: the plain base)."""
    return BY_EVENT.get(type(event), NodeMessage)(event)
