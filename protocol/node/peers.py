"""The node's peers: dialling with backoff, connect/disconnect, presence, pin offers to relays.

:class:`Peers`, which each :class:`protocol.node.node.Node` owns, finds and
keeps peers: it redials the addresses the core keeps (from tokens, presence, the
roster's relays and ``--peer``) with backoff, clearing libp2p's negative
dial cache; cuts peers the core refuses; greets a new peer with a presence
announcement once it has subscribed to a shared circle; announces presence every
minute; and hands pinned circles to relays when it meets them.
"""

from __future__ import annotations

import contextlib
import sqlite3

import multiaddr
import trio
from libp2p.abc import INetConn, INetwork
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from protocol import circle, presence, schema
from protocol.node import pinning
from protocol.node.events import Emit, PeerCame, PeerWent
from protocol.node.host import LOG, Notifee, key_of
from protocol.node.ports import ACTIVE, NodePort

PRESENCE_INTERVAL = 60.0
"""Seconds between presence announcements in each circle."""
GREET_TIMEOUT = 15.0
"""Seconds a new peer has to subscribe to a shared circle before I stop waiting to greet it."""
REPAIR_S = 20.0
"""How often a connected peer's pubsub stream and unanswered pin offers are checked."""
MAX_BACKOFF = 15.0
"""Longest wait between redials of a known address: a healed network is found within this."""
PUBSUB_PROTOCOLS = {"/meshsub/1.0.0", "/meshsub/1.1.0", "/meshsub/1.2.0", "/floodsub/1.0.0"}


class PeerNotifee(Notifee):
    """Tells the node's peers when connections open and close."""

    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self.peers.on_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self.peers.on_disconnected(conn.muxed_conn.peer_id)


