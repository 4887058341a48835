#!/usr/bin/env python3
"""Benchmark the member node against bare py-libp2p gossipsub, separate processes on 127.0.0.1.

Two systems, same machine, same run, one process per peer:

- **baseline**: bare py-libp2p 0.8.1 gossipsub with our settings
  (``protocol.node.host.make_host`` / ``make_gossipsub``). Two processes both
  subscribe to one topic; one publishes, the other receives. No signature of
  ours, no encryption, no store, no outbox.
- **smallsocial**: two member nodes of one circle, each a ``NodeThread`` (the
  bridge the TUI uses) in its own process. Their profiles are made offline by
  this script (create, invite, join, and alice imports bob's join) in a
  temporary directory. Messages go in with ``NodeThread.submit(SendMessage)``.

Every message carries ~400 bytes of application payload (the chat text for
smallsocial, the gossipsub data for the baseline) whose first bytes are a JSON
header with the phase, the index and ``time.time()`` taken just before the send
call. The receiving process stamps ``time.time()`` when the message reaches it
(the ``MessageReceived`` event on the node's thread; the subscription read for
the baseline): latency = receive stamp - send stamp, one clock, one machine.

Phases (each system in turn, baseline first):

- **paced R msg/s**: N messages, sender paced on an absolute schedule. p50/p99
  latency, delivery (distinct messages received / sent, waiting until nothing
  new arrives for a grace period), throughput (delivered / (last receive - first
  send)).
- **burst**: N messages with no pacing at the sender (the node still paces its
  outbox; bare gossipsub drops what overflows its per-peer queue of 32).
- **catch-up**: the receiver is stopped; the sender gets 1,000 messages out
  while it is away (smallsocial: sent through the node, published to nobody,
  kept in the store; baseline: 1,000 ~400-byte frames held in memory); then a
  fresh receiver process starts. Time from its spawn until it holds all of them
  (smallsocial: 1,000 ``MessageReceived`` by pull sync; baseline: the frames
  read over one libp2p stream by a minimal pull protocol, written 256 to a
  write as syncwire does and read in large chunks, since a ``stream.read`` of a
  few bytes costs ~0.3 ms in py-libp2p 0.8.1), and from its "listening" moment.
- **RSS**: resident memory of the receiving process after the paced and burst
  phases, and its peak (``VmHWM``).

Before the phases a few warm-up messages at 10 msg/s make sure the mesh carries
traffic (not counted). For smallsocial the sender also reports when each
message was committed (``MessageSent``) and handed to gossipsub
(``MessagePublished``), which splits the latency into bridge+seal+commit,
outbox wait, and network+validate+store+decrypt.

The table goes to stdout, everything to ``--json`` (default
``bench-results/bench_node.json``). Workers are this script run with
``--worker`` (an internal option); their libp2p logs go to the temp directory.

Usage: scripts/bench_node.py [--quick] [--json PATH] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # use this checkout's protocol/, not another installed one
    sys.path.insert(0, str(ROOT))

SCRIPT = Path(__file__).resolve()
DEFAULT_JSON = "bench-results/bench_node.json"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TOPIC = "bench/node/1"
PULL_PROTOCOL = "/bench/pull/1"
PAYLOAD_BYTES = 400
PULL_BATCH = 256  # = protocol.node.syncwire.BATCH_RECORDS


@dataclasses.dataclass(frozen=True)
class Plan:
    rates: tuple[float, ...]
    n_paced: int
    n_burst: int
    n_catchup: int
    grace_s: float
    warmup: int


QUICK = Plan(rates=(50.0,), n_paced=100, n_burst=100, n_catchup=1000, grace_s=3.0, warmup=5)
FULL = Plan(rates=(5.0, 50.0, 200.0), n_paced=200, n_burst=500, n_catchup=1000, grace_s=5.0, warmup=10)


# --------------------------------------------------------------------------- payload


def payload(phase: str, i: int, ts: float) -> str:
    head = json.dumps({"p": phase, "i": i, "ts": ts}, separators=(",", ":"))
    return head + " " + "x" * max(0, PAYLOAD_BYTES - len(head) - 1)


_DECODER = json.JSONDecoder()


def parse_payload(text: str) -> dict[str, Any] | None:
    try:
        head, _ = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return head if isinstance(head, dict) and "p" in head else None


# =========================================================================== workers
# A worker is this script with ``--worker ROLE CONFIG``: it prints JSON lines on
# stdout (each with "t": time.time()) and reads JSON commands on stdin.


def _out(obj: dict[str, Any], lock: threading.Lock | None = None) -> None:
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    if lock is None:
        sys.stdout.write(line)
        sys.stdout.flush()
    else:
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()


def worker_gossip(cfg: dict[str, Any]) -> None:
    """Bare py-libp2p: a host with our gossipsub settings, one topic; optional pull protocol."""
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

    setup_logging(Path(cfg["logs"]))
    proto = TProtocol(PULL_PROTOCOL)

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
                addr = str(host.get_addrs()[0])
                if cfg.get("pull"):  # the catch-up baseline: a fresh process pulls and reports
                    _out({"ev": "ready", "addr": addr, "t": time.time()})
                    info = info_from_p2p_addr(Multiaddr(cfg["pull"]))
                    await host.connect(info)
                    _out({"ev": "connected", "t": time.time()})
                    stream = await host.new_stream(info.peer_id, [proto])
                    await stream.write(b"PULL")
                    _out({"ev": "requested", "t": time.time()})
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
                        if ID(msg.from_id) == me:
                            continue
                        head = parse_payload(msg.data.decode(errors="replace"))
                        if head is not None:
                            _out({"ev": "recv", "p": head["p"], "i": head["i"], "ts": head["ts"], "t": t})

                async def publish(phase: str, n: int, rate: float) -> None:
                    start = trio.current_time()
                    for i in range(n):
                        if rate > 0:
                            await trio.sleep_until(start + i / rate)
                        await ps.publish(TOPIC, payload(phase, i, time.time()).encode())
                    _out({"ev": "sent_done", "p": phase, "n": n, "t": time.time()})

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
                                info = info_from_p2p_addr(Multiaddr(cmd["addr"]))
                                await host.connect(info)
                                with trio.fail_after(20):
                                    while info.peer_id not in gs.mesh.get(TOPIC, set()):
                                        await trio.sleep(0.01)
                                _out({"ev": "connected", "t": time.time()})
                            elif op == "send":
                                nursery.start_soon(publish, cmd["p"], int(cmd["n"]), float(cmd["rate"]))
                            elif op == "store":
                                stored[:] = [
                                    payload("catchup", i, time.time()).encode() for i in range(int(cmd["n"]))
                                ]
                                _out({"ev": "stored", "n": len(stored), "t": time.time()})
                            elif op == "quit":
                                return

                _out({"ev": "ready", "addr": addr, "t": time.time()})
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(receive)
                    await commands(nursery)
                    async with trio.open_nursery() as n:  # close connections concurrently
                        for pid in list(host.get_network().connections):
                            n.start_soon(host.disconnect, pid)
                    nursery.cancel_scope.cancel()

    trio.run(main)
    _out({"ev": "exit", "t": time.time()})


def worker_node(cfg: dict[str, Any]) -> None:
    """A smallsocial member node: a NodeThread; events out as JSON lines, commands in."""
    from protocol.node import api
    from protocol.node.bridge import NodeThread
    from protocol.node.host import setup_logging
    from protocol.node.paths import ProfilePaths

    paths = ProfilePaths(Path(cfg["root"]))
    setup_logging(paths.logs)
    events: queue.SimpleQueue[tuple[float, api.Event] | None] = queue.SimpleQueue()
    lock = threading.Lock()
    sent_info: dict[int, tuple[str, int, float]] = {}  # request id -> (phase, i, ts)
    record_info: dict[bytes, tuple[str, int]] = {}  # record id -> (phase, i)
    answered = threading.Semaphore(0)

    def on_event(ev: api.Event) -> None:  # on the node's thread: stamp and hand over
        events.put((time.time(), ev))
        if isinstance(ev, (api.MessageSent, api.CommandFailed)):
            answered.release()

    def writer() -> None:
        while (item := events.get()) is not None:
            t, ev = item
            name = type(ev).__name__
            if isinstance(ev, api.MessageReceived):
                head = parse_payload(ev.text or "")
                if head is not None:
                    _out({"ev": "recv", "p": head["p"], "i": head["i"], "ts": head["ts"], "t": t}, lock)
            elif isinstance(ev, api.MessageSent):
                info = sent_info.get(ev.request_id or -1)
                if info is not None:
                    record_info[ev.record_id] = info[:2]
                    _out({"ev": "sent", "p": info[0], "i": info[1], "ts": info[2], "t": t}, lock)
            elif isinstance(ev, api.MessagePublished):
                pi = record_info.pop(ev.record_id, None)
                _out(
                    {"ev": "published", "p": pi[0] if pi else None, "i": pi[1] if pi else None, "t": t}, lock
                )
            elif isinstance(ev, api.NodeStarted):
                _out({"ev": name, "addrs": list(ev.addrs), "peer_id": ev.peer_id, "t": t}, lock)
            elif isinstance(ev, (api.PeerConnected, api.PeerDisconnected)):
                _out({"ev": name, "peer_id": ev.peer_id, "t": t}, lock)
            elif isinstance(ev, api.SyncProgress):
                _out({"ev": name, "received": ev.received, "t": t}, lock)
            elif isinstance(ev, api.GapDetected):
                _out({"ev": name, "missing": ev.missing, "t": t}, lock)
            elif isinstance(ev, (api.RecordDropped, api.CommandFailed, api.NodeStopped)):
                _out(
                    {
                        "ev": name,
                        "detail": str(
                            getattr(ev, "reason", None)
                            or getattr(ev, "message", None)
                            or getattr(ev, "error", None)
                        ),
                        "t": t,
                    },
                    lock,
                )
            else:
                _out({"ev": name, "t": t}, lock)

    out_thread = threading.Thread(target=writer, name="bench-writer", daemon=True)
    out_thread.start()
    node = NodeThread(paths, on_event, listen=[LOOPBACK], peers=list(cfg.get("peers", [])))
    node.start()
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "send":
                circle = bytes.fromhex(cmd["circle"])
                phase, n, rate = cmd["p"], int(cmd["n"]), float(cmd["rate"])
                start = time.monotonic()
                in_flight = 0
                for i in range(n):
                    if rate > 0:
                        delay = start + i / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    while in_flight >= 500:  # the node's command channel holds 1,000
                        answered.acquire()
                        in_flight -= 1
                    ts = time.time()
                    msg = api.SendMessage(circle, payload(phase, i, ts))
                    sent_info[msg.request_id] = (phase, i, ts)
                    node.submit(msg)
                    in_flight += 1
                _out({"ev": "sent_done", "p": phase, "n": n, "t": time.time()}, lock)
            elif cmd["op"] == "stop":
                break
    finally:
        t0 = time.monotonic()
        ok = node.stop(10.0)
        events.put(None)
        out_thread.join(5)
        _out({"ev": "exit", "stopped": ok, "stop_s": round(time.monotonic() - t0, 3), "t": time.time()}, lock)


# =========================================================================== orchestration


class Worker:
    """One worker process; its stdout lines are parsed and kept as they arrive."""

    def __init__(self, role: str, cfg: dict[str, Any], log_dir: Path, name: str) -> None:
        self.name = name
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.spawned = time.time()
        with open(log_dir / f"{name}.stderr", "a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "--worker", role, json.dumps(cfg)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
            )
        self.stderr_path = log_dir / f"{name}.stderr"
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
                self.lines.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred: Callable[[list[dict[str, Any]]], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = pred(self.lines)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    err = self.stderr_path.read_text()[-2000:] if self.stderr_path.exists() else ""
                    raise RuntimeError(f"{self.name}: timed out waiting for {what} ({timeout}s)\n{err}")
                self.cond.wait(min(left, 0.2))

    def first(self, ev: str, **match: Any) -> Callable[[list[dict[str, Any]]], Any]:
        def pred(lines: list[dict[str, Any]]) -> Any:
            return next(
                (x for x in lines if x.get("ev") == ev and all(x.get(k) == v for k, v in match.items())), None
            )

        return pred

    def events(self, ev: str, phase: str | None = None) -> list[dict[str, Any]]:
        with self.cond:
            return [x for x in self.lines if x.get("ev") == ev and (phase is None or x.get("p") == phase)]

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
        import psutil

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


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def phase_stats(recv: list[dict[str, Any]], n: int, first_send: float | None) -> dict[str, Any]:
    """Latency (ms) over the first receipt of each message; delivery; throughput."""
    by_i: dict[int, dict[str, Any]] = {}
    for r in recv:
        if r["i"] not in by_i or r["t"] < by_i[r["i"]]["t"]:
            by_i[r["i"]] = r
    lat = [(r["t"] - r["ts"]) * 1000 for r in by_i.values()]
    last = max((r["t"] for r in by_i.values()), default=None)
    start = first_send if first_send is not None else min((r["ts"] for r in by_i.values()), default=None)
    span = (last - start) if (last is not None and start is not None) else None
    return {
        "sent": n,
        "delivered": len(by_i),
        "delivery_pct": round(100.0 * len(by_i) / n, 2) if n else None,
        "duplicates": len(recv) - len(by_i),
        "p50_ms": _r(median(lat)),
        "p99_ms": _r(percentile(lat, 0.99)),
        "max_ms": _r(max(lat) if lat else None),
        "throughput_msg_s": _r(len(by_i) / span if span and span > 0 else None, 1),
        "span_s": _r(span, 3),
    }


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def wait_phase(
    receiver: Worker, sender: Worker, phase: str, n: int, grace: float, cap: float
) -> list[dict[str, Any]]:
    """Until the receiver has all ``n`` of ``phase``, or nothing new came for ``grace`` s after sending."""
    sender.wait_for(sender.first("sent_done", p=phase), cap, f"{phase} sent")
    deadline = time.monotonic() + cap
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        got = {r["i"] for r in receiver.events("recv", phase)}
        if len(got) >= n:
            break
        if len(got) != last_count:
            last_count, last_change = len(got), time.monotonic()
        elif time.monotonic() - last_change > grace:
            break
        time.sleep(0.05)
    return receiver.events("recv", phase)


def first_send_ts(sender: Worker, phase: str, recv: list[dict[str, Any]]) -> float | None:
    sends = sender.events("sent", phase)
    if sends:
        return min(s["ts"] for s in sends)
    zero = [r["ts"] for r in recv if r["i"] == 0]
    return zero[0] if zero else None


# --------------------------------------------------------------------------- the two systems


def phases(plan: Plan) -> list[tuple[str, int, float]]:
    out = [(f"paced {r:g} msg/s", plan.n_paced, r) for r in plan.rates]
    out.append(("burst (unpaced)", plan.n_burst, 0.0))
    return out


def run_baseline(plan: Plan, work: Path) -> dict[str, Any]:
    logs = work / "baseline"
    cfg = {"logs": str(logs)}
    sub = Worker("gossip", cfg, logs, "sub")
    pub = Worker("gossip", cfg, logs, "pub")
    puller: Worker | None = None
    result: dict[str, Any] = {"phases": {}}
    try:
        sub_addr = sub.wait_for(sub.first("ready"), 60, "sub ready")["addr"]
        pub.wait_for(pub.first("ready"), 60, "pub ready")
        pub.send({"op": "connect", "addr": sub_addr})
        pub.wait_for(pub.first("connected"), 30, "mesh")
        time.sleep(0.3)  # let the sub's side of the mesh settle too (one heartbeat is 1 s)
        pub.send({"op": "send", "p": "warmup", "n": plan.warmup, "rate": 10})
        wait_phase(sub, pub, "warmup", plan.warmup, plan.grace_s, 30)
        for name, n, rate in phases(plan):
            pub.send({"op": "send", "p": name, "n": n, "rate": rate})
            recv = wait_phase(sub, pub, name, n, plan.grace_s, 120)
            first = min((r["ts"] for r in recv), default=None)
            result["phases"][name] = phase_stats(recv, n, first)
        result["rss"] = sub.rss()

        # catch-up floor: a fresh process pulls n frames over one stream from the publisher.
        pub.send({"op": "store", "n": plan.n_catchup})
        pub.wait_for(pub.first("stored"), 30, "stored")
        pub_addr = pub.first("ready")(pub.lines)["addr"]
        puller = Worker("gossip", {**cfg, "pull": pub_addr, "n": plan.n_catchup}, logs, "puller")
        done = puller.wait_for(puller.first("pulled"), 120, "pulled")
        ready = puller.first("ready")(puller.lines)
        result["catchup"] = {
            "n": plan.n_catchup,
            "received": done["n"],
            "from_spawn_s": _r(done["t"] - puller.spawned, 3),
            "from_ready_s": _r(done["t"] - ready["t"], 3),
            "startup_s": _r(ready["t"] - puller.spawned, 3),
        }
    finally:
        if puller is not None:
            puller.close()
        pub.close({"op": "quit"})
        sub.close({"op": "quit"})
    return result


def make_profiles(work: Path) -> tuple[Path, Path, str]:
    """alice founds a circle and invites bob; bob joins; alice imports bob's join. All offline."""
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile

    alice = Profile.create(resolve(str(work), "alice"), "alice")
    bob = Profile.create(resolve(str(work), "bob"), "bob")
    try:
        circle = alice.new_circle("bench").circle_id
        token = alice.invite(circle, bob.me)
        bob.join_token(token)
        report = alice.import_bundle(bob.export([circle]))
        if bob.me not in alice.view(circle).roster.members:
            raise SystemExit(f"bench setup: alice did not take bob's join ({report})")
        return alice.paths.root, bob.paths.root, circle.hex()
    finally:
        alice.close()
        bob.close()


