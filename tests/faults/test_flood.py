"""Flood: a non-member raw libp2p peer on the circle's topic at 500 msg/s while members talk.

alice and bob are members; bob reaches only alice. The honest pair alternates messages at
a low rate (one every 0.2 s) for a while with no flood (the baseline), then again while
:mod:`tests.faults.flooder` (its own process) is connected to alice and publishes junk,
records signed by a non-member, records forged in alice's name, tampered and replayed
records at 500 msg/s. End-to-end latency is from just before a send request to the
receiving node's event line. Asserted: every honest message arrives, nothing of the
flood is stored (or held), nobody "receives" a message from the flooder, the stores pass
``integrity_check``, and the flood p99 stays under a generous bound. The p50/p99 figures
and their ratio to the baseline (issue 6's target: p99 within 2x) go to the report.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smallsocial_tui.nodeproc import JsonProc
from tests.faults import kit
from tests.faults.kit import CIRCLE, Node, wait_until

SHORT = {"seconds": 5.0, "rate": 500, "peers": 5}
LONG = {"seconds": 10.0, "rate": 500, "peers": 5, "repeats": 3}
HONEST_GAP_S = 0.2
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def honest_traffic(
    alice: Node, bob: Node, circle: str, seconds: float, tag: str
) -> list[tuple[str, Node, float]]:
    """Alternate alice -> bob and bob -> alice for ``seconds``; (record id, receiver, send time)."""
    out: list[tuple[str, Node, float]] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        sender, receiver = (alice, bob) if i % 2 == 0 else (bob, alice)
        t = time.monotonic()
        r = kit.send(sender, circle, f"{tag} {sender.name} {i}")
        assert r.get("ok"), r
        out.append((str(r["record_id"]), receiver, t))
        i += 1
        time.sleep(max(0.0, t + HONEST_GAP_S - time.monotonic()))
    return out


def latencies(sent: list[tuple[str, Node, float]]) -> list[float]:
    def all_arrived() -> bool:
        return all(kit.arrival(rx, rid) is not None for rid, rx, _ in sent)

    wait_until(all_arrived, 60, 0.2, "every honest message to arrive")
    return [float(kit.arrival(rx, rid)) - t for rid, rx, t in sent]  # type: ignore[arg-type]


class Flooder(JsonProc):
    """``tests.faults.flooder`` as a process of the shared harness: its JSON lines, its end."""

    def __init__(self, tmp: Path, cfg: dict[str, Any]) -> None:
        path = tmp / "flooder.json"
        path.write_text(json.dumps(cfg))
        super().__init__("flooder", stderr_path=tmp / "flooder.stderr", cwd=REPO)
        self.lines = self.events
        self.spawn([sys.executable, "-m", "tests.faults.flooder", str(path)])

    @property
    def flooding(self) -> bool:
        return any(x.get("flooding") for x in self.lines)

    def err(self) -> str:
        return self.stderr_text()[-3000:]

    def finish(self, timeout: float = 60) -> dict[str, Any]:
        code = self.reap(timeout, kill=False)
        assert code == 0, self.err()
        assert self.lines and "published" in self.lines[-1], (self.lines, self.err())
        return self.lines[-1]

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.reap()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(LONG, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(600)]),
    ],
)
def test_flood_from_a_non_member(
    make_node: Callable[..., Node], tmp_path: Path, settings: dict[str, Any]
) -> None:
    alice, bob = make_node("alice"), make_node("bob")
    circle = alice.json("circle", "new", CIRCLE)["id"]
    alice.start()
    bob.start()
    kit.join(alice, bob, circle, alice)
    first = kit.send(alice, circle, "hello before anything")
    wait_until(lambda: first["record_id"] in kit.ids(bob, circle), 30, 0.1, "bob to get the first")
    kit.prekeys_everywhere((alice, bob), circle)  # else one may land after the snapshot below
    with kit.db(alice) as db:
        raw = bytes(
            db.execute(
                "SELECT raw FROM records WHERE id = ?", (bytes.fromhex(first["record_id"]),)
            ).fetchone()[0]
        )
    from protocol import records

    epoch = bytes(records.parse(raw).body["e"]).hex()
    known = {p.name: kit.ids(p, circle) for p in (alice, bob)}
    held_before = {p.name: kit.held(p, circle) for p in (alice, bob)}
    honest_ids: set[str] = set()
    base_all: list[float] = []
    flood_all: list[float] = []
    summaries: list[dict[str, Any]] = []
    drops_at_alice = 0
    for rep in range(int(settings.get("repeats", 1))):
        kit.note(repeat=rep)
        base = honest_traffic(alice, bob, circle, settings["seconds"], f"base{rep}")
        base_all += latencies(base)
        honest_ids |= {r for r, _, _ in base}

        assert alice.addr is not None
        dropped_before = int(alice.status()["stats"].get("dropped", 0))
        flooder = Flooder(
            tmp_path,
            {
                "circle": circle,
                "target": alice.addr,
                "epoch": epoch,
                "record": raw.hex(),
                "rate": settings["rate"],
                "duration": settings["seconds"],
                "peers": settings["peers"],
                "log_dir": str(tmp_path / "flooder-logs"),
            },
        )
        try:
            wait_until(lambda f=flooder: f.flooding or f.proc.poll() is not None, 30, 0.05, "the flood")
            assert flooder.flooding, flooder.err()
            during = honest_traffic(alice, bob, circle, settings["seconds"], f"flood{rep}")
            summaries.append(flooder.finish())
        finally:
            flooder.kill()
        flood_all += latencies(during)
        honest_ids |= {r for r, _, _ in during}
        drops_at_alice += int(alice.status()["stats"].get("dropped", 0)) - dropped_before
        assert alice.running() and bob.running()

    # nothing of the flood is stored or held; every honest message is
    for p in (alice, bob):
        wait_until(
            lambda p=p: honest_ids <= kit.ids(p, circle), 30, 0.2, f"{p.name} to hold every honest one"
        )
        assert kit.ids(p, circle) == known[p.name] | honest_ids, f"{p.name} stored part of the flood"
        assert kit.held(p, circle) == held_before[p.name], f"{p.name} held part of the flood"
        assert kit.integrity(p) == "ok"
        strangers = {e.get("author") for e in p.events if e.get("event") == "MessageReceived"} - {
            alice.key,
            bob.key,
        }
        assert not strangers, f"{p.name} received messages from {strangers}"
    # bob reaches only alice, who forwards none of it: bob has nothing to drop
    assert not any(e.get("event") == "RecordDropped" for e in bob.events)

    b, f = kit.summary(base_all), kit.summary(flood_all)
    ratio_p99 = f["p99_ms"] / max(b["p99_ms"], 1e-9)
    ratio_p50 = f["p50_ms"] / max(b["p50_ms"], 1e-9)
    published = sum(sum(s["published"].values()) for s in summaries)
    kit.report(
        "flood",
        rate_target=settings["rate"],
        rate_achieved=[s["rate"] for s in summaries],
        flooding_peers=settings["peers"],
        flood_seconds=settings["seconds"],
        repeats=len(summaries),
        published=published,
        dropped_by_alice_validator=drops_at_alice,
        stored_from_flood=0,
        honest=len(honest_ids),
        baseline=b,
        flood=f,
        p50_ratio=round(ratio_p50, 2),
        p99_ratio=round(ratio_p99, 2),
    )
    for p in (alice, bob):
        assert p.stop() == 0
    # a behaviour bound, not a benchmark: honest traffic keeps flowing with bounded delay
    assert f["p99_ms"] <= max(20 * b["p99_ms"], 2000), (b, f)
