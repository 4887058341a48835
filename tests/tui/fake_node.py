"""A fake node for Pilot tests: answers every command with the events the real node would send.

It keeps circles, histories and members in memory, answers on the app's thread
(through the same callback the real node uses), and lets a test inject what
other people do (``receive``, ``fork_invite``, ``peer``). It never loads libp2p.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.identity import Identity
from protocol.node import api
from protocol.node.paths import ProfilePaths
from smallsocial_tui.app.node_client import EventCallback

BAD_TOKEN_REASON = "This invitation token is damaged; ask for a new one."


def ident(n: int) -> Identity:
    return Identity.from_seed(bytes([n]) * 32)


@dataclass
class FakeCircle:
    id: bytes
    name: str
    parent: bytes | None = None
    status: str = "member"
    members: dict[bytes, tuple[str, bytes | None]] = field(default_factory=dict)  # key: (role, invited_by)
    devices: dict[bytes, tuple[bytes, ...]] = field(default_factory=dict)  # person: their devices' keys
    entries: list[api.HistoryEntry] = field(default_factory=list)
    unread: int = 0
    mentions: int = 0
    read_marker: bytes | None = None
    missing: int = 0
    relays: tuple[str, ...] = ()
    notify: str = "quiet"


class FakeNode:
    def __init__(self, me: Identity | None = None, name: str = "alice", ts: int = 1_700_000_000_000) -> None:
        self.me = me or ident(1)
        self.name = name
        self.on_event: EventCallback = lambda ev: None
        self.circles: dict[bytes, FakeCircle] = {}
        self.contacts: dict[bytes, str] = {}
        self.connected: set[str] = set()
        self.commands: list[api.Command] = []
        self.started = self.stopped = False
        self.ts = ts
        self._seq = 0
        self.tokens: dict[str, bytes] = {}

    # the seam -----------------------------------------------------------------------
    def factory(self, paths: ProfilePaths, passphrase: str | None, on_event: EventCallback) -> FakeNode:
        self.paths, self.passphrase, self.on_event = paths, passphrase, on_event
        return self

    def start(self) -> None:
        self.started = True
        self.emit(api.NodeStarted(self.me.peer_id, ("/ip4/127.0.0.1/tcp/4001",)))

    def stop(self) -> bool:
        self.stopped = True
        self.emit(api.NodeStopped())
        return True

    def emit(self, ev: api.Event) -> None:
        self.on_event(ev)

    # building a world -------------------------------------------------------------------
    def _id(self, tag: str) -> bytes:
        self._seq += 1
        return (tag.encode() + self._seq.to_bytes(4, "big")).ljust(32, b"\0")[:32]

    def add_circle(
        self,
        name: str,
        *,
        parent: bytes | None = None,
        members: tuple[bytes, ...] = (),
        status: str = "member",
    ) -> bytes:
        cid = self._id("c" + name[:8])
        c = FakeCircle(cid, name, parent, status)
        c.members[self.me.public_key] = ("admin", None)
        for m in members:
            c.members[m] = ("member", self.me.public_key)
        self.circles[cid] = c
        return cid

    def add_message(
        self,
        circle: bytes,
        author: bytes,
        text: str,
        *,
        kind: str = "text",
        ref: bytes | None = None,
        **kw: bool,
    ) -> api.HistoryEntry:
        self.ts += 60_000
        e = api.HistoryEntry(
            self._id("m"), author, len(self.circles[circle].entries) + 1, self.ts, kind, text, ref, **kw
        )
        self.circles[circle].entries.append(e)
        return e

    def receive(
        self, circle: bytes, author: bytes, text: str, *, kind: str = "text", ref: bytes | None = None
    ) -> bytes:
        """Someone else's message arrives (stored, then the event)."""
        e = self.add_message(circle, author, text, kind=kind, ref=ref)
        if kind in ("text", "reply") and author != self.me.public_key:
            self.circles[circle].unread += 1
        self.emit(api.MessageReceived(circle, e.id, author, e.seq, e.ts, kind, text, ref))
        return e.id

    def receive_many(self, circle: bytes, author: bytes, texts: list[str]) -> None:
        """A catch-up: many messages stored at once, told with one ``MessagesArrived``."""
        for text in texts:
            self.add_message(circle, author, text)
            self.circles[circle].unread += author != self.me.public_key
        self.emit(api.MessagesArrived(circle, len(texts)))

    # answering ------------------------------------------------------------------------------
    def submit(self, cmd: api.Command) -> None:
        self.commands.append(cmd)
        rid = cmd.request_id
        me = self.me.public_key
        if isinstance(cmd, api.LoadOverview):
            self.emit(
                api.OverviewLoaded(
                    rid, me, self.me.peer_id, self.name, ("/ip4/127.0.0.1/tcp/4001",),
                    tuple(
                        api.CircleSummary(c.id, c.name, c.parent, c.status, len(c.members), 1,
                                          c.unread, c.mentions, c.relays, notify=c.notify)
                        for c in self.circles.values()
                    ),
                    tuple(self.contacts.items()), tuple(sorted(self.connected)),
                )
            )  # fmt: skip
        elif isinstance(cmd, api.LoadHistory):
            c = self.circles[cmd.circle]
            self.emit(api.HistoryLoaded(rid, c.id, tuple(c.entries[-cmd.limit :]), c.read_marker, c.missing))
        elif isinstance(cmd, api.LoadMembers):
            c = self.circles[cmd.circle]
            infos = tuple(
                api.MemberInfo(
                    k,
                    Identity_peer(k),
                    role,
                    by,
                    k == me or Identity_peer(k) in self.connected,
                    devices=c.devices.get(k, ()),
                )
                for k, (role, by) in c.members.items()
            )
            self.emit(api.MembersLoaded(rid, c.id, infos, ()))
        elif isinstance(cmd, api.SendMessage):
            kind = "reply" if cmd.reply_to else "text"
            e = self.add_message(cmd.circle, me, cmd.text, kind=kind, ref=cmd.reply_to)
            self.emit(api.MessageSent(rid, cmd.circle, e.id, e.seq))
        elif isinstance(cmd, (api.ReactTo, api.EditMessage, api.DeleteMessage)):
            kind = {api.ReactTo: "react", api.EditMessage: "edit", api.DeleteMessage: "delete"}[type(cmd)]
            text = getattr(cmd, "emoji", None) or getattr(cmd, "text", None)
            e = self.add_message(cmd.circle, me, text or "", kind=kind, ref=cmd.target)
            self.emit(api.MessageSent(rid, cmd.circle, e.id, e.seq))
        elif isinstance(cmd, api.MarkRead):
            c = self.circles[cmd.circle]
            c.read_marker, c.unread, c.mentions = cmd.record, 0, 0
            self.emit(api.CommandDone(rid))
        elif isinstance(cmd, api.SetDisplayName):
            self.name = cmd.name
            self.emit(api.CommandDone(rid))
        elif isinstance(cmd, api.SetPetname):
            self.contacts[cmd.key] = cmd.petname
            self.emit(api.CommandDone(rid))
        elif isinstance(cmd, api.CreateCircle):
            cid = self.add_circle(cmd.name)
            self.emit(api.CircleCreated(rid, cid, cmd.name))
        elif isinstance(cmd, api.InviteKey):
            token = f"ssi1-{cmd.circle.hex()[:8]}-{cmd.invitee.hex()[:8]}-{cmd.role}"
            self.tokens[token] = cmd.circle
            self.emit(api.InviteCreated(rid, cmd.circle, token))
        elif isinstance(cmd, api.AcceptInvite):
            if cmd.token.startswith("good-"):
                cid = self.add_circle(cmd.token[5:], members=(ident(2).public_key,))
                self.emit(api.CircleJoined(rid, cid, cmd.token[5:]))
            else:
                self.emit(api.CommandFailed(rid, BAD_TOKEN_REASON))
        elif isinstance(cmd, api.AcceptFork):
            self.circles[cmd.circle].status = "member"
            self.emit(api.CircleJoined(rid, cmd.circle, self.circles[cmd.circle].name))
        elif isinstance(cmd, api.ForkCircle):
            cid = self.add_circle(cmd.name, parent=cmd.circle, members=cmd.members)
            self.emit(api.CircleForked(rid, cid, cmd.circle, cmd.name, invited=False))
        elif isinstance(cmd, api.RemoveMember):
            self.circles[cmd.circle].members.pop(cmd.member, None)
            self.emit(api.CommandDone(rid))
            self.emit(api.MemberRemoved(cmd.circle, cmd.member))
        elif isinstance(cmd, api.ChangeRole):
            members = self.circles[cmd.circle].members
            if cmd.member not in members:
                self.emit(api.CommandFailed(rid, "That key is not a member of this circle."))
                return
            members[cmd.member] = (cmd.role, members[cmd.member][1])
            self.emit(api.CommandDone(rid))
            self.emit(api.MemberRoleChanged(cmd.circle, cmd.member, cmd.role))
        elif isinstance(cmd, api.LeaveCircle):
            self.circles[cmd.circle].status = "left"
            self.emit(api.CommandDone(rid))
            self.emit(api.MemberLeft(cmd.circle, me))
        elif isinstance(cmd, api.SetNotify):
            self.circles[cmd.circle].notify = cmd.level
            self.emit(api.NotifySet(rid, (cmd.circle,), cmd.level))
        else:
            self.emit(api.CommandDone(rid))

    def sent(self, kind: type[api.Command]) -> list[api.Command]:
        return [c for c in self.commands if isinstance(c, kind)]


def Identity_peer(key: bytes) -> str:
    from protocol.identity import peer_id

    return peer_id(key)