def run_smallsocial(plan: Plan, work: Path) -> dict[str, Any]:
    logs = work / "smallsocial"
    a_root, b_root, circle = make_profiles(logs)
    alice = Worker("node", {"root": str(a_root)}, logs, "alice")
    bob: Worker | None = None
    result: dict[str, Any] = {"phases": {}, "stages": {}}
    try:
        a_addr = alice.wait_for(alice.first("NodeStarted"), 60, "alice started")["addrs"][0]
        bob = Worker("node", {"root": str(b_root), "peers": [a_addr]}, logs, "bob")
        b_started = bob.wait_for(bob.first("NodeStarted"), 60, "bob started")
        alice.wait_for(alice.first("PeerConnected", peer_id=b_started["peer_id"]), 30, "bob connected")
        bob.send({"op": "send", "circle": circle, "p": "warmup", "n": plan.warmup, "rate": 10})
        wait_phase(alice, bob, "warmup", plan.warmup, plan.grace_s, 30)
        for name, n, rate in phases(plan):
            bob.send({"op": "send", "circle": circle, "p": name, "n": n, "rate": rate})
            recv = wait_phase(alice, bob, name, n, plan.grace_s, 120)
            result["phases"][name] = phase_stats(recv, n, first_send_ts(bob, name, recv))
            result["stages"][name] = stages(bob, alice, name)
        result["rss"] = alice.rss()
        result["rss_sender"] = bob.rss()
        result["dropped_at_receiver"] = len(alice.events("RecordDropped"))
        result["gaps_at_receiver"] = len(alice.events("GapDetected"))
        bob_exit = bob.close({"op": "stop"})
        result["stop"] = {"exit_code": bob_exit, **_stop_info(bob)}
        bob = None

        # catch-up: bob is away; alice sends n, her node publishes them to nobody; bob comes back.
        alice.send({"op": "send", "circle": circle, "p": "catchup", "n": plan.n_catchup, "rate": 0})
        alice.wait_for(
            lambda lines: (
                len([x for x in lines if x.get("ev") == "published" and x.get("p") == "catchup"])
                >= plan.n_catchup
            ),
            180,
            "alice's outbox to drain",
        )
        drained = alice.events("published", "catchup")
        sends = alice.events("sent", "catchup")
        bob = Worker("node", {"root": str(b_root), "peers": [a_addr]}, logs, "bob-again")
        started = bob.wait_for(bob.first("NodeStarted"), 60, "bob restarted")
        bob.wait_for(
            lambda lines: (
                len({x["i"] for x in lines if x.get("ev") == "recv" and x.get("p") == "catchup"})
                >= plan.n_catchup
            ),
            300,
            "bob to catch up",
        )
        recv = bob.events("recv", "catchup")
        last = max(r["t"] for r in recv)
        connected = bob.first("PeerConnected")(bob.lines)
        result["catchup"] = {
            "n": plan.n_catchup,
            "received": len({r["i"] for r in recv}),
            "from_spawn_s": _r(last - bob.spawned, 3),
            "from_ready_s": _r(last - started["t"], 3),
            "startup_s": _r(started["t"] - bob.spawned, 3),
            "connected_after_ready_s": _r(connected["t"] - started["t"], 3) if connected else None,
            "sync_batches": len(bob.events("SyncProgress")),
            "sender_outbox_s": _r(max(x["t"] for x in drained) - min(x["ts"] for x in sends), 3),
        }
        result["rss_after_catchup"] = bob.rss()
    finally:
        if bob is not None:
            bob.close({"op": "stop"})
        alice.close({"op": "stop"})
    return result


