"""kill -9 loop: a sending node SIGKILLed at a random moment, restarted, round after round.

alice sends as fast as her node acknowledges (requests on its control socket, what
``smallsocial send`` does); at a random moment her ``smallsocial run`` process gets
SIGKILL. Some rounds are rekey rounds: alice removes a member (which rekeys) while the
burst runs, and the kill lands 0-12 ms after the remove request: before, inside or after
the removal's transaction, or between its COMMIT and the reply (done, not acknowledged).
While her node is down she sends once more with
the CLI (the outbox path); then her node restarts. After every round:

- ``PRAGMA integrity_check`` is ok;
- every acknowledged message is in alice's store, her chain has no gap and no seq twice;
- the epoch state is whole: each rekey record alice stored has its epoch key and each epoch
  key (past the circle's first) has its rekey record, removals and rekeys come in pairs;
- bob, a live member node, gets every acknowledged message; after a rekey he reads what
  alice sends under the new key.
At the end bob's log shows each message once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.faults import kit
from tests.faults.kit import CIRCLE, Node, wait_until

SHORT = {"rounds": 8, "rekey_every": 4}
LONG = {"rounds": 100, "rekey_every": 5}

pytestmark = pytest.mark.timeout(180)


@dataclass
class Burst:
    """Sends through a node's control socket until the node stops answering; keeps what was acked."""

    node: Node
    circle: str
    prefix: str
    acked: list[tuple[str, str]] = field(default_factory=list)  # (record id, text)
    started: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Burst:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        i = 0
        try:
            while True:
                text = f"{self.prefix} {i:05d}"
                reply = kit.send(self.node, self.circle, text, timeout=5)
                if not reply.get("ok"):
                    return
                self.acked.append((str(reply["record_id"]), text))
                self.started.set()
                i += 1
        except (OSError, ValueError):  # the node died under us
            return
        finally:
            self.started.set()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(30)
        assert not self.thread.is_alive(), "the sender hung after the kill"


