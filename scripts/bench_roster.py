#!/usr/bin/env python3
"""Roster intake for 1,000 and 10,000 members: the incremental fold against the old full fold.

    flock /tmp/smallsocial-heavy.lock python scripts/bench_roster.py            # table + JSON
    python scripts/bench_roster.py --quick                                      # small sizes (tests)

Histories (records signed once, before timing):

- ``chain-1000``: the issue's case, a 1,000-link invitation chain: each member invites the
  next, who joins (2,000 records, each citing the last).
- ``fanout-1000``: the founder invites 1,000 keys in a row and each joins citing only its
  invitation (joins sort into the middle of the order: the insertion path).
- ``churn-10000``: 10,000 members over the circle's life, at most 1,000 at a time
  (``MAX_MEMBERS`` is 1,024): ten rounds of 1,000 invitations, joins and leaves, each round
  closed by a rekey (30,010 records).

For each: the incremental index (protocol/fold.py) fed one record at a time in the order the
records were made, and shuffled (sync out of order); ``CircleView.add`` (the validator every
record goes through: chains, checks and the roster); ``CircleView.receive`` of the raw bytes
(also parsing and the signature); and the baseline, the old intake: ``roster.fold`` of every
roster record after each record. The baseline is measured in the same run: exactly for the
smaller sizes, and for the larger ones as the sum of full folds timed at 20 evenly spaced
prefix sizes (the old intake's cost is that sum; timing all of it would take hours).
Writes bench-results/bench_roster.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchkit import machine_info  # noqa: E402

from protocol import circle, crypto, records  # noqa: E402
from protocol.fold import RosterIndex  # noqa: E402
from protocol.identity import Identity  # noqa: E402
from protocol.records import Record  # noqa: E402
from protocol.roster import fold  # noqa: E402
from protocol.view import CircleView, Stored  # noqa: E402

NOW_MS = 1_790_000_000_000
RESULTS = ROOT / "bench-results" / "bench_roster.json"
OLD = "60cfb97^"
"""The commit before the incremental fold: its ``roster.fold`` is the baseline."""


def old_fold() -> tuple[Callable[..., Any], str]:
    """``roster.fold`` as it was before the incremental fold (from git), else the reference."""
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD}:protocol/roster.py"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        mod = types.ModuleType("roster_before")
        sys.modules[mod.__name__] = mod
        exec(compile(src, f"{OLD}:protocol/roster.py", "exec"), mod.__dict__)
        return mod.fold, f"roster.fold at {OLD}"
    except (OSError, subprocess.SubprocessError, SyntaxError):
        return fold, "roster.fold (the reference, with the member-cap scan)"


def person(n: int) -> Identity:
    return Identity.from_seed((1_000_000 + n).to_bytes(32, "big"))


class Maker:
    """Signs records for one circle, keeping each author's chain position."""

    def __init__(self) -> None:
        self.founder = person(0)
        self.genesis = circle.create(self.founder, "bench", NOW_MS).genesis
        self.cid = self.genesis.id
        self.last: dict[bytes, Record] = {}
        self.made: list[Record] = []

    def sign(self, who: Identity, t: str, heads: list[bytes], **fields: Any) -> Record:
        last = self.last.get(who.public_key)
        body = {
            "t": t, "a": who.public_key, "c": self.cid, "q": last.seq + 1 if last else 1,
            "p": last.id if last else None, "h": sorted(heads)[:64], "ts": NOW_MS, **fields,
        }  # fmt: skip
        r = records.sign(who, body)
        self.last[who.public_key] = r
        self.made.append(r)
        return r

    def invite(self, by: Identity, who: Identity, heads: list[bytes], epoch: bytes) -> Record:
        return self.sign(
            by, records.INVITE, heads, k=who.public_key, r="member", x=NOW_MS // 1000 + 86400,
            n=crypto.random_bytes(16), e=epoch,
        )  # fmt: skip


def chain(n: int) -> Maker:
    m = Maker()
    head, inviter = m.cid, m.founder
    for i in range(1, n + 1):
        p = person(i)
        inv = m.invite(inviter, p, [head], m.cid)
        head = m.sign(p, records.JOIN, [inv.id], i=inv.id).id
        inviter = p
    return m


def fanout(n: int) -> Maker:
    m = Maker()
    head = m.cid
    invites = []
    for i in range(1, n + 1):
        inv = m.invite(m.founder, person(i), [head], m.cid)
        invites.append((person(i), inv))
        head = inv.id
    for p, inv in invites:
        m.sign(p, records.JOIN, [inv.id], i=inv.id)
    return m


