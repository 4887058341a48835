"""The member node: a circle's records live on libp2p gossipsub, made reliable by sync.

One :class:`Node` per profile, run under trio. It subscribes to every circle the
profile is a member of; the topic validator runs the core's checks, so
non-members' and forged records are neither stored nor forwarded; accepted
records are committed once (deduplicated by record id) through
:mod:`protocol.node.ingest`. A paced publisher drains the outbox (py-libp2p's
``publish`` never blocks and drops silently past 32 queued messages per peer).
The sync protocol (:mod:`protocol.node.syncwire`) pulls what gossip lost: on
connect, on a detected gap, and every ``sync_interval`` seconds. Known member
addresses are redialled with backoff. Commands come in on a trio channel and
events go out through ``emit``: see :mod:`protocol.node.api`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import multiaddr
import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.pb import rpc_pb2
from libp2p.tools.anyio_service import background_trio_service

from protocol import circle, messages, presence, records, schema
from protocol.chain import Duplicate
from protocol.errors import ProtocolError
from protocol.identity import peer_id
from protocol.node import api, pinning, queries, syncer, syncwire
from protocol.node.blocklist import BlockList
from protocol.node.host import DEFAULT_LISTEN, key_of, make_gossipsub, make_host, make_pubsub
from protocol.node.ingest import ingest
from protocol.node.profile import Profile
from protocol.records import Record
from protocol.view import Dropped, Held, Stored

LOG = logging.getLogger("smallsocial.node")
PUBLISH_GROUP = 4
PRESENCE_INTERVAL = 60.0
"""Seconds between presence announcements in each circle."""
ACTIVE = ("member", "relay")
"""Circle statuses the node takes part in: as a member, or as the circle's relay."""
GREET_TIMEOUT = 15.0
"""Seconds a new peer has to join a shared circle's mesh before I stop waiting to greet it."""
HINT_DELAY = 1.0
"""Seconds after the outbox drains before peers are nudged to pull what gossip dropped."""
"""Outbox records published back to back before the publisher pauses."""
Emit = Callable[[api.Event], None]


