"""A circle of N benchmark workers of one system, its measured phases and the 0-loss search.

Used by ``bench_node.py`` (both systems side by side), ``bench_irc.py`` (with IRC as a third)
and ``bench_scale.py`` (up to 20 members). Member 0 sends, the others receive; a phase sends
``n`` messages at a rate and collects every receiver's receipts (:func:`summarize` turns
rounds of them into figures); :func:`search` finds the highest rate with no loss;
:func:`compare` runs clusters of several systems side by side through all of it.
Past 400 lines: the cluster, the summary of its phases and the search over them are one piece.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchkit.circles import make_circle
from benchkit.nodes import BARE, SS, node_worker
from benchkit.procs import Worker, proc_cpu
from benchkit.stats import fmt, median, percentile, rnd, summary

# Highest rate with no loss for bare gossipsub, one sender, in /work/shared/LIBP2P.md.
LIBP2P_ZERO_LOSS = {2: 700, 5: 300, 10: 60}
KEEP_UP = 0.9  # a step counts only if the sender achieved this share of the offered rate


@dataclasses.dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    latency: tuple[tuple[float, int], ...]  # (rate msg/s, messages a round)
    rounds: int  # latency rounds, the two systems alternating
    step_s: float  # seconds of sending per search step
    max_steps: int
    bisect: int
    settle_s: float  # smallsocial: all acknowledged messages committed within this after sending
    loss_wait_s: float  # ... and how long an incomplete step waits to tell late from lost
    quiet_s: float  # bare: a phase ends when nothing new arrived for this long
    pause_s: float  # between search steps
    warmup: int
    catchup: int


QUICK = Plan(
    sizes=(2,),
    latency=((5.0, 10), (50.0, 50)),
    rounds=1,
    step_s=1.0,
    max_steps=2,
    bisect=0,
    settle_s=15.0,
    loss_wait_s=20.0,
    quiet_s=1.5,
    pause_s=0.5,
    warmup=5,
    catchup=2000,
)
FULL = Plan(
    sizes=(2, 5, 10),
    latency=((5.0, 30), (50.0, 125)),
    rounds=2,
    step_s=3.0,
    max_steps=7,
    bisect=2,
    settle_s=35.0,
    loss_wait_s=60.0,
    quiet_s=2.0,
    pause_s=2.0,
    warmup=10,
    catchup=10000,
)


class Cluster:
    """N worker processes of one system: member 0 sends, the others receive."""

    mesh_s = 20.0
    """How long each worker waits for its gossipsub mesh to fill."""

    def connect_timeout(self, k: int) -> float:
        """How long member ``k`` may take to dial members 0..k-1."""
        return 120.0

    def __init__(self, system: str, n: int, work: Path, plan: Plan, profile: Path | None = None) -> None:
        self.system, self.n, self.plan = system, n, plan
        self.logs = work / f"{system}-{n}"
        self.circle: str | None = None
        self.prep_s: float | None = None
        self.workers = self.make_workers(profile)
        self.addrs: list[str] = []
        self.counters: dict[str, Counter[str]] = {w.name: Counter() for w in self.workers}
        self.sent_total = 0  # messages member 0 has sent so far (its store grows with them)

    def make_workers(self, profile: Path | None) -> list[Worker]:
        """The member processes (started): smallsocial nodes on a circle made offline, or bare hosts."""
        n = self.n
        if self.system == SS:
            t0 = time.perf_counter()
            made = make_circle(self.logs, n)
            self.prep_s = time.perf_counter() - t0
            self.circle = made.circles[0]
            cfgs = [{"root": str(r)} for r in made.roots]
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
                for k, cfg in enumerate(cfgs):
                    cfg["profile"] = str(profile.resolve() / f"{SS}-{n}-m{k}.prof")
        else:
            cfgs = [{"logs": str(self.logs)} for _ in range(n)]
        role = "node" if self.system == SS else "gossip"
        return [node_worker(role, cfg, self.logs, f"m{k}") for k, cfg in enumerate(cfgs)]

    @property
    def sender(self) -> Worker:
        return self.workers[0]

    @property
    def receivers(self) -> list[Worker]:
        return self.workers[1:]

    def start(self) -> dict[str, Any]:
        ready_ev = "NodeStarted" if self.system == SS else "ready"
        boots, readies = [], []
        for w in self.workers:
            ready = w.wait_for(w.first(ready_ev), 120, f"{w.name} {ready_ev}")
            boot = w.line("boot")
            self.addrs.append(ready["addrs"][0] if self.system == SS else ready["addr"])
            readies.append(ready["t"] - w.spawned)
            boots.append(boot["t"] - w.spawned if boot else None)
        return {
            "spawn_to_listening_s": summary(readies, 3),
            "spawn_to_imported_s": summary([b for b in boots if b is not None], 3),
        }

    def dial(self) -> tuple[list[float], int, int]:
        """Member k dials members 0..k-1, one connect at a time: (times in ms, failed, already connected)."""
        ms: list[float] = []
        failed = already = 0
        for k in range(1, self.n):
            r = self.workers[k].request({"op": "connect", "addrs": self.addrs[:k]}, self.connect_timeout(k))
            ms += r["ms"]
            failed += int(r.get("failed", 0))
            already += int(r.get("already", 0))
        return ms, failed, already

    def connect(self) -> dict[str, Any]:
        """Every member dials (:meth:`dial`); then every mesh fills."""
        t0 = time.perf_counter()
        ms, failed, already = self.dial()
        qs = [
            (w, w.ask({"op": "mesh", "n": self.n - 1, "circle": self.circle, "timeout": self.mesh_s}))
            for w in self.workers
        ]
        mesh = [w.answer(q, 2 * self.mesh_s, "mesh") for w, q in qs]
        return {
            "connect_ms": summary(ms, 2),
            "failed": failed,
            "already_connected": already,
            "mesh_sizes": [m["size"] for m in mesh],
            "mesh_wait_s": max(m["waited_s"] for m in mesh),
            "seconds": round(time.perf_counter() - t0, 1),
        }

    def _counter_delta(self, w: Worker, counters: dict[str, int]) -> Counter[str]:
        now = Counter(counters)
        delta = now - self.counters[w.name]
        self.counters[w.name] = now
        return delta

    def phase(self, name: str, n: int, rate: float) -> dict[str, Any]:
        """Send ``n`` at ``rate`` from member 0, wait for the receivers as the plan says; raw results."""
        plan, ss = self.plan, self.system == SS
        op: dict[str, Any] = {"op": "send", "p": name, "n": n, "rate": rate}
        if ss:
            op["circle"] = self.circle
        cpu0, wall0 = [proc_cpu(w.proc.pid) for w in self.workers], time.monotonic()
        self.sender.send(op)
        cap = (2 * n / rate + 3 if rate > 0 else 120) + 120
        done = self.sender.wait_for(self.sender.first("sent_done", p=name), cap, f"{name} sent")
        expected = int(done["acked"] if ss else done["sent"])
        sent_before, self.sent_total = self.sent_total, self.sent_total + expected
        waited_from = time.monotonic()
        last_counts: list[int] = []
        last_change = time.monotonic()
        while True:
            qs = [(w, w.ask({"op": "count", "p": name})) for w in self.receivers]
            counts = [int(w.answer(q, 60, "count")["n"]) for w, q in qs]
            if all(c >= expected for c in counts):
                break
            now = time.monotonic()
            if counts != last_counts:
                last_counts, last_change = counts, now
            if not ss and now - last_change > plan.quiet_s:
                break
            if ss and now - waited_from > plan.loss_wait_s:
                break
            time.sleep(0.2)
        cpu1, wall = [proc_cpu(w.proc.pid) for w in self.workers], time.monotonic() - wall0
        sender_rep = self.sender.request({"op": "report", "p": name}, 60)
        reps = [(w, w.request({"op": "report", "p": name}, 60)) for w in self.receivers]
        expected_ids = {int(x[0]) for x in sender_rep["sent"]} if ss else set(range(expected))
        counters: Counter[str] = Counter()
        recv_by: list[dict[int, tuple[float, float]]] = []
        dups = 0
        for w, rep in reps:
            recv_by.append({int(i): (ts, t) for i, ts, t in rep["recv"] if int(i) in expected_ids})
            dups += int(rep["dups"])
            counters += self._counter_delta(w, rep.get("counters", {}))
        # what members forwarded back to the sender are transmissions too
        counters["pubsub_receipts"] += self._counter_delta(self.sender, sender_rep.get("counters", {}))[
            "pubsub_receipts"
        ]
        return {
            "system": self.system,
            "sent_before": sent_before,
            "rate": rate,
            "n": n,
            "done": done,
            "expected_ids": expected_ids,
            "recv_by": recv_by,
            "dups": dups,
            "counters": counters,
            "sent": sender_rep.get("sent", []),
            "cpu_sender_s": cpu1[0] - cpu0[0],
            "cpu_receivers_s": sum(cpu1[1:]) - sum(cpu0[1:]),
            "cpu_wall_s": wall,  # the members' CPU above was spent over this long
        }

    def measure(self, name: str, n: int, rate: float) -> dict[str, Any]:
        return summarize([self.phase(name, n, rate)], self.plan)

    def rss(self) -> dict[str, Any]:
        per = [w.rss() for w in self.workers]
        rss = [p["rss_mib"] for p in per if p["rss_mib"] is not None]
        peak = [p["peak_mib"] for p in per if p["peak_mib"] is not None]
        return {
            "per_member_mib": rss,
            "mean_mib": rnd(sum(rss) / len(rss) if rss else None, 1),
            "max_mib": rnd(max(rss) if rss else None, 1),
            "peak_max_mib": rnd(max(peak) if peak else None, 1),
        }

    def stop(self) -> dict[str, Any]:
        """Stop the members one at a time (member 0, with all its connections, first)."""
        stop_s: list[float] = []
        exit_s: list[float] = []
        clean = True
        for w in self.workers:
            t0 = time.monotonic()
            code = w.close({"op": "stop" if self.system == SS else "quit"})
            exit_s.append(time.monotonic() - t0)
            ex = w.line("exit")
            if ex and ex.get("stop_s") is not None:
                stop_s.append(float(ex["stop_s"]))
            clean = clean and code == 0 and bool(ex and ex.get("stopped"))
        return {"stop_s": summary(stop_s, 3), "process_exit_s": summary(exit_s, 3), "all_clean": clean}

    def kill(self) -> None:
        for w in self.workers:
            if w.running():
                w.close({"op": "stop" if self.system == SS else "quit"}, timeout=10)


def summarize(raws: list[dict[str, Any]], plan: Plan) -> dict[str, Any]:
    """One phase's figures from one or more rounds of it (latencies pooled, counts summed)."""
    ss = raws[0]["system"] == SS
    rate, n = raws[0]["rate"], sum(r["n"] for r in raws)
    lat: list[float] = []
    commit: list[float] = []
    outbox: list[float] = []
    wire: list[float] = []
    total = delivered = late = dups = submitted = acked = refused = 0
    complete_s: list[float] = []
    achieved: list[float | None] = []
    kept_up = on_time = True
    counters: Counter[str] = Counter()
    cpu_sender = cpu_receivers = cpu_wall = 0.0
    for raw in raws:
        done = raw["done"]
        end = float(done["last"] or 0.0)
        exp = raw["expected_ids"]
        got = sum(len(d) for d in raw["recv_by"])
        total += len(exp) * len(raw["recv_by"])
        delivered += got
        dups += raw["dups"]
        counters += raw["counters"]
        cpu_sender += raw["cpu_sender_s"]
        cpu_receivers += raw["cpu_receivers_s"]
        cpu_wall += raw.get("cpu_wall_s", 0.0)
        times = [t for d in raw["recv_by"] for _, t in d.values()]
        lat += [(t - ts) * 1000 for d in raw["recv_by"] for ts, t in d.values()]
        late += sum(1 for t in times if t > end + plan.settle_s)
        complete = got == len(exp) * len(raw["recv_by"])
        done_s = max(times) - end if complete and times else None
        if done_s is not None:
            complete_s.append(done_s)
        count = len(exp)
        first = done["first"]
        rate_now = (count - 1) / (end - first) if first is not None and end > first and count > 1 else None
        achieved.append(rate_now)
        sub = int(done["submitted"]) if ss else int(done["sent"])
        ref = int(done.get("failed", 0)) if ss else 0
        submitted, acked, refused = submitted + sub, acked + count, refused + ref
        kept_up = kept_up and (
            rate <= 0
            or (rate_now is not None and rate_now >= KEEP_UP * rate and ref == 0 and sub == raw["n"])
        )
        on_time = on_time and complete and (not ss or (done_s is not None and done_s <= plan.settle_s))
        if ss:
            by_i = {int(x[0]): x for x in raw["sent"]}
            commit += [(x[2] - x[1]) * 1000 for x in by_i.values() if x[2] is not None]
            outbox += [(x[3] - x[2]) * 1000 for x in by_i.values() if x[2] is not None and x[3] is not None]
            wire += [
                (t - by_i[i][3]) * 1000
                for d in raw["recv_by"]
                for i, (_, t) in d.items()
                if i in by_i and by_i[i][3] is not None
            ]
    ach = [a for a in achieved if a is not None]
    out: dict[str, Any] = {
        "offered_rate": rate,
        "sender_sent_before": raws[0]["sent_before"],
        "rounds": len(raws),
        "n": n,
        "submitted": submitted,
        "acknowledged": acked,
        "refused": refused,
        "achieved_rate": rnd(min(ach) if ach else None, 1),
        "kept_up": kept_up,
        "receivers": len(raws[0]["recv_by"]),
        "expected": total,
        "delivered": delivered,
        "delivery_pct": rnd(100.0 * delivered / total if total else None, 3),
        "late": late,
        "lost": total - delivered,
        "complete": delivered == total,
        "complete_after_send_s": rnd(max(complete_s), 3) if delivered == total and complete_s else None,
        "pass": bool(kept_up and on_time),
        "duplicates": dups,
        "p50_ms": rnd(median(lat)),
        "p99_ms": rnd(percentile(lat, 0.99)),
        "max_ms": rnd(max(lat) if lat else None),
        "cpu": {
            "sender_s": rnd(cpu_sender, 2),
            "receivers_s": rnd(cpu_receivers, 2),
            "sender_ms_per_message": rnd(1000 * cpu_sender / acked if acked else None, 3),
            "receiver_ms_per_delivery": rnd(1000 * cpu_receivers / delivered if delivered else None, 3),
            "wall_s": rnd(cpu_wall, 2),
            "cores": rnd((cpu_sender + cpu_receivers) / cpu_wall if cpu_wall > 0 else None, 2),
        },
    }
    if counters["pubsub_receipts"] and delivered:  # bare and smallsocial (IRC: one per delivery)
        out["transmissions_per_delivery"] = rnd(counters["pubsub_receipts"] / delivered, 2)
    if "cpu_server_s" in raws[0]:  # IRC: its server process's CPU beside the clients'
        srv = sum(r["cpu_server_s"] for r in raws)
        out["cpu"]["server_s"] = round(srv, 3)
        out["cpu"]["server_ms_per_message"] = round(1000 * srv / max(1, acked), 3)
    if ss:
        out["receiver_events"] = {
            k: counters[k] for k in ("dropped", "dropped_rate_limit", "gaps", "sync_batches", "sync_records")
        }
        out["stages"] = {
            "submit_to_sent_p50_ms": rnd(median(commit)),
            "sent_to_published_p50_ms": rnd(median(outbox)),
            "published_to_committed_p50_ms": rnd(median(wire)),
            "published_to_committed_p99_ms": rnd(percentile(wire, 0.99)),
        }
    return out


