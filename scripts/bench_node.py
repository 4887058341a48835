#!/usr/bin/env python3
"""Benchmark member nodes against bare py-libp2p gossipsub: N processes on 127.0.0.1.

For each circle size N (2, 5 and 10 members; ``--members`` picks some), two
systems run side by side, one process per member, all on this machine:

- **bare**: py-libp2p 0.8.1 gossipsub with our settings
  (``protocol.node.host.make_host`` / ``make_gossipsub``), N hosts on one
  topic. No crypto of ours, no store, no outbox: what gossip drops is lost.
- **smallsocial**: N members of one circle, each a ``NodeThread`` (the bridge
  the TUI uses) in its own process. The profiles are made offline by this
  script (the founder creates the circle and invites everyone; each joins; the
  founder imports every join and everyone imports the founder's records, so
  every member knows every join) before any process starts. Messages go in
  with ``NodeThread.submit(SendMessage)``.

Both: member k dials members 0..k-1 (a full mesh), one connect at a time,
timing each in the worker (bare: ``host.connect``; smallsocial: ``ConnectPeer``
submitted until its ``CommandDone``, which wraps ``host.connect``; a peer
the node already dialled on its own is counted apart, not timed); then every
member waits until its gossipsub mesh holds the N-1 others. **One sender**, member 0,
publishes; the N-1 others receive (so the aggregate rate is the sender's rate,
and each message makes N-1 deliveries). Every message is a 400-byte text (the
chat text; the gossipsub data for bare) starting with a JSON header holding its
phase, index and ``time.time()`` taken just before the send call. A receiver
stamps ``time.time()`` when the message reaches it: for smallsocial that is the
``MessageReceived`` event, which the node emits after the record is
**committed in the receiver's store** (``Node._take`` -> ``_announce``); for
bare, the subscription read. Latency = receive stamp - send stamp.

Both systems' processes are up at the same time (one system idles while the
other is measured: ~0.2% CPU a process), and the latency rounds alternate
between them, so a change in the machine's load hits both. Phases per N:

- **latency** at 5 and 50 msg/s (paced on an absolute schedule, two rounds
  each, pooled): p50 and p99 over every (receiver, message) pair, delivery,
  and for smallsocial the split submit -> ``MessageSent`` (bridge, seal,
  commit) -> ``MessagePublished`` (outbox, py-libp2p ``publish``) ->
  committed at the receiver.
- **highest 0-loss rate**: a short search over offered rates, one sender. A
  step sends ``rate x step_s`` messages; it passes when the sender kept up
  (achieved >= 90% of the offered rate, no command refused) and every receiver
  got every message: for bare, before nothing new arrived for ``quiet_s``
  (what gossip dropped is lost); for smallsocial, every *acknowledged*
  (``MessageSent``) message committed at every receiver within ``settle_s``
  (35 s) of the end of the send phase, sync included; the time to complete is
  reported, and a step still incomplete waits up to ``loss_wait_s`` to tell
  late messages from lost ones. The search starts at the bare rate LIBP2P.md
  measured for that N (smallsocial: at the bare rate this run found), doubles
  or halves until it brackets the limit, then bisects (geometric mid) twice;
  at most 7 steps. The sender's store keeps what it sent in earlier steps
  (recorded as ``sender_sent_before``).
- **CPU**: user+system seconds of the sender and of the receivers over each
  phase (``/proc``), per message sent and per delivery.
- **RSS** of every member process after the search, and **clean shutdown**:
  the members are stopped one at a time, member 0 (the most connections)
  first (``NodeThread.stop``, timed in the worker; bare: closing its
  connections concurrently, as the node does).

Then **catch-up** (2 members): the founder's store holds ``--catchup`` (10,000)
messages the other member has not seen, written offline before either process
starts (``messages.seal`` + ``CircleView.add`` + ``Store.add_record``, the
path ``Profile.send_text`` takes, with the chain position carried along); the
founder's node starts, then the other member's process, which dials it and
pulls by sync. Timed from that process's spawn and from its listening moment
until all are committed. The bare floor is a fresh process reading the same
number of 400-byte frames over one libp2p stream (written 256 to a write, as
syncwire batches).

Targets (from the issue) are judged in the run and printed as PASS/MISS; the
table goes to stdout, everything to ``--json`` (default
``bench-results/bench_node.json``). Workers are this script run with
``--worker`` (an internal option); their libp2p logs go to the temp directory.

``--profile DIR`` runs each smallsocial member's node thread under cProfile
and writes its stats to DIR (the figures of such a run are not comparable).

Usage: scripts/bench_node.py [--quick] [--members N[,N...]] [--catchup N] [--json PATH]
                             [--keep] [--profile DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py, beside this file)

if str(ROOT) not in sys.path:  # use this checkout's protocol/, not another installed one
    sys.path.insert(0, str(ROOT))

SCRIPT = Path(__file__).resolve()
DEFAULT_JSON = "bench-results/bench_node.json"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TOPIC = "bench/node/1"
PULL_PROTOCOL = "/bench/pull/1"
PAYLOAD_BYTES = 400
PULL_BATCH = 256  # = protocol.node.syncwire.BATCH_RECORDS
BARE, SS = "bare", "smallsocial"
SYSTEMS = (BARE, SS)
# Highest rate with no loss for bare gossipsub, one sender, in /work/shared/LIBP2P.md.
LIBP2P_ZERO_LOSS = {2: 700, 5: 300, 10: 60}
KEEP_UP = 0.9  # a step counts only if the sender achieved this share of the offered rate

# The targets.
T_LATENCY_RATIO = 1.3
T_CATCHUP_S = 5.0
T_CONNECT_MS = 50.0
T_STOP_S = 2.0


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    latency: tuple[tuple[float, int], ...]  # (rate msg/s, messages a round)
    rounds: int  # latency rounds, the two systems alternating
    step_s: float  # seconds of sending per search step
    max_steps: int
    bisect: int
    settle_s: float  # smallsocial: all acknowledged messages committed within this after sending
    loss_wait_s: float  # ... and how long an incomplete step waits to tell late from lost
    quiet_s: float  # bare: a phase ends when nothing new arrived for this long
    pause_s: float  # between search steps
    warmup: int
    catchup: int


QUICK = Plan(
    sizes=(2,),
    latency=((5.0, 10), (50.0, 50)),
    rounds=1,
    step_s=1.0,
    max_steps=2,
    bisect=0,
    settle_s=15.0,
    loss_wait_s=20.0,
    quiet_s=1.5,
    pause_s=0.5,
    warmup=5,
    catchup=2000,
)
FULL = Plan(
    sizes=(2, 5, 10),
    latency=((5.0, 30), (50.0, 125)),
    rounds=2,
    step_s=3.0,
    max_steps=7,
    bisect=2,
    settle_s=35.0,
    loss_wait_s=60.0,
    quiet_s=2.0,
    pause_s=2.0,
    warmup=10,
    catchup=10000,
)


# --------------------------------------------------------------------------- payload


def pad(fields: dict[str, Any]) -> str:
    """A message text: ``fields`` as compact JSON, padded to ``PAYLOAD_BYTES``."""
    head = json.dumps(fields, separators=(",", ":"))
    return head + " " + "x" * max(0, PAYLOAD_BYTES - len(head) - 1)


def payload(phase: str, i: int, ts: float) -> str:
    return pad({"p": phase, "i": i, "ts": ts})


_DECODER = json.JSONDecoder()


def parse_payload(text: str) -> dict[str, Any] | None:
    try:
        head, _ = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return head if isinstance(head, dict) and "p" in head else None


# =========================================================================== workers
# A worker is this script with ``--worker ROLE CONFIG``. It prints JSON lines on
# stdout (each with "t": time.time()) and reads JSON commands on stdin; a command
# with "q" is answered by {"ev": "reply", "q": ...}. Receipts are kept in the
# worker's memory and fetched with "count" / "report", so the measured processes
# do not write a line per message.


_OUT_LOCK = threading.Lock()


def _out(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with _OUT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def _reply(cmd: dict[str, Any], **fields: Any) -> None:
    _out({"ev": "reply", "q": cmd.get("q"), "t": time.time(), **fields})


class Receipts:
    """First receipt of each (phase, index): (send stamp, receive stamp); thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_phase: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
        self.dups: Counter[str] = Counter()
        self.last: dict[str, float] = {}

    def add(self, text: str, t: float) -> None:
        head = parse_payload(text)
        if head is None:
            return
        p, i = head["p"], int(head["i"])
        with self.lock:
            d = self.by_phase[p]
            if i in d:
                self.dups[p] += 1
                return
            d[i] = (float(head["ts"]), t)
            self.last[p] = t

    def count(self, p: str) -> tuple[int, float | None]:
        with self.lock:
            return len(self.by_phase.get(p, ())), self.last.get(p)

    def report(self, p: str) -> tuple[list[list[float]], int]:
        with self.lock:
            return [[i, ts, t] for i, (ts, t) in self.by_phase.get(p, {}).items()], self.dups[p]