def _epoch_problems(node: Node, circle: str, me: str) -> list[str]:
    got = kit.rows(node, circle)
    rekeys = {i for i, a, _, t in got if t == "rekey" and a == me}
    removes = [i for i, a, _, t in got if t == "remove" and a == me]
    all_rekeys = {i for i, _, _, t in got if t == "rekey"}
    keys = kit.epoch_keys(node, circle) - {circle}  # the first epoch's id is the circle id
    out = []
    if rekeys - keys:
        out.append(f"rekey record(s) without their key: {sorted(rekeys - keys)}")
    if keys - all_rekeys:
        out.append(f"epoch key(s) without their rekey record: {sorted(keys - all_rekeys)}")
    if len(removes) != len(rekeys):
        out.append(f"{len(removes)} removal(s) but {len(rekeys)} rekey(s)")
    return out


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(LONG, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(1500)]),
    ],
)
def test_kill_minus_9_loop(make_node: Callable[..., Node], settings: dict[str, int]) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    note = f"(seed {seed})"
    kit.note(seed=seed)
    rounds, every = settings["rounds"], settings["rekey_every"]
    rekey_rounds = [r for r in range(rounds) if r % every == every - 1]

    alice, bob = make_node("alice"), make_node("bob")
    circle = alice.json("circle", "new", CIRCLE)["id"]
    alice.start()
    bob.start()
    kit.join(alice, bob, circle, alice)
    me = kit.author_hex(alice)
    # members to remove in the rekey rounds: each joins over the network, then goes offline
    spare: list[tuple[str, str]] = []
    for n in range(len(rekey_rounds)):
        extra = make_node(f"extra{n}")
        extra.start()
        kit.join(alice, extra, circle, alice)
        spare.append((extra.name, extra.key))
        extra.stop()

    acked: dict[str, str] = {}  # record id -> text
    stats: dict[str, Any] = Counter()
    restart_s: list[float] = []
    deliver_s: list[float] = []
    t_all = time.monotonic()
    for rnd in range(rounds):
        rekey = rnd in rekey_rounds
        kit.note(round=rnd, rekey_round=rekey)
        burst = Burst(alice, circle, f"r{rnd:03d}").start()
        assert burst.started.wait(15) and burst.acked, f"round {rnd}: nothing acknowledged {note}"
        removal: dict[str, Any] = {}
        target = spare.pop() if rekey else None
        if target is not None:
            time.sleep(rng.uniform(0.05, 0.3))

            def do_remove(key: str = target[1], out: dict[str, Any] = removal) -> None:
                try:
                    out.update(kit.remove(alice, circle, key, timeout=5))
                except (OSError, ValueError) as e:
                    out["error"] = str(e)

            rm = threading.Thread(target=do_remove, daemon=True)
            rm.start()
            time.sleep(rng.uniform(0.0, 0.012))  # around the removal's transaction
        else:
            rm = None
            time.sleep(rng.uniform(0.05, 0.8))
        alice.kill()
        burst.join()
        if rm is not None:
            rm.join(10)
        acked.update(dict(burst.acked))
        stats["acked_via_node"] += len(burst.acked)

        # the store right after the kill
        assert kit.integrity(alice) == "ok", f"round {rnd} {note}"
        stored = kit.ids(alice, circle)
        lost = set(acked) - stored
        assert not lost, f"round {rnd}: {len(lost)} acknowledged message(s) lost {note}"
        assert not kit.chain_problems(alice, circle, me), (rnd, kit.chain_problems(alice, circle, me), note)
        assert not _epoch_problems(alice, circle, me), (rnd, _epoch_problems(alice, circle, me), note)
        stats["integrity_ok"] += 1

        # with the node down, the CLI writes to the outbox itself
        offline = alice.json("send", CIRCLE, f"r{rnd:03d} offline")
        assert offline["status"] == "queued"
        acked[offline["id"]] = f"r{rnd:03d} offline"
        stats["acked_offline"] += 1

        t0 = time.monotonic()
        assert bob.addr is not None
        alice.start(bob.addr)
        restart_s.append(time.monotonic() - t0)
        assert kit.integrity(alice) == "ok"

        if target is not None:
            removed = removal.get("ok") is True
            still = target[1] in {m["key"] for m in kit.members(alice)}
            # acknowledged => done; the kill may also land between the COMMIT and the reply
            assert not (removed and still), f"round {rnd}: an acknowledged removal was lost {note}"
            stats["rekey_rounds"] += 1
            stats["rekey_acked"] += int(removed)
            stats["rekey_committed_unacked"] += int(not removed and not still)
            stats["rekey_not_committed"] += int(still)
            if still:  # the kill came first: the removal was not acknowledged, do it again
                again = kit.remove(alice, circle, target[1])
                assert again.get("ok"), again
            assert not _epoch_problems(alice, circle, me), _epoch_problems(alice, circle, me)
            after = kit.send(alice, circle, f"r{rnd:03d} after the rekey")
            assert after.get("ok"), after
            acked[str(after["record_id"])] = f"r{rnd:03d} after the rekey"
            wait_until(
                lambda text=f"r{rnd:03d} after the rekey": text in bob.texts(circle),
                30,
                0.3,
                f"bob to read alice's post-rekey message {note}",
            )
            assert target[1] not in {m["key"] for m in kit.members(bob)}

        t1 = time.monotonic()
        wait_until(
            lambda: set(acked) <= kit.ids(bob, circle), 30, 0.1, f"round {rnd}: bob to get it all {note}"
        )
        deliver_s.append(time.monotonic() - t1)

    # the end: bob holds and shows every acknowledged message once, alice's chain is whole at bob
    assert not kit.chain_problems(bob, circle, me)
    texts = Counter(bob.texts(circle))
    twice = [t for t, c in texts.items() if c > 1]
    assert not twice, f"bob shows {len(twice)} message(s) more than once: {twice[:3]}"
    assert set(acked.values()) <= set(texts), "bob's log lacks an acknowledged message"
    for n in (alice, bob):
        assert kit.integrity(n) == "ok"
    assert alice.stop() == 0 and bob.stop() == 0
    kit.report(
        "kill9",
        seed=seed,
        rounds=rounds,
        acked=len(acked),
        lost=0,
        duplicates=0,
        integrity_ok=f"{stats['integrity_ok']}/{rounds}",
        rekey_rounds=stats["rekey_rounds"],
        rekey_acked=stats["rekey_acked"],
        rekey_committed_unacked=stats["rekey_committed_unacked"],
        rekey_not_committed=stats["rekey_not_committed"],
        restart_s_p50=round(kit.percentile(restart_s, 50), 2),
        control_after_start_s_p50=round(kit.percentile(alice.serve_lag_s, 50), 2),
        control_after_start_s_max=round(max(alice.serve_lag_s), 2),
        bob_caught_up_s_p50=round(kit.percentile(deliver_s, 50), 2),
        bob_caught_up_s_max=round(max(deliver_s), 2),
        seconds=round(time.monotonic() - t_all, 1),
    )
