"""Churn (issue 6): member nodes and a relay, a random member SIGKILLed every 5 s and restarted 2–10 s later.

One circle, pinned to a real ``smallsocial relay``. Some members are behind "NATs": their
block file lists every other member, so they reach only the relay; the rest reach each
other and the relay. While members die and come back, ~2 messages a second go in through
the control socket of a running member chosen at random (what ``smallsocial send`` does); a
message counts when its node acknowledged it (it committed it first). Then every member is
started and the circle is left quiet. Asserted, measured from the start of the quiet period:

- 0 lost: every acknowledged message is in every member's store and ``log``;
- 0 duplicates: each is shown once, no (author, seq) twice, no gap in any chain;
- every store passes ``integrity_check``; every node stops cleanly at the end.

Short version: 5 members (2 behind NATs) for 30 s and a quiet 20 s; long (``slow``): 10
members (4 behind NATs) for 2 minutes and a quiet minute.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults import kit
from tests.faults.kit import Node, wait_until
from tests.faults.relaykit import key, nat, pinned_circle, relays_fixture, send_from  # noqa: F401
from tests.relay.kit import RelayPeer

pytestmark = pytest.mark.timeout(300)

SHORT = {"members": 4, "nat": 1, "duration_s": 20.0, "quiet_s": 20.0, "seed": 3}
LONG = {"members": 10, "nat": 4, "duration_s": 120.0, "quiet_s": 60.0, "seed": 5}
KILL_EVERY_S = 5.0
RESTART_AFTER_S = (2.0, 10.0)
RATE = 2.0  # messages a second, over all members


def _restart(n: Node) -> None:
    """Start again, on a new port: the old one is usually held by TIME_WAIT after a SIGKILL, and
    ``smallsocial run`` then takes any port too (``default_listen``); the others learn it by presence."""
    n.start()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(LONG, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(900)]),
    ],
)
def test_churn_loses_nothing_and_shows_nothing_twice(
    make_node: Callable[..., Node], relays: Callable[..., RelayPeer], settings: dict[str, Any]
) -> None:
    rng = random.Random(settings["seed"])
    kit.note(seed=settings["seed"])
    relay = relays("relay")
    relay.start()
    assert relay.addr is not None
    names = [f"m{i}" for i in range(settings["members"])]
    circle, nodes = pinned_circle(make_node, relay.addr, names)
    natted = nodes[-settings["nat"] :] if settings["nat"] else []
    for n in natted:
        nat(n, *[m for m in nodes if m is not n])
    for n in nodes:
        n.start()
    wait_until(lambda: relay.status.get("circles") == 1, 30, 0.2, "the relay to take the circle")
    founder = nodes[0]
    for n in nodes[1:]:
        wait_until(
            functools.partial(founder.saw, "MemberJoined", circle=circle, member=key(n)),
            60,
            0.2,
            f"the founder to see {n.name} join",
        )
    wait_until(
        lambda: all(kit.ids(n, circle) == kit.ids(founder, circle) for n in nodes),
        60,
        0.3,
        "the roster everywhere",
    )

    lock = threading.Lock()
    up = {n.name for n in nodes}
    acked: dict[str, str] = {}
    attempts = Counter[str]()
    unacked: set[str] = set()
    stop = threading.Event()

    def sender() -> None:
        i = 0
        while not stop.is_set():
            t0 = time.monotonic()
            with lock:
                alive = sorted(up)
            if alive:
                pick = rng.choice(alive)
                n = next(x for x in nodes if x.name == pick)
                text = f"churn {i} from {n.name}"
                i += 1
                attempts["sent"] += 1
                rid = send_from(n, circle, text)
                if rid is None:
                    attempts["not acknowledged"] += 1
                    unacked.add(text)  # killed (or slow) after the commit: it may still go out
                else:
                    acked[rid] = text
            stop.wait(max(0.0, 1 / RATE - (time.monotonic() - t0)))

    kills = restarts = 0
    down: dict[str, float] = {}  # name -> when to restart
    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        t_end = time.monotonic() + settings["duration_s"]
        next_kill = time.monotonic() + KILL_EVERY_S
        while time.monotonic() < t_end:
            now = time.monotonic()
            for name, when in sorted(down.items(), key=lambda x: x[1]):
                if when <= now:
                    n = next(x for x in nodes if x.name == name)
                    _restart(n)
                    restarts += 1
                    del down[name]
                    with lock:
                        up.add(name)
            if now >= next_kill:
                next_kill += KILL_EVERY_S
                with lock:
                    victims = sorted(up)
                    victim = rng.choice(victims) if len(victims) > 1 else None
                    if victim is not None:
                        up.discard(victim)
                if victim is not None:
                    n = next(x for x in nodes if x.name == victim)
                    n.kill()
                    kills += 1
                    down[victim] = time.monotonic() + rng.uniform(*RESTART_AFTER_S)
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(30)
    t_last_send = time.monotonic()
    for name in list(down):
        _restart(next(x for x in nodes if x.name == name))
        restarts += 1
        del down[name]

    # the quiet period: nobody sends, nobody dies
    t_quiet = time.monotonic()
    want = set(acked)
    wait_until(
        lambda: all(want <= kit.ids(n, circle) for n in nodes),
        settings["quiet_s"],
        0.3,
        f"every member to hold all {len(want)} acknowledged messages",
    )
    converged_s = time.monotonic() - t_quiet
    since_last_send_s = time.monotonic() - t_last_send
    relay_has_all = want <= relay.record_ids(circle)

    texts = sorted(acked.values())
    for n in nodes:
        assert n.running(), f"{n.name} crashed: {n.stderr_text()[-2000:]}"
        shown = n.texts(circle)
        assert len(shown) == len(set(shown)), f"{n.name} shows a message twice"
        # every acknowledged message; besides them only sends that got no answer (committed,
        # then the node was killed or too slow to answer: nothing acknowledged was promised)
        extra = set(shown) - set(texts)
        assert set(texts) <= set(shown) and extra <= unacked, (n.name, len(set(texts) - set(shown)), extra)
        assert not kit.chain_problems(n, circle), (n.name, kit.chain_problems(n, circle))
    for n in nodes:
        assert n.stop() == 0, n.name
        assert kit.integrity(n) == "ok", n.name
    assert relay.running() and relay.stop() == 0
    kit.report(
        "relay_churn",
        members=len(nodes),
        behind_nat=len(natted),
        duration_s=settings["duration_s"],
        kills=kills,
        restarts=restarts,
        sent=attempts["sent"],
        acked=len(acked),
        not_acknowledged=attempts["not acknowledged"],
        lost=0,
        duplicates=0,
        converged_s=round(converged_s, 2),
        converged_since_last_send_s=round(since_last_send_s, 2),
        relay_holds_all=relay_has_all,
    )
