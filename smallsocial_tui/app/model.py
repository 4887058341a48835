"""What the TUI knows, built only from the node's events: circles as a tree, histories, members.

Plain Python (no Textual): the widgets render from it and the tests can check it
directly. Nothing here trusts the text it holds; widgets pass it through
:func:`smallsocial_tui.text.safe` when they draw it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from protocol import display, timeline
from protocol.identity import peer_id
from protocol.node import api
from smallsocial_tui.text import safe_name, short_key

if TYPE_CHECKING:
    from smallsocial_tui.imagepreview import Preview


@dataclass
class Row:
    """One message as shown: edits and deletes applied (:mod:`protocol.timeline`), reactions under it."""

    id: bytes
    author: bytes
    ts: int
    kind: str
    text: str | None
    ref: bytes | None
    edited: bool = False
    deleted: bool = False
    reactions: dict[str, list[bytes]] = field(default_factory=dict)
    pending: bool = False
    changed_at: int | None = None
    """The author's time of the newest edit or delete applied live (see :class:`timeline.Version`)."""
    carried: bool = False
    """Carried into this fork from its parent (its author and time are the original's)."""
    preview: Preview | None = None
    """A picture's thumbnail, drawn under its line once the picture is here (a file message)."""

    def react(self, author: bytes, emoji: str) -> None:
        who = self.reactions.setdefault(emoji, [])
        if author not in who:
            who.append(author)