def worker_gossip(cfg: dict[str, Any]) -> None:
    """Bare py-libp2p: a host with our gossipsub settings on one topic; optional pull protocol."""
    import trio
    from libp2p.custom_types import TProtocol
    from libp2p.network.stream.exceptions import StreamEOF, StreamReset
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service
    from multiaddr import Multiaddr

    from protocol.identity import Identity
    from protocol.node.host import make_gossipsub, make_host, setup_logging

    _out({"ev": "boot", "t": time.time()})
    setup_logging(Path(cfg["logs"]))
    proto = TProtocol(PULL_PROTOCOL)
    receipts = Receipts()
    stop_s: list[float] = []

    async def read_exactly(stream: Any, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = await stream.read(n - len(buf))
            if not chunk:
                raise StreamEOF()
            buf += chunk
        return bytes(buf)

    async def main() -> None:
        host = make_host(Identity.generate(), [LOOPBACK])
        gs = make_gossipsub()
        ps = Pubsub(host, gs)
        stored: list[bytes] = []

        async def serve_pull(stream: Any) -> None:
            try:
                await read_exactly(stream, 4)
                for k in range(0, len(stored), PULL_BATCH):  # batched like syncwire (256 a frame)
                    await stream.write(
                        b"".join(len(p).to_bytes(4, "big") + p for p in stored[k : k + PULL_BATCH])
                    )
                await stream.close()
            except (StreamEOF, StreamReset):
                await stream.reset()

        async with host.run(listen_addrs=[Multiaddr(LOOPBACK)]):
            await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            async with background_trio_service(ps), background_trio_service(gs):
                await ps.wait_until_ready()
                host.set_stream_handler(proto, serve_pull)
                me = host.get_id()
                addr = f"{host.get_addrs()[0]}"
                if cfg.get("pull"):  # the catch-up floor: a fresh process pulls and reports
                    _out({"ev": "ready", "addr": addr, "t": time.time()})
                    info = info_from_p2p_addr(Multiaddr(cfg["pull"]))
                    await host.connect(info)
                    _out({"ev": "connected", "t": time.time()})
                    stream = await host.new_stream(info.peer_id, [proto])
                    await stream.write(b"PULL")
                    got, buf = 0, b""
                    while got < int(cfg["n"]):  # read what has come, then split it into frames
                        chunk = await stream.read(1 << 20)
                        if not chunk:
                            break
                        buf += chunk
                        while len(buf) >= 4 and len(buf) >= 4 + (n := int.from_bytes(buf[:4], "big")):
                            buf = buf[4 + n :]
                            got += 1
                    _out({"ev": "pulled", "n": got, "t": time.time()})
                    await stream.close()
                    await host.disconnect(info.peer_id)
                    return
                sub = await ps.subscribe(TOPIC)

                async def receive() -> None:
                    async for msg in sub:
                        t = time.time()
                        if ID(msg.from_id) != me:
                            receipts.add(msg.data.decode(errors="replace"), t)

                async def publish(phase: str, n: int, rate: float) -> None:
                    start = trio.current_time()
                    deadline = start + (2 * n / rate + 3 if rate > 0 else 120)
                    first: float | None = None
                    sent = 0
                    for i in range(n):
                        if rate > 0:
                            await trio.sleep_until(start + i / rate)
                        if trio.current_time() > deadline:
                            break
                        ts = time.time()
                        first = ts if first is None else first
                        await ps.publish(TOPIC, payload(phase, i, ts).encode())
                        sent += 1
                    t = time.time()
                    _out(
                        {
                            "ev": "sent_done",
                            "p": phase,
                            "n": n,
                            "sent": sent,
                            "first": first,
                            "last": t,
                            "t": t,
                        }
                    )

                async def connect(cmd: dict[str, Any]) -> None:
                    ms = []
                    for a in cmd["addrs"]:
                        info = info_from_p2p_addr(Multiaddr(a))
                        t0 = time.perf_counter()
                        await host.connect(info)
                        ms.append(round((time.perf_counter() - t0) * 1000, 3))
                    _reply(cmd, ms=ms)

                async def mesh(cmd: dict[str, Any]) -> None:
                    t0 = time.perf_counter()
                    with trio.move_on_after(float(cmd.get("timeout", 20))):
                        while len(gs.mesh.get(TOPIC, ())) < int(cmd["n"]):
                            await trio.sleep(0.01)
                    _reply(cmd, size=len(gs.mesh.get(TOPIC, ())), waited_s=round(time.perf_counter() - t0, 3))

                async def commands(nursery: trio.Nursery) -> None:
                    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
                    buf = b""
                    while True:
                        chunk = await stdin.receive_some(65536)
                        if not chunk:
                            return
                        buf += chunk
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            cmd = json.loads(line)
                            op = cmd["op"]
                            if op == "connect":
                                nursery.start_soon(connect, cmd)
                            elif op == "mesh":
                                nursery.start_soon(mesh, cmd)
                            elif op == "send":
                                nursery.start_soon(publish, cmd["p"], int(cmd["n"]), float(cmd["rate"]))
                            elif op == "count":
                                n, last = receipts.count(cmd["p"])
                                _reply(cmd, n=n, last=last)
                            elif op == "report":
                                recv, dups = receipts.report(cmd["p"])
                                _reply(cmd, recv=recv, dups=dups, counters={})
                            elif op == "store":
                                stored[:] = [
                                    payload("catchup", i, time.time()).encode() for i in range(int(cmd["n"]))
                                ]
                                _reply(cmd, n=len(stored))
                            elif op == "quit":
                                return

                _out({"ev": "ready", "addr": addr, "t": time.time()})
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receive)
                    await commands(nursery)
                    t0 = time.monotonic()
                    async with trio.open_nursery() as closing:  # close connections concurrently
                        for pid in list(host.get_network().connections):
                            closing.start_soon(host.disconnect, pid)
                    stop_s.append(time.monotonic() - t0)
                    nursery.cancel_scope.cancel()

    trio.run(main)
    _out({"ev": "exit", "stopped": True, "stop_s": round(stop_s[0], 3) if stop_s else None, "t": time.time()})


