"""The workers of the node benchmark: a member node, and a bare py-libp2p gossipsub host.

``bench_node.py --worker node|gossip CONFIG`` runs one (:data:`WORKERS`); the protocol is
:mod:`benchkit.wire`'s. ``node`` is a ``NodeThread`` (the bridge the TUI uses) on one profile;
``gossip`` is py-libp2p with our gossipsub settings on one topic, and optionally the pull
protocol that the catch-up's bare floor reads frames over. :class:`Sends` is what a node
worker keeps of its messages and its node's events (bench_relay's many-node worker keeps it
too). A second module would only split one protocol's two ends, hence past 400 lines.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from benchkit.procs import Worker
from benchkit.wire import Receipts, commands, out, payload, reply, sent_done
from benchkit.wire import read_back as wire_read_back

NODE_SCRIPT = Path(__file__).resolve().parents[1] / "bench_node.py"
"""The script whose ``--worker node|gossip`` runs these workers."""
BARE, SS = "bare", "smallsocial"
SYSTEMS = (BARE, SS)
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TOPIC = "bench/node/1"
PULL_PROTOCOL = "/bench/pull/1"
PULL_BATCH = 256  # = protocol.node.syncwire.BATCH_RECORDS


def count_receipts(ps: Any, counters: Counter[str], lock: threading.Lock) -> None:
    """Count each pubsub message a peer sends ``ps`` (duplicates too) as ``pubsub_receipts``.

    Summed over every member, that is the transmissions a message cost; over its
    deliveries, transmissions per delivery (1 would be each member getting it once).
    """
    push, me = ps.push_msg, ps.my_id

    async def counted(forwarder: Any, msg: Any) -> None:
        if forwarder != me:
            with lock:
                counters["pubsub_receipts"] += 1
        await push(forwarder, msg)

    ps.push_msg = counted


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
    from protocol.node.host import LIBP2P_DEFAULT, make_gossipsub, make_host, setup_logging

    out({"ev": "boot", "t": time.time()})
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
        host = make_host(Identity.generate(), [LOOPBACK], update_per_read=True)  # py-libp2p's yamux default
        # bare: py-libp2p's own offer (meshsub/1.2.0 first) and its own publish
        gs = make_gossipsub(protocols=LIBP2P_DEFAULT, lean=False)
        ps = Pubsub(host, gs)
        stored: list[bytes] = []
        counters: Counter[str] = Counter()
        count_receipts(ps, counters, threading.Lock())

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
                    out({"ev": "ready", "addr": addr, "t": time.time()})
                    info = info_from_p2p_addr(Multiaddr(cfg["pull"]))
                    await host.connect(info)
                    out({"ev": "connected", "t": time.time()})
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
                    out({"ev": "pulled", "n": got, "t": time.time()})
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
                    sent_done(phase, n, sent, first)

                async def connect(cmd: dict[str, Any]) -> None:
                    ms = []
                    for a in cmd["addrs"]:
                        info = info_from_p2p_addr(Multiaddr(a))
                        t0 = time.perf_counter()
                        await host.connect(info)
                        ms.append(round((time.perf_counter() - t0) * 1000, 3))
                    reply(cmd, ms=ms)

                async def mesh(cmd: dict[str, Any]) -> None:
                    t0 = time.perf_counter()
                    with trio.move_on_after(float(cmd.get("timeout", 20))):
                        while len(gs.mesh.get(TOPIC, ())) < int(cmd["n"]):
                            await trio.sleep(0.01)
                    reply(cmd, size=len(gs.mesh.get(TOPIC, ())), waited_s=round(time.perf_counter() - t0, 3))

                out({"ev": "ready", "addr": addr, "t": time.time()})
                async with trio.open_nursery() as nursery, contextlib.aclosing(commands()) as cmds:
                    nursery.start_soon(receive)
                    async for cmd in cmds:
                        op = cmd["op"]
                        if op == "connect":
                            nursery.start_soon(connect, cmd)
                        elif op == "mesh":
                            nursery.start_soon(mesh, cmd)
                        elif op == "send":
                            nursery.start_soon(publish, cmd["p"], int(cmd["n"]), float(cmd["rate"]))
                        elif op == "count":
                            n, last = receipts.count(cmd["p"])
                            reply(cmd, n=n, last=last)
                        elif op == "report":
                            recv, dups = receipts.report(cmd["p"])
                            reply(cmd, recv=recv, dups=dups, counters=dict(counters))
                        elif op == "store":
                            stored[:] = [
                                payload("catchup", i, time.time()).encode() for i in range(int(cmd["n"]))
                            ]
                            reply(cmd, n=len(stored))
                        elif op == "quit":
                            break
                    t0 = time.monotonic()
                    async with trio.open_nursery() as closing:  # close connections concurrently
                        for pid in list(host.get_network().connections):
                            closing.start_soon(host.disconnect, pid)
                    stop_s.append(time.monotonic() - t0)
                    nursery.cancel_scope.cancel()

    trio.run(main)
    out({"ev": "exit", "stopped": True, "stop_s": round(stop_s[0], 3) if stop_s else None, "t": time.time()})


class Sends:
    """A node worker's account of its messages and of its node's events, for the ``report`` op.

    Per phase, each message's key (its index; bench_relay's (circle, sender, index)) -> [send
    stamp, MessageSent stamp, MessagePublished stamp, record id hex]; refused commands per
    phase; and counters of the node's sync, gap, drop and refusal events. The worker puts
    ``(phase, key, send stamp)`` in :attr:`pending` under the command's request id and hands
    every node event to :meth:`take`; :attr:`lock` guards what another thread reads.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[str, Any, float]] = {}
        self.by_record: dict[bytes, list[Any]] = {}  # record id -> its entry in ``sent``, until published
        self.sent: dict[str, dict[Any, list[Any]]] = defaultdict(dict)
        self.failed: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()

    def take(self, ev: Any, t: float) -> None:
        """Account for a node event stamped ``t`` (one of the kinds above; any other is ignored)."""
        from protocol.node import api

        c = self.counters
        with self.lock:
            if isinstance(ev, api.MessageSent):
                if (info := self.pending.pop(ev.request_id or -1, None)) is not None:
                    entry: list[Any] = [info[2], t, None, ev.record_id.hex()]
                    self.sent[info[0]][info[1]] = self.by_record[ev.record_id] = entry
            elif isinstance(ev, api.MessagePublished):
                if (published := self.by_record.pop(ev.record_id, None)) is not None:
                    published[2] = t
            elif isinstance(ev, api.CommandFailed):
                if (info := self.pending.pop(ev.request_id, None)) is not None:
                    self.failed[info[0]] += 1
                c["command_failed"] += 1
            elif isinstance(ev, api.SyncProgress):
                c["sync_batches"] += 1
                c["sync_records"] += ev.received
            elif isinstance(ev, api.GapDetected):
                c["gaps"] += 1
            elif isinstance(ev, api.RecordDropped):
                c["dropped"] += 1
                if "rate limit" in ev.reason:
                    c["dropped_rate_limit"] += 1


