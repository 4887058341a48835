#!/usr/bin/env python3
"""Benchmark one relay serving many pinned circles: CPU, memory, store rate, added latency, loss.

One real relay process (``python -m smallsocial_tui relay --json``, a
``RelayNode``) serves ``--circles`` (100) circles of ``--members`` (5) members
each, and the members send a total of ``--rate`` (200) msg/s for
``--duration`` seconds, all on 127.0.0.1.

What is simulated. Every circle has all its members' identities in its roster
(the founder invites the others, each joins, the founder pins the circle to the
relay, and everyone imports everyone's records: done offline by the worker that
owns the circle, before any node starts). Only ``--live`` (2) members of each
circle are up: each of the two sends half the circle's messages and receives
the other's; the other members are offline for the whole run (their messages
wait for them at the relay: the run checks that the relay stored every message).
The live members run in ``--workers`` processes, circles dealt round-robin, each
with its own profile, host and port, and are of one of two kinds
(``--members-as``):

- ``light`` (the default): our libp2p host stack, publishing records their profile
  made before the run and counting what their subscription delivers, by record id
  (``benchkit/relayload.py``). 200 of them took 0.6 of the 2 cores at 200 msg/s
  (0.16 idle), which leaves the relay what it needs: the relay is what the run
  measures. Nothing repairs what gossip loses at a light receiver.
- ``nodes``: a whole member node each (``protocol.node.node.Node`` objects, several
  in one trio loop), which checks, stores and indexes every record it gets and
  fills gaps by sync. On 2 cores these take 1.5 of them at 200 msg/s, and the
  relay's figures become the scheduler's (docs/performance.md, Relay).

Members reach the relay from its pin (the roster names the relay's address; a
node dials it and offers the circle; a light member does the same at its start).

Direct and relayed paths in the same run. Even-numbered circles are **direct**:
the two live members also dial each other, so a message reaches its receiver
straight from its sender (and a second time through the relay; the first copy
counts). Odd-numbered circles are **relayed**: the two live members block each
other (``<profile>/blocked``, as the relay tests do for members behind NATs), so
every message goes sender -> relay -> receiver. Both kinds are spread evenly over
the workers and the send schedule, so load hits both alike.

Sending. Each live member sends ``rate / (circles x live)`` msg/s (1 msg/s by
default) on an absolute wall-clock schedule, every sender with its own phase
offset so the total is an even ``--rate`` msg/s. A message is a 400-byte text
starting with a JSON header. A node member stamps ``time.time()`` just before the
``SendMessage`` command goes to the node and at its receiver's ``MessageReceived``
event, which the node emits after the record is committed in its store. A light
member stamps just before ``pubsub.publish`` and when its receiver's subscription
delivers the record. Latency = receive stamp - send stamp (one machine, one clock).
A phase of warm-up sends comes first and is not counted.

Measured, over the send phase: the relay's CPU (user + system from
``/proc/<pid>/stat``, as % of one core; sampled each second too, for the peak; per
message, over the send phase and the drain after it, until every receiver has every message
and the relay's stored count has not moved for ``DRAINED_S``, or ``settle_s``: a relay that
falls behind does the rest of the work then),
its RSS at the end and its peak (``VmHWM``), its store rate (records it stored per
second, from its status lines, one a second), and after the run: latency p50 /
p99 for direct and relayed circles and their ratio, loss (every acknowledged
message must reach its live receiver (a node's by sync too) within ``settle_s``; and
the relay must hold every one, for the offline members), and how many arrived
by sync. Targets (issue 4): relayed p50 under 2x direct p50; relay RSS under
250 MB; no loss. They are printed as PASS/MISS; the exit status is 0 whatever
they are.

Usage: scripts/bench_relay.py [--quick] [--circles N] [--members N] [--live N]
                              [--rate R] [--duration S] [--workers N]
                              [--members-as light|nodes] [--json PATH] [--keep]
                              [--profile-relay FILE]

Past 400 lines: the member worker (many nodes in one trio loop), the relay process and
the report are one benchmark; the shared machinery is ``benchkit``'s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import heapq
import itertools
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit/, beside this file)
from benchkit import (  # noqa: E402
    PAYLOAD_BYTES,
    Worker,
    fmt,
    pad,
    parse_payload,
    print_rows,
    print_targets,
    proc_cpu,
    relayload,
    rss_of,
    summary,
    verdict,
)
from benchkit import out as _out  # noqa: E402
from benchkit import reply as _reply  # noqa: E402
from benchkit.circles import make_circle  # noqa: E402
from benchkit.nodes import Sends  # noqa: E402
from benchkit.stats import lat_summary  # noqa: E402
from benchkit.wire import commands, read_back  # noqa: E402

from smallsocial_tui.nodeproc import cli_env  # noqa: E402

SCRIPT = Path(__file__).resolve()
DEFAULT_JSON = "bench-results/relay.json"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
DIRECT, RELAYED = "direct", "relayed"

# The targets.
T_LATENCY_RATIO = 2.0
T_RSS_MB = 250.0

DRAINED_S = 2.5
"""After sending, the relay has drained once its record count has not moved for this long (it
writes a status line each second) and every receiver has every message."""


@dataclasses.dataclass(frozen=True)
class Plan:
    circles: int
    members: int  # identities in each circle's roster
    live: int  # of them running a node (each sends and receives)
    rate: float  # msg/s, all circles together
    duration_s: float  # measured sending
    warmup_s: float  # sending before it, not counted
    workers: int  # member processes
    idle_s: float  # relay CPU measured idle (all circles pinned, nothing sent)
    settle_s: float  # after sending: every acknowledged message must have arrived within this
    ready_timeout_s: float  # relay to take every circle and every mesh to form
    start_gap_s: float
    """Seconds between two member nodes coming up. All at once (200 connections in a second or two
    on a loaded 2-core machine) made py-libp2p's pubsub and identify streams to the relay time out
    (10 s), and a pubsub stream that failed is not opened again while the connection stays up:
    those members never joined the relay's mesh (see docs/performance.md, Relay)."""


