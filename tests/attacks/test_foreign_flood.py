"""Threat C: a flood from a foreign peer, where keys (and peer IDs) are free.

The flooder is js-libp2p's gossipsub on the circle's topic, publishing records that are
each signed by a fresh non-member key. Before, the node charged a forwarder only for
bytes that did not parse or verify, so such a flood was never graylisted. Now each record
the roster refuses costs the forwarder a quarter strike. The second test rotates the
flooder's identity (a new js process, a new peer ID) again and again, and makes every
tenth message 1 MB of junk: the node refuses those frames by their length prefix, before
py-libp2p parses or formats them. Honest latency with and without the flood goes to the
report (``scripts/stress`` prints it); the assertion is a behaviour bound, not a benchmark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from protocol import circle as circles
from protocol import crypto, messages, records
from protocol.chain import ChainPos
from protocol.identity import Identity
from tests.attacks.conftest import JsPeer
from tests.faults import kit
from tests.faults.conftest import make_node  # noqa: F401  (the fault tests' node fixture)
from tests.faults.kit import CIRCLE, Node, wait_until
from tests.faults.test_flood import honest_traffic, latencies

pytestmark = pytest.mark.timeout(300)


def _pair(make_node: Callable[..., Node]) -> tuple[Node, Node, str, bytes]:  # noqa: F811
    alice, bob = make_node("alice"), make_node("bob")
    circle = str(alice.json("circle", "new", CIRCLE)["id"])
    alice.start()
    bob.start()
    kit.join(alice, bob, circle, alice)
    first = kit.send(alice, circle, "hello before the flood")
    wait_until(lambda: first["record_id"] in kit.ids(bob, circle), 30, 0.1, "bob to get the first")
    with kit.db(alice) as db:
        raw = db.execute(
            "SELECT raw FROM records WHERE id = ?", (bytes.fromhex(first["record_id"]),)
        ).fetchone()
    epoch = bytes(records.parse(bytes(raw[0])).body["e"])
    return alice, bob, circle, epoch


def fresh_key_records(circle: str, epoch: bytes, count: int) -> list[str]:
    """``count`` well-formed messages under the circle's epoch, each by a new non-member key."""
    cid, out = bytes.fromhex(circle), []
    for i in range(count):
        text = messages.Content(messages.TEXT, int(time.time() * 1000), f"flood {i}")
        key = crypto.random_bytes(crypto.KEY_SIZE)
        out.append(messages.seal(Identity.generate(), cid, ChainPos(), epoch, key, text).raw.hex())
    return out


def _flood(
    js_peer: JsPeer, tmp_path: Path, alice: Node, circle: str, payloads: list[str], **more: Any
) -> Any:
    return js_peer(tmp_path, mode="flood", target=alice.addr, topic=circles.topic(bytes.fromhex(circle)),
                   payloads=payloads, **more)  # fmt: skip


def _nothing_kept(alice: Node, bob: Node, circle: str, honest: set[str], known: dict[str, set[str]]) -> None:
    for p in (alice, bob):
        wait_until(lambda p=p: honest <= kit.ids(p, circle), 30, 0.2, f"{p.name} to hold every honest one")
        assert kit.ids(p, circle) == known[p.name] | honest, f"{p.name} stored part of the flood"
        strangers = {e.get("author") for e in p.events if e.get("event") == "MessageReceived"}
        assert strangers <= {alice.key, bob.key}, strangers


def test_a_flood_signed_by_fresh_keys_gets_its_forwarder_graylisted(
    make_node: Callable[..., Node],  # noqa: F811
    js_peer: JsPeer,
    tmp_path: Path,
) -> None:
    alice, bob, circle, epoch = _pair(make_node)
    known = {p.name: kit.ids(p, circle) for p in (alice, bob)}
    report = _flood(js_peer, tmp_path, alice, circle, fresh_key_records(circle, epoch, 200), pause_ms=2)
    assert report["ok"] and report["subscribers"] >= 1 and report["published"] == 200, report
    assert report["told_topic"] is False, "alice told a stranger she is in the circle's topic"
    log = alice.root / "logs" / "node.log"
    wait_until(
        lambda: f"graylisted {report['peer_id']}" in log.read_text(), 15, 0.2, "the flooder graylisted"
    )
    sent = kit.send(bob, circle, "bob after the flood")
    _nothing_kept(alice, bob, circle, {sent["record_id"]}, known)
    assert alice.running() and bob.running()


def test_key_rotating_flood_with_megabyte_messages_leaves_honest_traffic_flowing(
    make_node: Callable[..., Node],  # noqa: F811
    js_peer: JsPeer,
    tmp_path: Path,
) -> None:
    alice, bob, circle, epoch = _pair(make_node)
    known = {p.name: kit.ids(p, circle) for p in (alice, bob)}
    payloads = fresh_key_records(circle, epoch, 400)
    base = honest_traffic(alice, bob, circle, 5.0, "base")
    base_ms = latencies(base)

    stop, floods = threading.Event(), []

    def rotate() -> None:  # a new js process is a new libp2p identity: a sybil after each graylisting
        while not stop.is_set():
            floods.append(_flood(js_peer, tmp_path, alice, circle, payloads, big_every=10,
                                 big_bytes=1_000_000, seconds=2, linger_ms=0))  # fmt: skip

    flooder = threading.Thread(target=rotate, daemon=True)
    flooder.start()
    try:
        wait_until(lambda: bool(floods), 60, 0.1, "a first flooder to finish")
        during = honest_traffic(alice, bob, circle, 6.0, "flood")
    finally:
        stop.set()
        flooder.join(60)
    flood_ms = latencies(during)
    assert all(f["ok"] for f in floods), floods
    published, big = sum(f["published"] for f in floods), sum(f["big"] for f in floods)
    assert len(floods) >= 2 and published > 100 and big > 0, floods
    _nothing_kept(alice, bob, circle, {r for r, _, _ in base + during}, known)
    b, f = kit.summary(base_ms), kit.summary(flood_ms)
    kit.report("foreign_flood", identities=len(floods), published=published, megabyte_messages=big,
               baseline=b, flood=f, p99_ratio=round(f["p99_ms"] / max(b["p99_ms"], 1e-9), 2))  # fmt: skip
    assert alice.running() and bob.running()
    assert f["p99_ms"] <= max(10 * b["p99_ms"], 1000), (b, f)
