"""Light members for the relay benchmark: our host stack publishing records made beforehand.

``bench_relay --members-as light`` (its default) runs these instead of whole member nodes, so
that the load fits the machine beside the relay it measures. A light member is one member
identity of a circle on the node's own libp2p stack (:func:`protocol.node.host.make_host`,
``make_gossipsub`` with the member's mesh degree and flood publishing, ``make_pubsub``): Noise,
yamux, our gossipsub settings and pubsub guard. It connects to the relay, offers it the circle
(:func:`protocol.node.pinning.offer`, as a member's node does), subscribes to the circle's topic,
and then:

- **sends** records its profile made before any host started (``Profile.send_text``: real
  records, signed, encrypted with the circle's epoch key, each chained to the one before), on the
  benchmark's schedule, with ``pubsub.publish``; the send stamp is ``time.time()`` just before;
- **receives** by counting what its subscription delivers, by record id (the gossip message id),
  stamped when delivered. It neither checks nor stores a record: the relay does both, and is the
  thing measured.

What a whole node adds on each side (the core's checks, the store, the search index, the
command path, presence and prekey records, sync) is left out; so is its repair by sync: a
message the light receiver never gets by gossip counts as lost. The relay cannot tell the two
kinds of member apart on the wire. It asks a member to sync now and then (every 30 s, and at
a gap); a light member does not speak the sync protocol, so that ask fails at once and the
relay logs it, where a member node would answer with what it holds.

The worker answers the same JSON commands as the node worker (``start``, ``ready``, ``send``,
``count``, ``report``, ``stop``), with its report in the same shape.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import time
from collections import Counter, defaultdict
from typing import Any

from benchkit.stats import lat_summary
from benchkit.wire import commands, out, pad, reply

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def per_sender(duration_s: float, period_s: float) -> int:
    """Records a sender may need for a phase of ``duration_s``: one each ``period_s``, from an
    offset under one period (the send phase's schedule), and one to spare."""
    return math.ceil(duration_s / period_s) + 1


async def lag_probe(lags: list[float]) -> None:
    """How late a 10 ms sleep wakes up in this trio loop (ms), appended to ``lags``: is the worker busy?"""
    import trio

    while True:
        t = trio.current_time()
        await trio.sleep(0.01)
        lags.append((trio.current_time() - t - 0.01) * 1000)


async def start_on_schedule(nursery: Any, runs: list[Any], cmd: dict[str, Any]) -> float:
    """``nursery.start`` each of ``runs`` on the global schedule (the i-th of worker w at
    ``at + (i*stride + w) * gap``, from the ``start`` command); the seconds it took."""
    import trio

    at, gap, stride, offset = float(cmd["at"]), float(cmd["gap"]), int(cmd["stride"]), int(cmd["offset"])
    t1 = time.perf_counter()
    for i, run in enumerate(runs):
        delay = at + (i * stride + offset) * gap - time.time()
        if delay > 0:
            await trio.sleep(delay)
        await nursery.start(run)
    return time.perf_counter() - t1


def serve(cfg: dict[str, Any], circles: list[dict[str, Any]], direct: set[int], t0: float) -> None:
    """Run a worker's light members until told to stop (``circles`` as ``build_circle`` made them;
    ``direct``: the circles whose live members also dial each other)."""
    import multiaddr
    import trio
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.tools.anyio_service import background_trio_service

    from protocol import circle as circle_mod
    from protocol import records
    from protocol.node import pinning
    from protocol.node.autodial import disable_auto_connector
    from protocol.node.host import make_gossipsub, make_host, make_pubsub
    from protocol.node.node import Node
    from protocol.node.paths import ProfilePaths
    from protocol.node.profile import Profile

    relay_addr = str(cfg["relay"])
    relay_info = info_from_p2p_addr(multiaddr.Multiaddr(relay_addr))
    relay_pid: ID = relay_info.peer_id

    # Records made beforehand, per (c, k), in the order they are sent: each phase takes the next
    # ones (a record made and never sent would leave a gap in its author's chain, and the relay
    # would hold every later one and ask for the missing one each time); which is which, once sent.
    made: dict[tuple[int, int], list[bytes]] = {}
    whose: dict[bytes, tuple[str, tuple[int, int, int]]] = {}
    views: dict[tuple[int, int], Any] = {}
    identities: dict[tuple[int, int], Any] = {}
    peer_ids: dict[tuple[int, int], ID] = {}
    topics: dict[int, str] = {}
    for info in circles:
        c, cid = int(info["c"]), info["cid"]
        topics[c] = circle_mod.topic(cid)
        for k, root in enumerate(info["roots"]):
            profile = Profile.open(ProfilePaths(root))
            try:
                views[(c, k)] = profile.view(cid)
                peer_ids[(c, k)] = ID.from_base58(profile.identity.peer_id)
                n = sum(int(x) for x in cfg["phases"].values())
                made[(c, k)] = [profile.send_text(cid, pad({"c": c, "k": k, "n": i})).raw for i in range(n)]
                identities[(c, k)] = profile.identity
            finally:
                profile.close()
    out(
        {
            "ev": "built",
            "circles": len(circles),
            "build_s": round(time.perf_counter() - t0, 3),
            "t": time.time(),
        }
    )

    sent: dict[str, dict[tuple[int, int, int], list[Any]]] = defaultdict(dict)
    recv: dict[str, dict[tuple[int, int, int, int], tuple[float, float]]] = defaultdict(dict)
    failed: Counter[str] = Counter()
    dups: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    counters: Counter[str] = Counter()
    lags: list[float] = []
    pending: dict[tuple[int, int, int], float] = {}  # published, publish not returned: send stamp

    class Member:
        def __init__(self, c: int, k: int) -> None:
            self.c, self.k = c, k
            self.view = views[(c, k)]
            self.host = make_host(identities[(c, k)], [LOOPBACK])
            disable_auto_connector(self.host)
            self.gossipsub = make_gossipsub(Node.mesh_degree, flood_publish=True)
            self.pubsub = make_pubsub(self.host, self.gossipsub)
            self.stop = trio.Event()
            self.addr = ""

        def take(self, msg: Any) -> None:
            t = time.time()
            who = whose.get(records.record_id(msg.data))
            if who is None:
                return
            phase, key = who
            if key[1] == self.k:  # my own, told back by my pubsub
                return
            if key[0] != self.c:
                wrong[phase] += 1
                return
            rk = (*key, self.k)
            if rk in recv[phase]:
                dups[phase] += 1
                return
            entry = sent[phase].get(key)
            # A receipt before its sender's publish returned: stamped with the send stamp, kept
            # by the sender until then (``pending``).
            ts = entry[0] if entry is not None else pending.get(key)
            if ts is None:
                return
            recv[phase][rk] = (ts, t)

        async def offer(self) -> None:
            """Connect to the relay and offer it the circle, as a member's node does."""
            try:
                with trio.fail_after(30):
                    await self.host.connect(relay_info)
            except Exception:
                counters["relay_connect_failed"] += 1
                return
            why = await pinning.offer(self.host, relay_pid, self.view)
            if why is not None:
                counters["pin_refused"] += 1

        async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            async with (
                self.host.run(listen_addrs=[multiaddr.Multiaddr(LOOPBACK)]),
                background_trio_service(self.pubsub),
                background_trio_service(self.gossipsub),
                trio.open_nursery() as n,
            ):
                await self.pubsub.wait_until_ready()
                sub = await self.pubsub.subscribe(topics[self.c])
                self.addr = f"{self.host.get_addrs()[0]}"
                await self.offer()

                async def drain() -> None:
                    async for msg in sub:
                        self.take(msg)

                n.start_soon(drain)
                task_status.started()
                await self.stop.wait()
                n.cancel_scope.cancel()

    members = {
        (int(info["c"]), k): Member(int(info["c"]), k) for info in circles for k in range(len(info["roots"]))
    }

    def expected_mesh(c: int, k: int) -> set[ID]:
        want = {relay_pid}
        if c in direct:
            want |= {peer_ids[(c, i)] for (cc, i) in members if cc == c and i != k}
        return want

    reoffered: dict[tuple[int, int], float] = {}
    started_at = time.monotonic()

    def mesh_ready(nursery: trio.Nursery) -> tuple[int, int]:
        """How many members have their whole mesh, and how many are connected to the relay; one
        whose mesh still lacks the relay 20 s after start connects and offers again, once."""
        ok = connected = 0
        now = time.monotonic()
        for (c, k), m in members.items():
            mesh = set(m.gossipsub.mesh.get(topics[c], ()))
            ok += expected_mesh(c, k) <= mesh
            linked = relay_pid in m.host.get_network().connections
            connected += linked
            if relay_pid not in mesh and (c, k) not in reoffered and now - started_at > 20:
                reoffered[(c, k)] = now
                counters["pin_reoffers"] += 1
                nursery.start_soon(m.offer)
        return ok, connected

    async def start_members(nursery: trio.Nursery, cmd: dict[str, Any]) -> None:
        nonlocal started_at
        start_s = await start_on_schedule(nursery, [m.run for m in members.values()], cmd)
        started_at = time.monotonic()
        for (c, k), m in members.items():  # direct circles: member k dials members 0..k-1 too
            if c in direct:
                for i in range(k):
                    with contextlib.suppress(Exception):
                        await m.host.connect(info_from_p2p_addr(multiaddr.Multiaddr(members[(c, i)].addr)))
        out({"ev": "started", "nodes": len(members), "start_s": round(start_s, 3), "t": time.time()})

    async def publish(m: Member, phase: str, key: tuple[int, int, int], raw: bytes) -> None:
        ts = time.time()
        pending[key] = ts
        try:
            await m.pubsub.publish(topics[m.c], raw)
        except Exception:
            failed[phase] += 1
            return
        finally:
            pending.pop(key, None)
        t = time.time()
        sent[phase][key] = [ts, t, t, records.record_id(raw).hex()]

    async def send_phase(cmd: dict[str, Any]) -> None:
        """This worker's part of the global schedule: sender (c, k) sends at start + offset + j*period."""
        phase, start, dur = cmd["p"], float(cmd["start"]), float(cmd["duration"])
        period, slots = float(cmd["period"]), int(cmd["slots"])
        live = max(k for _, k in members) + 1
        heap = [(start + period * ((c * live + k) % slots) / slots, c, k, 0) for c, k in members]
        heapq.heapify(heap)
        submitted = 0
        # One task a message: a slow write does not hold the schedule.
        async with trio.open_nursery() as sends:
            while heap:
                when, c, k, j = heapq.heappop(heap)
                delay = when - time.time()
                if delay > 0:
                    await trio.sleep(delay)
                mine = made[(c, k)]
                if mine:
                    raw = mine.pop(0)
                    whose[records.record_id(raw)] = (phase, (c, k, j))
                    sends.start_soon(publish, members[(c, k)], phase, (c, k, j), raw)
                    submitted += 1
                else:
                    failed[phase] += 1  # more slots than records made: the plan is off
                if when + period < start + dur - 1e-9:
                    heapq.heappush(heap, (when + period, c, k, j + 1))
        out(
            {
                "ev": "sent_done",
                "p": phase,
                "submitted": submitted,
                "acked": len(sent[phase]),
                "failed": failed[phase],
                "t": time.time(),
            }
        )

    stop_holder: list[float] = []

    async def main() -> None:
        async with trio.open_nursery() as outer:
            outer.start_soon(lag_probe, lags)
            async with trio.open_nursery() as nursery, contextlib.aclosing(commands()) as cmds:
                async for cmd in cmds:
                    op = cmd["op"]
                    if op == "start":
                        outer.start_soon(start_members, nursery, cmd)
                    elif op == "ready":
                        ok, conn = mesh_ready(outer)
                        reply(cmd, mesh_ok=ok, relay_connected=conn, nodes=len(members))
                    elif op == "send":
                        lags.clear()
                        outer.start_soon(send_phase, cmd)
                    elif op == "count":
                        reply(cmd, acked=len(sent[cmd["p"]]), received=len(recv[cmd["p"]]))
                    elif op == "report":
                        p = cmd["p"]
                        reply(
                            cmd,
                            sent=[[*key, *v] for key, v in sent[p].items()],
                            recv=[[*key, *v] for key, v in recv[p].items()],
                            failed=failed[p],
                            dups=dups[p],
                            wrong=wrong[p],
                            counters=dict(counters),
                            loop_lag_ms=lat_summary(lags),
                        )
                    elif op == "stop":
                        break
                stop_holder.append(time.monotonic())
                for m in members.values():
                    m.stop.set()
            stop_holder.append(time.monotonic())
            outer.cancel_scope.cancel()

    trio.run(main)
    stop_s = stop_holder[1] - stop_holder[0] if len(stop_holder) == 2 else None
    out(
        {
            "ev": "exit",
            "stopped": True,
            "stop_s": None if stop_s is None else round(stop_s, 3),
            "t": time.time(),
        }
    )
