#!/usr/bin/env python3
"""How smallsocial's cost grows: circle size, circles per node, missed messages.

Built on ``benchkit``'s node workers (one member node per process, a
``NodeThread`` each, on 127.0.0.1) and its offline profile setup:

- **circle size**: circles of 2, 5, 10 and 20 members (full mesh, member k dials
  0..k-1), one sender at a chat rate (5 msg/s, 400-byte messages): latency p50 /
  p99 over every (receiver, message) pair (send stamp -> committed at the
  receiver), delivery, CPU per message and per delivery, and every member's RSS
  after the phase.
- **circles per node**: one node (A) in 1, 10 and 50 circles, each circle
  shared with one other node (B, the founder of all of them). A's RSS and CPU
  (share of one core) while idle, then while B sends at a low rate spread
  round-robin over the circles (5 msg/s in all); every message must reach A.
  ``--quick`` does circles of 2 and 5 members only (20 processes on two busy cores
  take longer than its budget) and shorter idle and sending windows.
- **catch-up**: a member comes back to 1,000, 10,000 and 100,000 missed
  messages (``benchkit.circles.run_catchup``: written offline into the other member's
  store, then pulled by sync; the bare floor is one libp2p stream carrying the
  same bytes). ``--quick`` does 1,000 and 10,000.

Usage: scripts/bench_scale.py [--quick] [--sizes 2,5,10,20] [--circles 1,10,50]
                              [--catchup 1000,10000,100000] [--json PATH] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchkit  # noqa: E402  (scripts/benchkit/, beside this file)
from benchkit import Worker, cabal, circles, cluster, fmt, median, percentile, print_rows, proc_cpu, rnd  # noqa: E402
from benchkit.circles import make_circle  # noqa: E402
from benchkit.nodes import BARE, SS, node_worker  # noqa: E402

ROOT = HERE.parent
DEFAULT_JSON = "bench-results/bench_scale.json"


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    sizes: tuple[int, ...]
    size_rate: float  # msg/s, one sender
    size_count: int  # messages in the latency phase
    circles: tuple[int, ...]
    idle_s: float  # seconds of idle measured on the node in many circles
    low_rate: float  # msg/s in all, round-robin over the circles
    low_s: float  # seconds of sending at that rate
    catchup: tuple[int, ...]
    node_plan: cluster.Plan  # quiet/settle times for the phases


QUICK = ScalePlan(
    sizes=(2, 5),
    size_rate=5.0,
    size_count=15,
    circles=(1, 10, 50),
    idle_s=3.0,
    low_rate=5.0,
    low_s=3.0,
    catchup=(1000, 10000),
    node_plan=dataclasses.replace(cluster.QUICK, warmup=3),
)
FULL = ScalePlan(
    sizes=(2, 5, 10, 20),
    size_rate=5.0,
    size_count=60,
    circles=(1, 10, 50),
    idle_s=30.0,
    low_rate=5.0,
    low_s=20.0,
    catchup=(1000, 10000, 100000),
    node_plan=cluster.FULL,
)
TINY = ScalePlan(  # the smoke test's
    sizes=(2,),
    size_rate=10.0,
    size_count=5,
    circles=(2,),
    idle_s=0.5,
    low_rate=10.0,
    low_s=0.5,
    catchup=(200,),
    node_plan=dataclasses.replace(cluster.QUICK, warmup=2),
)


# --------------------------------------------------------------------------- circle size


class BigCluster(cluster.Cluster):
    """bench_node's cluster with patient connects: 20 members on two busy cores dial for minutes."""

    mesh_s = 60.0

    def connect_timeout(self, k: int) -> float:
        return 60.0 + 30 * k