def _stop_info(w: Worker) -> dict[str, Any]:
    ex = w.first("exit")(w.lines)
    return {"stopped": ex.get("stopped") if ex else None, "stop_s": ex.get("stop_s") if ex else None}


def stages(sender: Worker, receiver: Worker, phase: str) -> dict[str, float | None]:
    """Where a smallsocial message spends its time: submit -> MessageSent -> published -> received."""
    sent = {x["i"]: x for x in sender.events("sent", phase)}
    pub = {x["i"]: x for x in sender.events("published", phase)}
    recv: dict[int, dict[str, Any]] = {}
    for x in receiver.events("recv", phase):
        recv.setdefault(x["i"], x)
    commit = [(s["t"] - s["ts"]) * 1000 for s in sent.values()]
    outbox = [(pub[i]["t"] - s["t"]) * 1000 for i, s in sent.items() if i in pub]
    wire = [(recv[i]["t"] - p["t"]) * 1000 for i, p in pub.items() if i in recv]
    return {
        "submit_to_sent_p50_ms": _r(median(commit)),
        "sent_to_published_p50_ms": _r(median(outbox)),
        "published_to_received_p50_ms": _r(median(wire)),
        "published_to_received_p99_ms": _r(percentile(wire, 0.99)),
    }


# --------------------------------------------------------------------------- report


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b not in (None, 0) else None