QUICK = Plan(
    circles=10,
    members=5,
    live=2,
    rate=20.0,
    duration_s=8.0,
    warmup_s=2.0,
    workers=2,
    idle_s=2.0,
    settle_s=20.0,
    ready_timeout_s=60.0,
    start_gap_s=0.05,
)
FULL = Plan(
    circles=100,
    members=5,
    live=2,
    rate=200.0,
    duration_s=60.0,
    warmup_s=5.0,
    workers=8,
    idle_s=5.0,
    settle_s=60.0,
    ready_timeout_s=240.0,
    start_gap_s=0.1,
)


def kind_of(c: int) -> str:
    return DIRECT if c % 2 == 0 else RELAYED


# =========================================================================== the member worker
# ``--worker CONFIG``: builds its circles' profiles, runs their live members' nodes in one trio
# loop, prints JSON lines (each with "t": time.time()) and answers JSON commands on stdin
# (``benchkit.wire``'s worker protocol).


def build_circle(work: Path, c: int, members: int, live: int, relay_addr: str) -> dict[str, Any]:
    """Circle ``c``, pinned to the relay; in a relayed one the live members block each other."""
    roots, cids, peer_ids = make_circle(work, members, prefix=f"c{c}m", name=f"bench {c}", relay=relay_addr)
    if kind_of(c) == RELAYED:  # the live members refuse each other: only the relay joins them
        for k in range(live):
            others = [peer_ids[i] for i in range(live) if i != k]
            (roots[k] / "blocked").write_text("".join(x + "\n" for x in others))
    return {"c": c, "cid": bytes.fromhex(cids[0]), "roots": roots[:live], "peer_ids": peer_ids}


