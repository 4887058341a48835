"""Circles made offline for the node benchmarks, and the catch-up of messages missed while away.

:func:`make_circle` founds a circle of N profiles that all know every join (and its relay, if
pinned) before any process starts; :func:`write_missed` puts messages in a store as if sent
while a peer was away; :func:`run_catchup` times a member coming back and syncing them (and
the bare floor: the same number of frames over one libp2p stream).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchkit.nodes import BARE, SS, node_worker
from benchkit.procs import Worker
from benchkit.stats import rnd
from benchkit.wire import payload


class Made(NamedTuple):
    roots: list[Path]  # the members' profile directories, founder first
    circles: list[str]  # their ids, hex
    peer_ids: list[str]


def make_circle(
    work: Path, n: int, *, prefix: str = "m", name: str = "bench", relay: str | None = None, count: int = 1
) -> Made:
    """m0 founds a circle (``count`` circles: ``name 0``, ``name 1``, ...) and invites m1..m(n-1);
    each joins; m0 pins it to ``relay`` if one is given; everyone ends up knowing every join (and
    the pin)."""
    from protocol.identity import peer_id
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile

    profiles = [Profile.create(resolve(str(work), f"{prefix}{k}"), f"{prefix}{k}") for k in range(n)]
    try:
        founder = profiles[0]
        ids = [founder.new_circle(f"{name} {j}" if count > 1 else name).circle_id for j in range(count)]
        for circle in ids:
            for p in profiles[1:]:
                p.join_token(founder.invite(circle, p.me))
                founder.import_bundle(p.export([circle]))
            if relay is not None:
                founder.pin(circle, relay)
        everything = founder.export(ids)
        for p in profiles[1:]:
            p.import_bundle(everything)
        for p, circle in itertools.product(profiles, ids):
            roster = p.view(circle).roster
            if len(roster.members) != n or (relay is not None and not roster.relays):
                raise SystemExit(f"bench setup: {p.display_name} sees {len(roster.members)} of {n} members")
        return Made(
            [p.paths.root for p in profiles], [c.hex() for c in ids], [peer_id(p.me) for p in profiles]
        )
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


VIEW_LIVE = """
import json, sys, tracemalloc
from pathlib import Path
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
p = Profile.open(ProfilePaths(Path(sys.argv[1])))
tracemalloc.start()
view = p.view(bytes.fromhex(sys.argv[2]))
now, peak = tracemalloc.get_traced_memory()
print(json.dumps({"live_mib": round(now / 2**20, 2), "peak_mib": round(peak / 2**20, 2),
                  "records": len(view.records)}))
