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

The workers, clusters, search and catch-up live in ``benchkit``; this file keeps one
benchmark's run, verdicts and table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit
from benchkit import PAYLOAD_BYTES, fmt, latency_cell, parse_sizes, print_rows, print_targets, rnd, verdict
from benchkit.circles import run_catchup
from benchkit.cluster import FULL, LIBP2P_ZERO_LOSS, QUICK, Cluster, Plan, compare
from benchkit.nodes import BARE, SS, SYSTEMS, WORKERS

DEFAULT_JSON = "bench-results/bench_node.json"

# The targets.
T_LATENCY_RATIO = 1.3
T_CATCHUP_S = 5.0
T_CONNECT_MS = 50.0
T_STOP_S = 2.0


# --------------------------------------------------------------------------- one circle size


def run_size(
    n: int, plan: Plan, work: Path, log: Callable[[str], None], profile: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Both systems for one circle size: both clusters up at once, latency rounds alternating."""
    t0 = time.perf_counter()
    res, _ = compare(SYSTEMS, lambda system: Cluster(system, n, work, plan, profile), n, plan, log)
    for system in SYSTEMS:
        res[system]["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return res


# --------------------------------------------------------------------------- verdicts and report


def verdicts(sizes: dict[str, dict[str, Any]], catchup: dict[str, Any] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, n: int | None, value: Any, target: str, ok: bool | None, **extra: Any) -> None:
        out.append(verdict(name, value, target, ok, members=n, **extra))

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
                rnd(r, 3),
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


def print_table(
    sizes: dict[str, dict[str, Any]], catchup: dict[str, Any] | None, checks: list[dict[str, Any]]
) -> None:
    each = [
        (key, system, both[system]) for key, both in sizes.items() for system in SYSTEMS if system in both
    ]
    rates = list(each[0][2]["latency"]) if each else []
    head: tuple[str, ...] = ("N", "system", "connect ms p50/max")
    head += tuple(f"{r} msg/s p50/p99 ms" for r in rates)
    head += ("0-loss msg/s", "RSS MiB idle / after, mean", "stop s max", "listening s")
    lines: list[tuple[str, ...]] = []
    for key, system, res in each:
        c = res["connect"]["connect_ms"]
        row: tuple[str, ...] = (key if system == BARE else "", "bare gossipsub" if system == BARE else SS)
        row += (f"{fmt(c['p50'])} / {fmt(c['max'])}",)
        row += tuple(latency_cell(res["latency"][r]) for r in rates)
        srch = res["search"]
        best = srch["highest_zero_loss"]
        row += (f"{fmt(best) if best else '< ' + fmt(srch['lowest_failing'])}",)
        idle = (res.get("rss_idle") or {}).get("mean_mib")
        row += (f"{fmt(idle)} / {fmt(res['rss']['mean_mib'])}",)
        row += (fmt(res["stop"]["stop_s"]["max"]),)
        row += (fmt(res["startup"]["spawn_to_listening_s"]["max"]),)
        lines.append(row)
    print_rows(head, lines, left=2)

    print(
        "\nsearch for the highest 0-loss rate (one sender; offered -> achieved, delivered, time to complete):"
    )
    for key, system, res in each:
        parts = []
        for x in sorted(res["search"]["steps"], key=lambda x: x["offered_rate"]):
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
    for key, _, res in (x for x in each if x[1] == SS):
        for r, lat in res["latency"].items():
            st = lat["stages"]
            print(
                f"  N={key} {r} msg/s: {fmt(st['submit_to_sent_p50_ms'])}"
                f" -> {fmt(st['sent_to_published_p50_ms'])}"
                f" -> {fmt(st['published_to_committed_p50_ms'])}"
                f" (p99 {fmt(st['published_to_committed_p99_ms'])})"
            )

    print("\nCPU per message (ms; sender per message sent, receivers per delivery; latency phases):")
    for key, system, res in each:
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

    print_targets(checks)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        role, cfg = argv[1], json.loads(argv[2])
        WORKERS[role](cfg)
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
    missed = None if args.catchup is None else max(0, args.catchup)
    plan = benchkit.override(QUICK if args.quick else FULL, sizes=args.members, catchup=missed)
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    machine = benchkit.machine_info(libp2p=True)

    def log(text: str) -> None:
        print(text, flush=True)

    log(
        f"node benchmark ({mode} run): N = {', '.join(map(str, plan.sizes))} members, one process each, "
        f"{PAYLOAD_BYTES}-byte messages, one sender; latency at "
        f"{', '.join(f'{r:g} msg/s x {c}' for r, c in plan.latency)}; "
        f"0-loss search {plan.step_s:g} s a step; "
        f"catch-up {plan.catchup:,}"
    )
    sizes: dict[str, dict[str, Any]] = {}
    catchup: dict[str, Any] | None = None
    with benchkit.workdir("bench_node_", args.keep, log) as work:
        for n in plan.sizes:
            log(f"N = {n}: bare py-libp2p gossipsub and smallsocial member nodes, {n} processes each ...")
            sizes[str(n)] = run_size(n, plan, work, log, args.profile)
        if plan.catchup:
            log(f"catch-up of {plan.catchup:,} missed messages (2 members) ...")
            catchup = run_catchup(plan.catchup, work, log)

    checks = verdicts(sizes, catchup)
    print()
    print_table(sizes, catchup, checks)
    benchkit.finish(
        args.json,
        "node",
        mode,
        machine,
        started,
        plan=dataclasses.asdict(plan),
        payload_bytes=PAYLOAD_BYTES,
        sender="one sender (member 0); the N-1 others receive",
        latency_stamp={
            SS: "MessageReceived at the receiver, emitted after the record is committed in its store",
            BARE: "the subscription read at the receiver",
        },
        sizes=sizes,
        catchup=catchup,
        targets=checks,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
