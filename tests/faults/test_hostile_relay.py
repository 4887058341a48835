"""A hostile relay (issue 6; threats 14, 15, 16), in two layers, with real processes on 127.0.0.1.

test_chaos_proxy_between_members_and_relay (the transport): members a, b, c reach each
other only through the relay (block files), and the relay only through a TCP proxy that cuts
connections, drops, repeats and delays segments and flips bits in a share of them, while
everyone posts. Noise authenticates every frame, so corruption here can only kill a
connection. Then the proxy heals. Asserted: every acknowledged message in every store and
log, once; the stores equal; nothing stored that does not verify or is not a member's; every
store passes ``integrity_check``; no process crashed (each stops with 0).

test_hostile_relay_is_detected_and_outlived (the application): the same members behind
:mod:`tests.faults.hostile_relay` (the product ``RelayNode`` with hostile overrides), which,
once turned hostile, withholds a share of records for good (threat 14), delays, duplicates
and replays, flips or truncates bytes of records it serves (threat 15) and injects records
of its own (threat 16): signed by its key (a message under a real epoch, one under an
unknown epoch, a join citing no invitation) and forged as a member's. While the relay is
the only path, the withheld records are missing and the gaps are seen (``GapDetected``).
Then an honest path opens (short: the members may reach each other; long: an honest relay is pinned and the
members still reach only relays). Asserted: the gaps fill; every store holds exactly the
honest records (setup + acknowledged), never an injected or corrupt one (nor in ``held``);
each member dropped, with a reason, at least every bad record the relay served it by sync;
every message shown once; no crash.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from protocol.identity import parse_peer_id
from protocol.node import api
from protocol.node.logs import PER_MINUTE
from smallsocial_tui import control
from tests.faults import kit
from tests.faults.kit import Node, wait_until
from tests.faults.relaykit import (  # noqa: F401  (fixtures)
    ChaosProxy,
    ScriptRelay,
    corrupt_stored,
    drops,
    free_port,
    gaps,
    key,
    nat,
    pinned_circle,
    proxies_fixture,
    raws,
    reason_kind,
    relays_fixture,
    send_from,
    wait_all_joined,
)
from tests.relay.kit import RelayPeer

pytestmark = pytest.mark.timeout(300)

NAMES = ["a", "b", "c"]


def _post(nodes: list[Node], circle: str, per_node: int, seconds: float, tag: str) -> dict[str, str]:
    """Each node posts ``per_node`` messages spread over ``seconds``; {record id: text} of the acked."""
    acked: dict[str, str] = {}
    gap = seconds / max(1, per_node)
    for i in range(per_node):
        t0 = time.monotonic()
        for n in nodes:
            text = f"{tag} {n.name} {i}"
            rid = send_from(n, circle, text)
            if rid is not None:
                acked[rid] = text
        time.sleep(max(0.0, gap - (time.monotonic() - t0)))
    return acked


def _authors(nodes: list[Node]) -> set[bytes]:
    return {parse_peer_id(key(n)) for n in nodes}


def _check_end_state(nodes: list[Node], circle: str, acked: dict[str, str], expected: set[str]) -> None:
    """Same honest records everywhere, nothing corrupt, each message shown once, no crash."""
    for n in nodes:
        assert n.running(), f"{n.name} crashed: {n.stderr_text()[-2000:]}"
        # Members' prekey records (published once the roster takes their join, and rotated)
        # may come after the setup's snapshot: every store holds the same ones, not the snapshot's.
        late = {r[0] for m in nodes for r in kit.rows(m, circle) if r[3] == "prekey"}
        got = kit.ids(n, circle)
        assert got - late == expected - late, (n.name, len(got - expected - late), len(expected - got))
        assert {r[0] for r in kit.rows(n, circle) if r[3] == "prekey"} == late, n.name
        assert corrupt_stored(n, circle, _authors(nodes)) == []
        assert not kit.chain_problems(n, circle), (n.name, kit.chain_problems(n, circle))
        texts = n.texts(circle)
        assert len(texts) == len(set(texts)), f"{n.name} shows a message twice"
        assert sorted(texts) == sorted(acked.values()), n.name
    for n in nodes:
        assert n.stop() == 0, n.name
        assert kit.integrity(n) == "ok", n.name


# 1. the transport: a chaos TCP proxy in front of the relay -----------------------------------
# Each connection lives ~6 s on average, then a cut, a dropped or repeated segment or a
# flipped bit kills it; besides, a small share of all segments is hit, and a fifth delayed.
CHAOS = {"cut": 0.005, "drop": 0.005, "dup": 0.005, "flip": 0.01, "delay": 0.2, "life": 6.0}


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"per_node": 8, "seconds": 12.0}, id="short"),
        pytest.param(
            {"per_node": 60, "seconds": 120.0}, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(900)]
        ),
    ],
)
def test_chaos_proxy_between_members_and_relay(
    make_node: Callable[..., Node],
    relays: Callable[..., RelayPeer],
    proxies: Callable[..., ChaosProxy],
    settings: dict[str, Any],
) -> None:
    relay_port = free_port()
    proxy = proxies(relay_port)
    # The relay does not dial out: every byte between it and a member passes the proxy.
    relay = relays("relay", cfg={"dial_out": False, "announce": [f"/ip4/127.0.0.1/tcp/{proxy.port}"]})
    addr = relay.start(listen=f"/ip4/127.0.0.1/tcp/{relay_port}")
    assert f"/tcp/{proxy.port}/" in addr
    circle, nodes = pinned_circle(make_node, addr, NAMES)
    for n in nodes:
        nat(n, *[m for m in nodes if m is not n])
        n.start()
    wait_until(lambda: relay.status.get("circles") == 1, 30, 0.2, "the relay to take the circle")
    wait_all_joined(nodes, circle)
    setup = kit.ids(nodes[0], circle)
    marks = {n.name: len(n.events) for n in nodes}

    before = Counter(proxy.stats)
    proxy.set(**CHAOS)
    t_chaos = time.monotonic()
    acked = _post(nodes, circle, settings["per_node"], settings["seconds"], "chaos")
    chaos_s = time.monotonic() - t_chaos
    assert len(acked) == settings["per_node"] * len(nodes)  # a member acks what it stored itself
    missing_at_heal = sum(len(set(acked) - kit.ids(n, circle)) for n in nodes)
    proxy.heal()
    stats = dict(Counter(proxy.stats) - before)  # what the chaos phase did
    t_heal = time.monotonic()
    wait_until(
        lambda: all(set(acked) <= kit.ids(n, circle) for n in nodes), 120, 0.2, "every member to hold all"
    )
    heal_s = time.monotonic() - t_heal
    peer_connected = {
        n.name: sum(1 for e in n.events[marks[n.name] :] if e.get("event") == "PeerConnected") for n in nodes
    }
    dropped = Counter(reason_kind(r) for n in nodes for r in drops(n, marks[n.name]))
    assert stats.get("cut", 0) + stats.get("flip", 0) + stats.get("drop", 0) > 0, stats

    _check_end_state(nodes, circle, acked, setup | set(acked))
    assert relay.running() and relay.stop() == 0
    kit.report(
        "relay_chaos_proxy",
        members=len(nodes),
        acked=len(acked),
        lost=0,
        duplicates_shown=0,
        chaos_s=round(chaos_s, 1),
        missing_when_healed=missing_at_heal,
        heal_s=round(heal_s, 2),
        proxy=stats,
        peer_connected_events=peer_connected,
        drops_by_reason=dict(dropped),
    )


# 2. the application: a hostile relay process ---------------------------------------------------
HOSTILE = {
    "seed": 11,
    "drop": 0.2,
    "reorder": 0.15,
    "dup": 0.15,
    "flip": 0.1,
    "replay_every": 2.0,
    "inject_every": 3.0,
    "sync_replays": 2,
    "sync_injects": 1,
}


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"per_node": 10, "seconds": 10.0, "attack_s": 6.0, "heal": "members"}, id="short"),
        pytest.param(
            {"per_node": 60, "seconds": 90.0, "attack_s": 20.0, "heal": "relay"},
            id="long",
            marks=[pytest.mark.slow, pytest.mark.timeout(900)],
        ),
    ],
)
def test_hostile_relay_is_detected_and_outlived(
    make_node: Callable[..., Node], relays: Callable[..., RelayPeer], settings: dict[str, Any]
) -> None:
    evil = relays("evil", cfg=HOSTILE)
    kit.note(seed=HOSTILE["seed"])
    assert isinstance(evil, ScriptRelay)
    addr = evil.start()
    circle, nodes = pinned_circle(make_node, addr, NAMES)
    for n in nodes:
        nat(n, *[m for m in nodes if m is not n])
        n.start()
    wait_until(lambda: evil.status.get("circles") == 1, 30, 0.2, "the relay to take the circle")
    wait_all_joined(nodes, circle)
    wait_until(
        lambda: all(kit.ids(n, circle) == kit.ids(nodes[0], circle) for n in nodes), 30, 0.2, "setup in sync"
    )
    setup = kit.ids(nodes[0], circle)
    marks = {n.name: len(n.events) for n in nodes}

    evil.turn_hostile()
    acked = _post(nodes, circle, settings["per_node"], settings["seconds"], "hostile")
    assert len(acked) == settings["per_node"] * len(nodes)
    time.sleep(settings["attack_s"])  # syncs with the relay run; the withheld stay missing

    # Threat 14, first half: with the relay the only path, what it withholds is missing, and seen.
    acts = evil.acts()
    withheld = {a["id"] for a in acts if a["act"] == "withhold"}
    assert withheld and withheld <= set(acked), (len(withheld), len(set(withheld) - set(acked)))
    missing = {}
    held_last: dict[str, Counter[str]] = {}  # per member: the highest seq it holds of each author
    for n in nodes:
        mine = kit.author_hex(n)
        others_withheld = {a["id"] for a in acts if a["act"] == "withhold" and a["author"] != mine}
        assert not (others_withheld & kit.ids(n, circle)), f"{n.name} got a withheld record"
        missing[n.name] = len(set(acked) - kit.ids(n, circle))
        held_last[n.name] = Counter[str]()
        for _, author, seq, _ in kit.rows(n, circle):
            held_last[n.name][author] = max(held_last[n.name][author], seq)
    # Each member saw a gap wherever it could: a withheld record of another author with a later
    # one of that author in its store (a withheld tail shows no gap until more comes; the
    # event may trail the commit a little).
    for n in nodes:
        mine, top = kit.author_hex(n), held_last[n.name]
        visible = [
            a for a in acts if a["act"] == "withhold" and a["author"] != mine and a["seq"] < top[a["author"]]
        ]
        if visible:
            wait_until(
                lambda n=n: gaps(n, marks[n.name]) > 0, 10, 0.2, f"{n.name} to see a gap ({len(visible)})"
            )
    gaps_seen = {n.name: gaps(n, marks[n.name]) for n in nodes}
    assert sum(gaps_seen.values()) > 0, gaps_seen

    # An honest path opens.
    t_heal = time.monotonic()
    honest = None
    if settings["heal"] == "members":
        for n in nodes:
            (n.root / "blocked").write_text("")
    else:
        honest = relays("honest")
        haddr = honest.start()
        # the pin is a roster record: it travels by the hostile relay (which lets roster records pass)
        reply = control.request(nodes[0].root, api.PinRelay(bytes.fromhex(circle), haddr), 10)
        assert reply.get("ok"), reply
    wait_until(
        lambda: all(set(acked) <= kit.ids(n, circle) for n in nodes), 120, 0.2, "the gaps to be filled"
    )
    heal_s = time.monotonic() - t_heal
    expected = setup | set(acked)
    if honest is not None:
        expected = kit.ids(nodes[0], circle)  # + the pin record
        assert len(expected - setup - set(acked)) == 1

    # Threats 15 and 16: nothing injected or corrupt was stored or held; each was dropped with a reason.
    acts = evil.acts()
    injected = {a["id"] for a in acts if a["act"].startswith("inject")}
    bad_by_sync: Counter[str] = Counter(
        a["peer"]
        for a in acts
        if a["act"] == "flip_sync" or (a["act"].startswith("inject") and a["via"] == "sync")
    )
    dropped: dict[str, Counter[str]] = {}
    for n in nodes:
        assert not (injected & kit.ids(n, circle)), f"{n.name} stored an injected record"
        assert not (injected & set(raws(n, circle, "held"))), f"{n.name} held an injected record"
        reasons = drops(n, marks[n.name])
        dropped[n.name] = Counter(reason_kind(r) for r in reasons)
        served = bad_by_sync[key(n)]
        assert len(reasons) >= served, (n.name, len(reasons), served)
        assert dropped[n.name]["not a member"] > 0, dropped[n.name]
        log = (n.root / "logs" / "node.log").read_text(errors="replace")
        assert log.count("dropped a record:") >= min(served, PER_MINUTE)  # the log's budget (logs.py)
    _check_end_state(nodes, circle, acked, expected)
    assert evil.running() and evil.stop() == 0
    if honest is not None:
        assert honest.stop() == 0
    kit.report(
        "hostile_relay",
        heal_by=settings["heal"],
        members=len(nodes),
        acked=len(acked),
        lost=0,
        duplicates_shown=0,
        withheld=len(withheld),
        missing_before_heal=missing,
        gaps_detected=gaps_seen,
        heal_s=round(heal_s, 2),
        relay_acts=dict(Counter(a["act"] for a in acts)),
        injected=len(injected),
        bad_served_by_sync=sum(bad_by_sync.values()),
        drops_by_reason={k: dict(v) for k, v in dropped.items()},
    )