class RateLimit:
    """A token bucket per author: ``rate`` records/s with bursts of ``burst``."""

    def __init__(
        self, rate: float = 100.0, burst: float = 400.0, clock: Callable[[], float] = time.monotonic
    ):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def allow(self, author: bytes) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(author, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[author] = (tokens, now)
            return False
        self._buckets[author] = (tokens - 1, now)
        return True


class BoundedCache(OrderedDict[bytes, Record]):
    """Records the validator already parsed, by their bytes, for the receive loop (oldest evicted)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: bytes, value: Record) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)


class _Notifee(INotifee):
    def __init__(self, node: Node) -> None:
        self.node = node

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self.node._on_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self.node._on_disconnected(conn.muxed_conn.peer_id)

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass


class Node:
    """A headless member node for one profile."""

    def __init__(
        self,
        profile: Profile,
        emit: Emit,
        *,
        listen: list[str] | None = None,
        peers: list[str] | None = None,
        sync_interval: float = 30.0,
        publish_interval: float = 0.004,
        dial_interval: float = 2.0,
    ) -> None:
        self.profile = profile
        self.emit = emit
        self.listen = listen or [DEFAULT_LISTEN]
        self.extra_peers = list(peers or [])
        self.sync_interval = sync_interval
        self.publish_interval = publish_interval
        self.dial_interval = dial_interval
        self.rate = RateLimit()
        self.blocklist = BlockList.for_profile(profile.paths.root)
        self.stats: dict[str, int] = defaultdict(int)
        self.commands_in, self._commands_out = trio.open_memory_channel[api.Command](1000)
        self._outbox_ready = trio.Event()
        self._stop = trio.Event()
        self._topics: dict[str, bytes] = {}
        self._connected: set[ID] = set()
        self._sync_wanted: trio.MemorySendChannel[tuple[ID, bytes | None]]
        self._sync_queue: trio.MemoryReceiveChannel[tuple[ID, bytes | None]]
        self._sync_wanted, self._sync_queue = trio.open_memory_channel[tuple[ID, bytes | None]](1000)
        self._backoff: dict[str, tuple[float, float]] = {}
        self._sync_pending: set[tuple[ID, bytes | None]] = set()
        self._parsed: BoundedCache = BoundedCache(4096)
        self._hint_pending: set[bytes] = set()
        self._publish_lock = trio.Lock()
        self.addrs: list[str] = []
        self.token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._outer_emit = emit
        self.emit = self._emit
        self._waiters: dict[int, trio.MemorySendChannel[api.Event]] = {}
        self._listeners: list[trio.MemorySendChannel[api.Event]] = []

    def _emit(self, event: api.Event) -> None:
        rid = getattr(event, "request_id", None)
        if rid is not None and rid in self._waiters:
            self._waiters.pop(rid).send_nowait(event)
        for ch in list(self._listeners):
            try:
                ch.send_nowait(event)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._listeners.remove(ch)
        self._outer_emit(event)

    async def call(self, cmd: api.Command) -> api.Event:
        """Run a command now and return the event that answers it."""
        send, recv = trio.open_memory_channel[api.Event](1)
        self._waiters[cmd.request_id] = send
        try:
            await self._handle_reporting(cmd)
            with trio.fail_after(10):
                return await recv.receive()
        finally:
            self._waiters.pop(cmd.request_id, None)

    def listen_events(self) -> trio.MemoryReceiveChannel[api.Event]:
        send, recv = trio.open_memory_channel[api.Event](10000)
        self._listeners.append(send)
        return recv

    # lifecycle -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the node to shut down (from the trio thread)."""
        self._stop.set()

    def submit_nowait(self, command: api.Command) -> None:
        self.commands_in.send_nowait(command)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.host = make_host(self.profile.identity, self.listen)
        self.gossipsub = make_gossipsub()
        self.pubsub = make_pubsub(self.host, self.gossipsub)
        listen = [multiaddr.Multiaddr(a) for a in self.listen]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.host.run(listen_addrs=listen))
            await self.host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            self.host.get_network().register_notifee(_Notifee(self))
            await stack.enter_async_context(background_trio_service(self.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossipsub))
            await self.pubsub.wait_until_ready()
            self.host.set_stream_handler(TProtocol(syncwire.PROTOCOL), self._serve_sync)
            self._more_handlers()
            self.addrs = [str(a) for a in self.host.get_addrs()]
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    for c in self.profile.store.circles():
                        if c.status in ACTIVE:
                            await self._join_topic(c.id)
                    nursery.start_soon(self._publisher)
                    nursery.start_soon(self._dialer)
                    nursery.start_soon(self._syncer)
                    nursery.start_soon(self._periodic_sync)
                    nursery.start_soon(self._command_loop)
                    nursery.start_soon(self._announcer)
                    self._more_tasks(nursery)
                    self.emit(api.NodeStarted(self.profile.identity.peer_id, tuple(self.addrs)))
                    task_status.started()
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
            finally:
                with trio.move_on_after(2) as scope:
                    scope.shield = True
                    await self._disconnect_all()

    def _more_handlers(self) -> None:
        """Stream handlers a subclass adds (the relay's pin stream)."""

    def _more_tasks(self, nursery: trio.Nursery) -> None:
        """Background tasks a subclass adds (the relay's retention sweep and status)."""

    async def _disconnect_all(self) -> None:
        async with trio.open_nursery() as n:
            for pid in list(self.host.get_network().connections):
                n.start_soon(self._disconnect_quietly, pid)

    async def _disconnect_quietly(self, pid: ID) -> None:
        try:
            await self.host.disconnect(pid)
        except Exception as e:  # a peer already gone
            LOG.debug("disconnect %s: %s", pid, e)

    # topics and the validator ----------------------------------------------
    async def _join_topic(self, circle_id: bytes) -> None:
        t = circle.topic(circle_id)
        if t in self._topics:
            return
        self._topics[t] = circle_id
        # A synchronous validator runs inline; an async one costs py-libp2p a nursery per message.
        self.pubsub.set_topic_validator(t, self._validator, False)
        sub = await self.pubsub.subscribe(t)
        assert self._nursery is not None
        self._nursery.start_soon(self._receive, circle_id, sub)

    def _drop(self, circle_id: bytes | None, reason: str) -> None:
        self.stats["dropped"] += 1
        LOG.info("dropped a record: %s", reason)
        self.emit(api.RecordDropped(circle_id, reason))

    def _validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if self.blocklist.blocked(forwarder.to_base58()):
            return False
        cid = next((self._topics[t] for t in msg.topicIDs if t in self._topics), None)
        if cid is None:
            return False
        try:
            record = records.parse(msg.data)
        except ProtocolError as e:
            self._drop(cid, f"from {forwarder}: {type(e).__name__}: {e}")
            return False
        self._parsed[msg.data] = record
        if record.circle != cid:
            self._drop(cid, "a record published on another circle's topic")
            return False
        if record.author == self.profile.me:
            # My own publish passes; a replay of my record by someone else is not forwarded again.
            return bool(forwarder == self.host.get_id())
        if not self.rate.allow(record.author):
            self._drop(cid, f"rate limit for author {peer_id(record.author)}")
            return False
        if record.type == records.PRESENCE:
            why = presence.check(record, self.profile.view(cid).roster, self.profile._now_ms())
            if why is not None:
                self._drop(cid, why)
                return False
            with contextlib.suppress(sqlite3.OperationalError):  # a full disk: the next one will do
                self.profile.store.add_peer_addrs(
                    cid, list(record.body["ad"]), "presence", self.profile._now()
                )
            return True
        try:
            verdict = self.profile.view(cid).check(record)
        except ProtocolError as e:
            self._drop(cid, str(e))
            return False
        if verdict is None:
            return True
        if isinstance(verdict, Held):
            # Keep it aside only when its author is someone the roster knows; a stranger's
            # unplaceable record is not stored (sync will bring it if it is real).
            if self.profile.view(cid).known(record.author):
                with contextlib.suppress(sqlite3.OperationalError):  # a full disk: sync brings it
                    self.profile.store.hold(record, verdict.reason, self.profile._now())
            self._want_sync(forwarder, cid)
            return False
        if isinstance(verdict, Dropped):
            self._drop(cid, verdict.reason)
        return False

    async def _receive(self, circle_id: bytes, sub: Any) -> None:
        async for msg in sub:
            record = self._parsed.pop(msg.data, None)
            if record is None:
                try:
                    record = records.parse(msg.data)
                except ProtocolError:
                    continue
            if record.type != records.PRESENCE:
                self._take(record, ID(msg.from_id))

    def _take(self, record: Record, source: ID | None) -> bool:
        """Ingest one record and emit what it means; True if it was stored."""
        view = self.profile.view(record.circle)
        before = view.roster
        try:
            outcome = ingest(self.profile, record)
        except sqlite3.OperationalError as e:
            # A full disk: nothing of it was kept (and the profile dropped its cached views),
            # so sync asks for it again later; the node stays up.
            LOG.warning("could not store a record: %s", e)
            self.stats["write_failed"] += 1
            return False
        if isinstance(outcome, Held):
            if source is not None:
                self._want_sync(source, record.circle)
            return False
        if isinstance(outcome, Dropped):
            self._drop(record.circle, outcome.reason)
            return False
        if isinstance(outcome, Duplicate) or not isinstance(outcome, Stored):
            return False
        self.stats["stored"] += 1
        self._announce(record.circle, outcome, before)
        if outcome.missing and source is not None:
            self.emit(api.GapDetected(record.circle, record.author, outcome.missing))
            self._want_sync(source, record.circle)
        return True

    def _announce(self, circle_id: bytes, outcome: Stored, before: Any) -> None:
        view = self.profile.view(circle_id)
        keys = None
        for r in outcome.delivered:
            if r.type == records.MSG and r.author != self.profile.me:
                keys = keys or self.profile.epoch_keys(circle_id)
                key = keys.get(bytes(r.body["e"]))
                if key is None:
                    continue
                try:
                    c = messages.open_message(r, key)
                except ProtocolError as e:
                    self._drop(circle_id, f"undecryptable message: {e}")
                    continue
                self.emit(api.MessageReceived(circle_id, r.id, r.author, r.seq, c.ts, c.kind, c.text, c.ref))
            elif r.type == records.FORK:
                row = self.profile.store.circle(circle_id)
                for child in self.profile.store.circles():
                    if child.fork_record == r.raw and row is not None:
                        name = self.profile.circle_name(child)
                        self.emit(api.CircleForked(None, child.id, circle_id, name, invited=True))
        if outcome.roster_changed:
            after = view.roster
            for k in after.members.keys() - before.members.keys():
                self.emit(api.MemberJoined(circle_id, k))
            for k, d in after.departed.items():
                if k not in before.departed:
                    ev = api.MemberRemoved if d.kind == "removed" else api.MemberLeft
                    self.emit(ev(circle_id, k))

    # publishing ------------------------------------------------------------
    def _kick_outbox(self) -> None:
        self._outbox_ready.set()

    async def _publisher(self) -> None:
        published: set[bytes] = set()
        while True:
            pending = self.profile.store.outbox()
            if not pending:
                if published:
                    self._hint_after(set(published))
                    published.clear()
                self._outbox_ready = trio.Event()
                with trio.move_on_after(1.0):
                    await self._outbox_ready.wait()
                continue
            for n, (rid, raw) in enumerate(pending):
                cid = await self._publish_one(rid, raw)
                if cid is not None:
                    published.add(cid)
                # A few back to back, then a pause: py-libp2p drops silently past 32 queued per peer.
                await trio.sleep(self.publish_interval if n % PUBLISH_GROUP == PUBLISH_GROUP - 1 else 0)

    async def _publish_one(self, rid: bytes, raw: bytes) -> bytes | None:
        """Publish one outbox record unless someone already did; returns its circle if published."""
        async with self._publish_lock:
            if not self.profile.store.unsent(rid):
                return None
            cid = self.profile.store.circle_of(rid)
            published = None
            if cid is not None:
                t = circle.topic(cid)
                if t not in self._topics and self._is_member(cid):
                    await self._join_topic(cid)
                if t in self._topics:
                    await self.pubsub.publish(t, raw)
                    published = cid
                    self.emit(api.MessagePublished(cid, rid))
            try:
                self.profile.store.mark_sent(rid, self.profile._now())
            except sqlite3.OperationalError as e:  # a full disk: published again later, deduplicated
                LOG.warning("could not mark a record sent: %s", e)
            return published

    def _hint_after(self, circles: set[bytes]) -> None:
        if self._hint_pending:
            self._hint_pending |= circles  # one nudge per HINT_DELAY, however many sends
            return
        self._hint_pending = set(circles)
        self._schedule_hint()

    def _schedule_hint(self) -> None:
        """After a send, pull from each peer once: seeing my newer vector, they pull from me.

        Gossip can drop the tail of a burst (py-libp2p's per-peer and subscription queues hold
        32), and a receiver only notices a gap when a later record arrives; this closes the tail.
        """

        async def later() -> None:
            await trio.sleep(HINT_DELAY)
            circles, self._hint_pending = self._hint_pending, set()
            for pid in list(self._connected):
                for cid in circles:
                    self._want_sync(pid, cid)

        if self._nursery is not None:
            self._nursery.start_soon(later)

    async def _announcer(self) -> None:
        """Tell each circle where I am: soon after start, then every minute (new peers: `_greet`)."""
        await trio.sleep(1.0)
        while True:
            for c in self.profile.store.circles():
                if c.status in ACTIVE:
                    await self._announce_presence(c.id)
            await trio.sleep(PRESENCE_INTERVAL)

    async def _announce_presence(self, circle_id: bytes) -> None:
        """Publish a fresh signed presence record (my addresses) in one circle."""
        addrs = self.public_addrs()[: schema.MAX_ADDRS]
        topic = circle.topic(circle_id)
        if addrs and topic in self._topics:
            rec = presence.announce(self.profile.identity, circle_id, addrs, self.profile._now_ms())
            await self.pubsub.publish(topic, rec.raw)

    async def _greet(self, pid: ID) -> None:
        """Announce myself to a newly connected peer once it is in each shared circle's mesh.

        Publishing right at connect time reaches nobody: the peer's subscriptions
        and the mesh graft arrive a heartbeat or more later, and a busy machine
        stretches that. So wait for the mesh per circle (bounded), then publish.
        """

        async def one(circle_id: bytes) -> None:
            with trio.move_on_after(GREET_TIMEOUT):
                try:
                    await self.pubsub.wait_for_mesh(pid, circle.topic(circle_id), timeout=GREET_TIMEOUT)
                except trio.TooSlowError:
                    return  # not a member there, or gone again
                await self._announce_presence(circle_id)

        async with trio.open_nursery() as n:
            for c in self.profile.store.circles():
                if c.status in ACTIVE:
                    n.start_soon(one, c.id)

    def _is_member(self, circle_id: bytes) -> bool:
        row = self.profile.store.circle(circle_id)
        return row is not None and row.status in ACTIVE

    # peers -----------------------------------------------------------------
    def _on_connected(self, pid: ID) -> None:
        if self.blocklist.blocked(pid.to_base58()):
            if self._nursery is not None:
                self._nursery.start_soon(self._disconnect_quietly, pid)
            return
        if pid in self._connected:
            return
        self._connected.add(pid)
        self.emit(api.PeerConnected(pid.to_base58()))
        self._want_sync(pid, None)
        if self._nursery is not None:
            self._nursery.start_soon(self._greet, pid)
            self._nursery.start_soon(self._offer_pins, pid)

    async def _offer_pins(self, pid: ID, only: bytes | None = None) -> None:
        """If ``pid`` is a relay pinned to circles of mine, hand it those circles (it cannot know them)."""
        key = key_of(pid)
        if key is None:
            return
        for c in self.profile.store.circles():
            if c.status == "member" and (only is None or c.id == only):
                view = self.profile.view(c.id)
                if key in view.roster.relays:
                    why = await pinning.offer(self, pid, view)
                    if why is not None:
                        LOG.info("relay %s refused circle %s: %s", pid, c.id.hex()[:12], why)

    def _on_disconnected(self, pid: ID) -> None:
        if pid in self._connected and not self.host.get_network().get_connections(pid):
            self._connected.discard(pid)
            self.emit(api.PeerDisconnected(pid.to_base58()))

    def known_addrs(self) -> list[str]:
        addrs = list(self.extra_peers)
        for c in self.profile.store.circles():
            if c.status == "member":
                addrs += [a for r in self.profile.view(c.id).roster.relays.values() for a in r.addrs]
            addrs += self.profile.store.peer_addrs(c.id)
        return [a for a in dict.fromkeys(addrs) if "/p2p/" in a]

    async def connect(self, addr: str) -> bool:
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception as e:
            LOG.info("bad peer address %s: %s", addr, e)
            return False
        if info.peer_id == self.host.get_id() or self.blocklist.blocked(info.peer_id.to_base58()):
            return False
        if self.host.get_network().get_connections(info.peer_id):
            return True
        net = self.host.get_network()
        try:
            net.unblock_peer(info.peer_id)  # type: ignore[attr-defined]
            self.host.get_peerstore().clear_addrs(info.peer_id)
        except Exception:
            pass
        try:
            with trio.fail_after(5):
                await self.host.connect(info)
        except Exception as e:
            LOG.info("dial %s failed: %s", addr, e)
            return False
        return True

    async def _dialer(self) -> None:
        while True:
            now = trio.current_time()
            for pid in list(self._connected):
                if self.blocklist.blocked(pid.to_base58()):
                    await self._disconnect_quietly(pid)
            for addr in self.known_addrs():
                wait_until, delay = self._backoff.get(addr, (0.0, 1.0))
                if now < wait_until:
                    continue
                ok = await self.connect(addr)
                self._backoff[addr] = (0.0, 1.0) if ok else (now + delay, min(delay * 2, 60.0))
            await trio.sleep(self.dial_interval)

    # sync ------------------------------------------------------------------
    def _want_sync(self, pid: ID, circle_id: bytes | None) -> None:
        """Queue a pull from ``pid`` (all shared circles when None); repeats while queued collapse."""
        if (pid, circle_id) in self._sync_pending or (pid, None) in self._sync_pending:
            return
        with contextlib.suppress(trio.WouldBlock):
            self._sync_wanted.send_nowait((pid, circle_id))
            self._sync_pending.add((pid, circle_id))

    async def _periodic_sync(self) -> None:
        while True:
            await trio.sleep(self.sync_interval)
            for pid in list(self._connected):
                self._want_sync(pid, None)

    def _remember(self, pid: ID, key: bytes) -> None:
        """Keep a connected member's listen addresses, so either side can redial later."""
        try:
            addrs = [str(a) for a in self.host.get_peerstore().addrs(pid)]
        except Exception:
            return
        addrs = [f"{a}/p2p/{pid.to_base58()}" for a in addrs if "/tcp/" in a and "/p2p/" not in a][:4]
        if not addrs:
            return
        for c in self.profile.store.circles():
            if c.status in ACTIVE and self.profile.view(c.id).roster.is_member(key):
                self.profile.store.add_peer_addrs(c.id, addrs, "peer", self.profile._now())

    async def _syncer(self) -> None:
        async for pid, cid in self._sync_queue:
            self._sync_pending.discard((pid, cid))
            circles = [cid] if cid else [c.id for c in self.profile.store.circles() if c.status in ACTIVE]
            key = key_of(pid)
            if key is not None and cid is None:
                self._remember(pid, key)
            for c in circles:
                roster = self.profile.view(c).roster
                if key is None or not (roster.is_member(key) or key in roster.relays):
                    continue
                try:
                    with trio.fail_after(30):
                        await self._pull(pid, c)
                except Exception as e:
                    LOG.info("sync of %s with %s failed: %s", c.hex()[:12], pid, e)

    def _held_seqs(self, circle_id: bytes) -> dict[bytes, set[int]]:
        return self.profile.view(circle_id).held_seqs()  # in memory: no store scan per sync

    async def _pull(self, pid: ID, circle_id: bytes) -> None:
        await syncer.pull(self, pid, circle_id)

    async def _serve_sync(self, stream: INetStream) -> None:
        await syncer.serve(self, stream)

    # commands --------------------------------------------------------------
    async def _command_loop(self) -> None:
        async for cmd in self._commands_out:
            await self._handle_reporting(cmd)

    async def _handle_reporting(self, cmd: api.Command) -> None:
        try:
            await self.handle(cmd)
        except (ProtocolError, ValueError) as e:
            self.emit(api.CommandFailed(cmd.request_id, str(e)))
        except Exception as e:
            LOG.exception("command %r failed", cmd)
            self.emit(api.CommandFailed(cmd.request_id, f"Internal error: {e}"))

    async def handle(self, cmd: api.Command) -> None:
        p = self.profile
        if isinstance(cmd, api.SendMessage):
            rec = p.send_text(cmd.circle, cmd.text, reply_to=cmd.reply_to)
            self.emit(api.MessageSent(cmd.request_id, cmd.circle, rec.id, rec.seq))
            if self._publish_lock.locked():
                self._kick_outbox()  # the publisher is busy; it takes this one in turn
            elif await self._publish_one(rec.id, rec.raw) is not None:
                self._hint_after({cmd.circle})  # an idle outbox: publish now, no wake-up delay
        elif isinstance(cmd, (api.ReactTo, api.EditMessage, api.DeleteMessage)):
            kind, text = {
                api.ReactTo: (messages.REACT, getattr(cmd, "emoji", None)),
                api.EditMessage: (messages.EDIT, getattr(cmd, "text", None)),
                api.DeleteMessage: (messages.DELETE, None),
            }[type(cmd)]
            rec = p.send(cmd.circle, messages.Content(kind, p._now_ms(), text, cmd.target))
            self.emit(api.MessageSent(cmd.request_id, cmd.circle, rec.id, rec.seq))
            self._kick_outbox()
        elif isinstance(cmd, api.MarkRead):
            p.store.set_read_marker(cmd.circle, cmd.record, p._now())
            self.emit(api.CommandDone(cmd.request_id))
        elif isinstance(cmd, api.SetDisplayName):
            p.set_display_name(cmd.name)
            self.emit(api.CommandDone(cmd.request_id))
        elif isinstance(cmd, api.SetPetname):
            p.store.set_contact(cmd.key, cmd.petname, p._now())
            self.emit(api.CommandDone(cmd.request_id))
        elif isinstance(cmd, api.PinRelay):
            p.pin(cmd.circle, cmd.addr)
            self.emit(api.CommandDone(cmd.request_id))
            self._kick_outbox()
            if self._nursery is not None:
                self._nursery.start_soon(self._reach_relay, cmd.circle, cmd.addr.strip())
        elif isinstance(cmd, api.LoadOverview):
            connected = [pid.to_base58() for pid in self._connected]
            self.emit(queries.overview(p, cmd.request_id, self.public_addrs(), connected))
        elif isinstance(cmd, api.LoadHistory):
            self.emit(queries.history(p, cmd.request_id, cmd.circle, cmd.limit))
        elif isinstance(cmd, api.LoadMembers):
            connected = [pid.to_base58() for pid in self._connected]
            self.emit(queries.members(p, cmd.request_id, cmd.circle, connected))
        elif isinstance(cmd, api.CreateCircle):
            c = p.new_circle(cmd.name)
            await self._join_topic(c.circle_id)
            self.emit(api.CircleCreated(cmd.request_id, c.circle_id, c.name))
        elif isinstance(cmd, api.InviteKey):
            token = p.invite(
                cmd.circle, cmd.invitee, role=cmd.role, ttl_s=cmd.ttl_s, addrs=self.public_addrs()
            )
            self.emit(api.InviteCreated(cmd.request_id, cmd.circle, token))
            self._kick_outbox()
        elif isinstance(cmd, api.AcceptInvite):
            cid = p.join_token(cmd.token)
            await self._join_topic(cid)
            self.emit(api.CircleJoined(cmd.request_id, cid, self._name(cid)))
            self._kick_outbox()
            for addr in p.store.peer_addrs(cid):
                if self._nursery is not None:
                    self._nursery.start_soon(self.connect, addr)
        elif isinstance(cmd, api.AcceptFork):
            cid = p.accept_fork(cmd.circle)
            await self._join_topic(cid)
            self.emit(api.CircleJoined(cmd.request_id, cid, self._name(cid)))
            self._kick_outbox()
        elif isinstance(cmd, api.ForkCircle):
            cid = p.fork(cmd.circle, cmd.name, list(cmd.members))
            await self._join_topic(cid)
            self.emit(api.CircleForked(cmd.request_id, cid, cmd.circle, cmd.name, invited=False))
            self._kick_outbox()
        elif isinstance(cmd, api.RemoveMember):
            p.remove(cmd.circle, cmd.member)
            self.emit(api.CommandDone(cmd.request_id))
            self.emit(api.MemberRemoved(cmd.circle, cmd.member))
            self._kick_outbox()
        elif isinstance(cmd, api.LeaveCircle):
            p.leave(cmd.circle)
            self.emit(api.CommandDone(cmd.request_id))
            self.emit(api.MemberLeft(cmd.circle, p.me))
            self._kick_outbox()
        elif isinstance(cmd, api.ConnectPeer):
            if not await self.connect(cmd.addr):
                raise ValueError(f"Could not reach {cmd.addr}.")
            self.extra_peers.append(cmd.addr)
            self.emit(api.CommandDone(cmd.request_id))
        elif isinstance(cmd, api.SyncNow):
            for pid in list(self._connected):
                self._want_sync(pid, None)
            self.emit(api.CommandDone(cmd.request_id))
        elif isinstance(cmd, api.Shutdown):
            self.emit(api.CommandDone(cmd.request_id))
            self.stop()

    async def _reach_relay(self, circle_id: bytes, addr: str) -> None:
        """After a pin: connect to the relay (which offers it our circles), or offer this one now."""
        info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        already = bool(self.host.get_network().get_connections(info.peer_id))
        if await self.connect(addr) and already:
            await self._offer_pins(info.peer_id, only=circle_id)

    def _name(self, circle_id: bytes) -> str:
        row = self.profile.store.circle(circle_id)
        return self.profile.circle_name(row) if row else ""

    def public_addrs(self) -> list[str]:
        """Addresses to put in invitation tokens (with our peer ID)."""
        return [a for a in self.addrs if "/p2p/" in a]


__all__ = ["Node", "RateLimit"]