def search(cl: Cluster, start: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Highest offered rate (one sender) with 0 loss: double/halve to a bracket, then bisect."""
    plan = cl.plan
    tried: dict[int, dict[str, Any]] = {}

    def step(rate: int) -> bool:
        if rate not in tried:
            if tried:
                time.sleep(plan.pause_s)
            n = max(20, round(rate * plan.step_s))
            res = cl.measure(f"rate {rate}", n, float(rate))
            tried[rate] = res
            log(
                f"    {rate:>5} msg/s offered: achieved {fmt(res['achieved_rate'])}, "
                f"delivered {res['delivered']}/{res['expected']}"
                + (
                    f", complete {fmt(res['complete_after_send_s'])} s after sending"
                    if res["complete"]
                    else ""
                )
                + f" -> {'pass' if res['pass'] else 'fail'}"
                + f" (member 0 had sent {res['sender_sent_before']:,})"
            )
        return bool(tried[rate]["pass"])

    rate = max(5, int(start))
    ok = step(rate)
    while len(tried) < plan.max_steps:
        # Double after a pass, halve after a failure, until the two straddle the limit.
        nxt = rate * 2 if ok else max(5, rate // 2)
        if nxt == rate:
            break
        ok2 = step(nxt)
        rate = nxt
        if ok2 != ok:
            break
    for _ in range(plan.bisect):
        if len(tried) >= plan.max_steps:
            break
        passes = [r for r, x in tried.items() if x["pass"]]
        fails = [r for r, x in tried.items() if not x["pass"]]
        lo = max(passes, default=None)
        hi = min((r for r in fails if lo is None or r > lo), default=None)
        if lo is None or hi is None or hi / lo < 1.15:
            break
        mid = round(math.sqrt(lo * hi))
        if mid in tried:
            break
        step(mid)
    passes = sorted(r for r, x in tried.items() if x["pass"])
    fails = sorted(r for r, x in tried.items() if not x["pass"])
    lowest_fail = fails[0] if fails else None
    best = max((r for r in passes if lowest_fail is None or r < lowest_fail), default=None)
    return {
        "sender": "member 0 alone",
        "step_s": plan.step_s,
        "steps": [tried[r] for r in tried],
        "highest_zero_loss": best,
        "lowest_failing": lowest_fail,
        "lost_acknowledged": sum(x["lost"] for x in tried.values()),
    }


def compare(
    systems: tuple[str, ...],
    make: Callable[[str], Cluster],
    n: int,
    plan: Plan,
    log: Callable[[str], None],
    *,
    label: Callable[[str], str] = str,
    pauses: tuple[float, float] = (1.0, 0.5),
    search_from: dict[str, int] | None = None,
    do_search: bool = True,
) -> tuple[dict[str, dict[str, Any]], dict[str, Cluster]]:
    """Clusters of ``systems`` (one each, from ``make``) for circle size ``n``, all up at once.

    Each starts, connects and warms up; the latency rounds rotate the order of the systems
    (so a change in the machine's load hits all alike), ``pauses`` seconds after the warm-up
    and between two phases; then each system's highest 0-loss rate (from ``search_from``, else
    LIBP2P.md's bare figure; smallsocial from the bare rate this run found), RSS and a clean
    stop, one cluster at a time. Returns the results by system and the (stopped) clusters.
    """
    clusters: dict[str, Cluster] = {}
    res: dict[str, dict[str, Any]] = {s: {"members": n, "system": s} for s in systems}
    try:
        for system in systems:  # one system's processes start while the others' sit idle
            cl = clusters[system] = make(system)
            res[system]["prep_s"] = rnd(cl.prep_s, 3)
            res[system]["startup"] = cl.start()
        for system, cl in clusters.items():
            r = res[system]
            c = r["connect"] = cl.connect()
            log(
                f"  {label(system)}: listening {fmt(r['startup']['spawn_to_listening_s']['max'])} s after "
                f"spawn, connect p50 {fmt(c['connect_ms']['p50'])} ms (max {fmt(c['connect_ms']['max'])}), "
                f"mesh {min(c['mesh_sizes'])}..{max(c['mesh_sizes'])} of {n - 1}"
            )
            r["warmup"] = cl.measure("warmup", plan.warmup, 10.0)
        time.sleep(pauses[0])
        for system, cl in clusters.items():  # idle: started, connected, warmed up, nothing sent since
            res[system]["rss_idle"] = cl.rss()
        raws: dict[str, dict[str, list[dict[str, Any]]]] = {s: defaultdict(list) for s in systems}
        for round_no in range(plan.rounds):
            k = round_no % len(systems)
            for rate, count in plan.latency:
                for system in systems[k:] + systems[:k]:
                    raw = clusters[system].phase(f"{rate:g} msg/s #{round_no + 1}", count, rate)
                    raws[system][f"{rate:g}"].append(raw)
                    time.sleep(pauses[1])
        for system in systems:
            res[system]["latency"] = {k: summarize(v, plan) for k, v in raws[system].items()}
            for k, x in res[system]["latency"].items():
                log(
                    f"  {label(system)} at {k} msg/s: p50 {fmt(x['p50_ms'])} ms, p99 {fmt(x['p99_ms'])} ms, "
                    f"delivered {x['delivered']}/{x['expected']}"
                )
        for system in systems if do_search else ():
            start = (search_from or {}).get(system) or LIBP2P_ZERO_LOSS.get(n, 100)
            if system == SS and BARE in systems:
                start = res[BARE]["search"]["highest_zero_loss"] or start
            log(f"  {label(system)}: highest 0-loss rate, one sender, from {start} msg/s ...")
            res[system]["search"] = search(clusters[system], int(start), log)
        for system, cl in clusters.items():
            res[system]["rss"] = cl.rss()
        for system, cl in clusters.items():
            res[system]["stop"] = cl.stop()
    finally:
        for cl in clusters.values():
            cl.kill()
    return res, clusters
