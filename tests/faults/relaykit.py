"""Helpers for the relay fault tests: a chaos TCP proxy, relay processes, pinned circles, store checks.

- :class:`ChaosProxy`: a TCP proxy on 127.0.0.1 (asyncio, in a thread) that, for a share of
  the segments it carries, cuts the connection, drops or repeats the segment, flips a bit,
  or delays it. Noise authenticates every frame, so anything but a delay kills the
  libp2p connection; the point is that nothing breaks beyond that.
- :class:`ScriptRelay`: :mod:`tests.faults.hostile_relay` as a process (the product relay,
  optionally not dialling out, optionally hostile); the same status lines as ``smallsocial relay``.
- fixtures ``relays`` and ``proxies`` that stop everything they made, also on failure; a
  failure's report shows each relay's state and log tails (``kit.failure_report``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import records
from protocol.errors import ProtocolError
from tests.faults import kit
from tests.faults.kit import CIRCLE, Node, wait_until
from tests.relay.kit import RelayPeer

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# the chaos proxy ---------------------------------------------------------------------------
class ChaosProxy:
    """127.0.0.1:``port`` → 127.0.0.1:``target``; ``set(cut=, drop=, dup=, flip=, delay=)``: shares."""

    KINDS = ("cut", "drop", "dup", "flip", "delay", "life")
    """Shares per segment, and ``life``: the mean seconds a connection lives before one of the
    four faults (chosen at random) hits its next segment (0: no such deadline). Per-segment
    shares alone make the chaos depend on how busy a connection is; ``life`` keeps each
    connection carrying traffic for a while and then breaking, whatever the load."""

    def __init__(self, target: int, seed: int = 7) -> None:
        self.target = target
        self.rng = random.Random(seed)
        self.shares = dict.fromkeys(self.KINDS, 0.0)
        self.stats: Counter[str] = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the proxy did not start")

    def set(self, **shares: float) -> None:
        for k, v in shares.items():
            assert k in self.KINDS, k
            self.shares[k] = v

    def heal(self) -> None:
        self.set(**dict.fromkeys(self.KINDS, 0.0))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        try:
            self._loop.run_forever()
        finally:
            for t in asyncio.all_tasks(self._loop):
                t.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}
        done = asyncio.Event()
        deadline: list[float | None] = [None]  # set at the first segment while ``life`` is on
        tasks = [
            asyncio.ensure_future(self._pipe(reader, up_w, done, deadline)),
            asyncio.ensure_future(self._pipe(up_r, writer, done, deadline)),
        ]
        await done.wait()
        for w in (writer, up_w):
            self._writers.discard(w)
            with contextlib.suppress(Exception):
                w.close()
        for t in tasks:
            t.cancel()

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        done: asyncio.Event,
        deadline: list[float | None],
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while chunk := await src.read(65536):
                self.stats["segments"] += 1
                s, x = self.shares, self.rng.random()
                if s["life"] <= 0:
                    deadline[0] = None
                elif deadline[0] is None:
                    deadline[0] = loop.time() + self.rng.expovariate(1 / s["life"])
                elif loop.time() >= deadline[0]:  # this connection's time is up: one fault, at random
                    deadline[0] = float("inf")
                    self.stats["life_over"] += 1
                    s = {**dict.fromkeys(("cut", "drop", "dup", "flip"), 0.25), "delay": s["delay"]}
                if x < s["cut"]:
                    self.stats["cut"] += 1
                    return
                x -= s["cut"]
                if x < s["drop"]:
                    self.stats["drop"] += 1
                    continue
                x -= s["drop"]
                if x < s["dup"]:
                    self.stats["dup"] += 1
                    chunk = chunk + chunk
                elif x - s["dup"] < s["flip"]:
                    self.stats["flip"] += 1
                    b = bytearray(chunk)
                    b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
                    chunk = bytes(b)
                if self.rng.random() < s["delay"]:
                    self.stats["delay"] += 1
                    await asyncio.sleep(self.rng.uniform(0.05, 0.5))
                dst.write(chunk)
                await dst.drain()
            self.stats["closed_by_an_end"] += 1  # a libp2p end gave up on the connection (or left)
        except (OSError, asyncio.IncompleteReadError):
            self.stats["reset"] += 1
        finally:
            done.set()

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for w in list(self._writers):
                with contextlib.suppress(Exception):
                    w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# relay processes ---------------------------------------------------------------------------
class ScriptRelay(RelayPeer):
    """The product relay run by :mod:`tests.faults.hostile_relay` with ``cfg`` (see there)."""

    cfg: dict[str, Any]

    def __init__(self, data_dir: Path, name: str) -> None:
        super().__init__(data_dir, name)
        self.cwd = REPO

    def command(self, listen: str, peers: tuple[str, ...]) -> list[str]:
        cfg_path = self.root / "hostile-cfg.json"
        cfg = {"listen": [listen], "status_interval": self.status_interval, **self.cfg}
        cfg_path.write_text(json.dumps(cfg))
        return [sys.executable, "-m", "tests.faults.hostile_relay", str(cfg_path)]

    def turn_hostile(self) -> None:
        (self.root / "hostile.on").write_text("")

    def acts(self) -> list[dict[str, Any]]:
        path = self.root / "hostile.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(name="relays")
def relays_fixture(tmp_path: Path) -> Iterator[Callable[..., RelayPeer]]:
    """``relays("relay")`` a product relay; ``relays("evil", cfg={...})`` a scripted one. Killed after."""
    made: list[RelayPeer] = []

    def make(name: str = "relay", cfg: dict[str, Any] | None = None) -> RelayPeer:
        r: RelayPeer
        if cfg is None:
            r = RelayPeer(tmp_path, name)
        else:
            r = ScriptRelay(tmp_path, name)
            r.cfg = cfg
        made.append(r)
        kit.WATCHED.append(r)  # its state and log tails go into a failure's report
        return r

    yield make
    for r in made:
        kit.kill_quietly(r)


@pytest.fixture(name="proxies")
def proxies_fixture() -> Iterator[Callable[..., ChaosProxy]]:
    made: list[ChaosProxy] = []

    def make(target: int, seed: int = 7) -> ChaosProxy:
        p = ChaosProxy(target, seed)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


# circles -----------------------------------------------------------------------------------
def pinned_circle(
    make_node: Callable[..., Node], relay_addr: str, names: list[str]
) -> tuple[str, list[Node]]:
    """A circle founded by the first name and pinned to ``relay_addr``; the others joined offline."""
    nodes = [make_node(n) for n in names]
    founder = nodes[0]
    circle = str(founder.json("circle", "new", CIRCLE)["id"])
    founder.json("circle", "pin", CIRCLE, relay_addr)
    for n in nodes:
        n.key_cache = n.key  # type: ignore[attr-defined]
    for n in nodes[1:]:
        n.json("join", founder.json("invite", CIRCLE, key(n))["token"])
    return circle, nodes


def key(node: Node) -> str:
    """The peer ID ``pinned_circle`` cached on the node (no CLI call)."""
    return str(node.key_cache)  # type: ignore[attr-defined]


def nat(node: Node, *others: Node) -> None:
    """``node`` refuses ``others`` (it reaches only the relay)."""
    (node.root / "blocked").write_text("".join(f"{key(o)}\n" for o in others))


def wait_all_joined(nodes: list[Node], circle: str, timeout: float = 60) -> None:
    for n in nodes:
        for m in nodes[1:]:
            if m is not n:
                wait_until(
                    functools.partial(n.saw, "MemberJoined", circle=circle, member=key(m)),
                    timeout,
                    0.2,
                    f"{n.name} to see {m.name} join",
                )


def send_from(node: Node, circle: str, text: str) -> str | None:
    """One message through the running node's control socket; its record id if acknowledged."""
    try:
        reply = kit.send(node, circle, text)
    except (OSError, ValueError):
        return None
    return str(reply["record_id"]) if reply.get("ok") else None