def worker_node(cfg: dict[str, Any]) -> None:
    """A smallsocial member node: a NodeThread; receipts kept in memory, commands on stdin."""
    from protocol import circle as circle_mod
    from protocol.node import api
    from protocol.node.bridge import NodeThread
    from protocol.node.host import setup_logging
    from protocol.node.paths import ProfilePaths

    _out({"ev": "boot", "t": time.time()})
    paths = ProfilePaths(Path(cfg["root"]))
    setup_logging(paths.logs)
    events: queue.SimpleQueue[tuple[float, Any] | None] = queue.SimpleQueue()
    receipts = Receipts()
    lock = threading.Lock()
    sent_info: dict[int, tuple[str, int, float]] = {}  # request id -> (phase, i, ts)
    record_info: dict[bytes, tuple[str, int]] = {}  # record id -> (phase, i)
    sent: dict[str, dict[int, list[float | None]]] = defaultdict(dict)  # phase -> i -> [ts, acked, published]
    failed: Counter[str] = Counter()
    counters: Counter[str] = Counter()
    answered: dict[str, threading.Semaphore] = {}  # phase -> released per answered command
    waiters: dict[int, tuple[threading.Event, list[Any]]] = {}
    connected: set[str] = set()  # peer IDs the node reports connected (it may dial on its own)

    def on_event(ev: api.Event) -> None:  # on the node's thread: stamp and hand over
        t = time.time()
        # Check before handing over: the writer thread pops sent_info once it sees the event.
        info = sent_info.get(ev.request_id) if isinstance(ev, (api.MessageSent, api.CommandFailed)) else None
        events.put((t, ev))
        if info is not None:  # per phase: concurrent sends (several circles) each wait for their own
            answered[info[0]].release()
        if isinstance(ev, api.PeerConnected):
            connected.add(ev.peer_id)
        elif isinstance(ev, api.PeerDisconnected):
            connected.discard(ev.peer_id)
        if isinstance(ev, (api.CommandDone, api.CommandFailed)) and ev.request_id in waiters:
            done, box = waiters[ev.request_id]
            box.append((time.perf_counter(), ev))
            done.set()

    def writer() -> None:
        while (item := events.get()) is not None:
            t, ev = item
            if isinstance(ev, tuple):  # a sender's marker: every command of the phase answered
                _, phase, n, submitted = ev
                with lock:
                    acked = sent.get(phase, {})
                    first = min((float(v[0]) for v in acked.values() if v[0] is not None), default=None)
                    last = max((v[1] for v in acked.values() if v[1] is not None), default=None)
                    nack, nfail = len(acked), failed[phase]
                _out(
                    {
                        "ev": "sent_done",
                        "p": phase,
                        "n": n,
                        "submitted": submitted,
                        "acked": nack,
                        "failed": nfail,
                        "first": first,
                        "last": last,
                        "t": t,
                    }
                )
            elif isinstance(ev, api.MessageReceived):
                receipts.add(ev.text or "", t)
            elif isinstance(ev, api.MessageSent):
                info = sent_info.pop(ev.request_id or -1, None)
                if info is not None:
                    with lock:
                        sent[info[0]][info[1]] = [info[2], t, None]
                        record_info[ev.record_id] = info[:2]
            elif isinstance(ev, api.MessagePublished):
                with lock:
                    pi = record_info.pop(ev.record_id, None)
                    if pi is not None:
                        sent[pi[0]][pi[1]][2] = t
            elif isinstance(ev, api.CommandFailed):
                info = sent_info.pop(ev.request_id, None)
                if info is not None:
                    with lock:
                        failed[info[0]] += 1
                counters["command_failed"] += 1
            elif isinstance(ev, api.NodeStarted):
                _out({"ev": "NodeStarted", "addrs": list(ev.addrs), "peer_id": ev.peer_id, "t": t})
            elif isinstance(ev, api.PeerConnected):
                counters["peer_connected"] += 1
                _out({"ev": "PeerConnected", "peer_id": ev.peer_id, "t": t})
            elif isinstance(ev, api.SyncProgress):
                counters["sync_batches"] += 1
                counters["sync_records"] += ev.received
            elif isinstance(ev, api.GapDetected):
                counters["gaps"] += 1
            elif isinstance(ev, api.RecordDropped):
                counters["dropped"] += 1
                if "rate limit" in ev.reason:
                    counters["dropped_rate_limit"] += 1
            elif isinstance(ev, api.NodeStopped):
                _out({"ev": "NodeStopped", "detail": ev.error, "t": t})

    def send(circle: bytes, phase: str, n: int, rate: float) -> None:
        start = time.monotonic()
        deadline = start + (2 * n / rate + 3 if rate > 0 else 120)
        in_flight = submitted = 0
        sem = answered[phase] = threading.Semaphore(0)
        for i in range(n):
            if rate > 0:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while in_flight >= 500:  # the node's command channel holds 1,000
                sem.acquire()
                in_flight -= 1
            if time.monotonic() > deadline:
                break
            ts = time.time()
            msg = api.SendMessage(circle, payload(phase, i, ts))
            sent_info[msg.request_id] = (phase, i, ts)
            node.submit(msg)
            in_flight += 1
            submitted += 1
        for _ in range(in_flight):
            sem.acquire(timeout=120)
        events.put((time.time(), ("sent_done", phase, n, submitted)))

    def command(cmd: api.Command, timeout: float = 30.0) -> tuple[float, Any]:
        done, box = threading.Event(), list[Any]()
        waiters[cmd.request_id] = (done, box)
        node.submit(cmd)
        done.wait(timeout)
        waiters.pop(cmd.request_id, None)
        return box[0] if box else (time.perf_counter(), None)

    if cfg.get("profile"):  # cProfile the node's thread (the trio loop) and dump it when it ends
        import cProfile

        profiler = cProfile.Profile()
        run_node = NodeThread._main

        def profiled(self: NodeThread) -> None:
            profiler.enable()
            try:
                run_node(self)
            finally:
                profiler.disable()
                profiler.dump_stats(cfg["profile"])

        NodeThread._main = profiled  # type: ignore[method-assign]

    out_thread = threading.Thread(target=writer, name="bench-writer", daemon=True)
    out_thread.start()
    node = NodeThread(paths, on_event, listen=[LOOPBACK], peers=list(cfg.get("peers", [])))
    node.start()
    threads: list[threading.Thread] = []
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "send":
                th = threading.Thread(
                    target=send,
                    args=(bytes.fromhex(cmd["circle"]), cmd["p"], int(cmd["n"]), float(cmd["rate"])),
                    daemon=True,
                )
                th.start()
                threads.append(th)
            elif op == "connect":
                ms, fails, already = [], 0, 0
                for a in cmd["addrs"]:
                    if a.rsplit("/p2p/", 1)[-1] in connected:  # dialled already (presence): not timed
                        already += 1
                        continue
                    t0 = time.perf_counter()
                    t1, ev = command(api.ConnectPeer(a))
                    if isinstance(ev, api.CommandDone):
                        ms.append(round((t1 - t0) * 1000, 3))
                    else:
                        fails += 1
                _reply(cmd, ms=ms, failed=fails, already=already)
            elif op == "mesh":
                topic = circle_mod.topic(bytes.fromhex(cmd["circle"]))
                t0 = time.perf_counter()
                size = 0
                while time.perf_counter() - t0 < float(cmd.get("timeout", 20)):
                    gs = getattr(getattr(node, "_node", None), "gossipsub", None)  # read-only peek
                    size = len(gs.mesh.get(topic, ())) if gs is not None else 0
                    if size >= int(cmd["n"]):
                        break
                    time.sleep(0.01)
                _reply(cmd, size=size, waited_s=round(time.perf_counter() - t0, 3))
            elif op == "count":
                n, last = receipts.count(cmd["p"])
                _reply(cmd, n=n, last=last)
            elif op == "report":
                recv, dups = receipts.report(cmd["p"])
                with lock:
                    mine = [[i, *v] for i, v in sent.get(cmd["p"], {}).items()]
                    nfail = failed[cmd["p"]]
                _reply(cmd, recv=recv, dups=dups, sent=mine, failed=nfail, counters=dict(counters))
            elif op == "stop":
                break
    finally:
        t0 = time.monotonic()
        ok = node.stop(10.0)
        stop_s = round(time.monotonic() - t0, 3)
        events.put(None)
        out_thread.join(5)
        _out({"ev": "exit", "stopped": ok, "stop_s": stop_s, "t": time.time()})