def build_rows(base: dict[str, Any], ss: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, n, rate in phases(plan):
        b, s = base["phases"][name], ss["phases"][name]
        rows.append(
            {
                "name": name,
                "kind": "latency",
                "n": n,
                "rate": rate or None,
                "baseline": b,
                "smallsocial": s,
                "ratio": {
                    "p50": ratio(s["p50_ms"], b["p50_ms"]),
                    "p99": ratio(s["p99_ms"], b["p99_ms"]),
                    "throughput": ratio(s["throughput_msg_s"], b["throughput_msg_s"]),
                },
                "stages": ss["stages"][name],
            }
        )
    rows.append(
        {
            "name": f"catch-up {plan.n_catchup:,} missed",
            "kind": "catchup",
            "n": plan.n_catchup,
            "rate": None,
            "baseline": base["catchup"],
            "smallsocial": ss["catchup"],
            "ratio": {
                "from_spawn": ratio(ss["catchup"]["from_spawn_s"], base["catchup"]["from_spawn_s"]),
                "from_ready": ratio(ss["catchup"]["from_ready_s"], base["catchup"]["from_ready_s"]),
            },
        }
    )
    rows.append(
        {
            "name": "RSS of the receiving process",
            "kind": "memory",
            "n": None,
            "rate": None,
            "baseline": base["rss"],
            "smallsocial": {**ss["rss"], "after_catchup": ss["rss_after_catchup"]},
            "ratio": {"rss": ratio(ss["rss"]["rss_mib"], base["rss"]["rss_mib"])},
        }
    )
    return rows


def fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{x}{unit}"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("benchmark", "system", "delivered", "p50 ms", "p99 ms", "msg/s", "ratio p50", "ratio p99")
    lines: list[tuple[str, ...]] = [head]
    for row in rows:
        if row["kind"] != "latency":
            continue
        for system in ("baseline", "smallsocial"):
            m = row[system]
            is_ss = system == "smallsocial"
            lines.append(
                (
                    row["name"] if not is_ss else "",
                    system,
                    f"{m['delivered']}/{m['sent']} ({m['delivery_pct']:g}%)",
                    fmt(m["p50_ms"]),
                    fmt(m["p99_ms"]),
                    fmt(m["throughput_msg_s"]),
                    fmt(row["ratio"]["p50"], "x") if is_ss else "",
                    fmt(row["ratio"]["p99"], "x") if is_ss else "",
                )
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for k, line in enumerate(lines):
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))
    for row in rows:
        if row["kind"] == "catchup":
            b, s = row["baseline"], row["smallsocial"]
            print(
                f"\n{row['name']}: smallsocial {fmt(s['from_spawn_s'])} s from spawn "
                f"({fmt(s['from_ready_s'])} s after listening, startup {fmt(s['startup_s'])} s); "
                f"baseline stream pull {fmt(b['from_spawn_s'])} s ({fmt(b['from_ready_s'])} s, "
                f"startup {fmt(b['startup_s'])} s); ratio {fmt(row['ratio']['from_spawn'], 'x')} / "
                f"{fmt(row['ratio']['from_ready'], 'x')}"
            )
        elif row["kind"] == "memory":
            b, s = row["baseline"], row["smallsocial"]
            print(
                f"{row['name']}: smallsocial {fmt(s['rss_mib'])} MiB (peak {fmt(s['peak_mib'])}; "
                f"after catch-up {fmt(s['after_catchup']['rss_mib'])} MiB), baseline {fmt(b['rss_mib'])} MiB "
                f"(peak {fmt(b['peak_mib'])}); ratio {fmt(row['ratio']['rss'], 'x')}"
            )
    print("\nwhere a smallsocial message spends its time (p50 ms):")
    for row in rows:
        if row["kind"] == "latency":
            st = row["stages"]
            print(
                f"  {row['name']}: submit -> MessageSent {fmt(st['submit_to_sent_p50_ms'])}, "
                f"-> published {fmt(st['sent_to_published_p50_ms'])}, "
                f"-> received {fmt(st['published_to_received_p50_ms'])} "
                f"(p99 {fmt(st['published_to_received_p99_ms'])})"
            )


