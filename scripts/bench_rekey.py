#!/usr/bin/env python3
"""What a rekey costs (issue 15): build time, bytes, and a recipient's time to open it, for 5, 15
and 50 members; and the send and receive paths before and after this checkout's changes.

    flock /tmp/smallsocial-heavy.lock python scripts/bench_rekey.py     # table + JSON
    python scripts/bench_rekey.py --quick                                 # fewer rounds (tests)

For each circle size (one founder who invited everyone; each joined), timed with
``time.perf_counter_ns`` after a warm-up, medians and p90 of the samples:

- **build**: ``actions.rekey`` by a member: a fresh key sealed to every member key (an X25519
  sealed box each) and the record signed;
- **bytes**: the record's encoded size;
- **open**: what a recipient does with it: ``records.parse`` (schema, signature) and unsealing
  its own entry of ``ks`` with its identity key;
- **fold**: ``roster.fold`` of the circle with the rekey (the member's new roster).

Then **send/receive, before and after**: ``scripts/bench_protocol.py --quick`` of the base
commit (``--base``, default the merge-base with ``main``; extracted with ``git archive`` into a
temporary directory) and of this checkout, alternately, ``--rounds`` times each, in the same
run; the medians of each side's send (``messages.seal``) and receive (``records.parse`` +
``open_message``) figures, and of their ratios to the raw primitives timed beside them in the
same process (bench_protocol's own baseline: steadier than the times on a shared machine).

Writes bench-results/bench_rekey.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import benchkit  # noqa: E402  (puts this checkout's protocol/ first on sys.path)
from benchkit import machine_info, print_rows  # noqa: E402

from protocol import actions, circle, records  # noqa: E402
from protocol.chain import ChainPos  # noqa: E402
from protocol.fold import RosterIndex  # noqa: E402
from protocol.identity import Identity  # noqa: E402
from protocol.records import Record  # noqa: E402
from protocol.roster import RosterState, fold  # noqa: E402

NOW_MS = 1_790_000_000_000
RESULTS = ROOT / "bench-results" / "bench_rekey.json"
SIZES = (5, 15, 50)


def circle_of(n: int) -> tuple[list[Identity], Record, list[Record], RosterState]:
    """A circle of ``n`` members (the founder invited each, each joined), folded."""
    people = [Identity.from_seed(i.to_bytes(2, "big") * 16) for i in range(1, n + 1)]
    founder = people[0]
    g = circle.create(founder, "bench", NOW_MS).genesis
    idx = RosterIndex(g)
    made: list[Record] = []
    for seq, p in enumerate(people[1:]):
        pos = ChainPos(seq + 1, made[-2].id) if seq else ChainPos()
        inv = actions.invite(founder, idx.state(), pos, p.public_key, NOW_MS, nonce=p.public_key[:16])
        idx.add(inv)
        join = actions.join(p, inv, ChainPos(), NOW_MS)
        idx.add(join)
        made += [inv, join]
    return people, g, made, idx.state()


def timed(fn: Callable[[], object], samples: int) -> dict[str, float]:
    """Median and p90 of ``samples`` calls (microseconds), after a few warm-up calls."""
    for _ in range(3):
        fn()
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000)
    out.sort()
    return {"median_us": round(statistics.median(out), 1), "p90_us": round(out[int(len(out) * 0.9) - 1], 1)}


def rekey_rows(samples: int) -> list[dict[str, Any]]:
    rows = []
    for n in SIZES:
        people, g, made, state = circle_of(n)
        author, reader = people[1], people[-1]
        pos = ChainPos(2, made[1].id)  # the author's join was their first record

        def build(author: Identity = author, state: RosterState = state, pos: ChainPos = pos) -> object:
            return actions.rekey(author, state, pos, NOW_MS)

        rk = actions.rekey(author, state, pos, NOW_MS)
        raw = rk.record.raw

        def open_it(raw: bytes = raw, reader: Identity = reader) -> bytes:
            r = records.parse(raw)
            mine = next(bytes(s) for k, s in r.body["ks"] if bytes(k) == reader.public_key)
            return reader.unseal(mine)

        assert open_it() == rk.key
        with_it = [*made, rk.record]

        def fold_it(g: Record = g, recs: list[Record] = with_it) -> object:
            return fold(g, recs)

        assert fold_it().current_epoch.id == rk.record.id  # type: ignore[attr-defined]
        rows.append(
            {
                "members": n,
                "record_bytes": len(raw),
                "build": timed(build, samples),
                "open": timed(open_it, samples),
                "fold": timed(fold_it, max(5, samples // 10)),
            }
        )
    return rows


def protocol_figures(script: Path, cwd: Path, out: Path) -> dict[str, float]:
    """send and receive medians (us/op) of one ``bench_protocol.py --quick`` run."""
    subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        cwd=cwd, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    send = next(v for k, v in rows.items() if k.startswith("send"))
    receive = next(v for k, v in rows.items() if k.startswith("receive"))
    return {
        "send_us": send["value"],
        "receive_us": receive["value"],
        "send_over_raw": send["ratio"],
        "receive_over_raw": receive["ratio"],
    }


def before_after(base: str, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rekey-base-") as tmp:
        old = Path(tmp) / "base"
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", base, "protocol", "scripts"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        sides: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for i in range(rounds):
            for side, root in (("before", old), ("after", ROOT)) if i % 2 == 0 else (
                ("after", ROOT), ("before", old)):  # fmt: skip
                js = Path(tmp) / f"{side}-{i}.json"
                sides[side].append(protocol_figures(root / "scripts" / "bench_protocol.py", root, js))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", base], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    out: dict[str, Any] = {"base": base, "base_commit": commit, "rounds": rounds, "runs": sides}
    for what in ("send_us", "receive_us", "send_over_raw", "receive_over_raw"):
        b = statistics.median(s[what] for s in sides["before"])
        a = statistics.median(s[what] for s in sides["after"])
        out[what] = {"before": round(b, 3), "after": round(a, 3), "after_over_before": round(a / b, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples and one round each side")
    ap.add_argument("--out", default=str(RESULTS), metavar="PATH", help=f"results file ({RESULTS})")
    ap.add_argument(
        "--base",
        default=None,
        help="the commit the send/receive paths are compared to (default: merge-base with main)",
    )
    ap.add_argument("--rounds", type=int, default=None, help="bench_protocol runs per side (default 3)")
    ap.add_argument("--no-compare", action="store_true", help="skip the before/after send and receive")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    samples = 30 if args.quick else 200
    rows = rekey_rows(samples)
    print_rows(
        ["members", "record bytes", "build us (p90)", "open us (p90)", "fold us (p90)"],
        [
            [
                str(r["members"]),
                str(r["record_bytes"]),
                f"{r['build']['median_us']:.0f} ({r['build']['p90_us']:.0f})",
                f"{r['open']['median_us']:.0f} ({r['open']['p90_us']:.0f})",
                f"{r['fold']['median_us']:.0f} ({r['fold']['p90_us']:.0f})",
            ]
            for r in rows
        ],
    )
    compare = None
    if not args.no_compare:
        base = (
            args.base
            or subprocess.run(
                ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        compare = before_after(base, args.rounds or (1 if args.quick else 3))
        print()
        print_rows(
            ["path", f"before ({compare['base_commit']}) us", "after us", "after / before"],
            [
                [name, f"{c['before']:.2f}", f"{c['after']:.2f}", f"{c['after_over_before']:.3f}"]
                for name, c in (
                    ("send", compare["send_us"]),
                    ("receive", compare["receive_us"]),
                    ("send / raw primitives (x)", compare["send_over_raw"]),
                    ("receive / raw primitives (x)", compare["receive_over_raw"]),
                )
            ],
        )
    benchkit.finish(
        args.out,
        "rekey",
        "quick" if args.quick else "full",
        machine_info(),
        started,
        rows=rows,
        compare=compare,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