# checks ------------------------------------------------------------------------------------
def raws(node: Node, circle: str, table: str = "records") -> dict[str, bytes]:
    assert table in ("records", "held")
    with kit.db(node) as conn:
        got = conn.execute(f"SELECT id, raw FROM {table} WHERE circle = ?", (bytes.fromhex(circle),))
        return {bytes(i).hex(): bytes(r) for i, r in got}


def corrupt_stored(node: Node, circle: str, authors: set[bytes]) -> list[str]:
    """Stored records that do not verify, whose id is not their hash, or whose author is no member."""
    bad = []
    for rid, raw in raws(node, circle).items():
        try:
            rec = records.parse(raw)
        except ProtocolError as e:
            bad.append(f"{rid[:12]}: {e}")
            continue
        if rec.id.hex() != rid:
            bad.append(f"{rid[:12]}: stored under another id")
        elif rec.type != records.GENESIS and rec.author not in authors:
            bad.append(f"{rid[:12]}: by a non-member {rec.author.hex()[:12]}")
    return bad


def drops(node: Node, since: int = 0) -> list[str]:
    return [str(e.get("reason")) for e in node.events[since:] if e.get("event") == "RecordDropped"]


def reason_kind(reason: str) -> str:
    """A short class of a drop reason, for the figures."""
    r = reason.lower()
    if "announcement" in r:
        return "presence"  # e.g. the relay's own presence: a relay is no member
    if "not a member" in r:
        return "not a member"
    if "signature" in r:
        return "bad signature"
    if "sync from" in r or "from " in r:
        return "malformed"
    return r[:60]


def gaps(node: Node, since: int = 0) -> int:
    return sum(1 for e in node.events[since:] if e.get("event") == "GapDetected")


__all__ = [
    "ChaosProxy",
    "ScriptRelay",
    "corrupt_stored",
    "drops",
    "free_port",
    "gaps",
    "key",
    "nat",
    "pinned_circle",
    "proxies_fixture",
    "raws",
    "reason_kind",
    "relays_fixture",
    "send_from",
    "wait_all_joined",
]