def run_size(n: int, plan: ScalePlan, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """One smallsocial cluster through benchkit's compare: one latency phase, no search."""
    t0 = time.perf_counter()
    node_plan = dataclasses.replace(plan.node_plan, latency=((plan.size_rate, plan.size_count),), rounds=1)
    res, _ = cluster.compare(
        (SS,),
        lambda s: BigCluster(s, n, work, node_plan),
        n,
        node_plan,
        log,
        pauses=(0.5, 0.0),
        do_search=False,
    )
    r = res[SS]
    out: dict[str, Any] = {k: r[k] for k in ("members", "prep_s", "startup", "connect")}
    out["latency"] = r["latency"][f"{plan.size_rate:g}"]  # benchkit.cluster.summarize's figures
    out |= {"rss": r["rss"], "stop": r["stop"], "elapsed_s": round(time.perf_counter() - t0, 1)}
    x = out["latency"]
    log(
        f"  {n:>2} members: p50 {fmt(x['p50_ms'])} ms, p99 {fmt(x['p99_ms'])} ms, delivered "
        f"{x['delivered']}/{x['expected']}, RSS mean {fmt(out['rss']['mean_mib'])} MiB, "
        f"connect p50 {fmt(out['connect']['connect_ms']['p50'])} ms ({out['elapsed_s']} s)"
    )
    return out


# --------------------------------------------------------------------------- circles per node


def run_circles(k: int, plan: ScalePlan, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    logs = work / f"circles-{k}"
    t0 = time.perf_counter()
    (b_root, a_root), circles, _ = make_circle(logs, 2, count=k)  # B founds them all, A joins each
    out: dict[str, Any] = {"circles": k, "prep_s": round(time.perf_counter() - t0, 2)}
    b = node_worker("node", {"root": str(b_root)}, logs, "b")
    a: Worker | None = None
    try:
        b_addr = b.wait_for(b.first("NodeStarted"), 120, "B started")["addrs"][0]
        a = node_worker("node", {"root": str(a_root)}, logs, "a")
        started = a.wait_for(a.first("NodeStarted"), 120, "A started")
        out["spawn_to_listening_s"] = round(started["t"] - a.spawned, 3)
        out["rss_started"] = a.rss()
        r = a.request({"op": "connect", "addrs": [b_addr]}, 120)
        out["connect_ms"] = r["ms"]
        t1 = time.perf_counter()
        meshes = [a.request({"op": "mesh", "n": 1, "circle": c, "timeout": 20}, 60)["size"] for c in circles]
        out["mesh_ready_s"] = round(time.perf_counter() - t1, 3)
        out["circles_in_mesh"] = sum(1 for m in meshes if m >= 1)
        time.sleep(1.0)  # the first syncs after connecting settle
        c0, w0 = proc_cpu(a.proc.pid), time.monotonic()
        time.sleep(plan.idle_s)
        cpu, wall = proc_cpu(a.proc.pid) - c0, time.monotonic() - w0
        out["idle"] = {
            "seconds": round(wall, 2),
            "cpu_s": round(cpu, 3),
            "cpu_pct": round(100 * cpu / wall, 2),
        }
        out["idle"]["rss"] = a.rss()

        # Low rate: B sends round-robin over the circles, low_rate msg/s in all.
        total = max(k, round(plan.low_rate * plan.low_s))
        per = max(1, total // k)
        total = per * k
        c0, w0 = proc_cpu(a.proc.pid), time.monotonic()
        for j, c in enumerate(circles):
            b.send({"op": "send", "p": f"lo{j}", "n": per, "rate": plan.low_rate / k, "circle": c})
            if j + 1 < k:
                time.sleep(1 / plan.low_rate)
        dones = [
            b.wait_for(b.first("sent_done", p=f"lo{j}"), 120 + 2 * total / plan.low_rate, "sent")
            for j in range(k)
        ]
        acked = sum(int(d["acked"]) for d in dones)
        refused = sum(int(d["failed"]) for d in dones)
        submitted = sum(int(d["submitted"]) for d in dones)
        deadline = time.monotonic() + plan.node_plan.loss_wait_s
        while True:
            counts = [int(a.request({"op": "count", "p": f"lo{j}"}, 60)["n"]) for j in range(k)]
            if sum(counts) >= acked or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        cpu, wall = proc_cpu(a.proc.pid) - c0, time.monotonic() - w0
        lat: list[float] = []
        dups = 0
        for j in range(k):
            rep = a.request({"op": "report", "p": f"lo{j}"}, 60)
            lat += [(t - ts) * 1000 for _, ts, t in rep["recv"]]
            dups += int(rep["dups"])
        out["low_rate"] = {
            "rate": plan.low_rate,
            "sent": total,
            "submitted": submitted,
            "refused": refused,
            "acknowledged": acked,
            "received": sum(counts),
            "lost": acked - sum(counts),
            "duplicates": dups,
            "seconds": round(wall, 2),
            "cpu_s": round(cpu, 3),
            "cpu_pct": round(100 * cpu / wall, 2),
            "cpu_ms_per_message": round(1000 * cpu / max(1, sum(counts)), 3),
            "p50_ms": rnd(median(lat)),
            "p99_ms": rnd(percentile(lat, 0.99)),
            "rss": a.rss(),
        }
        a_exit_t0 = time.monotonic()
        a.close({"op": "stop"})
        out["stop_s"] = round(time.monotonic() - a_exit_t0, 3)
    finally:
        if a is not None:
            a.close({"op": "stop"})
        b.close({"op": "stop"})
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    lo, idle = out["low_rate"], out["idle"]
    log(
        f"  {k:>2} circles: RSS {fmt(idle['rss']['rss_mib'])} MiB idle, "
        f"{fmt(lo['rss']['rss_mib'])} MiB after; "
        f"CPU {fmt(idle['cpu_pct'])}% idle, {fmt(lo['cpu_pct'])}% at {lo['rate']:g} msg/s; "
        f"received {lo['received']}/{lo['acknowledged']}; listening {fmt(out['spawn_to_listening_s'])} s "
        f"after spawn ({out['elapsed_s']} s)"
    )
    return out


# --------------------------------------------------------------------------- catch-up


CABAL_MAX = 10_000
"""The largest catch-up cabal-core is run for as the baseline (100,000 takes it minutes)."""


def run_cabal(n: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """cabal-core replicating ``n`` messages over loopback TCP, its files on disk and in memory."""
    out: dict[str, Any] = {}
    for storage in ("disk", "memory"):
        try:
            out[storage] = cabal.run_catchup(n, work / f"cabal-{n}-{storage}", log, storage=storage)
        except RuntimeError as e:
            out[storage] = {"failed": str(e)}
        c = out[storage]
        said = c.get("skipped") or c.get("failed")
        log(
            f"  {n:>7,} missed, cabal-core ({storage}): "
            + (said or f"replicated {fmt(c['replicated_s'])} s, indexed {fmt(c['indexed_s'])} s")
        )
    return out


def run_catchup(n: int, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = circles.run_catchup(n, work / f"catchup-{n}", log)
    if n <= CABAL_MAX:
        res["cabal"] = run_cabal(n, work, log)
    res["elapsed_s"] = round(time.perf_counter() - t0, 1)
    s, b = res.get(SS, {}), res.get(BARE, {})
    per = s.get("from_listening_s")
    res["ms_per_record_after_listening"] = round(1000 * per / n, 4) if per else None
    log(
        f"  {n:>7,} missed: {fmt(s.get('from_spawn_s'))} s from spawn, {fmt(per)} s after listening "
        f"(received {s.get('received')}); bare stream {fmt(b.get('from_listening_s'))} s; "
        f"RSS {fmt((s.get('rss') or {}).get('rss_mib'))} MiB"
    )
    return res


# --------------------------------------------------------------------------- the whole


def run(plan: ScalePlan, log: Callable[[str], None], keep: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": {}, "circles": {}, "catchup": {}}
    with benchkit.workdir("bench_scale_", keep, log) as work:
        if plan.sizes:
            log(f"circle size: {plan.size_count} messages at {plan.size_rate:g} msg/s, one sender ...")
        for n in plan.sizes:
            out["sizes"][str(n)] = run_size(n, plan, work, log)
        if plan.circles:
            log(f"one node in many circles: idle {plan.idle_s:g} s, then {plan.low_rate:g} msg/s in all ...")
        for k in plan.circles:
            out["circles"][str(k)] = run_circles(k, plan, work, log)
        if plan.catchup:
            log("catch-up of missed messages (2 members) ...")
        for n in plan.catchup:
            out["catchup"][str(n)] = run_catchup(n, work, log)
    out["plan"] = dataclasses.asdict(plan)
    return out


Column = tuple[str, Callable[[str, Any], Any]]
"""A table column: its heading, and its cell from a row's key and figures."""


def print_tables(res: dict[str, Any]) -> None:
    def table(rows: dict[str, Any], cols: list[Column]) -> None:
        body = [tuple(str(cell(k, x)) for _, cell in cols) for k, x in rows.items()]
        print_rows(tuple(head for head, _ in cols), body, left=0)
        print()

    def pair(a: Any, b: Any) -> str:
        return f"{fmt(a)} / {fmt(b)}"

    if res["sizes"]:
        rate = next(iter(res["sizes"].values()))["latency"]["offered_rate"]
        lat = "latency"
        table(
            res["sizes"],
            [
                ("members", lambda n, x: n),
                (f"{rate:g} msg/s p50 / p99 ms", lambda n, x: pair(x[lat]["p50_ms"], x[lat]["p99_ms"])),
                ("delivered", lambda n, x: f"{x[lat]['delivered']}/{x[lat]['expected']}"),
                ("RSS MiB mean / max", lambda n, x: pair(x["rss"]["mean_mib"], x["rss"]["max_mib"])),
                ("sender CPU ms/msg", lambda n, x: fmt(x[lat]["cpu"]["sender_ms_per_message"])),
                ("receiver CPU ms/delivery", lambda n, x: fmt(x[lat]["cpu"]["receiver_ms_per_delivery"])),
                ("connect ms p50", lambda n, x: fmt(x["connect"]["connect_ms"]["p50"])),
            ],
        )
    if res["circles"]:
        lr = next(iter(res["circles"].values()))["low_rate"]["rate"]
        lo = "low_rate"
        table(
            res["circles"],
            [
                ("circles", lambda k, x: k),
                ("idle RSS MiB", lambda k, x: fmt(x["idle"]["rss"]["rss_mib"])),
                ("idle CPU %", lambda k, x: fmt(x["idle"]["cpu_pct"])),
                (f"RSS MiB at {lr:g} msg/s", lambda k, x: fmt(x[lo]["rss"]["rss_mib"])),
                (f"CPU % at {lr:g} msg/s", lambda k, x: fmt(x[lo]["cpu_pct"])),
                ("p50 / p99 ms", lambda k, x: pair(x[lo]["p50_ms"], x[lo]["p99_ms"])),
                ("received", lambda k, x: f"{x[lo]['received']}/{x[lo]['acknowledged']}"),
                ("listening s", lambda k, x: fmt(x["spawn_to_listening_s"])),
            ],
        )
    if res["catchup"]:
        table(
            res["catchup"],
            [
                ("missed", lambda n, x: f"{int(n):,}"),
                ("catch-up s from spawn", lambda n, x: fmt(x.get(SS, {}).get("from_spawn_s"))),
                ("s after listening", lambda n, x: fmt(x.get(SS, {}).get("from_listening_s"))),
                ("ms/record", lambda n, x: fmt(x.get("ms_per_record_after_listening"))),
                ("bare stream s", lambda n, x: fmt(x.get(BARE, {}).get("from_listening_s"))),
                (
                    "cabal-core disk / memory s",
                    lambda n, x: (
                        " / ".join(fmt(c.get("replicated_s")) for c in (x.get("cabal") or {}).values()) or "-"
                    ),
                ),
                ("RSS MiB", lambda n, x: fmt((x.get(SS, {}).get("rss") or {}).get("rss_mib"))),
                ("received", lambda n, x: f"{x.get(SS, {}).get('received')}/{n}"),
            ],
        )


def parse_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers") from e


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short phases; catch-up 1,000 and 10,000")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the smoke test's sizes
    ap.add_argument("--sizes", type=parse_list, metavar="N,...", help="circle sizes (2,5,10,20)")
    ap.add_argument("--circles", type=parse_list, metavar="K,...", help="circles per node (1,10,50)")
    ap.add_argument("--catchup", type=parse_list, metavar="N,...", help="missed messages (1000,10000,100000)")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary profiles and worker logs")
    args = ap.parse_args(argv)
    plan = benchkit.override(
        TINY if args.tiny else QUICK if args.quick else FULL,
        sizes=args.sizes,
        circles=args.circles,
        catchup=args.catchup,
    )
    started = time.perf_counter()
    machine = benchkit.machine_info(libp2p=True)
    res = run(plan, lambda s: print(s, flush=True), args.keep)
    print()
    print_tables(res)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    benchkit.finish(args.json, "scale", mode, machine, started, **res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