def worker_node(cfg: dict[str, Any]) -> None:
    """A smallsocial member node: a NodeThread; receipts kept in memory, commands on stdin."""
    from protocol.node.loading import collector_paused

    with collector_paused():  # as the TUI's ThreadNode.start and `smallsocial run` import the node
        from protocol import circle as circle_mod
        from protocol.node import api
        from protocol.node.bridge import NodeThread
        from protocol.node.host import setup_logging
        from protocol.node.paths import ProfilePaths

    out({"ev": "boot", "t": time.time()})
    paths = ProfilePaths(Path(cfg["root"]))
    setup_logging(paths.logs)
    events: queue.SimpleQueue[tuple[float, Any] | None] = queue.SimpleQueue()
    receipts = Receipts(by_number=bool(cfg.get("bulk_by_number")))
    sends = Sends()  # keyed by the message's index
    counting: list[Any] = []  # the pubsub whose receipts are counted, once the node is up
    answered: dict[str, threading.Semaphore] = {}  # phase -> released per answered command
    waiters: dict[int, tuple[threading.Event, list[Any]]] = {}
    connected: set[str] = set()  # peer IDs the node reports connected (it may dial on its own)

    marks: dict[bytes, int] = {}

    def read_back(ev: api.MessagesArrived, t: float) -> None:
        """A bulk-told batch's messages, read back on the node's thread (:func:`wire.read_back`)."""
        running = getattr(node, "_node", None)  # read-only, on its own thread (as "mesh" peeks)
        profile = getattr(running, "profile", None)
        if profile is not None:
            for text in wire_read_back(profile, ev.circle, marks):
                receipts.add_told(text, t)

    def on_event(ev: api.Event) -> None:  # on the node's thread: stamp and hand over
        t = time.time()
        if isinstance(ev, api.MessagesArrived) and not receipts.by_number:
            read_back(ev, t)
        info = None  # checked before handing over: the writer thread pops it from pending
        if isinstance(ev, (api.MessageSent, api.CommandFailed)):
            info = sends.pending.get(ev.request_id or -1)
        events.put((t, ev))
        if info is not None:  # per phase: concurrent sends (several circles) each wait for their own
            answered[info[0]].release()
        if isinstance(ev, api.PeerConnected):
            connected.add(ev.peer_id)
        elif isinstance(ev, api.PeerDisconnected):
            connected.discard(ev.peer_id)
        answers = (api.CommandDone, api.CommandFailed, api.HistoryLoaded, api.SearchResults)
        rid = ev.request_id if isinstance(ev, answers) else None
        if rid is not None and rid in waiters:
            done, box = waiters[rid]
            box.append((time.perf_counter(), ev))
            done.set()

    def writer() -> None:
        while (item := events.get()) is not None:
            t, ev = item
            if isinstance(ev, tuple):  # a sender's marker: every command of the phase answered
                _, phase, n, submitted = ev
                with sends.lock:
                    acked = sends.sent.get(phase, {})
                    first = min((float(v[0]) for v in acked.values() if v[0] is not None), default=None)
                    last = max((v[1] for v in acked.values() if v[1] is not None), default=None)
                    nack, nfail = len(acked), sends.failed[phase]
                out(
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
            elif isinstance(ev, api.MessagesArrived):
                receipts.add_bulk(ev.count, t)  # a live phase's are read back on the node's thread
            elif isinstance(ev, api.NodeStarted):
                out({"ev": "NodeStarted", "addrs": list(ev.addrs), "peer_id": ev.peer_id, "t": t})
            elif isinstance(ev, api.PeerConnected):
                sends.counters["peer_connected"] += 1
                out({"ev": "PeerConnected", "peer_id": ev.peer_id, "t": t})
            elif isinstance(ev, api.NodeStopped):
                out({"ev": "NodeStopped", "detail": ev.error, "t": t})
            else:
                sends.take(ev, t)

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
            sends.pending[msg.request_id] = (phase, i, ts)
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
                reply(cmd, ms=ms, failed=fails, already=already)
            elif op == "mesh":
                topic = circle_mod.topic(bytes.fromhex(cmd["circle"]))
                t0 = time.perf_counter()
                size = 0
                while time.perf_counter() - t0 < float(cmd.get("timeout", 20)):
                    # read-only peek: the peers a message of mine goes to (flood publish: every
                    # subscribed member of the circle, not only the small mesh)
                    ps = getattr(getattr(node, "_node", None), "pubsub", None)
                    if ps is not None and not counting:
                        count_receipts(ps, sends.counters, sends.lock)
                        counting.append(ps)
                    size = len(ps.peer_topics.get(topic, ())) if ps is not None else 0
                    if size >= int(cmd["n"]):
                        break
                    time.sleep(0.01)
                reply(cmd, size=size, waited_s=round(time.perf_counter() - t0, 3))
            elif op == "count":
                n, last = receipts.count(cmd["p"])
                reply(cmd, n=n, last=last)
            elif op == "unindexed":  # messages the search index has still to take (SearchResults.pending)
                _, ev = command(api.SearchMessages("unindexed", limit=1))
                reply(cmd, n=getattr(ev, "pending", None))
            elif op == "report":
                recv, dups = receipts.report(cmd["p"])
                with sends.lock:
                    mine = [[i, *v] for i, v in sends.sent.get(cmd["p"], {}).items()]
                    nfail, counters = sends.failed[cmd["p"]], dict(sends.counters)
                bulk = [receipts.arrived, receipts.arrived_first, receipts.arrived_last]
                reply(cmd, recv=recv, dups=dups, sent=mine, failed=nfail, counters=counters, bulk=bulk)
            elif op == "stop":
                break
    finally:
        t0 = time.monotonic()
        ok = node.stop(10.0)
        stop_s = round(time.monotonic() - t0, 3)
        events.put(None)
        out_thread.join(5)
        out({"ev": "exit", "stopped": ok, "stop_s": stop_s, "t": time.time()})


WORKERS = {"gossip": worker_gossip, "node": worker_node}


def node_worker(role: str, cfg: dict[str, Any], log_dir: Path, name: str) -> Worker:
    """A ``node`` (smallsocial) or ``gossip`` (bare) worker process."""
    return Worker.script(NODE_SCRIPT, role, cfg, log_dir, name)