def machine_info() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        from importlib.metadata import version

        libp2p_version = version("libp2p")
    except Exception:
        libp2p_version = "?"
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "libp2p": libp2p_version,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "git_commit": commit or None,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        role, cfg = argv[1], json.loads(argv[2])
        {"gossip": worker_gossip, "node": worker_node}[role](cfg)
        return 0

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one rate, fewer messages (under a minute)")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles and worker logs")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    print(
        f"node benchmark ({mode} run): {PAYLOAD_BYTES}-byte payloads, "
        f"rates {', '.join(f'{r:g}' for r in plan.rates)} msg/s x {plan.n_paced}, "
        f"burst {plan.n_burst}, catch-up {plan.n_catchup}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bench_node_"))
    try:
        print("baseline: bare py-libp2p gossipsub, 2 processes ...", flush=True)
        base = run_baseline(plan, work)
        print("smallsocial: 2 member nodes (NodeThread), 2 processes ...", flush=True)
        ss = run_smallsocial(plan, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    rows = build_rows(base, ss, plan)
    print()
    print_table(rows)
    elapsed = time.perf_counter() - started
    result = {
        "benchmark": "node",
        "mode": mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "plan": dataclasses.asdict(plan),
        "payload_bytes": PAYLOAD_BYTES,
        "rows": rows,
        "smallsocial_extra": {
            "rss_sender": ss["rss_sender"],
            "records_dropped_at_receiver": ss["dropped_at_receiver"],
            "gaps_at_receiver": ss["gaps_at_receiver"],
            "sender_stop": ss["stop"],
        },
        "elapsed_s": round(elapsed, 2),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwhole run {elapsed:.1f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