def worker_members(cfg: dict[str, Any]) -> None:
    import trio
    from libp2p.peer.id import ID

    from protocol import circle as circle_mod
    from protocol.node import api
    from protocol.node.host import setup_logging
    from protocol.node.node import Node
    from protocol.node.paths import ProfilePaths
    from protocol.node.profile import Profile

    _out({"ev": "boot", "t": time.time()})
    work = Path(cfg["work"])
    setup_logging(work / "logs")
    live, relay_addr = int(cfg["live"]), str(cfg["relay"])
    relay_pid = ID.from_base58(relay_addr.rsplit("/p2p/", 1)[1])

    t0 = time.perf_counter()
    circles = [build_circle(work, c, int(cfg["members"]), live, relay_addr) for c in cfg["circles"]]
    if cfg.get("light"):
        relayload.serve(cfg, circles, {c for c in cfg["circles"] if kind_of(c) == DIRECT}, t0)
        return
    _out(
        {
            "ev": "built",
            "circles": len(circles),
            "build_s": round(time.perf_counter() - t0, 3),
            "t": time.time(),
        }
    )

    # Per phase: first receipts by (c, k, j, receiver); what was sent, by (c, k, j), in ``sends``.
    recv: dict[str, dict[tuple[int, int, int, int], tuple[float, float]]] = defaultdict(dict)
    sends = Sends()
    dups: Counter[str] = Counter()
    wrong: Counter[str] = Counter()  # received by a member that is not the intended one

    def make_emit(c: int, k: int, profile: Profile) -> Callable[[api.Event], None]:
        mark: dict[bytes, int] = {}

        def take(text: str, t: float, told: bool) -> None:
            head = parse_payload(text)
            if head is None:
                return
            key = (int(head["c"]), int(head["k"]), int(head["j"]), k)  # ..., and who received it
            p = head["p"]
            if key[0] != c or key[1] == k:
                wrong[p] += 0 if told else 1
            elif key in recv[p]:
                dups[p] += 0 if told else 1  # read back from the history: not a second receipt
            else:
                recv[p][key] = (float(head["ts"]), t)

        def emit(ev: api.Event) -> None:
            t = time.time()
            if isinstance(ev, api.MessageReceived):
                take(ev.text or "", t, False)
            elif isinstance(ev, api.MessagesArrived):
                # A sync batch told as a count (as to the TUI): its messages read back from the
                # store, those stored since the last read only, stamped when told.
                for text in read_back(profile, ev.circle, mark):
                    take(text, t, True)
            else:
                sends.take(ev, t)

        return emit

    nodes: dict[tuple[int, int], Node] = {}
    profiles: list[Profile] = []
    for info in circles:
        for k, root in enumerate(info["roots"]):
            profile = Profile.open(ProfilePaths(root))
            profiles.append(profile)
            nodes[(info["c"], k)] = Node(profile, make_emit(info["c"], k, profile), listen=[LOOPBACK])
    by_c = {info["c"]: info for info in circles}

    def expected_mesh(c: int, k: int) -> set[ID]:
        want = {relay_pid}
        if kind_of(c) == DIRECT:
            want |= {ID.from_base58(by_c[c]["peer_ids"][i]) for i in range(live) if i != k}
        return want

    async def send_phase(cmd: dict[str, Any]) -> None:
        """This worker's part of the global schedule: sender (c, k) sends at start + offset + j*period."""
        phase, start, dur = cmd["p"], float(cmd["start"]), float(cmd["duration"])
        period, slots = float(cmd["period"]), int(cmd["slots"])
        heap: list[tuple[float, int, int, int]] = []
        for c, k in nodes:
            offset = period * ((c * live + k) % slots) / slots
            heap.append((start + offset, c, k, 0))
        heapq.heapify(heap)
        submitted = 0
        while heap:
            when, c, k, j = heapq.heappop(heap)
            delay = when - time.time()
            if delay > 0:
                await trio.sleep(delay)
            ts = time.time()
            msg = api.SendMessage(by_c[c]["cid"], pad({"p": phase, "c": c, "k": k, "j": j, "ts": ts}))
            sends.pending[msg.request_id] = (phase, (c, k, j), ts)
            try:
                nodes[(c, k)].submit_nowait(msg)
                submitted += 1
            except trio.WouldBlock:
                sends.pending.pop(msg.request_id, None)
                sends.failed[phase] += 1
            nxt = when + period
            if nxt < start + dur - 1e-9:
                heapq.heappush(heap, (nxt, c, k, j + 1))
        with trio.move_on_after(30):
            while any(v[0] == phase for v in sends.pending.values()):
                await trio.sleep(0.05)
        _out(
            {
                "ev": "sent_done",
                "p": phase,
                "submitted": submitted,
                "acked": len(sends.sent[phase]),
                "failed": sends.failed[phase],
                "t": time.time(),
            }
        )

    reoffered: dict[tuple[int, int], float] = {}
    started_at = time.monotonic()

    def mesh_ready(nursery: trio.Nursery) -> tuple[int, int]:
        """How many nodes have their whole mesh (the relay, the partner if direct) and the relay.

        A member offers its pinned circles to the relay once per connection; an offer that timed
        out is not repeated until it reconnects. A node whose mesh still lacks the relay 20 s after
        it started offers its circle again here, once (counted as ``pin_reoffers``).
        """
        ok = connected = 0
        now = time.monotonic()
        for (c, k), node in nodes.items():
            gs = getattr(node, "gossipsub", None)
            mesh = set(gs.mesh.get(circle_mod.topic(by_c[c]["cid"]), ())) if gs is not None else set()
            ok += expected_mesh(c, k) <= mesh
            linked = relay_pid in node.peers.connected
            connected += linked
            if linked and relay_pid not in mesh and (c, k) not in reoffered and now - started_at > 20:
                reoffered[(c, k)] = now
                sends.counters["pin_reoffers"] += 1
                nursery.start_soon(node.peers.offer_pins, relay_pid, by_c[c]["cid"])
        return ok, connected

    lags: list[float] = []  # how late a 10 ms sleep wakes up in this loop (ms): is the worker busy?

    async def start_nodes(nursery: trio.Nursery, cmd: dict[str, Any]) -> None:
        nonlocal started_at
        start_s = await relayload.start_on_schedule(nursery, [node.run for node in nodes.values()], cmd)
        started_at = time.monotonic()
        for info in circles:  # direct circles: member k dials members 0..k-1 too
            if kind_of(info["c"]) != DIRECT:
                continue
            for k in range(1, live):
                for i in range(k):
                    addr = nodes[(info["c"], i)].public_addrs()[0]
                    nodes[(info["c"], k)].core.extra_peers.append(addr)  # the dialer redials it
                    await nodes[(info["c"], k)].peers.connect(addr)
        _out({"ev": "started", "nodes": len(nodes), "start_s": round(start_s, 3), "t": time.time()})

    async def main() -> None:
        async with trio.open_nursery() as outer:  # the probe, the starter and the senders
            outer.start_soon(relayload.lag_probe, lags)
            # the nodes' nursery ends when they all stopped
            async with trio.open_nursery() as nursery, contextlib.aclosing(commands()) as cmds:
                async for cmd in cmds:
                    op = cmd["op"]
                    if op == "start":
                        outer.start_soon(start_nodes, nursery, cmd)
                    elif op == "ready":
                        ok, conn = mesh_ready(outer)
                        _reply(cmd, mesh_ok=ok, relay_connected=conn, nodes=len(nodes))
                    elif op == "send":
                        lags.clear()
                        outer.start_soon(send_phase, cmd)
                    elif op == "count":
                        p = cmd["p"]
                        _reply(cmd, acked=len(sends.sent[p]), received=len(recv[p]))
                    elif op == "report":
                        p = cmd["p"]
                        _reply(
                            cmd,
                            sent=[[*key, *v] for key, v in sends.sent[p].items()],
                            recv=[[*key, *v] for key, v in recv[p].items()],
                            failed=sends.failed[p],
                            dups=dups[p],
                            wrong=wrong[p],
                            counters=dict(sends.counters),
                            loop_lag_ms=lat_summary(lags),
                        )
                    elif op == "stop":
                        break
                t2 = time.monotonic()
                for node in nodes.values():
                    node.stop()  # all at once: each closes its connections concurrently
                stop_holder.append(t2)
            stop_holder.append(time.monotonic())
            outer.cancel_scope.cancel()

    stop_holder: list[float] = []
    try:
        trio.run(main)
    finally:
        for p in profiles:
            with contextlib.suppress(Exception):
                p.close()
    stop_s = stop_holder[1] - stop_holder[0] if len(stop_holder) == 2 else None
    _out(
        {
            "ev": "exit",
            "stopped": True,
            "stop_s": None if stop_s is None else round(stop_s, 3),
            "t": time.time(),
        }
    )