"""


def view_live(root: Path, circle_hex: str) -> dict[str, Any] | None:
    """What the circle's view on a member's store holds in Python objects once built, and the
    peak while building it (tracemalloc, in a process of its own, after the member stopped)."""
    import json
    import subprocess
    import sys

    from benchkit import ROOT

    try:
        done = subprocess.run(
            [sys.executable, "-c", VIEW_LIVE, str(root), circle_hex],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return dict(json.loads(done.stdout))
    except (subprocess.SubprocessError, ValueError) as e:
        return {"failed": str(e)[:300]}


def run_catchup(plan_n: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": plan_n}
    # bare floor: a fresh process pulls the frames over one stream from a running host.
    logs = work / "catchup-bare"
    pub = node_worker("gossip", {"logs": str(logs)}, logs, "holder")
    puller: Worker | None = None
    try:
        pub_addr = pub.wait_for(pub.first("ready"), 60, "holder ready")["addr"]
        pub.request({"op": "store", "n": plan_n}, 60)
        puller = node_worker("gossip", {"logs": str(logs), "pull": pub_addr, "n": plan_n}, logs, "puller")
        done = puller.wait_for(puller.first("pulled"), 120, "pulled")
        ready = puller.line("ready")
        out[BARE] = {
            "received": done["n"],
            "from_spawn_s": rnd(done["t"] - puller.spawned, 3),
            "from_listening_s": rnd(done["t"] - ready["t"], 3),
            "startup_s": rnd(ready["t"] - puller.spawned, 3),
        }
    finally:
        if puller is not None:
            puller.close()
        pub.close({"op": "quit"})

    # smallsocial: m0's store holds the missed messages; m1 comes back and syncs.
    logs = work / "catchup-smallsocial"
    made = make_circle(logs, 2)
    roots, circle = made.roots, made.circles[0]
    written = write_missed(roots[0], circle, plan_n)
    log(f"  wrote {plan_n:,} records offline ({written['us_per_record']} µs each)")
    holder = node_worker("node", {"root": str(roots[0])}, logs, "holder")
    member: Worker | None = None
    try:
        h_addr = holder.wait_for(holder.first("NodeStarted"), 60, "holder started")["addrs"][0]
        cfg = {"root": str(roots[1]), "peers": [h_addr], "bulk_by_number": True}  # all of it a catch-up
        member = node_worker("node", cfg, logs, "member")
        started = member.wait_for(member.first("NodeStarted"), 60, "member started")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if int(member.request({"op": "count", "p": "catchup"}, 60)["n"]) >= plan_n:
                break
            time.sleep(0.1)
        rep = member.request({"op": "report", "p": "catchup"}, 60)
        rss_caught = member.rss()
        # What history holds is read from the member started again on its store (below), once its
        # search index has what the catch-up brought: otherwise that member's first seconds index
        # the rest (some 80 µs a message), and its RSS holds that work's high-water or not, by
        # when it is read. Its indexer takes them in the background; asked once a second.
        t_idx, left = time.monotonic(), None
        while time.monotonic() - t_idx < 120:
            time.sleep(1.0)
            left = member.request({"op": "unindexed"}, 60)["n"]
            if left == 0:
                break
        got = {int(i): t for i, _, t in rep["recv"]}
        bulk_n, *bulk_t = rep.get("bulk") or (0, None, None)  # told in bulk (MessagesArrived): a count
        stamps = [*got.values(), *(t for t in bulk_t if t is not None)]
        last = max(stamps) if stamps else None
        boot = member.line("boot")
        connected = member.line("PeerConnected")
        counters = rep.get("counters", {})
        out[SS] = {
            "received": len(got) + int(bulk_n),
            "told_in_bulk": int(bulk_n),
            "from_spawn_s": rnd(last - member.spawned, 3) if last else None,
            "from_listening_s": rnd(last - started["t"], 3) if last else None,
            "startup_s": rnd(started["t"] - member.spawned, 3),
            "imported_s": rnd(boot["t"] - member.spawned, 3) if boot else None,
            "connected_after_listening_s": rnd(connected["t"] - started["t"], 3) if connected else None,
            "first_commit_after_listening_s": rnd(min(stamps) - started["t"], 3) if stamps else None,
            "sync_batches": counters.get("sync_batches"),
            "rss": rss_caught,
            "indexed_after_s": rnd(time.monotonic() - t_idx, 2) if left == 0 else None,
            "written": written,
        }
    finally:
        if member is not None:
            member.close({"op": "stop"})
        holder.close({"op": "stop"})
    if SS in out:  # the member again, alone on its store: what the history holds, not the catch-up
        again = node_worker("node", {"root": str(roots[1])}, logs, "member-again")
        try:
            again.wait_for(again.first("NodeStarted"), 60, "member started again")
            time.sleep(1.0)  # its first rounds (presence, the indexer's look at the store)
            out[SS]["rss_restarted"] = again.rss()
            out[SS]["view_live"] = view_live(roots[1], circle)
        except Exception as e:  # the catch-up's figures stand without this one
            out[SS]["rss_restarted_failed"] = str(e)
            log(f"  the member did not start again on its store: {e}")
        finally:
            again.close({"op": "stop"})
    return out