class History:
    """The messages of one circle, in order, with an index by record id."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.by_id: dict[bytes, Row] = {}
        self.read_marker: bytes | None = None
        self.missing = 0
        self.loaded = False

    @classmethod
    def from_loaded(cls, ev: api.HistoryLoaded) -> History:
        h = cls()
        h.read_marker = ev.read_marker
        h.missing = ev.missing
        h.loaded = True
        for e in ev.entries:
            row = h.apply(e.id, e.author, e.ts, e.kind, e.text, e.ref, edited=e.edited, deleted=e.deleted)
            if row is not None and e.carried_from is not None and row.id == e.id:
                row.carried = True
        return h

    def apply(
        self,
        rid: bytes,
        author: bytes,
        ts: int,
        kind: str,
        text: str | None,
        ref: bytes | None,
        *,
        edited: bool = False,
        deleted: bool = False,
    ) -> Row | None:
        """Add one record; returns the row that changed (new or updated), or None."""
        if kind in timeline.READABLE:
            if rid in self.by_id:
                return None
            row = Row(rid, author, ts, kind, text, ref, edited, deleted)
            self.rows.append(row)
            self.by_id[rid] = row
            return row
        target = self.by_id.get(ref) if ref is not None else None
        if target is None:
            return None
        if kind == "react" and text:
            target.react(author, text)
            return target
        shown = timeline.Version(target.text, target.edited, target.deleted, target.changed_at)
        version = timeline.revise(shown, target.author, timeline.Change(kind, author, ts, target.id, text))
        if version is None:
            return None
        target.text, target.edited, target.deleted = version.text, version.edited, version.deleted
        target.changed_at = version.at
        return target

    def first_unread(self, me: bytes) -> int | None:
        """Index of the first row after the read marker written by someone else, if any."""
        start = 0
        if self.read_marker is not None:
            for i in range(len(self.rows) - 1, -1, -1):
                if self.rows[i].id == self.read_marker:
                    start = i + 1
                    break
        for i in range(start, len(self.rows)):
            if self.rows[i].author != me:
                return i
        return None

    def last_own(self, me: bytes) -> Row | None:
        for row in reversed(self.rows):
            if row.author == me and not row.deleted:
                return row
        return None


@dataclass
class CircleNode:
    summary: api.CircleSummary
    children: list[bytes] = field(default_factory=list)
    loud: bool = False
    muted: bool = False
    """No notifications, and its unread messages do not count in the circles above it."""

    @property
    def id(self) -> bytes:
        return self.summary.id


class State:
    """Everything the UI shows, updated from node events."""

    def __init__(self) -> None:
        self.me = b""
        self.peer_id = ""
        self.name = ""
        self.addrs: tuple[str, ...] = ()
        self.reach: tuple[str, str] = ("", "")
        """How friends reach my node (``direct``, ``relay``, ``lan``, ``nowhere``) and what to do."""
        self.circles: dict[bytes, CircleNode] = {}
        self.roots: list[bytes] = []
        self.contacts: dict[bytes, str] = {}
        self.names: dict[bytes, str] = {}
        """Display names members announced for themselves (signed, but chosen by them)."""
        self.connected: set[str] = set()
        self.person = b""
        """My person's key: the key friends invite (``me`` unless this is a linked device)."""
        self.devices: tuple[api.MyDevice, ...] = ()
        """My person's devices with their names (the person's key first), from the node."""
        self.unlinked_by: bytes | None = None
        """Set when this device was unlinked: by which person."""
        self.histories: dict[bytes, History] = {}
        self.members: dict[bytes, api.MembersLoaded] = {}
        self._persons: tuple[tuple[api.MembersLoaded, ...], dict[bytes, bytes]] | None = None
        self.syncing = False

    # overview -----------------------------------------------------------------
    def load_overview(self, ev: api.OverviewLoaded, loud: set[bytes]) -> None:
        self.me, self.peer_id, self.name, self.addrs = ev.me, ev.peer_id, ev.name, ev.addrs
        self.contacts = dict(ev.contacts)
        self.names = dict(ev.names)
        self.connected = set(ev.connected)
        self.person, self.devices, self.unlinked_by = ev.person or ev.me, ev.devices, ev.unlinked_by
        self.circles = {
            c.id: CircleNode(c, loud=c.notify == "loud" or c.id in loud, muted=c.notify == "muted")
            for c in ev.circles
        }
        self.roots = []
        for c in ev.circles:
            parent = self.circles.get(c.parent) if c.parent else None
            if parent is not None and parent.id != c.id:
                parent.children.append(c.id)
            else:
                self.roots.append(c.id)

    def walk(self) -> Iterator[tuple[int, CircleNode]]:
        """Circles in tree order with their depth (a cycle in bad data is cut)."""
        seen: set[bytes] = set()

        def go(cid: bytes, depth: int) -> Iterator[tuple[int, CircleNode]]:
            if cid in seen:
                return
            seen.add(cid)
            node = self.circles[cid]
            yield depth, node
            for child in node.children:
                yield from go(child, depth + 1)

        for root in self.roots:
            yield from go(root, 0)

    def order(self) -> list[bytes]:
        return [n.id for _, n in self.walk()]

    def rolled_up(self, cid: bytes) -> tuple[int, int]:
        """(unread, mentions) of a circle and everything under it that is not muted."""
        node = self.circles[cid]
        unread, ment = node.summary.unread, node.summary.mentions
        stack, seen = list(node.children), {cid}
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            n = self.circles[c]
            if not n.muted:
                unread += n.summary.unread
                ment += n.summary.mentions
            stack.extend(n.children)
        return unread, ment

    def bump(self, cid: bytes, *, mention: bool) -> None:
        node = self.circles.get(cid)
        if node is not None:
            s = node.summary
            node.summary = replace(s, unread=s.unread + 1, mentions=s.mentions + int(mention))

    def clear_unread(self, cid: bytes) -> None:
        node = self.circles.get(cid)
        if node is not None:
            node.summary = replace(node.summary, unread=0, mentions=0)

    # names ----------------------------------------------------------------------
    def who(self, key: bytes) -> str:
        """How a key is shown: me, a petname, an announced name or the short key (:func:`display.who`);
        a device's key as its person (from the members loaded so far)."""
        persons = self.persons()
        return display.who(
            key, me=self.me, my_name=self.name, contacts=self.contacts, names=self.names, persons=persons
        )

    def persons(self) -> dict[bytes, bytes]:
        """Device key -> its person's key, from every circle's members loaded so far (worked out
        again only when a circle's members were loaded anew: ``who`` runs for every row drawn)."""
        loaded = tuple(self.members.values())
        cached = self._persons
        if (
            cached is None
            or len(cached[0]) != len(loaded)
            or any(a is not b for a, b in zip(cached[0], loaded, strict=True))
        ):
            found = {d: m.key for ev in loaded for m in ev.members for d in m.devices}
            self._persons = cached = (loaded, found)
        return cached[1]

    def my_devices(self) -> list[bytes]:
        """My person's key and their linked devices' keys (just mine when no device is linked)."""
        if self.devices:
            return [d.key for d in self.devices if d.linked or d.key == self.person]
        for loaded in self.members.values():
            for m in loaded.members:
                if m.key == self.me or self.me in m.devices:
                    return [m.key, *m.devices]
        return [self.me] if self.me else []

    def device_label(self, key: bytes) -> str:
        """A device of my person as shown: its name and short key (the short key alone if unnamed)."""
        name = next((d.name for d in self.devices if d.key == key), "")
        short = short_key(peer_id(key))
        return f"{safe_name(name, 32)} ({short})" if name else short

    def person_name(self) -> str:
        """My person's name: on a linked device, the display name it took from its person at the link."""
        return safe_name(self.name, 32) if self.name else self.who(self.person)

    def unlinker_name(self) -> str:
        """Who unlinked this device ("" if nobody): as I name them, else my name (it was theirs)."""
        by = self.unlinked_by
        if by is None:
            return ""
        return self.who(by) if by in self.contacts or by in self.names else safe_name(self.name, 32)

    def is_linked_device(self) -> bool:
        """This profile is a linked device of a person (its own key is not the person's)."""
        return bool(self.person) and self.person != self.me

    def circle_name(self, cid: bytes) -> str:
        node = self.circles.get(cid)
        return safe_name(node.summary.name, 40) if node else cid.hex()[:12]

    def member_keys(self, cid: bytes) -> list[bytes]:
        loaded = self.members.get(cid)
        return [m.key for m in loaded.members] if loaded else []

    def relays(self) -> set[str]:
        return {a for n in self.circles.values() for a in n.summary.relays}