# =========================================================================== orchestration


class Relay(Worker):
    """``smallsocial relay --json`` with a status line each second."""

    def __init__(self, work: Path, profile: Path | None = None) -> None:
        self.data_dir = work / "relay-data"
        env = cli_env(self.data_dir, "relay")
        args = [sys.executable]
        if profile is not None:  # cProfile the whole relay process (written when it stops)
            profile.parent.mkdir(parents=True, exist_ok=True)
            args += ["-m", "cProfile", "-o", str(profile.resolve())]
        args += ["-m", "smallsocial_tui", "relay", "--json", "--listen", LOOPBACK]
        super().__init__("relay", [*args, "--status-interval", "1"], work / "logs", env=env, orphan_dies=True)
        started = self.wait_for(lambda: self.find("RelayStarted"), 60, "the relay to listen")
        self.addr: str = started["addrs"][0]

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (the relay stops cleanly on it), then SIGKILL after ``timeout``."""
        self.signal(signal.SIGTERM)
        return self.close(None, timeout)

    @property
    def status(self) -> dict[str, Any]:
        return next(reversed(self.statuses()), {})

    def statuses(self) -> list[dict[str, Any]]:
        with self.cond:
            return [x for x in self.lines if x.get("event") == "RelayStatus"]

    def stored_ids(self) -> set[str]:
        """Record ids in the relay's store (read after it stopped)."""
        db = next(self.data_dir.rglob("store.sqlite3"), None)
        if db is None:
            return set()
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return {bytes(r[0]).hex() for r in con.execute("SELECT id FROM records")}
        finally:
            con.close()


class Sampler(threading.Thread):
    """The relay's CPU % of one core, once a second (its RSS peak is the kernel's VmHWM)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # (t, cpu %)
        self.halt = threading.Event()

    def run(self) -> None:
        last_t, last_cpu = time.monotonic(), proc_cpu(self.pid)
        while not self.halt.wait(1.0):
            t, cpu = time.monotonic(), proc_cpu(self.pid)
            self.samples.append((time.time(), 100 * (cpu - last_cpu) / max(t - last_t, 1e-9)))
            last_t, last_cpu = t, cpu

    def between(self, t0: float, t1: float) -> list[float]:
        """The CPU % samples from ``t0`` to ``t1`` (and the one just after)."""
        return [pct for t, pct in self.samples if t0 < t <= t1 + 0.5]


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat (every process, others' too)."""
    try:
        vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return float(sum(vals) - idle), float(sum(vals))


def per_message(
    busy: dict[str, Any], drain: dict[str, Any], idle: dict[str, Any], acked: int, *, above_idle: bool
) -> float | None:
    """The relay's CPU ms per acknowledged message over the send phase and its drain after it
    (less what it spends idle over as long, ``above_idle``)."""
    if not acked or (above_idle and not idle["wall_s"]):
        return None
    cpu = busy["cpu_s"] + drain["cpu_s"]
    if above_idle:
        cpu -= idle["cpu_s"] * (busy["wall_s"] + drain["wall_s"]) / idle["wall_s"]
    return round(1000 * cpu / acked, 2)


def cpu_window(
    relay: Relay, sampler: Sampler, members: list[int], fn: Callable[[], Any]
) -> tuple[Any, dict[str, Any]]:
    """Run ``fn``; the relay's CPU over it, the member processes' and the whole machine's."""
    w0, c0 = time.monotonic(), proc_cpu(relay.proc.pid)
    m0, (b0, a0) = sum(proc_cpu(p) for p in members), machine_busy()
    t0 = time.time()
    out = fn()
    w1, c1 = time.monotonic(), proc_cpu(relay.proc.pid)
    m1, (b1, a1) = sum(proc_cpu(p) for p in members), machine_busy()
    per_s = sampler.between(t0, time.time())
    wall = max(w1 - w0, 1e-9)
    ncpu = os.cpu_count() or 1
    return out, {
        "wall_s": round(w1 - w0, 2),
        "cpu_s": round(c1 - c0, 2),
        "cpu_pct_one_core": round(100 * (c1 - c0) / wall, 1),
        "cpu_pct_max_1s": round(max(per_s), 1) if per_s else None,
        "members_cpu_cores": round((m1 - m0) / wall, 2),
        "machine_busy_cores": round(ncpu * (b1 - b0) / (a1 - a0), 2) if a1 > a0 else None,
    }