class Peers:
    """A node's peers (an object the node owns): who is connected, dialling, greeting, repairs.

    Decisions (refusing a peer, which addresses to keep dialling) are the core's; this
    carries them out on the node's host and pubsub (reached through :class:`NodePort`).
    """

    def __init__(self, node: NodePort, dial_interval: float = 2.0) -> None:
        self.node, self.dial_interval = node, dial_interval
        self.connected: set[ID] = set()
        """Peers with an open connection (kept up to date by the ``Notifee``)."""
        self.greeted: set[tuple[ID, bytes]] = set()
        """(peer, circle) greetings made on the peer's current connection."""
        self.backoff: dict[str, tuple[float, float]] = {}
        """Per address: not before when, and the next wait if that dial fails too."""
        self.repaired: dict[ID, float] = {}
        self.pinned_at: set[tuple[ID, bytes]] = set()
        """(relay, circle) offers the relay took while it stays connected."""

    def refused(self, peer: str) -> bool:
        """A peer in the block list, or graylisted for flooding me with invalid records."""
        return self.node.core.refused(peer, trio.current_time())

    async def announcer(self) -> None:
        """Tell each circle where I am: soon after start, then every minute (new peers: ``_greet``)."""
        await trio.sleep(1.0)
        while True:
            for c in self.node.profile.store.circles(*ACTIVE):
                await self.announce_presence(c.id)
            await trio.sleep(PRESENCE_INTERVAL)

    async def announce_presence(self, circle_id: bytes) -> None:
        """Publish a fresh presence record (my addresses and name, sealed to the circle) in one circle.

        Only as a member holding the current epoch key: a relay announces nothing (members
        find it by the roster's pin), and a member without the key waits for sync.
        """
        addrs = self.node.public_addrs()[: schema.MAX_ADDRS]
        if not addrs or not self.node.joined(circle_id):
            return
        me = self.node.profile
        epoch = me.view(circle_id).roster.current_epoch
        key = me.epoch_keys(circle_id).get(epoch.id) if epoch is not None else None
        if epoch is None or key is None or not me.view(circle_id).roster.is_member(me.me):
            return
        now_ms = int(me.clock() * 1000)
        rec = presence.announce(me.identity, circle_id, addrs, now_ms, me.display_name, epoch.id, key)
        await self.node.pubsub.publish(circle.topic(circle_id), rec.raw)

    async def greet(self, pid: ID) -> None:
        """Announce myself to a newly connected peer once it has subscribed to each shared circle.

        Publishing right at connect time reaches nobody: the peer's subscriptions
        arrive a moment later, and a busy machine stretches that. So wait per circle
        (bounded) until the peer has subscribed, then publish (to every subscriber).
        """

        async def one(circle_id: bytes) -> None:
            topic = circle.topic(circle_id)
            with trio.move_on_after(GREET_TIMEOUT):  # not a member there, or gone again
                while pid not in self.node.pubsub.peer_topics.get(topic, ()):
                    await trio.sleep(0.05)
                await self.announce_presence(circle_id)  # flood publish: it reaches every subscriber

        todo = [c for c in self.greeted_circles(pid) if (pid, c) not in self.greeted]
        self.greeted.update((pid, c) for c in todo)
        async with trio.open_nursery() as n:
            for c in todo:
                n.start_soon(one, c)

    def regreet(self) -> None:
        """The roster changed: greet connected peers in the circles they may now know."""
        for pid in list(self.connected):
            self.node.start_soon(self.greet, pid)

    def greeted_circles(self, pid: ID) -> list[bytes]:
        """The circles a greeting to ``pid`` goes to: mine as a member, that the peer may know.

        Asked again when the roster changes (a peer invited or joined since it connected:
        :meth:`regreet`); each circle is greeted once a connection.

        Not every circle of mine: the wait for a subscription that never comes polled 20 times a
        second for 15 s per circle, so a relay serving 10 circles spent 8% of a core on each
        connection's greetings (and announces nothing: it is no member)."""
        key, me = key_of(pid), self.node.profile.me
        out = []
        for c in self.node.profile.store.circles("member"):  # a relay's circles: no announce
            roster = self.node.profile.view(c.id).roster
            if key is not None and roster.is_member(me) and roster.may_know(key):
                out.append(c.id)
        return out

    # peers -----------------------------------------------------------------
    def on_connected(self, pid: ID) -> None:
        if any(isinstance(e, Emit) for e in self.node.feed(PeerCame(pid.to_base58()))):  # new, not refused
            self.connected.add(pid)
            self.repaired[pid] = trio.current_time()  # first check a while after the greeting
            self.node.start_soon(self.greet, pid)
            self.node.start_soon(self.offer_pins, pid)

    async def offer_pins(self, pid: ID, only: bytes | None = None) -> None:
        """If ``pid`` is a relay pinned to circles of mine, hand it those circles (it cannot know them)."""
        key = key_of(pid)
        if key is None:
            return
        for c in self.node.profile.store.circles("member"):
            if only is None or c.id == only:
                view = self.node.profile.view(c.id)
                if key in view.roster.relays:
                    why = await pinning.offer(self.node.host, pid, view)
                    if why is None:
                        self.pinned_at.add((pid, c.id))
                    else:
                        LOG.info("relay %s refused circle %s: %s", pid, c.id.hex()[:12], why)

    def on_disconnected(self, pid: ID) -> None:
        if pid in self.connected and not self.node.host.get_network().get_connections(pid):
            self.connected.discard(pid)
            self.greeted = {(p, c) for p, c in self.greeted if p != pid}
            self.repaired.pop(pid, None)
            self.pinned_at = {(p, c) for p, c in self.pinned_at if p != pid}
            self.node.feed(PeerWent(pid.to_base58()))

    def redial_soon(self, addr: str | None = None) -> None:
        """Forget the backoff of ``addr`` (of every address when None): the dialer tries it next round."""
        if addr is None:
            self.backoff.clear()
        else:
            self.backoff.pop(addr, None)

    async def connect(self, addr: str) -> bool:
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception as e:
            LOG.info("bad peer address %s: %s", addr, e)
            return False
        if info.peer_id == self.node.host.get_id() or self.refused(info.peer_id.to_base58()):
            return False
        if self.node.host.get_network().get_connections(info.peer_id):
            return True
        net = self.node.host.get_network()
        try:
            net.unblock_peer(info.peer_id)  # type: ignore[attr-defined]
            self.node.host.get_peerstore().clear_addrs(info.peer_id)
        except Exception:
            pass
        try:
            with trio.fail_after(5):
                await self.node.host.connect(info)
        except Exception as e:
            LOG.info("dial %s failed: %s", addr, e)
            return False
        return True

    async def dialer(self) -> None:
        while True:
            now = trio.current_time()
            for pid in list(self.connected):
                if self.refused(pid.to_base58()):
                    await self.node.disconnect(pid)
                else:
                    self.repair(pid, now)
            for addr in self.node.core.known_addrs():
                wait_until, delay = self.backoff.get(addr, (0.0, 1.0))
                if now < wait_until:
                    continue
                ok = await self.connect(addr)
                self.backoff[addr] = (0.0, 1.0) if ok else (now + delay, min(delay * 2, MAX_BACKOFF))
            await trio.sleep(self.dial_interval)

    def repair(self, pid: ID, now: float) -> None:
        """Mend what py-libp2p does not: a connected peer left out of pubsub, an offer unanswered.

        When a pubsub stream fails to open on a busy peer (a 10 s timeout), py-libp2p
        never tries again while the connection lasts: the peer is connected but gets no
        gossip. And a relay that was too busy to answer a pin offer is not asked again
        until the next reconnect. Both are retried here, at most every ``REPAIR_S``.
        """
        if now - self.repaired.get(pid, -1e9) < REPAIR_S:
            return
        self.repaired[pid] = now
        self.node.pubsub.reconsider(pid)  # a backstop: the roster may have changed unseen (a sync)
        if pid not in self.node.pubsub.peers and self._speaks_pubsub(pid):
            LOG.info("peer %s is connected but not in pubsub; reopening its stream", pid)
            self.node.start_soon(self._ensure_pubsub, pid)
        key = key_of(pid)
        if key is not None:
            for c in self.node.profile.store.circles("member"):
                if (pid, c.id) not in self.pinned_at and key in self.node.profile.view(c.id).roster.relays:
                    self.node.start_soon(self.offer_pins, pid, c.id)

    def _speaks_pubsub(self, pid: ID) -> bool:
        """Whether identify said ``pid`` speaks gossipsub (or has not said yet).

        A peer that does not (a bare libp2p client, a scanner) would otherwise get a pubsub
        stream attempt, and py-libp2p a multi-line ERROR in the log, every ``REPAIR_S``.
        """
        try:
            known = self.node.host.get_peerstore().get_protocols(pid)
        except Exception:
            return True
        return not known or bool(set(known) & PUBSUB_PROTOCOLS)

    async def _ensure_pubsub(self, pid: ID) -> None:
        try:
            await self.node.pubsub.ensure_peer_stream(pid, timeout=REPAIR_S)
        except Exception as e:
            LOG.info("could not reopen pubsub with %s: %s", pid, e)

    def remember(self, pid: ID, key: bytes) -> None:
        """Keep a connected member's listen addresses, so either side can redial later."""
        try:
            addrs = [str(a) for a in self.node.host.get_peerstore().addrs(pid)]
        except Exception:
            return
        addrs = [f"{a}/p2p/{pid.to_base58()}" for a in addrs if "/tcp/" in a and "/p2p/" not in a][:4]
        if not addrs:
            return
        me = self.node.profile
        with contextlib.suppress(sqlite3.OperationalError):  # a full disk: remembered next time
            for c in me.store.circles(*ACTIVE):
                if me.view(c.id).roster.is_member(key):
                    me.store.add_peer_addrs(c.id, addrs, "peer", int(me.clock()))