# =========================================================================== orchestration


class Worker:
    """One worker process; its stdout lines are parsed and kept as they arrive."""

    def __init__(
        self, role: str, cfg: dict[str, Any], log_dir: Path, name: str, script: Path = SCRIPT
    ) -> None:
        self.name = name
        self.role = role
        self.lines: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        self.cond = threading.Condition()
        self._q = itertools.count(1)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / f"{name}.stderr"
        self.spawned = time.time()
        with open(self.stderr_path, "a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), "--worker", role, json.dumps(cfg)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                if obj.get("ev") == "reply":
                    self.replies[obj.get("q")] = obj
                else:
                    self.lines.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred: Callable[[Worker], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = pred(self)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    err = self.stderr_path.read_text()[-2000:] if self.stderr_path.exists() else ""
                    raise RuntimeError(f"{self.name}: timed out waiting for {what} ({timeout}s)\n{err}")
                self.cond.wait(min(left, 0.2))

    def ask(self, op: dict[str, Any]) -> int:
        q = next(self._q)
        self.send({**op, "q": q})
        return q

    def answer(self, q: int, timeout: float, what: str) -> dict[str, Any]:
        return self.wait_for(lambda w: w.replies.pop(q, None), timeout, what)  # type: ignore[no-any-return]

    def request(self, op: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return self.answer(self.ask(op), timeout, op["op"])

    def first(self, ev: str, **match: Any) -> Callable[[Worker], Any]:
        def pred(w: Worker) -> Any:
            return next(
                (x for x in w.lines if x.get("ev") == ev and all(x.get(k) == v for k, v in match.items())),
                None,
            )

        return pred

    def rss(self) -> dict[str, float | None]:
        return rss_of(self.proc.pid)

    def close(self, op: dict[str, Any] | None = None, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None and op is not None:
            with contextlib.suppress(OSError, ValueError):
                self.send(op)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def rss_of(pid: int) -> dict[str, float | None]:
    """Resident set size now and its peak, in MiB (psutil if present, else /proc)."""
    rss: float | None = None
    hwm: float | None = None
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        rss = psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        pass
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, val = line.partition(":")
            if key == "VmRSS" and rss is None:
                rss = int(val.split()[0]) / 1024
            elif key == "VmHWM":
                hwm = int(val.split()[0]) / 1024
    except OSError:
        pass
    return {
        "rss_mib": None if rss is None else round(rss, 1),
        "peak_mib": None if hwm is None else round(hwm, 1),
    }


# --------------------------------------------------------------------------- statistics


def percentile(values: Iterable[float], q: float) -> float | None:
    s = sorted(values)
    if not s:
        return None
    return s[max(0, math.ceil(q * len(s)) - 1)]


def median(values: Iterable[float]) -> float | None:
    s = sorted(values)
    if not s:
        return None
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def summary(values: list[float], digits: int = 2) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": _r(min(values) if values else None, digits),
        "p50": _r(median(values), digits),
        "p90": _r(percentile(values, 0.9), digits),
        "max": _r(max(values) if values else None, digits),
    }


# --------------------------------------------------------------------------- a circle of N processes


class Cluster:
    """N worker processes of one system: member 0 sends, the others receive."""

    def __init__(self, system: str, n: int, work: Path, plan: Plan, profile: Path | None = None) -> None:
        self.system, self.n, self.plan = system, n, plan
        self.logs = work / f"{system}-{n}"
        self.circle: str | None = None
        self.prep_s: float | None = None
        if system == SS:
            t0 = time.perf_counter()
            roots, self.circle = make_circle(self.logs, n)
            self.prep_s = time.perf_counter() - t0
            cfgs = [{"root": str(r)} for r in roots]
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
                for k, cfg in enumerate(cfgs):
                    cfg["profile"] = str(profile.resolve() / f"{SS}-{n}-m{k}.prof")
        else:
            cfgs = [{"logs": str(self.logs)} for _ in range(n)]
        role = "node" if system == SS else "gossip"
        self.workers = [Worker(role, cfg, self.logs, f"m{k}") for k, cfg in enumerate(cfgs)]
        self.addrs: list[str] = []
        self.counters: dict[str, Counter[str]] = {w.name: Counter() for w in self.workers}
        self.sent_total = 0  # messages member 0 has sent so far (its store grows with them)

    @property
    def sender(self) -> Worker:
        return self.workers[0]

    @property
    def receivers(self) -> list[Worker]:
        return self.workers[1:]

    def start(self) -> dict[str, Any]:
        ready_ev = "NodeStarted" if self.system == SS else "ready"
        boots, readies = [], []
        for w in self.workers:
            ready = w.wait_for(w.first(ready_ev), 120, f"{w.name} {ready_ev}")
            boot = w.first("boot")(w)
            self.addrs.append(ready["addrs"][0] if self.system == SS else ready["addr"])
            readies.append(ready["t"] - w.spawned)
            boots.append(boot["t"] - w.spawned if boot else None)
        return {
            "spawn_to_listening_s": summary(readies, 3),
            "spawn_to_imported_s": summary([b for b in boots if b is not None], 3),
        }

    def connect(self) -> dict[str, Any]:
        """Member k dials members 0..k-1, one connect at a time; then every mesh fills."""
        ms: list[float] = []
        failed = already = 0
        for k in range(1, self.n):
            r = self.workers[k].request({"op": "connect", "addrs": self.addrs[:k]}, 120)
            ms += r["ms"]
            failed += int(r.get("failed", 0))
            already += int(r.get("already", 0))
        qs = [
            (w, w.ask({"op": "mesh", "n": self.n - 1, "circle": self.circle, "timeout": 20}))
            for w in self.workers
        ]
        mesh = [w.answer(q, 40, "mesh") for w, q in qs]
        return {
            "connect_ms": summary(ms, 2),
            "failed": failed,
            "already_connected": already,
            "mesh_sizes": [m["size"] for m in mesh],
            "mesh_wait_s": max(m["waited_s"] for m in mesh),
        }

    def _counter_delta(self, w: Worker, counters: dict[str, int]) -> Counter[str]:
        now = Counter(counters)
        delta = now - self.counters[w.name]
        self.counters[w.name] = now
        return delta

    def phase(self, name: str, n: int, rate: float) -> dict[str, Any]:
        """Send ``n`` at ``rate`` from member 0, wait for the receivers as the plan says; raw results."""
        plan, ss = self.plan, self.system == SS
        op: dict[str, Any] = {"op": "send", "p": name, "n": n, "rate": rate}
        if ss:
            op["circle"] = self.circle
        cpu0 = [proc_cpu(w.proc.pid) for w in self.workers]
        self.sender.send(op)
        cap = (2 * n / rate + 3 if rate > 0 else 120) + 120
        done = self.sender.wait_for(self.sender.first("sent_done", p=name), cap, f"{name} sent")
        expected = int(done["acked"] if ss else done["sent"])
        sent_before, self.sent_total = self.sent_total, self.sent_total + expected
        waited_from = time.monotonic()
        last_counts: list[int] = []
        last_change = time.monotonic()
        while True:
            qs = [(w, w.ask({"op": "count", "p": name})) for w in self.receivers]
            counts = [int(w.answer(q, 60, "count")["n"]) for w, q in qs]
            if all(c >= expected for c in counts):
                break
            now = time.monotonic()
            if counts != last_counts:
                last_counts, last_change = counts, now
            if not ss and now - last_change > plan.quiet_s:
                break
            if ss and now - waited_from > plan.loss_wait_s:
                break
            time.sleep(0.2)
        cpu1 = [proc_cpu(w.proc.pid) for w in self.workers]
        sender_rep = self.sender.request({"op": "report", "p": name}, 60)
        reps = [(w, w.request({"op": "report", "p": name}, 60)) for w in self.receivers]
        expected_ids = {int(x[0]) for x in sender_rep["sent"]} if ss else set(range(expected))
        counters: Counter[str] = Counter()
        recv_by: list[dict[int, tuple[float, float]]] = []
        dups = 0
        for w, rep in reps:
            recv_by.append({int(i): (ts, t) for i, ts, t in rep["recv"] if int(i) in expected_ids})
            dups += int(rep["dups"])
            counters += self._counter_delta(w, rep.get("counters", {}))
        self._counter_delta(self.sender, sender_rep.get("counters", {}))
        return {
            "system": self.system,
            "sent_before": sent_before,
            "rate": rate,
            "n": n,
            "done": done,
            "expected_ids": expected_ids,
            "recv_by": recv_by,
            "dups": dups,
            "counters": counters,
            "sent": sender_rep.get("sent", []),
            "cpu_sender_s": cpu1[0] - cpu0[0],
            "cpu_receivers_s": sum(cpu1[1:]) - sum(cpu0[1:]),
        }

    def measure(self, name: str, n: int, rate: float) -> dict[str, Any]:
        return summarize([self.phase(name, n, rate)], self.plan)

    def rss(self) -> dict[str, Any]:
        per = [w.rss() for w in self.workers]
        rss = [p["rss_mib"] for p in per if p["rss_mib"] is not None]
        peak = [p["peak_mib"] for p in per if p["peak_mib"] is not None]
        return {
            "per_member_mib": rss,
            "mean_mib": _r(sum(rss) / len(rss) if rss else None, 1),
            "max_mib": _r(max(rss) if rss else None, 1),
            "peak_max_mib": _r(max(peak) if peak else None, 1),
        }

    def stop(self) -> dict[str, Any]:
        """Stop the members one at a time (member 0, with all its connections, first)."""
        stop_s: list[float] = []
        exit_s: list[float] = []
        clean = True
        for w in self.workers:
            t0 = time.monotonic()
            code = w.close({"op": "stop" if self.system == SS else "quit"})
            exit_s.append(time.monotonic() - t0)
            ex = w.first("exit")(w)
            if ex and ex.get("stop_s") is not None:
                stop_s.append(float(ex["stop_s"]))
            clean = clean and code == 0 and bool(ex and ex.get("stopped"))
        return {"stop_s": summary(stop_s, 3), "process_exit_s": summary(exit_s, 3), "all_clean": clean}

    def kill(self) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                w.close({"op": "stop" if self.system == SS else "quit"}, timeout=10)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def summarize(raws: list[dict[str, Any]], plan: Plan) -> dict[str, Any]:
    """One phase's figures from one or more rounds of it (latencies pooled, counts summed)."""
    ss = raws[0]["system"] == SS
    rate, n = raws[0]["rate"], sum(r["n"] for r in raws)
    lat: list[float] = []
    commit: list[float] = []
    outbox: list[float] = []
    wire: list[float] = []
    total = delivered = late = dups = submitted = acked = refused = 0
    complete_s: list[float] = []
    achieved: list[float | None] = []
    kept_up = on_time = True
    counters: Counter[str] = Counter()
    cpu_sender = cpu_receivers = 0.0
    for raw in raws:
        done = raw["done"]
        end = float(done["last"] or 0.0)
        exp = raw["expected_ids"]
        got = sum(len(d) for d in raw["recv_by"])
        total += len(exp) * len(raw["recv_by"])
        delivered += got
        dups += raw["dups"]
        counters += raw["counters"]
        cpu_sender += raw["cpu_sender_s"]
        cpu_receivers += raw["cpu_receivers_s"]
        times = [t for d in raw["recv_by"] for _, t in d.values()]
        lat += [(t - ts) * 1000 for d in raw["recv_by"] for ts, t in d.values()]
        late += sum(1 for t in times if t > end + plan.settle_s)
        complete = got == len(exp) * len(raw["recv_by"])
        done_s = max(times) - end if complete and times else None
        if done_s is not None:
            complete_s.append(done_s)
        count = len(exp)
        first = done["first"]
        rate_now = (count - 1) / (end - first) if first is not None and end > first and count > 1 else None
        achieved.append(rate_now)
        sub = int(done["submitted"]) if ss else int(done["sent"])
        ref = int(done.get("failed", 0)) if ss else 0
        submitted, acked, refused = submitted + sub, acked + count, refused + ref
        kept_up = kept_up and (
            rate <= 0
            or (rate_now is not None and rate_now >= KEEP_UP * rate and ref == 0 and sub == raw["n"])
        )
        on_time = on_time and complete and (not ss or (done_s is not None and done_s <= plan.settle_s))
        if ss:
            by_i = {int(x[0]): x for x in raw["sent"]}
            commit += [(x[2] - x[1]) * 1000 for x in by_i.values() if x[2] is not None]
            outbox += [(x[3] - x[2]) * 1000 for x in by_i.values() if x[2] is not None and x[3] is not None]
            wire += [
                (t - by_i[i][3]) * 1000
                for d in raw["recv_by"]
                for i, (_, t) in d.items()
                if i in by_i and by_i[i][3] is not None
            ]
    ach = [a for a in achieved if a is not None]
    out: dict[str, Any] = {
        "offered_rate": rate,
        "sender_sent_before": raws[0]["sent_before"],
        "rounds": len(raws),
        "n": n,
        "submitted": submitted,
        "acknowledged": acked,
        "refused": refused,
        "achieved_rate": _r(min(ach) if ach else None, 1),
        "kept_up": kept_up,
        "receivers": len(raws[0]["recv_by"]),
        "expected": total,
        "delivered": delivered,
        "delivery_pct": _r(100.0 * delivered / total if total else None, 3),
        "late": late,
        "lost": total - delivered,
        "complete": delivered == total,
        "complete_after_send_s": _r(max(complete_s), 3) if delivered == total and complete_s else None,
        "pass": bool(kept_up and on_time),
        "duplicates": dups,
        "p50_ms": _r(median(lat)),
        "p99_ms": _r(percentile(lat, 0.99)),
        "max_ms": _r(max(lat) if lat else None),
        "cpu": {
            "sender_s": _r(cpu_sender, 2),
            "receivers_s": _r(cpu_receivers, 2),
            "sender_ms_per_message": _r(1000 * cpu_sender / acked if acked else None, 3),
            "receiver_ms_per_delivery": _r(1000 * cpu_receivers / delivered if delivered else None, 3),
        },
    }
    if ss:
        out["receiver_events"] = {
            k: counters[k] for k in ("dropped", "dropped_rate_limit", "gaps", "sync_batches", "sync_records")
        }
        out["stages"] = {
            "submit_to_sent_p50_ms": _r(median(commit)),
            "sent_to_published_p50_ms": _r(median(outbox)),
            "published_to_committed_p50_ms": _r(median(wire)),
            "published_to_committed_p99_ms": _r(percentile(wire, 0.99)),
        }
    return out


def search(cl: Cluster, start: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Highest offered rate (one sender) with 0 loss: double/halve to a bracket, then bisect."""
    plan = cl.plan
    tried: dict[int, dict[str, Any]] = {}

    def step(rate: int) -> bool:
        if rate not in tried:
            if tried:
                time.sleep(plan.pause_s)
            n = max(20, round(rate * plan.step_s))
            res = cl.measure(f"rate {rate}", n, float(rate))
            tried[rate] = res
            log(
                f"    {rate:>5} msg/s offered: achieved {fmt(res['achieved_rate'])}, "
                f"delivered {res['delivered']}/{res['expected']}"
                + (
                    f", complete {fmt(res['complete_after_send_s'])} s after sending"
                    if res["complete"]
                    else ""
                )
                + f" -> {'pass' if res['pass'] else 'fail'}"
                + f" (member 0 had sent {res['sender_sent_before']:,})"
            )
        return bool(tried[rate]["pass"])

    rate = max(5, int(start))
    ok = step(rate)
    while len(tried) < plan.max_steps:
        # Double after a pass, halve after a failure, until the two straddle the limit.
        nxt = rate * 2 if ok else max(5, rate // 2)
        if nxt == rate:
            break
        ok2 = step(nxt)
        rate = nxt
        if ok2 != ok:
            break
    for _ in range(plan.bisect):
        if len(tried) >= plan.max_steps:
            break
        passes = [r for r, x in tried.items() if x["pass"]]
        fails = [r for r, x in tried.items() if not x["pass"]]
        lo = max(passes, default=None)
        hi = min((r for r in fails if lo is None or r > lo), default=None)
        if lo is None or hi is None or hi / lo < 1.15:
            break
        mid = round(math.sqrt(lo * hi))
        if mid in tried:
            break
        step(mid)
    passes = sorted(r for r, x in tried.items() if x["pass"])
    fails = sorted(r for r, x in tried.items() if not x["pass"])
    lowest_fail = fails[0] if fails else None
    best = max((r for r in passes if lowest_fail is None or r < lowest_fail), default=None)
    return {
        "sender": "member 0 alone",
        "step_s": plan.step_s,
        "steps": [tried[r] for r in tried],
        "highest_zero_loss": best,
        "lowest_failing": lowest_fail,
        "lost_acknowledged": sum(x["lost"] for x in tried.values()),
    }


# --------------------------------------------------------------------------- profiles (offline)


def make_circle(work: Path, n: int) -> tuple[list[Path], str]:
    """m0 founds a circle and invites m1..m(n-1); each joins; everyone ends up knowing every join."""
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile

    profiles = [Profile.create(resolve(str(work), f"m{k}"), f"m{k}") for k in range(n)]
    try:
        founder = profiles[0]
        circle = founder.new_circle("bench").circle_id
        for p in profiles[1:]:
            p.join_token(founder.invite(circle, p.me))
            founder.import_bundle(p.export([circle]))
        everything = founder.export([circle])
        for p in profiles[1:]:
            p.import_bundle(everything)
        for p in profiles:
            members = p.view(circle).roster.members
            if len(members) != n:
                raise SystemExit(f"bench setup: {p.display_name} sees {len(members)} of {n} members")
        return [p.paths.root for p in profiles], circle.hex()
    finally:
        for p in profiles:
            p.close()


def write_missed(root: Path, circle_hex: str, n: int) -> dict[str, Any]:
    """Put ``n`` messages in a profile's store, offline, as if sent (and published) while a peer was away.

    The steps of ``Profile.send``: ``messages.seal`` at the author's next chain
    position, ``CircleView.add``, ``Store.add_record``; the chain position is
    carried from one record to the next instead of asking ``CircleView.next_pos``,
    which scans the whole circle on every call (quadratic over 10,000 sends).
    Not queued in the outbox: they were published while the other member was away.
    """
    from protocol import messages
    from protocol.node.paths import ProfilePaths
    from protocol.node.profile import Profile
    from protocol.view import Stored

    cid = bytes.fromhex(circle_hex)
    p = Profile.open(ProfilePaths(root))
    try:
        t0 = time.perf_counter()
        view = p.view(cid)
        epoch = view.roster.current_epoch
        assert epoch is not None
        key = p.epoch_keys(cid)[epoch.id]
        pos = view.next_pos(p.me)
        now = int(time.time())
        for k in range(0, n, 1000):
            with p.store.tx():
                for i in range(k, min(n, k + 1000)):
                    ts = time.time()
                    content = messages.Content(messages.TEXT, int(ts * 1000), payload("catchup", i, ts))
                    rec = messages.seal(p.identity, cid, pos, epoch.id, key, content)
                    if not isinstance(view.add(rec), Stored):
                        raise SystemExit("bench setup: a catch-up record was refused")
                    p.store.add_record(rec, now)
                    pos = pos.after(rec.id)
        dt = time.perf_counter() - t0
        return {"n": n, "write_s": round(dt, 3), "us_per_record": round(dt / n * 1e6, 1)}
    finally:
        p.close()


# --------------------------------------------------------------------------- one circle size


def run_size(
    n: int, plan: Plan, work: Path, log: Callable[[str], None], profile: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Both systems for one circle size: both clusters up at once, latency rounds alternating."""
    t0 = time.perf_counter()
    clusters: dict[str, Cluster] = {}
    res: dict[str, dict[str, Any]] = {system: {"members": n, "system": system} for system in SYSTEMS}
    try:
        for system in SYSTEMS:  # one system's processes start while the other's sit idle
            cl = clusters[system] = Cluster(system, n, work, plan, profile)
            res[system]["prep_s"] = _r(cl.prep_s, 3)
            res[system]["startup"] = cl.start()
        for system, cl in clusters.items():
            r = res[system]
            r["connect"] = cl.connect()
            c = r["connect"]
            log(
                f"  {system}: listening {fmt(r['startup']['spawn_to_listening_s']['max'])} s after spawn, "
                f"connect p50 {fmt(c['connect_ms']['p50'])} ms (max {fmt(c['connect_ms']['max'])}), "
                f"mesh {min(c['mesh_sizes'])}..{max(c['mesh_sizes'])} of {n - 1}"
            )
            r["warmup"] = cl.measure("warmup", plan.warmup, 10.0)
        time.sleep(1.0)
        raws: dict[str, dict[str, list[dict[str, Any]]]] = {s: defaultdict(list) for s in SYSTEMS}
        for rnd in range(plan.rounds):
            for rate, count in plan.latency:
                for system in SYSTEMS if rnd % 2 == 0 else SYSTEMS[::-1]:
                    raw = clusters[system].phase(f"{rate:g} msg/s #{rnd + 1}", count, rate)
                    raws[system][f"{rate:g}"].append(raw)
                    time.sleep(0.5)
        for system in SYSTEMS:
            res[system]["latency"] = {k: summarize(v, plan) for k, v in raws[system].items()}
            for k, x in res[system]["latency"].items():
                log(
                    f"  {system} at {k} msg/s: p50 {fmt(x['p50_ms'])} ms, p99 {fmt(x['p99_ms'])} ms, "
                    f"delivered {x['delivered']}/{x['expected']}"
                )
        log(f"  {BARE}: highest 0-loss rate, one sender ...")
        res[BARE]["search"] = search(clusters[BARE], LIBP2P_ZERO_LOSS.get(n, 100), log)
        start = res[BARE]["search"]["highest_zero_loss"] or LIBP2P_ZERO_LOSS.get(n, 100)
        log(f"  {SS}: highest 0-loss rate, one sender ...")
        res[SS]["search"] = search(clusters[SS], int(start), log)
        for system, cl in clusters.items():
            res[system]["rss"] = cl.rss()
        for system, cl in clusters.items():
            res[system]["stop"] = cl.stop()
    finally:
        for cl in clusters.values():
            cl.kill()
    for system in SYSTEMS:
        res[system]["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return res


def run_catchup(plan_n: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": plan_n}
    # bare floor: a fresh process pulls the frames over one stream from a running host.
    logs = work / "catchup-bare"
    pub = Worker("gossip", {"logs": str(logs)}, logs, "holder")
    puller: Worker | None = None
    try:
        pub_addr = pub.wait_for(pub.first("ready"), 60, "holder ready")["addr"]
        pub.request({"op": "store", "n": plan_n}, 60)
        puller = Worker("gossip", {"logs": str(logs), "pull": pub_addr, "n": plan_n}, logs, "puller")
        done = puller.wait_for(puller.first("pulled"), 120, "pulled")
        ready = puller.first("ready")(puller)
        out[BARE] = {
            "received": done["n"],
            "from_spawn_s": _r(done["t"] - puller.spawned, 3),
            "from_listening_s": _r(done["t"] - ready["t"], 3),
            "startup_s": _r(ready["t"] - puller.spawned, 3),
        }
    finally:
        if puller is not None:
            puller.close()
        pub.close({"op": "quit"})

    # smallsocial: m0's store holds the missed messages; m1 comes back and syncs.
    logs = work / "catchup-smallsocial"
    roots, circle = make_circle(logs, 2)
    written = write_missed(roots[0], circle, plan_n)
    log(f"  wrote {plan_n:,} records offline ({written['us_per_record']} µs each)")
    holder = Worker("node", {"root": str(roots[0])}, logs, "holder")
    member: Worker | None = None
    try:
        h_addr = holder.wait_for(holder.first("NodeStarted"), 60, "holder started")["addrs"][0]
        member = Worker("node", {"root": str(roots[1]), "peers": [h_addr]}, logs, "member")
        started = member.wait_for(member.first("NodeStarted"), 60, "member started")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if int(member.request({"op": "count", "p": "catchup"}, 60)["n"]) >= plan_n:
                break
            time.sleep(0.1)
        rep = member.request({"op": "report", "p": "catchup"}, 60)
        got = {int(i): t for i, _, t in rep["recv"]}
        last = max(got.values()) if got else None
        boot = member.first("boot")(member)
        connected = member.first("PeerConnected")(member)
        counters = rep.get("counters", {})
        out[SS] = {
            "received": len(got),
            "from_spawn_s": _r(last - member.spawned, 3) if last else None,
            "from_listening_s": _r(last - started["t"], 3) if last else None,
            "startup_s": _r(started["t"] - member.spawned, 3),
            "imported_s": _r(boot["t"] - member.spawned, 3) if boot else None,
            "connected_after_listening_s": _r(connected["t"] - started["t"], 3) if connected else None,
            "first_commit_after_listening_s": _r(min(got.values()) - started["t"], 3) if got else None,
            "sync_batches": counters.get("sync_batches"),
            "rss": member.rss(),
            "written": written,
        }
    finally:
        if member is not None:
            member.close({"op": "stop"})
        holder.close({"op": "stop"})
    return out


# --------------------------------------------------------------------------- verdicts and report


def verdicts(sizes: dict[str, dict[str, Any]], catchup: dict[str, Any] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, n: int | None, value: Any, target: str, ok: bool | None, **extra: Any) -> None:
        out.append(
            {
                "target": name,
                "members": n,
                "value": value,
                "target_text": target,
                "verdict": "n/a" if ok is None else ("PASS" if ok else "MISS"),
                **extra,
            }
        )

    for key, both in sizes.items():
        n = int(key)
        b, s = both.get(BARE), both.get(SS)
        if not b or not s:
            continue
        for rate in s["latency"]:
            sp, bp = s["latency"][rate]["p50_ms"], b["latency"][rate]["p50_ms"]
            r = sp / bp if sp is not None and bp else None  # judged unrounded
            add(
                f"latency p50 at {rate} msg/s",
                n,
                _r(r, 3),
                f"<= {T_LATENCY_RATIO}x bare",
                None if r is None else r <= T_LATENCY_RATIO,
                smallsocial_ms=sp,
                bare_ms=bp,
            )
        sz, bz = s["search"]["highest_zero_loss"], b["search"]["highest_zero_loss"]
        add(
            "highest 0-loss rate",
            n,
            sz,
            f">= bare ({bz} msg/s this run; LIBP2P.md {LIBP2P_ZERO_LOSS.get(n, '-')})",
            None if bz is None else (sz or 0) >= bz,
            bare=bz,
        )
        lost = s["search"]["lost_acknowledged"] + sum(x["lost"] for x in s["latency"].values())
        add("acknowledged messages lost (all phases)", n, lost, "0", lost == 0)
        cms = s["connect"]["connect_ms"]
        add(
            "connect (p50)",
            n,
            cms["p50"],
            f"< {T_CONNECT_MS:g} ms",
            None if cms["p50"] is None else cms["p50"] < T_CONNECT_MS,
            max_ms=cms["max"],
            bare_ms=b["connect"]["connect_ms"]["p50"],
        )
        st = s["stop"]["stop_s"]["max"]
        add(
            "clean shutdown (slowest member)",
            n,
            st,
            f"< {T_STOP_S:g} s, exit clean",
            None if st is None else st < T_STOP_S and s["stop"]["all_clean"],
        )
    if catchup and catchup.get(SS):
        c = catchup[SS]
        add(
            f"catch-up of {catchup['n']:,} missed (from process start)",
            2,
            c["from_spawn_s"],
            f"< {T_CATCHUP_S:g} s",
            None
            if c["from_spawn_s"] is None
            else c["from_spawn_s"] < T_CATCHUP_S and c["received"] == catchup["n"],
            from_listening_s=c["from_listening_s"],
        )
    return out


def fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:,.2f}" if abs(x) < 10 else (f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}")
    elif isinstance(x, int):
        x = f"{x:,}"
    return f"{x}{unit}"


def print_table(
    sizes: dict[str, dict[str, Any]], catchup: dict[str, Any] | None, checks: list[dict[str, Any]]
) -> None:
    rates = []
    for both in sizes.values():
        for res in both.values():
            rates = list(res["latency"])
            break
    head: tuple[str, ...] = ("N", "system", "connect ms p50/max")
    head += tuple(f"{r} msg/s p50/p99 ms" for r in rates)
    head += ("0-loss msg/s", "RSS MiB mean/max", "stop s max", "listening s")
    lines: list[tuple[str, ...]] = [head]
    for key, both in sizes.items():
        for system in SYSTEMS:
            res = both.get(system)
            if res is None:
                continue
            c = res["connect"]["connect_ms"]
            row: tuple[str, ...] = (key if system == BARE else "", "bare gossipsub" if system == BARE else SS)
            row += (f"{fmt(c['p50'])} / {fmt(c['max'])}",)
            for r in rates:
                lat = res["latency"][r]
                pct = lat["delivery_pct"]
                row += (
                    f"{fmt(lat['p50_ms'])} / {fmt(lat['p99_ms'])}" + ("" if pct == 100 else f" ({pct:g}%)"),
                )
            srch = res["search"]
            best = srch["highest_zero_loss"]
            row += (f"{fmt(best) if best else '< ' + fmt(srch['lowest_failing'])}",)
            row += (f"{fmt(res['rss']['mean_mib'])} / {fmt(res['rss']['max_mib'])}",)
            row += (fmt(res["stop"]["stop_s"]["max"]),)
            row += (fmt(res["startup"]["spawn_to_listening_s"]["max"]),)
            lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for k, line in enumerate(lines):
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))

    print(
        "\nsearch for the highest 0-loss rate (one sender; offered -> achieved, delivered, time to complete):"
    )
    for key, both in sizes.items():
        for system in SYSTEMS:
            res = both.get(system)
            if res is None:
                continue
            steps = sorted(res["search"]["steps"], key=lambda x: x["offered_rate"])
            parts = []
            for x in steps:
                done = f", {fmt(x['complete_after_send_s'])} s" if x["complete"] else f", {x['lost']} missing"
                parts.append(
                    f"{x['offered_rate']:g}->{fmt(x['achieved_rate'])} {x['delivery_pct']:g}%{done} "
                    f"{'ok' if x['pass'] else 'FAIL'}"
                )
            print(f"  N={key} {system}: " + "; ".join(parts))

    print(
        "\nwhere a smallsocial message spends its time "
        "(p50 ms; submit -> MessageSent -> published -> committed):"
    )
    for key, both in sizes.items():
        res = both.get(SS)
        if res is None:
            continue
        for r, lat in res["latency"].items():
            st = lat["stages"]
            print(
                f"  N={key} {r} msg/s: {fmt(st['submit_to_sent_p50_ms'])}"
                f" -> {fmt(st['sent_to_published_p50_ms'])}"
                f" -> {fmt(st['published_to_committed_p50_ms'])}"
                f" (p99 {fmt(st['published_to_committed_p99_ms'])})"
            )

    print("\nCPU per message (ms; sender per message sent, receivers per delivery; latency phases):")
    for key, both in sizes.items():
        for system in SYSTEMS:
            res = both.get(system)
            if res is None:
                continue
            parts = [
                f"{r} msg/s: sender {fmt(x['cpu']['sender_ms_per_message'])}, "
                f"receiver {fmt(x['cpu']['receiver_ms_per_delivery'])}"
                for r, x in res["latency"].items()
            ]
            print(f"  N={key} {system}: " + "; ".join(parts))

    if catchup:
        b, s = catchup.get(BARE, {}), catchup.get(SS, {})
        print(
            f"\ncatch-up of {catchup['n']:,} missed: smallsocial {fmt(s.get('from_spawn_s'))} s "
            f"from process start ({fmt(s.get('from_listening_s'))} s after listening; "
            f"listening after {fmt(s.get('startup_s'))} s); bare stream pull "
            f"{fmt(b.get('from_spawn_s'))} s ({fmt(b.get('from_listening_s'))} s after listening)"
        )

    print("\ntargets:")
    for c in checks:
        n = f"N={c['members']} " if c["members"] else ""
        print(f"  {c['verdict']:<4}  {n}{c['target']}: {fmt(c['value'])} (target {c['target_text']})")


def machine_info() -> dict[str, Any]:
    try:
        from importlib.metadata import version

        libp2p_version = version("libp2p")
    except Exception:
        libp2p_version = "?"
    return benchkit.machine_info(ROOT, libp2p=libp2p_version)


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(x) for x in text.split(",") if x.strip())
    if not sizes or any(n < 2 for n in sizes):
        raise argparse.ArgumentTypeError("members: one or more sizes of at least 2, e.g. 5 or 2,10")
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        role, cfg = argv[1], json.loads(argv[2])
        {"gossip": worker_gossip, "node": worker_node}[role](cfg)
        return 0

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="2 members, short phases, catch-up 2,000 (under a minute)"
    )
    ap.add_argument(
        "--members", type=parse_sizes, metavar="N[,N...]", help="circle sizes to run (default 2,5,10)"
    )
    ap.add_argument("--catchup", type=int, metavar="N", help="missed messages to catch up (0: skip)")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles and worker logs")
    ap.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each member node's thread into DIR (slows the nodes: figures not comparable)",
    )
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.members:
        plan = dataclasses.replace(plan, sizes=args.members)
    if args.catchup is not None:
        plan = dataclasses.replace(plan, catchup=max(0, args.catchup))
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    machine = machine_info()

    def log(text: str) -> None:
        print(text, flush=True)

    log(
        f"node benchmark ({mode} run): N = {', '.join(map(str, plan.sizes))} members, one process each, "
        f"{PAYLOAD_BYTES}-byte messages, one sender; latency at "
        f"{', '.join(f'{r:g} msg/s x {c}' for r, c in plan.latency)}; "
        f"0-loss search {plan.step_s:g} s a step; "
        f"catch-up {plan.catchup:,}"
    )
    work = Path(tempfile.mkdtemp(prefix="bench_node_"))
    sizes: dict[str, dict[str, Any]] = {}
    catchup: dict[str, Any] | None = None
    try:
        for n in plan.sizes:
            log(f"N = {n}: bare py-libp2p gossipsub and smallsocial member nodes, {n} processes each ...")
            sizes[str(n)] = run_size(n, plan, work, log, args.profile)
        if plan.catchup:
            log(f"catch-up of {plan.catchup:,} missed messages (2 members) ...")
            catchup = run_catchup(plan.catchup, work, log)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    checks = verdicts(sizes, catchup)
    print()
    print_table(sizes, catchup, checks)
    elapsed = time.perf_counter() - started
    result = {
        "benchmark": "node",
        "mode": mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "plan": dataclasses.asdict(plan),
        "payload_bytes": PAYLOAD_BYTES,
        "sender": "one sender (member 0); the N-1 others receive",
        "latency_stamp": {
            SS: "MessageReceived at the receiver, emitted after the record is committed in its store",
            BARE: "the subscription read at the receiver",
        },
        "sizes": sizes,
        "catchup": catchup,
        "targets": checks,
        "elapsed_s": round(elapsed, 1),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwhole run {elapsed:.1f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