def run(
    plan: Plan, work: Path, log: Callable[[str], None], profile: Path | None = None, *, light: bool = True
) -> dict[str, Any]:
    procs: list[Worker] = []  # each gets SIGTERM if the benchmark dies
    relay: Relay | None = None
    sampler: Sampler | None = None
    try:
        t_start = time.perf_counter()
        relay = Relay(work, profile)
        procs.append(relay)
        sampler = Sampler(relay.proc.pid)
        sampler.start()
        log(f"relay listening at {relay.addr} after {time.time() - relay.spawned:.2f} s")

        # Circles dealt round-robin: every worker gets direct and relayed ones alike.
        deal = [list(range(w, plan.circles, plan.workers)) for w in range(plan.workers)]
        senders = plan.circles * plan.live
        period = senders / plan.rate  # seconds between two messages of one sender
        workers = []
        for w, cs in enumerate(deal):
            if not cs:
                continue
            cfg = {
                "work": str(work / f"w{w}"),
                "circles": cs,
                "members": plan.members,
                "live": plan.live,
                "relay": relay.addr,
                "light": light,
                "phases": {  # light members make their records before they start
                    "warmup": relayload.per_sender(plan.warmup_s, period),
                    "run": relayload.per_sender(plan.duration_s, period),
                },
            }
            args = [sys.executable, str(SCRIPT), "--worker", json.dumps(cfg)]
            workers.append(Worker(f"w{w}", args, work / "logs", orphan_dies=True))
        procs += workers
        member_pids = [w.proc.pid for w in workers]
        built = [w.wait_for(w.first("built"), plan.ready_timeout_s, "profiles to be built") for w in workers]
        build_s = max(b["build_s"] for b in built)
        # Members come up one by one (every ``start_gap_s``), not all at once: see Plan.start_gap_s.
        at = time.time() + 0.5
        for w, worker in enumerate(workers):
            worker.send(
                {"op": "start", "at": at, "gap": plan.start_gap_s, "stride": len(workers), "offset": w}
            )
        started = [w.wait_for(w.first("started"), plan.ready_timeout_s, "nodes to start") for w in workers]
        nodes = sum(int(s["nodes"]) for s in started)
        log(
            f"{len(workers)} worker processes, {nodes} live member nodes started, one every "
            f"{plan.start_gap_s:g} s (building the profiles took up to {build_s:.1f} s a worker)"
        )

        # Ready: the relay took every circle, every node is connected to it, every mesh formed.
        t_ready0 = time.monotonic()
        said = t_ready0  # a progress line every 10 s: a stall in set-up shows while it happens
        ready: dict[str, Any] = {}
        while True:
            st = relay.status
            replies = [w.request({"op": "ready"}, 60) for w in workers]
            ready = {
                "relay_circles": st.get("circles", 0),
                "relay_peers": st.get("peers", 0),
                "mesh_ok": sum(r["mesh_ok"] for r in replies),
                "relay_connected": sum(r["relay_connected"] for r in replies),
                "nodes": nodes,
            }
            if ready["relay_circles"] >= plan.circles and ready["mesh_ok"] >= nodes:
                break
            if time.monotonic() - t_ready0 > plan.ready_timeout_s:
                log(f"not everything ready after {plan.ready_timeout_s:.0f} s; going on: {ready}")
                break
            if time.monotonic() - said >= 10:
                said = time.monotonic()
                log(f"set-up so far: {ready}")
            time.sleep(0.5)
        ready["waited_s"] = round(time.monotonic() - t_ready0, 2)
        ready["setup_s"] = round(time.perf_counter() - t_start, 2)
        log(f"ready after {ready['setup_s']:.1f} s: {ready}")

        # Idle: all circles pinned, members connected, nothing sent.
        _, idle = cpu_window(relay, sampler, member_pids, lambda: time.sleep(plan.idle_s))
        idle["rss_mib"] = rss_of(relay.proc.pid)["rss_mib"]
        log(f"relay idle: {idle['cpu_pct_one_core']}% of a core, {idle['rss_mib']} MiB")

        def phase(name: str, duration: float) -> dict[str, Any]:
            start = time.time() + 0.5
            for w in workers:
                w.send(
                    {
                        "op": "send",
                        "p": name,
                        "start": start,
                        "duration": duration,
                        "period": period,
                        "slots": senders,
                    }
                )
            done = [w.wait_for(w.first("sent_done", p=name), duration + 120, f"{name} sent") for w in workers]
            return {"start": start, "end": max(d["t"] for d in done), "done": done}

        log(f"warm-up: {plan.warmup_s:g} s at {plan.rate:g} msg/s ...")
        phase("warmup", plan.warmup_s)
        time.sleep(1.0)

        log(
            f"measuring: {plan.duration_s:g} s at {plan.rate:g} msg/s ({plan.live} senders a circle, "
            f"one message every {period:g} s each) ..."
        )
        rss_before = rss_of(relay.proc.pid)
        recs_before = relay.status.get("records", 0)
        sent_phase, busy = cpu_window(relay, sampler, member_pids, lambda: phase("run", plan.duration_s))
        rss_end = rss_of(relay.proc.pid)
        t_send0, t_send1 = sent_phase["start"], sent_phase["end"]
        acked = sum(int(d["acked"]) for d in sent_phase["done"])

        # Settle: every acknowledged message at its receivers (gossip, else sync) and in the relay's
        # store (its status line counts records; presence records are not stored), and the relay
        # drained (its count still for DRAINED_S: it counts the members' other records too, so
        # reaching the count alone can come before the last message), or the deadline. The
        # relay's CPU is counted to here: work it put off past the send phase is its work too.
        t_settle0, c_settle0 = time.monotonic(), proc_cpu(relay.proc.pid)
        received, still = 0, (-1, t_settle0)
        while True:
            counts = [w.request({"op": "count", "p": "run"}, 60) for w in workers]
            received = sum(int(c["received"]) for c in counts)
            relay_has = int(relay.status.get("records", 0)) - int(recs_before)
            now = time.monotonic()
            if relay_has != still[0]:
                still = (relay_has, now)
            drained = now - still[1] >= DRAINED_S
            if received >= acked * (plan.live - 1) and relay_has >= acked and drained:
                break
            if now - t_settle0 > plan.settle_s:
                break
            time.sleep(0.25)
        settle_s = round(time.monotonic() - t_settle0, 2)
        drain = {"wall_s": settle_s, "cpu_s": round(proc_cpu(relay.proc.pid) - c_settle0, 2)}
        log(
            f"sent {acked:,} acknowledged; {received:,} received and {relay_has:,} stored by the relay "
            f"{settle_s:.1f} s after sending ended"
        )
        time.sleep(1.5)  # one status line more

        # Store rate: from the relay's status lines (one a second) over the send phase.
        sts = [(float(s["t_read"]), int(s["records"])) for s in relay.statuses()]
        inside = [x for x in sts if t_send0 <= x[0] <= t_send1 + 1.0]
        store_rate = None
        if len(inside) >= 2:
            (ta, ra), (tb, rb) = inside[0], inside[-1]
            store_rate = (rb - ra) / (tb - ta) if tb > ta else None
        per_s = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(inside) if b[0] - a[0] > 0.2]
        status_end = relay.status

        reports = [w.request({"op": "report", "p": "run"}, 120) for w in workers]
        rss_peak = rss_of(relay.proc.pid)

        # Stop: members first (all workers at once), then the relay (SIGTERM).
        for w in workers:
            with contextlib.suppress(OSError, ValueError):
                w.send({"op": "stop"})
        codes = [w.close(None, 30) for w in workers]
        exits = [w.line("exit") or {} for w in workers]
        t_relay_stop = time.monotonic()
        relay_code = relay.terminate(20)
        relay_stop_s = time.monotonic() - t_relay_stop
        sampler.halt.set()
        stored = relay.stored_ids()

        # Latency and loss, by kind of circle.
        lat: dict[str, list[float]] = {DIRECT: [], RELAYED: []}
        to_sent: dict[str, list[float]] = {DIRECT: [], RELAYED: []}  # send stamp -> MessageSent
        to_pub: dict[str, list[float]] = {DIRECT: [], RELAYED: []}  # send stamp -> MessagePublished
        expected: Counter[str] = Counter()
        delivered: Counter[str] = Counter()
        late: Counter[str] = Counter()
        not_stored: Counter[str] = Counter()
        counters: Counter[str] = Counter()
        failed = dups = wrong = 0
        loop_lags: list[dict[str, Any]] = []
        for rep in reports:
            got = {(int(c), int(k), int(j), int(rk)): (ts, t) for c, k, j, rk, ts, t in rep["recv"]}
            for c, k, j, ts, acked_t, pub_t, rid in rep["sent"]:
                kind = kind_of(int(c))
                to_sent[kind].append((acked_t - ts) * 1000)
                if pub_t is not None:
                    to_pub[kind].append((pub_t - ts) * 1000)
                receivers = plan.live - 1
                expected[kind] += receivers
                not_stored[kind] += rid not in stored
                for kk in range(plan.live):
                    if kk == k:
                        continue
                    # All live members of a circle are in one worker: its report has every receipt.
                    hit = got.get((int(c), int(k), int(j), kk))
                    if hit is not None:
                        delivered[kind] += 1
                        lat[kind].append((hit[1] - hit[0]) * 1000)
                        late[kind] += hit[1] > t_send1 + plan.settle_s
            failed += int(rep["failed"])
            dups += int(rep["dups"])
            wrong += int(rep["wrong"])
            counters += Counter(rep["counters"])
            loop_lags.append(rep["loop_lag_ms"])

        by_kind = {}
        for kind in (DIRECT, RELAYED):
            by_kind[kind] = {
                "circles": sum(1 for c in range(plan.circles) if kind_of(c) == kind),
                "expected": expected[kind],
                "delivered": delivered[kind],
                "lost": expected[kind] - delivered[kind],
                "not_stored_by_relay": not_stored[kind],
                **lat_summary(lat[kind]),
                "to_message_sent": lat_summary(to_sent[kind]),
                "to_message_published": lat_summary(to_pub[kind]),
            }
        d, r = by_kind[DIRECT], by_kind[RELAYED]
        ratio_p50 = r["p50_ms"] / d["p50_ms"] if d["p50_ms"] and r["p50_ms"] is not None else None
        ratio_p99 = r["p99_ms"] / d["p99_ms"] if d["p99_ms"] and r["p99_ms"] is not None else None
        rss_peak_mb = rss_peak["peak_mib"]
        run_s = t_send1 - t_send0
        return {
            "setup": {
                **ready,
                "workers": len(workers),
                "live_nodes": nodes,
                "members_as": "light" if light else "nodes",
                "build_s_max": build_s,
                "node_start_s_max": max(s["start_s"] for s in started),
            },
            "relay": {
                "idle": idle,
                "busy": busy,
                "rss_mib": {
                    "before_send": rss_before["rss_mib"],
                    "end": rss_end["rss_mib"],
                    "peak": rss_peak_mb,
                },
                "drain": drain,
                "cpu_ms_per_message": per_message(busy, drain, idle, acked, above_idle=False),
                "cpu_ms_per_message_above_idle": per_message(busy, drain, idle, acked, above_idle=True),
                "store_rate_per_s": None if store_rate is None else round(store_rate, 1),
                "store_rate_1s": summary(per_s, 1),
                "records_stored_during_send": (inside[-1][1] - inside[0][1]) if len(inside) >= 2 else None,
                "records_before_send": recs_before,
                "status_end": {k: v for k, v in status_end.items() if k not in ("addrs", "t_read")},
                "stop_s": round(relay_stop_s, 2),
                "exit_code": relay_code,
            },
            "send": {
                "offered_rate": plan.rate,
                "achieved_rate": round((acked - 1) / run_s, 1) if run_s > 0 and acked > 1 else None,
                "acked": acked,
                "failed": failed,
                "send_window_s": round(run_s, 2),
            },
            "latency": by_kind,
            "latency_ratio_p50": None if ratio_p50 is None else round(ratio_p50, 2),
            "latency_ratio_p99": None if ratio_p99 is None else round(ratio_p99, 2),
            "added_latency_p50_ms": None if ratio_p50 is None else round(r["p50_ms"] - d["p50_ms"], 2),
            "loss": {
                "expected_deliveries": sum(expected.values()),
                "delivered": sum(delivered.values()),
                "lost": sum(expected.values()) - sum(delivered.values()),
                "late_after_settle": sum(late.values()),
                "not_stored_by_relay": sum(not_stored.values()),
                "duplicates": dups,
                "wrong_receiver": wrong,
                "settled_after_s": settle_s,
            },
            "members": {
                "counters": dict(counters),
                "stop_s_max": max((float(e.get("stop_s") or 0) for e in exits), default=None),
                "loop_lag_ms_by_worker": loop_lags,
                "loop_lag_p50_ms_max": max((x["p50_ms"] or 0 for x in loop_lags), default=None),
                "loop_lag_p99_ms_max": max((x["p99_ms"] or 0 for x in loop_lags), default=None),
                "exit_codes": codes,
            },
        }
    finally:
        if sampler is not None:
            sampler.halt.set()
        for p in procs:  # whatever happened: nothing left running
            if p.running():
                if isinstance(p, Relay):
                    p.terminate(10)
                else:
                    p.close({"op": "stop"}, 15)


def verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = res["latency_ratio_p50"]
    peak = res["relay"]["rss_mib"]["peak"]
    peak_mb = None if peak is None else round(peak * 2**20 / 1e6, 1)
    loss = res["loss"]
    lost = loss["lost"] + loss["not_stored_by_relay"]
    return [
        verdict(
            "relayed latency p50 / direct p50",
            ratio,
            f"< {T_LATENCY_RATIO:g}x",
            None if ratio is None else ratio < T_LATENCY_RATIO,
        ),
        verdict(
            "relay RSS peak (MB)",
            peak_mb,
            f"< {T_RSS_MB:g} MB",
            None if peak_mb is None else peak_mb < T_RSS_MB,
        ),
        verdict(
            "messages lost (live receivers + relay store)",
            lost,
            "0",
            lost == 0 and loss["expected_deliveries"] > 0,
        ),
    ]


def print_table(plan: Plan, res: dict[str, Any], checks: list[dict[str, Any]]) -> None:
    rel, lat, loss, m = res["relay"], res["latency"], res["loss"], res["members"]
    idle, busy = rel["idle"], rel["busy"]
    print(
        f"relay: {plan.circles} circles x {plan.members} members ({plan.live} live each), "
        f"{res['send']['offered_rate']:g} msg/s offered, {fmt(res['send']['achieved_rate'])} achieved"
    )

    def pair(a: Any, b: Any) -> str:
        return f"{fmt(a)} / {fmt(b)}"

    rows = [
        ("relay CPU, % of one core (send phase, mean / max 1 s)",
         pair(busy["cpu_pct_one_core"], busy["cpu_pct_max_1s"])),
        ("relay CPU, % of one core (idle, all circles pinned)", fmt(idle["cpu_pct_one_core"])),
        (f"relay CPU ms per message, send + drain {fmt(rel['drain']['wall_s'])} s (all / above idle)",
         pair(rel["cpu_ms_per_message"], rel["cpu_ms_per_message_above_idle"])),
        ("relay RSS MiB (before send / end / peak)",
         " / ".join(fmt(rel["rss_mib"][k]) for k in ("before_send", "end", "peak"))),
        ("relay store rate, records/s (mean / p50 of 1 s)",
         pair(rel["store_rate_per_s"], rel["store_rate_1s"]["p50"])),
        *((f"{kind} latency p50 / p99 ms ({x['circles']} circles)",
           f"{pair(x['p50_ms'], x['p99_ms'])}  ({x['delivered']:,}/{x['expected']:,} delivered; "
           f"-> MessageSent / published p50 "
           f"{pair(x['to_message_sent']['p50_ms'], x['to_message_published']['p50_ms'])})")
          for kind, x in ((k, lat[k]) for k in (DIRECT, RELAYED))),
        ("relayed / direct (p50, p99); added p50 ms",
         f"{fmt(res['latency_ratio_p50'])}x, {fmt(res['latency_ratio_p99'])}x; "
         f"{fmt(res['added_latency_p50_ms'])}"),
        ("lost (receivers / relay store); by sync",
         f"{pair(loss['lost'], loss['not_stored_by_relay'])}; "
         f"{m['counters'].get('sync_records', 0):,} records by sync"),
        ("member processes CPU, cores (idle / send phase)",
         pair(idle["members_cpu_cores"], busy["members_cpu_cores"])),
        (f"whole machine busy, cores of {os.cpu_count()} (idle / send phase)",
         pair(idle["machine_busy_cores"], busy["machine_busy_cores"])),
        ("member worker loop lag ms (worst worker p50 / p99)",
         pair(m["loop_lag_p50_ms_max"], m["loop_lag_p99_ms_max"])),
    ]  # fmt: skip
    print_rows(("figure", "value"), rows, left=2)
    print_targets(checks)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_members(json.loads(argv[1]))
        return 0

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 circles, 20 msg/s, 8 s (under a minute)")
    ap.add_argument("--circles", type=int, metavar="N", help="circles pinned to the relay (100)")
    ap.add_argument("--members", type=int, metavar="N", help="members in each circle's roster (5)")
    ap.add_argument("--live", type=int, metavar="N", help="members of each circle running a node (2)")
    ap.add_argument("--rate", type=float, metavar="R", help="msg/s, all circles together (200)")
    ap.add_argument("--duration", type=float, metavar="S", help="seconds of measured sending (60)")
    ap.add_argument("--workers", type=int, metavar="N", help="member processes (8)")
    ap.add_argument(
        "--settle", type=float, metavar="S", help="seconds allowed after sending for stragglers (60)"
    )
    ap.add_argument(
        "--members-as",
        choices=("light", "nodes"),
        default="light",
        help="light: the members' hosts publish records made beforehand and count what arrives "
        "(benchkit/relayload.py); nodes: a whole member node each (light)",
    )
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles and logs")
    ap.add_argument(
        "--profile-relay",
        type=Path,
        metavar="FILE",
        help="run the relay under cProfile and write its stats to FILE (figures not comparable)",
    )
    args = ap.parse_args(argv)
    plan = benchkit.override(
        QUICK if args.quick else FULL,
        circles=args.circles,
        members=args.members,
        live=args.live,
        rate=args.rate,
        duration_s=args.duration,
        workers=args.workers,
        settle_s=args.settle,
    )
    if plan.live < 2 or plan.members < plan.live or plan.circles < 2 or plan.rate <= 0 or plan.workers < 1:
        ap.error("need --live >= 2, --members >= --live, --circles >= 2, --rate > 0, --workers >= 1")
    mode = "quick" if args.quick else "full"
    machine = benchkit.machine_info(libp2p=True)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    log(
        f"relay benchmark ({mode} run): {plan.circles} circles x {plan.members} members "
        f"({plan.live} live a circle, the rest offline), {plan.rate:g} msg/s in total for "
        f"{plan.duration_s:g} s, {PAYLOAD_BYTES}-byte messages; even circles direct + relay, "
        f"odd circles relay only; load average {os.getloadavg()[0]:.2f}"
    )
    with benchkit.workdir("bench_relay_", args.keep, log) as work:
        res = run(plan, work, log, args.profile_relay, light=args.members_as == "light")
    checks = verdicts(res)
    if args.members_as == "light":
        live_what = (
            "light members: our libp2p host stack publishing records made beforehand, counting arrivals"
        )
        stamp = (
            "send: time.time() before pubsub.publish; receive: when the receiver's subscription delivers it"
        )
    else:
        live_what = "a member node each (Node objects)"
        stamp = (
            "send: time.time() before SendMessage goes to the node; receive: MessageReceived at the "
            "receiver, emitted after the record is committed in its store"
        )
    print()
    print_table(plan, res, checks)
    benchkit.finish(
        args.json,
        "relay",
        mode,
        machine,
        started,
        plan=dataclasses.asdict(plan),
        payload_bytes=PAYLOAD_BYTES,
        simulated=(
            f"{plan.circles} circles, each with {plan.members} identities in its roster and the relay "
            f"pinned; {plan.live} of them live ({live_what}, several per worker process, "
            f"{plan.workers} worker processes), each sending {plan.rate / (plan.circles * plan.live):g} "
            f"msg/s and receiving the others'; {plan.members - plan.live} offline a circle (the relay "
            "must store every message for them). Even circles: live members connected to each other "
            "and to the relay (direct path). Odd circles: live members block each other, so all goes "
            "through the relay (relayed path)."
        ),
        latency_stamp=stamp,
        results=res,
        baseline={
            "what": "the direct path, same run, same load: even circles, receiver connected to the sender",
            **res["latency"][DIRECT],
        },
        targets=checks,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
