"""Roster records a circle gets per week from prekey rotations and rekeys (issue 15 healing).

Real profiles (SQLite files in a temporary directory) on one injected clock: every member
runs what its node runs, at the node's periods (``prekeys.refresh`` every
``PREKEY_REFRESH_S``, the scheduled rekeys of :class:`protocol.node.rekeying.Rekeyer`), and
whatever one makes reaches everyone at once (bundles through the founder). Optionally the
circle is busy: the founder sends messages at a steady rate and an admin sets a message
count (``rekeyevery``), so that rekeys come every few hours.

    python scripts/bench_prekey_churn.py --members 15 --weeks 4
    python scripts/bench_prekey_churn.py --members 15 --weeks 2 --per-hour 12 --messages 100
    python scripts/bench_prekey_churn.py ... --old   # the policy before healing rotations

The first week is a warm-up (joins, first prekeys); the figures are per week after it.
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import tempfile
from pathlib import Path

from protocol import records
from protocol.node import node, prekeys, rekeying
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile
from protocol.rekeysched import Scheduler

WEEK = 7 * 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        return self.t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=15)
    ap.add_argument("--weeks", type=int, default=4, help="measured weeks, after one of warm-up")
    ap.add_argument("--step", type=float, default=node.PREKEY_REFRESH_S, help="seconds between rounds")
    ap.add_argument("--per-hour", type=float, default=0.0, help="messages the founder sends an hour")
    ap.add_argument("--messages", type=int, default=0, help="rekeyevery MESSAGES (0: the default)")
    ap.add_argument("--old", action="store_true", help="no healing rotations (the policy before)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.old:
        prekeys.USED_S = math.inf  # type: ignore[assignment]  # never "used and a day old"; no rotation first
    rng = random.Random(a.seed)
    clock = Clock()
    tmp = Path(tempfile.mkdtemp(prefix="prekey-churn-"))
    people = [
        Profile.create(ProfilePaths(tmp / f"m{i}"), f"m{i}", None, clock, opslimit=1, memlimit=8192)
        for i in range(a.members)
    ]
    hub = people[0]
    cid = hub.new_circle("busy").circle_id

    def spread(src: Profile) -> None:
        if src is not hub:
            hub.import_bundle(src.export([cid]))
        bundle = hub.export([cid])
        for p in people[1:]:
            p.import_bundle(bundle)

    for p in people[1:]:
        p.join_token(hub.invite(cid, p.me))
        spread(p)
    if a.messages:
        rekeying.set_schedule(hub, cid, 7, a.messages)
        spread(hub)
    rekeyers = [rekeying.Rekeyer(p, Scheduler(rng=rng.random)) for p in people]
    start = clock.t
    owed = 0.0
    warm_end = start + WEEK
    end = warm_end + a.weeks * WEEK
    rotations_by: collections.Counter[bytes] = collections.Counter()
    while clock.t < end:
        clock.t += a.step
        owed += a.per_hour * a.step / 3600
        sent = False
        while owed >= 1:
            hub.send_text(cid, "busy")
            owed -= 1
            sent = True
        if sent:
            spread(hub)
        order = list(range(a.members))
        rng.shuffle(order)
        for i in order:
            p = people[i]
            made = list(p.refresh_prekeys())
            done = rekeyers[i].due(clock.t)
            if made or done:
                spread(p)
    measured: collections.Counter[str] = collections.Counter()
    for r in hub.store.load_records(cid):
        if r.type == records.MSG:
            continue
        ts = int(r.body["ts"]) / 1000
        if warm_end < ts <= end:
            measured[r.type] += 1
            if r.type == records.PREKEY:
                rotations_by[r.author] += 1
    per_week = {k: v / a.weeks for k, v in sorted(measured.items())}
    total = sum(per_week.values())
    print(
        f"{a.members} members, {a.weeks} weeks measured, policy {'old' if a.old else 'healing'}, "
        f"{a.per_hour:g} messages an hour, rekeyevery messages {a.messages or 'default'}"
    )
    print(
        "roster records per week:",
        ", ".join(f"{k} {v:.1f}" for k, v in per_week.items()),
        f"(total {total:.1f})",
    )
    if rotations_by:
        print(
            f"prekey records per member per week: min {min(rotations_by.values()) / a.weeks:.2f}, "
            f"max {max(rotations_by.values()) / a.weeks:.2f}"
        )
    for p in people:
        p.close()


if __name__ == "__main__":
    main()