def churn(total: int, at_once: int) -> Maker:
    m = Maker()
    heads, epoch = [m.cid], m.cid
    for number, start in enumerate(range(1, total + 1, at_once), 1):
        people = [person(i) for i in range(start, min(start + at_once, total + 1))]
        joined = []
        for p in people:
            inv = m.invite(m.founder, p, heads, epoch)
            heads = [inv.id]
            joined.append((p, m.sign(p, records.JOIN, [inv.id], i=inv.id)))
        # each leaver had seen their own join and everything since: a leave cites both
        leaves = []
        for p, j in joined:
            leaves.append(m.sign(p, records.LEAVE, list({j.id, m.made[-1].id})))
        sealed = [[m.founder.public_key, crypto.seal(m.founder.public_key, bytes(32))]]
        rk = m.sign(m.founder, records.REKEY, [x.id for x in leaves[-64:]], e=number, pe=epoch, ks=sealed)
        heads, epoch = [rk.id], rk.id
    return m


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def per_record(recs: list[Record], feed: Callable[[Record], object]) -> tuple[float, float]:
    """Total seconds and the slowest single record, in ms."""
    worst = 0.0
    t0 = time.perf_counter()
    for r in recs:
        t = time.perf_counter()
        feed(r)
        worst = max(worst, time.perf_counter() - t)
    return time.perf_counter() - t0, worst * 1000


def old_intake(m: Maker, exact: bool, samples: int) -> tuple[float, bool, float]:
    """The old intake: a full fold after each record. Exact, or estimated from ``samples``
    prefix sizes (the midpoint rule over the number of records)."""
    recs, old = m.made, OLD_FOLD[0]
    last = timed(lambda: old(m.genesis, recs))[0] * 1000
    if exact:
        total = sum(timed(lambda k=k: old(m.genesis, recs[:k]))[0] for k in range(1, len(recs) + 1))
        return total, True, last
    n = len(recs)
    sizes = [max(1, round(n * (i + 0.5) / samples)) for i in range(samples)]
    return sum(timed(lambda k=k: old(m.genesis, recs[:k]))[0] for k in sizes) * n / samples, False, last


def measure(name: str, m: Maker, exact_baseline: bool, samples: int = 20) -> dict[str, Any]:
    recs = m.made
    idx = RosterIndex(m.genesis)
    inc, worst = per_record(recs, idx.add)
    state = idx.state()
    shuffled = list(recs)
    random.Random(1).shuffle(shuffled)
    idx2 = RosterIndex(m.genesis)
    inc_shuffled, worst_shuffled = per_record(shuffled, idx2.add)
    view = CircleView(m.genesis)
    kept = []
    view_s, view_worst = per_record(recs, lambda r: kept.append(isinstance(view.add(r), Stored)))
    raw_view = CircleView(m.genesis)
    raws = [r.raw for r in recs]
    t0 = time.perf_counter()
    for raw in raws:
        raw_view.receive(raw)
    raw_s = time.perf_counter() - t0
    old, exact, old_last = old_intake(m, exact_baseline, samples)
    assert all(kept), "every record is stored"
    assert idx2.state().accepted == state.accepted and view.roster.accepted == state.accepted
    return {
        "history": name,
        "records": len(recs),
        "members_at_end": len(state.members),
        "members_ever": sum(1 for r in recs if r.type == records.JOIN),
        "incremental_s": round(inc, 4),
        "incremental_us_per_record": round(inc / len(recs) * 1e6, 1),
        "incremental_worst_ms": round(worst, 3),
        "incremental_refolds": idx.refolds,
        "shuffled_s": round(inc_shuffled, 4),
        "shuffled_worst_ms": round(worst_shuffled, 3),
        "shuffled_refolds": idx2.refolds,
        "circleview_add_s": round(view_s, 4),
        "circleview_add_worst_ms": round(view_worst, 3),
        "circleview_receive_raw_s": round(raw_s, 4),
        "old_full_fold_per_record_s": round(old, 2),
        "old_exact": exact,
        "old_fold": OLD_FOLD[1],
        "old_last_record_ms": round(old_last, 2),
        "speedup_vs_old": round(old / inc, 1),
    }


OLD_FOLD: tuple[Callable[..., Any], str] = (fold, "")


def main() -> int:
    global OLD_FOLD
    OLD_FOLD = old_fold()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for the smoke test")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        plan = [("chain-100", lambda: chain(100), True, 0), ("churn-300", lambda: churn(300, 100), True, 0)]
    else:
        plan = [
            ("chain-1000", lambda: chain(1000), False, 20),
            ("fanout-1000", lambda: fanout(1000), False, 20),
            ("churn-10000", lambda: churn(10_000, 1000), False, 6),
        ]
    rows = []
    for name, build, exact, samples in plan:
        m = build()
        rows.append(measure(name, m, exact, samples))
        print(f"{name}: done", file=sys.stderr, flush=True)
    cols = [
        ("history", 12), ("records", 8), ("incremental_s", 14), ("incremental_worst_ms", 21),
        ("shuffled_s", 11), ("circleview_add_s", 17), ("circleview_receive_raw_s", 25),
        ("old_full_fold_per_record_s", 27), ("old_last_record_ms", 19), ("speedup_vs_old", 15),
    ]  # fmt: skip
    print("  ".join(c.ljust(w) for c, w in cols))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in cols))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_info(ROOT), "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
