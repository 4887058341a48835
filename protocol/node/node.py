"""The member node: a circle's records live on libp2p gossipsub, made reliable by sync.

One :class:`Node` per profile, run under trio: it carries events into its
:class:`~protocol.node.core.NodeCore` (which decides) and the core's effects out
(emit, pull, disconnect, a later tick). It subscribes to every circle the
profile is a member of; the topic validator asks the core, so non-members' and
forged records are neither stored nor forwarded; accepted records are committed
once (deduplicated by record id) through
:mod:`protocol.node.ledger`. A paced publisher drains the outbox (py-libp2p's
``publish`` never blocks and drops silently past 32 queued messages per peer).
The sync protocol (:mod:`protocol.node.syncwire`) pulls what gossip lost: on
connect, on a detected gap, a second after py-libp2p dropped gossip on its way to a
peer (that peer is nudged), and every ``sync_interval`` seconds. Known member
addresses are redialled with backoff. Commands come in on a trio channel and
events go out through ``emit``: see :mod:`protocol.node.api`.

Past 400 lines: the trio side of the node in one class (start-up, topics and the
validator's hand-off, the publisher, dialer and sync loops); every decision is the core's.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection
from contextlib import AsyncExitStack
from typing import Any

import multiaddr
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.pb import rpc_pb2
from libp2p.tools.anyio_service import background_trio_service

from protocol import circle
from protocol.errors import ProtocolError
from protocol.node import (
    announce,
    api,
    events,
    filewire,
    filexfer,
    inboundcap,
    indexer,
    linking,
    reach,
    selfcircle,
    syncer,
    syncwire,
)
from protocol.node.autodial import disable_auto_connector
from protocol.node.blocklist import BlockList
from protocol.node.core import NodeCore
from protocol.node.host import DEFAULT_LISTEN, key_of, make_gossipsub, make_host, make_pubsub
from protocol.node.limits import RelayPolicy
from protocol.node.peers import PeerNotifee, Peers
from protocol.node.ports import ACTIVE
from protocol.node.profile import Profile
from protocol.node.rekeytask import follow as follow_rekeys
from protocol.records import Record

LOG = logging.getLogger("smallsocial.node")
PREKEY_REFRESH_S = 600
"""How often the node checks that my prekey is fresh and published in every circle I am in."""
PUBLISH_GROUP = 4
"""Outbox records published back to back before the publisher pauses."""
EmitFn = Callable[[api.Event], None]


class Node:
    """A headless member node for one profile."""

    mesh_degree = 3
    """Mesh peers per circle. A member publishes to every peer of the circle (flood publish), so
    forwarding only repairs what a member could not get from the sender: a small mesh keeps the
    copies of each message down (docs/performance.md, "Node against bare gossipsub")."""

    def __init__(
        self,
        profile: Profile,
        emit: EmitFn,
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
        self.sync_interval = sync_interval
        self.publish_interval = publish_interval
        self.relay: RelayPolicy | None = None
        """What makes this node a relay (:class:`~protocol.node.relay.RelayNode` sets it)."""
        self.inbound_cap: inboundcap.LiveInboundCap | None = None  # set when the host is made
        self.blocklist = BlockList.for_profile(profile.paths.root)
        self.core = NodeCore(
            profile,
            blocked=self.blocklist.blocked,
            addrs=self.public_addrs,
            token_addrs=lambda: reach.for_token(self.public_addrs()),
            peers=peers,
        )
        self.peers = Peers(self, dial_interval)
        self.linking = linking.Linking(self)
        self.stats = self.core.stats
        self.commands_in, self.commands_out = trio.open_memory_channel[api.Command](1000)
        self._outbox_ready = trio.Event()
        self._prekeys_due = trio.Event()
        self.indexer = indexer.Indexer()
        self._stop = trio.Event()
        self._topics: dict[str, bytes] = {}
        self._sync_wanted: trio.MemorySendChannel[tuple[ID, bytes | None]]
        self._sync_queue: trio.MemoryReceiveChannel[tuple[ID, bytes | None]]
        self._sync_wanted, self._sync_queue = trio.open_memory_channel[tuple[ID, bytes | None]](1000)
        self._sync_pending: set[tuple[ID, bytes | None]] = set()
        self._invitees_asked: set[tuple[str, bytes]] = set()
        """(peer, circle) pulls asked of an invitee (events.Pull.invitee), until the syncer takes them."""
        self._publish_lock = trio.Lock()
        self.addrs: list[str] = []
        self.token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None

    def _now(self) -> float:
        try:
            return trio.current_time()
        except RuntimeError:  # outside the run: a test driving the validator itself
            return time.monotonic()

    def _apply(self, effects: list[events.Effect]) -> None:
        """Carry out what the core decided."""
        for e in effects:
            if type(e) is events.Committed:  # nothing to carry out (a sync batch has one per record)
                continue
            if isinstance(e, events.Emit):
                self.emit(e.event)
                if isinstance(e.event, api.MemberJoined) and e.event.member == self.profile.me:
                    self._prekeys_due.set()  # my join is in the roster: my prekey can go there too
            elif isinstance(e, events.Pull):
                if e.invitee and e.circle is not None:
                    self._invitees_asked.add((e.peer, e.circle))
                self.want_sync(ID.from_base58(e.peer), e.circle)
            elif isinstance(e, events.Disconnect):
                self.start_soon(self.disconnect, ID.from_base58(e.peer))
            elif isinstance(e, events.Reconsider):
                self.reconsider_peers(None if e.circle is None else self._touched_topics(e.circle))
            elif isinstance(e, events.Wake):
                self.start_soon(self._tick_at, e.at)
            elif isinstance(e, events.KickOutbox):
                self._outbox_ready.set()
            elif isinstance(e, events.ReachRelay):
                self.start_soon(self._reach_relay, e.circle, e.addr)
            elif isinstance(e, events.Stop):
                self.stop()
            elif isinstance(e, events.Dial) and e.request_id is None:
                self.start_soon(self.peers.connect, e.addr)
            elif isinstance(e, events.FetchFile):
                self.start_soon(filexfer.fetch, self, e.circle, e.record, None, e.save_to)
            elif isinstance(e, (events.JoinTopic, events.Publish, events.Dial)):
                self.start_soon(self._carry_out, [e])  # in a command: awaited in its turn

    async def _carry_out(self, effects: list[events.Effect]) -> list[events.Effect]:
        """Carry out a command's effects in order, awaiting each that takes time; all it led to."""
        done: list[events.Effect] = []
        for e in effects:
            done.append(e)
            if isinstance(e, events.JoinTopic):
                await self.join_topic(e.circle)
            elif isinstance(e, events.Publish):
                await self._send_now(e.record)
            elif isinstance(e, events.Dial) and e.request_id is not None:
                done += self.feed(events.Dialled(e.addr, await self.peers.connect(e.addr), e.request_id))
            elif isinstance(e, events.FetchFile):
                answer: api.Event = api.CommandDone(e.request_id)
                if e.wait:
                    answer = await filexfer.fetch(self, e.circle, e.record, e.request_id, e.save_to)
                else:
                    self.start_soon(filexfer.fetch, self, e.circle, e.record, None, e.save_to)
                done.append(events.Emit(answer))
                self.emit(answer)
            elif isinstance(e, events.LinkStep):
                answer = await self.linking.run(e.command)
                done.append(events.Emit(answer))
                self.emit(answer)
            else:
                self._apply([e])
        return done

    async def carry_out(self, effects: list[events.Effect]) -> list[events.Effect]:
        """Effects decided outside a command (the link stream's joins, dials and nudges), in order."""
        return await self._carry_out(effects)

    def feed(self, event: events.Event) -> list[events.Effect]:
        """One event through the core, its effects carried out (those that take time, soon)."""
        effects = self.core.handle(event, self._now())
        self._apply(effects)
        if any(isinstance(e, events.Committed) for e in effects):
            self.indexer.due()
        return effects

    async def _tick_at(self, at: float) -> None:
        await trio.sleep_until(at)
        self.feed(events.Tick())

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the node's nursery (nothing before the node runs)."""
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)

    # lifecycle -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the node to shut down (from the trio thread)."""
        self._stop.set()

    def submit_nowait(self, command: api.Command) -> None:
        self.commands_in.send_nowait(command)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.host = make_host(self.profile.identity, self.listen, charge=self._charge)
        disable_auto_connector(self.host)  # stopping it after host.run() lets its first round dial
        self.inbound_cap = inboundcap.install(self.host)  # py-libp2p's never frees a slot (inboundcap.py)
        announce.install(self.host)
        self.gossipsub = make_gossipsub(self.mesh_degree, flood_publish=True)
        self.pubsub = make_pubsub(
            self.host, self.gossipsub, charge=self._charge, may_know=self._may_know, dropped=self._dropped
        )
        listen = [multiaddr.Multiaddr(a) for a in self.listen]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.host.run(listen_addrs=listen))
            self.host.get_network().register_notifee(PeerNotifee(self.peers))
            await stack.enter_async_context(background_trio_service(self.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossipsub))
            await self.pubsub.wait_until_ready()
            self.host.set_stream_handler(TProtocol(syncwire.PROTOCOL), self._serve_sync)
            self.host.set_stream_handler(TProtocol(filewire.PROTOCOL), self._serve_files)
            self.host.set_stream_handler(TProtocol(linking.PROTOCOL), self.linking.serve)
            self.add_handlers()
            self.addrs = announce.announced(self.host)
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    for c in self.profile.store.circles(*ACTIVE):
                        await self.join_topic(c.id)
                    nursery.start_soon(self._publisher)
                    nursery.start_soon(self.peers.dialer)
                    nursery.start_soon(self._syncer)
                    nursery.start_soon(self._periodic_sync)
                    nursery.start_soon(self._command_loop)
                    nursery.start_soon(self.peers.announcer)
                    nursery.start_soon(announce.follow, self)
                    if self.core.relay is None:
                        nursery.start_soon(indexer.follow, self.profile, self.indexer)
                        nursery.start_soon(self._prekeys)
                        nursery.start_soon(follow_rekeys, self.profile, self._outbox_ready.set, self.emit)
                    nursery.start_soon(filexfer.uploader, self)
                    self.add_tasks(nursery)
                    # What lives now lives as long as the node: no full collection walks it again
                    # (those stalled delivery 150-400 ms at 50 msg/s; docs/performance.md).
                    gc.freeze()
                    self.emit(api.NodeStarted(self.profile.identity.peer_id, tuple(self.addrs)))
                    task_status.started()
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
            finally:
                with trio.move_on_after(2) as scope:
                    scope.shield = True
                    await self.disconnect_all()

    def add_handlers(self) -> None:
        """Extension point, once the host runs: stream handlers a subclass adds (the relay's pin stream)."""

    def add_tasks(self, nursery: trio.Nursery) -> None:
        """Extension point, called once the node's tasks start: a subclass's own (the relay's sweep)."""

    async def disconnect_all(self) -> None:
        async with trio.open_nursery() as n:
            for pid in list(self.host.get_network().connections):
                n.start_soon(self.disconnect, pid)

    async def disconnect(self, pid: ID) -> None:
        try:
            await self.host.disconnect(pid)
        except Exception as e:  # a peer already gone
            LOG.debug("disconnect %s: %s", pid, e)

    # topics and the validator ----------------------------------------------
    def joined(self, circle_id: bytes) -> bool:
        """Whether I am subscribed to the circle's topic."""
        return circle.topic(circle_id) in self._topics

    async def join_topic(self, circle_id: bytes) -> None:
        t = circle.topic(circle_id)
        if t in self._topics:
            return
        self._topics[t] = circle_id
        # A synchronous validator runs inline; an async one costs py-libp2p a nursery per message.
        self.pubsub.set_topic_validator(t, self._validator, False)
        sub = await self.pubsub.subscribe(t)
        self.reconsider_peers((t,))
        assert self._nursery is not None
        self._nursery.start_soon(self._receive, circle_id, sub)

    def drop(self, circle_id: bytes | None, reason: str) -> None:
        """A record not taken: logged and counted (a member's UI is told)."""
        self._apply(self.core.drop(circle_id, reason))

    def _validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        """The topic validator (run inline by pubsub): the core decides, and whether to forward."""
        cid = next((self._topics[t] for t in msg.topicIDs if t in self._topics), None)
        if cid is None:
            return False
        own = forwarder == self.host.get_id()
        effects = self.feed(events.GossipArrived(forwarder.to_base58(), cid, msg.data, own))
        return any(isinstance(e, events.Accept) for e in effects)

    def _may_know(self, peer: ID, topic: str) -> bool:
        """Whether ``peer`` may learn I am in ``topic`` and get its records from me (guard.py).

        A member, an invitee not yet joined, or a relay of that circle; never a stranger. Before
        the roster confirms a join I made with a short token, also whom that token named.
        """
        if peer == self.host.get_id():
            return True
        cid, key = self._topics.get(topic), key_of(peer)
        if cid is None or key is None:
            return False
        if self.profile.view(cid).roster.may_know(key):
            return True
        return self.relay is None and key in self.profile.contacts(cid)  # a relay has no contacts

    def reconsider_peers(self, topics: Collection[str] | None = None) -> None:
        """After a roster change or a new topic: peers may now know more of ``topics`` (all when
        None) (guard.py)."""
        for pid in list(self.peers.connected):
            self.pubsub.reconsider(pid, topics)
        if self.relay is None:  # a relay greets nobody (peers.greeted_circles)
            self.peers.regreet()

    def _touched_topics(self, circle_id: bytes) -> list[str]:
        """The topics whose may-know a roster change in ``circle_id`` can move: its own, a
        member's forks of it (a fork whose roster names no relay yet lets the parent's relays
        know it: Profile.contacts), and my self circle (the change may pin the circle's relays
        to it: selfcircle.reconcile). A relay has no contacts and no self circle."""
        out = [circle.topic(circle_id)]
        if self.relay is None:
            out += [circle.topic(c.id) for c in self.profile.store.circles("member") if c.parent == circle_id]
            own = selfcircle.circle_id(self.profile)
            if own is not None and own != circle_id:
                out.append(circle.topic(own))
        return out

    def _charge(self, peer: ID, why: str) -> None:
        """A peer sent bytes that broke a handler or a libp2p signature: one strike (guard.py)."""
        if peer != self.host.get_id():
            self.feed(events.PeerFaulted(peer.to_base58()))

    def _dropped(self, peer: ID, topics: list[str]) -> None:
        """py-libp2p dropped messages of ``topics`` on their way to ``peer`` (guard.py): the
        core nudges that peer to pull them."""
        circles = frozenset(c for c in map(self._topics.get, topics) if c is not None)
        if circles:
            self.feed(events.GossipDropped(peer.to_base58(), circles))

    async def _receive(self, circle_id: bytes, sub: Any) -> None:
        """Drain my subscription: the validator has already committed what it accepted."""
        async for _ in sub:
            pass

    def take(self, record: Record, source: ID | None) -> bool:
        """Commit one record (a sync answer's) and carry out what it means; True if it was stored."""
        src = source.to_base58() if source is not None else None
        return any(isinstance(e, events.Committed) for e in self.feed(events.RecordReceived(record, src)))

    def take_batch(self, batch: list[Record], source: ID | None) -> int:
        """Commit a sync batch of one circle in one transaction and carry out what it means;
        how many records were stored."""
        src = source.to_base58() if source is not None else None
        effects = self.feed(events.BatchReceived(tuple(batch), src))
        return sum(isinstance(e, events.Committed) for e in effects)

    # publishing ------------------------------------------------------------
    async def _send_now(self, record: Record) -> None:
        """Publish a record just committed to the outbox: now when idle, else in the publisher's turn."""
        if self._publish_lock.locked():
            self._outbox_ready.set()
        else:
            await self._publish_one(record.id, record.raw)

    async def _publisher(self) -> None:
        while True:
            pending = self.profile.store.outbox()
            if not pending:
                self._outbox_ready = trio.Event()
                with trio.move_on_after(1.0):
                    await self._outbox_ready.wait()
                continue
            for n, (rid, raw) in enumerate(pending):
                await self._publish_one(rid, raw)
                # A few back to back, then a pause: py-libp2p drops silently past 32 queued per peer.
                await trio.sleep(self.publish_interval if n % PUBLISH_GROUP == PUBLISH_GROUP - 1 else 0)

    async def _publish_one(self, rid: bytes, raw: bytes) -> None:
        """Publish one outbox record unless someone already did."""
        async with self._publish_lock:
            if not self.profile.store.unsent(rid):
                return None
            cid = self.profile.store.circle_of(rid)
            if cid is not None:
                t = circle.topic(cid)
                if t not in self._topics and self._is_member(cid):
                    await self.join_topic(cid)
                if t in self._topics:
                    await self.pubsub.publish(t, raw)
                    self.emit(api.MessagePublished(cid, rid))
            try:
                self.profile.store.mark_sent(rid, int(self.profile.clock()))
            except sqlite3.OperationalError as e:  # a full disk: published again later, deduplicated
                LOG.warning("could not mark a record sent: %s", e)

    async def _prekeys(self) -> None:
        """My prekey rotated when due and published where missing, and (history forget) the
        keys of epochs that are over deleted: at start, every ``PREKEY_REFRESH_S``, and when
        the roster takes a join of mine (one made with a short token is confirmed then)."""
        while True:
            try:
                if self.profile.refresh_prekeys():
                    self._outbox_ready.set()
                self.profile.forget_old_history()  # with history forget: epoch keys that are over
                await self._carry_out(self.core.devices_round())  # circles to or from my devices
            except (ProtocolError, sqlite3.Error) as e:
                LOG.warning("could not refresh my prekeys or forget old epoch keys: %s", e)
            with trio.move_on_after(PREKEY_REFRESH_S):
                await self._prekeys_due.wait()
            self._prekeys_due = trio.Event()

    def _is_member(self, circle_id: bytes) -> bool:
        row = self.profile.store.circle(circle_id)
        return row is not None and row.status in ACTIVE

    # sync ------------------------------------------------------------------
    def want_sync(self, pid: ID, circle_id: bytes | None) -> None:
        """Queue a pull from ``pid`` (all shared circles when None); repeats while queued collapse."""
        if (pid, circle_id) in self._sync_pending or (pid, None) in self._sync_pending:
            return
        with contextlib.suppress(trio.WouldBlock):
            self._sync_wanted.send_nowait((pid, circle_id))
            self._sync_pending.add((pid, circle_id))

    async def _periodic_sync(self) -> None:
        while True:
            await trio.sleep(self.sync_interval)
            for pid in list(self.peers.connected):
                self.want_sync(pid, None)

    async def _syncer(self) -> None:
        async for pid, cid in self._sync_queue:
            self._sync_pending.discard((pid, cid))
            circles = [cid] if cid else [c.id for c in self.profile.store.circles(*ACTIVE)]
            key = key_of(pid)
            if key is not None and cid is None:
                self.peers.remember(pid, key)
            for c in circles:
                # An invitee is asked when its invitation has just come (events.Pull): its join
                # may have come by gossip before, and been let go as a stranger's.
                roster = self.profile.view(c).roster
                asked = (pid.to_base58(), c) in self._invitees_asked and key in roster.open_invitees()
                self._invitees_asked.discard((pid.to_base58(), c))
                if key is None or not (roster.may_sync(key) or asked or key in self.profile.contacts(c)):
                    continue
                try:
                    with trio.fail_after(30):
                        await self._pull(pid, c)
                except Exception as e:
                    LOG.info("sync of %s with %s failed: %s", c.hex()[:12], pid, e)

    async def _pull(self, pid: ID, circle_id: bytes) -> None:
        with self.indexer.pulling():  # what it brings is indexed after it
            await syncer.pull(self, pid, circle_id)

    async def _serve_sync(self, stream: INetStream) -> None:
        await syncer.serve(self, stream)

    async def _serve_files(self, stream: INetStream) -> None:
        await filexfer.serve(self, stream)

    # commands --------------------------------------------------------------
    async def _command_loop(self) -> None:
        async for cmd in self.commands_out:
            await self.call(cmd)

    async def call(self, cmd: api.Command) -> api.Event:
        """Run a command now (through the core, its effects in order); the event that answered it."""
        try:
            done = await self._carry_out(self.core.handle(events.CommandArrived(cmd), self._now()))
            self.indexer.due()  # what a command wrote (my message, an edit) is searchable a second later
            said = (e.event for e in done if isinstance(e, events.Emit))
            return next(ev for ev in said if getattr(ev, "request_id", None) == cmd.request_id)
        except Exception as e:  # the store has it; a topic or a dial failed
            LOG.exception("command %r failed", cmd)
            failed = api.CommandFailed(cmd.request_id, f"Internal error: {e}")
            self.emit(failed)
            return failed

    async def _reach_relay(self, circle_id: bytes, addr: str) -> None:
        """After a pin: connect to the relay (which offers it our circles), or offer this one now."""
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception as e:  # the profile checked it; a task's exception would end the node
            LOG.info("cannot reach pinned relay %s: %s", addr, e)
            return
        already = bool(self.host.get_network().get_connections(info.peer_id))
        if await self.peers.connect(addr) and already:
            await self.peers.offer_pins(info.peer_id, only=circle_id)

    def public_addrs(self) -> list[str]:
        """Addresses to put in invitation tokens (with our peer ID); a relay's ``--announce`` if any."""
        if self.relay is not None and self.relay.announce:
            me = self.profile.identity.peer_id
            return [a if "/p2p/" in a else f"{a}/p2p/{me}" for a in self.relay.announce]
        return [a for a in self.addrs if "/p2p/" in a]


__all__ = ["Node"]
