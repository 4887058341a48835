#!/usr/bin/env python3
"""Every benchmark in one run: one JSON report and one table (``scripts/bench`` runs this).

Parts, each a script of its own run as a child process (the figures of one do
not disturb the next), in this order:

1. **protocol**: ``scripts/bench_protocol.py`` (the sans-IO hot paths).
2. **node**: ``scripts/bench_node.py`` (member nodes against bare py-libp2p
   gossipsub, 2/5/10 members). In ``--quick`` it runs ``--quick --catchup 0``
   (the catch-up is measured by the scaling part).
3. **relay**: ``scripts/bench_relay.py``.
4. **tui**: ``scripts/bench_tui.py`` (the app headless against the TUI tests' fake
   node, a 10,000-message history; skipped with a note without the fake node), and
   start-up: ``smallsocial`` spawned in a pty, spawn -> first paint and node up
   (3 rounds; 1 in ``--quick``).
5. **side by side**: ``scripts/bench_irc.py``: smallsocial, bare py-libp2p
   gossipsub and IRC (ngircd, started and stopped by it) up at once, same
   messages and rates; smallsocial's p50 / p99 latency and 0-loss throughput as
   ratios to both baselines.
6. **scale**: ``scripts/bench_scale.py``: circles of 2/5/10/20 members, one node
   in 1/10/50 circles, catch-up of 1k/10k/100k missed messages (with cabal-core
   replicating the same number, up to 10k, as its baseline).
7. **tokens**: ``scripts/benchkit/tokens.py``: invitation token lengths.

After the parts' table comes issue 12's (:mod:`benchkit.scorecard`): each of its
measures with the baselines of the same run, the target, and met or by how much not; then,
for each miss, what the same run's figures show about where it comes from.

Each part writes its JSON next to the report; the report
(``bench-results/report.json``) holds the machine, every part's result (or why
it was skipped or failed), the headline ratios, and the run's timings. With
matplotlib installed (``pip install -e '.[plots]'``) PNGs go to ``docs/img/``
(``--plots DIR`` to change, ``--no-plots`` to skip).

Without ngircd the run stops at once with one sentence saying how to install it
(``--no-irc`` runs everything else). ``--quick`` finishes in under 3 minutes on
a 2-core machine.

Usage: scripts/bench [--quick] [--only PART[,PART...]] [--out DIR] [--plots DIR | --no-plots] [--no-irc]

Past 400 lines: the parts, the headline table and the plots are one report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bench_irc  # noqa: E402
import benchkit  # noqa: E402
from benchkit import fmt, print_rows, scorecard, times  # noqa: E402
from benchkit.nodes import BARE, SS  # noqa: E402

PARTS = ("protocol", "node", "relay", "tui", "side_by_side", "scale", "tokens")
DEFAULT_OUT = "bench-results"
DEFAULT_PLOTS = ROOT / "docs" / "img"
QUICK_NODE_NOTE = (
    "in --quick its figures come from the side-by-side part, which runs bench_node.py's own bare and "
    "smallsocial clusters (N = 2, 5 and 50 msg/s, the 0-loss search); the full run runs bench_node.py"
)


def part_command(part: str, quick: bool, out: Path, tiny: bool = False) -> list[str] | str:
    """The child command for a part, or a string saying why it is skipped (``tiny``: the smoke test's)."""
    py = sys.executable
    js = str(out / f"bench_{part}.json")
    q = ["--quick"] if quick or tiny else []
    if part == "protocol":
        return [py, str(HERE / "bench_protocol.py"), *q, "--json", js]
    if part == "node":
        if quick or tiny:
            return QUICK_NODE_NOTE
        return [py, str(HERE / "bench_node.py"), "--json", js]
    if part == "relay":
        return [py, str(HERE / "bench_relay.py"), *(["--quick"] if quick else []), "--json", js]
    if part == "tui":
        if not (ROOT / "tests" / "tui" / "fake_node.py").is_file():
            return "tests/tui/fake_node.py is not there (the TUI benchmark drives the app against it)"
        size = ["--messages", "200", "--live", "20"] if tiny else ["--live", "500" if quick else "1000"]
        spawn = (
            ["--spawn-runs", "1", "--spawn-history", "200"]
            if tiny
            else ["--spawn-runs", "1"]
            if quick
            else []
        )
        return [py, str(HERE / "bench_tui.py"), *size, *spawn, "--json", js]
    if part == "side_by_side":
        return [py, str(HERE / "bench_irc.py"), *q, *(["--no-search"] if tiny else []), "--json", js]
    if part == "scale":
        return [py, str(HERE / "bench_scale.py"), *(["--tiny"] if tiny else q), "--json", js]
    if part == "tokens":
        return [py, str(HERE / "benchkit" / "tokens.py"), "--json", js]
    raise ValueError(part)


def short(arg: str) -> str:
    """A path inside the checkout relative to it; anything else as it is."""
    if arg.startswith("/"):
        try:
            return str(Path(arg).relative_to(ROOT))
        except ValueError:
            return arg
    return arg


def run_part(part: str, quick: bool, out: Path, tiny: bool = False) -> dict[str, Any]:
    cmd = part_command(part, quick, out, tiny)
    if isinstance(cmd, str):
        status = "covered" if cmd == QUICK_NODE_NOTE else "skipped"
        print(f"== {part}: {status}: {cmd}", flush=True)
        return {"status": status, "reason": cmd}
    js = out / f"bench_{part}.json"
    js.unlink(missing_ok=True)
    log = out / "logs" / f"{part}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = " ".join(["python", *(short(c) for c in cmd[1:])])
    print(f"== {part}: {shown}", flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            sys.stdout.write("   " + line)
            sys.stdout.flush()
        rc = proc.wait()
    res: dict[str, Any] = {
        "command": shown,
        "returncode": rc,
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    if js.is_file():
        try:
            res["result"] = json.loads(js.read_text())
        except ValueError as e:
            res["error"] = f"unreadable JSON: {e}"
    res["status"] = "ok" if rc == 0 and "result" in res else "failed"
    if res["status"] == "failed":
        res["log_tail"] = log.read_text()[-3000:]
        print(f"== {part}: FAILED (exit {rc}); see {log}", flush=True)
    return res


# --------------------------------------------------------------------------- the one table


def headline(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(part, figure, value, note) rows for the table."""
    rows: list[tuple[str, str, str, str]] = []
    parts = report["parts"]
    for part in PARTS:
        p = parts.get(part)
        if p is None:
            continue
        if p["status"] != "ok":
            rows.append((part, p["status"], "-", p.get("reason") or f"exit {p.get('returncode')}"))
            continue
        r = p["result"]
        if part == "protocol":
            for row in r.get("rows", []):
                v = f"{row['value']:,.2f} {row['unit']}"
                note = f"{row['ratio']}x raw" if row.get("ratio") else ""
                rows.append((part, row["name"], v, note + (" pass" if row.get("pass") else " MISS")))
        elif part in ("node", "relay"):
            for t in r.get("targets", []):
                n = f"N={t['members']} " if t.get("members") else ""
                rows.append((part, f"{n}{t['target']}", fmt(t.get("value")), t.get("verdict", "")))
            if not r.get("targets"):
                rows.append((part, "see its JSON", "-", ""))
        elif part == "tui":
            rows.append(
                (
                    part,
                    f"{r['messages']:,}-message history shown after start",
                    f"{r['start_to_history_shown_s']} s",
                    f"{r['us_per_message_loaded']} µs/msg, {r['lines']:,} lines",
                )
            )
            rows.append((part, "live messages rendered", f"{r['live']['per_second']}/s", ""))
            st = r.get("startup")
            for label, c in (st or {}).get("checkouts", {}).items():
                n = str(st["history_messages"])
                figs = c["tui_s"].get(n, {})
                paint, listening = figs.get("first_paint", {}), figs.get("node_up", {})
                bare = st["bare_textual_first_paint_s"]["median"]
                rows.append(
                    (
                        part,
                        f"spawn -> first paint, {int(n):,}-message history ({label})",
                        f"{fmt(paint.get('median'))} s",
                        f"bare Textual {fmt(bare)} s; node up {fmt(listening.get('median'))} s",
                    )
                )
        elif part == "side_by_side":
            for n, cmp_ in r["sizes"].items():
                res = cmp_["systems"]
                for rate in res[SS]["latency"]:
                    vals = " | ".join(
                        f"{bench_irc.LABEL[s].split(' ')[0]} {fmt(res[s]['latency'][rate]['p50_ms'])}/"
                        f"{fmt(res[s]['latency'][rate]['p99_ms'])}"
                        for s in bench_irc.SYSTEMS
                    )
                    ri, rb = cmp_["ratios"]["vs_irc"][rate], cmp_["ratios"]["vs_bare"][rate]
                    rows.append(
                        (
                            part,
                            f"N={n} {rate} msg/s p50/p99 ms",
                            vals,
                            f"ours/IRC {times(ri['p50'])}/{times(ri['p99'])}, "
                            f"ours/bare {times(rb['p50'])}/{times(rb['p99'])}",
                        )
                    )
                if "search" in res[SS]:
                    vals = " | ".join(
                        f"{bench_irc.LABEL[s].split(' ')[0]} {zero_loss(res[s]['search'])}"
                        for s in bench_irc.SYSTEMS
                    )
                    ti = cmp_["ratios"]["vs_irc"].get("throughput")
                    tb = cmp_["ratios"]["vs_bare"].get("throughput")
                    rows.append(
                        (
                            part,
                            f"N={n} highest 0-loss msg/s",
                            vals,
                            f"ours/IRC {times(ti)}, ours/bare {times(tb)}",
                        )
                    )
        elif part == "scale":
            for n, x in r["sizes"].items():
                lat = x["latency"]
                rows.append(
                    (
                        part,
                        f"{n} members, {lat['offered_rate']:g} msg/s p50/p99 ms",
                        f"{fmt(lat['p50_ms'])} / {fmt(lat['p99_ms'])}",
                        f"RSS {fmt(x['rss']['mean_mib'])} MiB, "
                        f"delivered {lat['delivered']}/{lat['expected']}",
                    )
                )
            for k, x in r["circles"].items():
                lo, idle = x["low_rate"], x["idle"]
                rows.append(
                    (
                        part,
                        f"1 node in {k} circles: RSS MiB, CPU % idle / at {lo['rate']:g} msg/s",
                        f"{fmt(lo['rss']['rss_mib'])}, {fmt(idle['cpu_pct'])} / {fmt(lo['cpu_pct'])}",
                        f"received {lo['received']}/{lo['acknowledged']}",
                    )
                )
            for n, x in r["catchup"].items():  # (cabal-core's figures: the issue 12 table)
                s = x.get(SS, {})
                rows.append(
                    (
                        part,
                        f"catch-up of {int(n):,} missed",
                        f"{fmt(s.get('from_spawn_s'))} s",
                        f"{fmt(s.get('from_listening_s'))} s after listening, received {s.get('received')}",
                    )
                )
        elif part == "tokens":
            for case, n in r["chars"].items():
                rows.append((part, f"invitation token: {case}", f"{n:,} chars", ""))
    return rows


SCORECARD_HEAD = ("measure", "baselines, same run", "smallsocial", "target", "verdict")


def print_scorecard(report: dict[str, Any]) -> None:
    print("\nissue 12, measure by measure:")
    print_rows(SCORECARD_HEAD, scorecard.rows(report), left=5)
    missed = scorecard.why(report)
    if missed:
        print("\nwhere each miss comes from, in this run's own figures:")
        for measure, reason in missed:
            print(f"- {measure}: {reason}.")


def zero_loss(search: dict[str, Any]) -> str:
    best, low = search["highest_zero_loss"], search["lowest_failing"]
    if best is None:
        return f"<{fmt(low)}"
    return (">=" if low is None else "") + fmt(best)


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    print_rows(("part", "figure", "value", "note"), rows, left=4)


def ratios_summary(report: dict[str, Any]) -> dict[str, Any]:
    sbs = report["parts"].get("side_by_side", {})
    if sbs.get("status") != "ok":
        return {}
    return {n: c["ratios"] for n, c in sbs["result"]["sizes"].items()}


# --------------------------------------------------------------------------- plots


def make_plots(report: dict[str, Any], outdir: Path) -> list[str]:
    """PNGs of the side-by-side and the scaling figures; [] (and a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        report["plots_note"] = "matplotlib is not installed (pip install -e '.[plots]'): no PNGs"
        print(f"plots: skipped: {report['plots_note']}")
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    parts = report["parts"]
    tag = f"{report['mode']} run, {report['created'][:10]}, commit {report['machine'].get('git_commit')}"

    sbs = parts.get("side_by_side", {})
    if sbs.get("status") == "ok":
        sizes = sbs["result"]["sizes"]
        cases = [(n, rate) for n, c in sizes.items() for rate in c["systems"][SS]["latency"]]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        width = 0.27
        for ax, q in zip(axes, ("p50_ms", "p99_ms"), strict=True):
            for j, system in enumerate(bench_irc.SYSTEMS):
                vals = [sizes[n]["systems"][system]["latency"][rate][q] or 0 for n, rate in cases]
                xs = [i + (j - 1) * width for i in range(len(cases))]
                ax.bar(xs, vals, width, label=bench_irc.LABEL[system])
            ax.set_xticks(range(len(cases)), [f"N={n}\n{rate} msg/s" for n, rate in cases])
            ax.set_yscale("log")
            ax.set_title(f"latency {q[:3]} (ms, log scale)")
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend()
        fig.suptitle(f"One sender, 400-byte messages, side by side ({tag})", fontsize=9)
        fig.tight_layout()
        written.append(save(fig, outdir / "bench_side_by_side.png", plt))

    sc = parts.get("scale", {})
    if sc.get("status") == "ok":
        r = sc["result"]
        if r["sizes"]:
            ns = [int(n) for n in r["sizes"]]
            xs = list(r["sizes"].values())
            fig, ax = plt.subplots(1, 2, figsize=(10, 4))
            ax[0].plot(ns, [x["latency"]["p50_ms"] for x in xs], "o-", label="p50")
            ax[0].plot(ns, [x["latency"]["p99_ms"] for x in xs], "s-", label="p99")
            ax[0].set_xlabel("members")
            ax[0].set_ylabel("ms, send -> committed at a receiver (log scale)")
            ax[0].set_yscale("log")
            ax[0].set_title(f"latency at {xs[0]['latency']['offered_rate']:g} msg/s")
            ax[0].legend()
            ax[1].plot(ns, [x["rss"]["mean_mib"] for x in xs], "o-", label="mean")
            ax[1].plot(ns, [x["rss"]["max_mib"] for x in xs], "s-", label="max")
            ax[1].set_xlabel("members")
            ax[1].set_ylabel("RSS per member process, MiB")
            ax[1].set_ylim(bottom=0)
            ax[1].set_title("memory")
            ax[1].legend()
            for a in ax:
                a.set_xticks(ns)
                a.grid(alpha=0.3)
            fig.suptitle(f"Circle size ({tag})", fontsize=9)
            fig.tight_layout()
            written.append(save(fig, outdir / "bench_scale_members.png", plt))
        if r["circles"]:
            ks = [int(k) for k in r["circles"]]
            xs = list(r["circles"].values())
            fig, ax = plt.subplots(1, 2, figsize=(10, 4))
            ax[0].plot(ks, [x["idle"]["rss"]["rss_mib"] for x in xs], "o-", label="idle")
            ax[0].plot(ks, [x["low_rate"]["rss"]["rss_mib"] for x in xs], "s-", label="after low rate")
            ax[0].set_ylabel("RSS, MiB")
            ax[0].set_ylim(bottom=0)
            ax[0].legend()
            ax[1].plot(ks, [x["idle"]["cpu_pct"] for x in xs], "o-", label="idle")
            ax[1].plot(
                ks,
                [x["low_rate"]["cpu_pct"] for x in xs],
                "s-",
                label=f"{xs[0]['low_rate']['rate']:g} msg/s in all",
            )
            ax[1].set_ylabel("CPU, % of one core")
            ax[1].legend()
            for a in ax:
                a.set_xlabel("circles the node is in")
                a.set_xticks(ks)
                a.grid(alpha=0.3)
            fig.suptitle(f"One node in many circles ({tag})", fontsize=9)
            fig.tight_layout()
            written.append(save(fig, outdir / "bench_scale_circles.png", plt))
        if r["catchup"]:
            ns = [int(n) for n in r["catchup"]]
            xs = list(r["catchup"].values())
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(ns, [x[SS]["from_spawn_s"] for x in xs], "o-", label="smallsocial, from process start")
            ax.plot(ns, [x[SS]["from_listening_s"] for x in xs], "s-", label="smallsocial, after listening")
            ax.plot(ns, [x[BARE]["from_listening_s"] for x in xs], "^-", label="bare libp2p stream")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("missed messages")
            ax.set_ylabel("seconds")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
            ax.set_title(f"Catch-up ({tag})", fontsize=9)
            fig.tight_layout()
            written.append(save(fig, outdir / "bench_scale_catchup.png", plt))
    for w in written:
        print(f"plots: wrote {w}")
    return written


def save(fig: Any, path: Path, plt: Any) -> str:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- main


def parse_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}")
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short versions of every part (under 3 minutes)")
    ap.add_argument(
        "--only", type=parse_parts, metavar="PART,...", help=f"run only these: {', '.join(PARTS)}"
    )
    ap.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"report and part JSONs ({DEFAULT_OUT}/)"
    )
    ap.add_argument(
        "--plots", type=Path, default=DEFAULT_PLOTS, metavar="DIR", help="where PNGs go (docs/img)"
    )
    ap.add_argument("--no-plots", action="store_true", help="write no PNGs")
    ap.add_argument(
        "--from-report",
        type=Path,
        metavar="JSON",
        help="run nothing: print the table of a report.json and redraw its plots",
    )
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the smoke test's sizes
    ap.add_argument("--no-irc", action="store_true", help="run without the side-by-side part (no ngircd)")
    args = ap.parse_args(argv)
    if args.from_report:
        report = json.loads(args.from_report.read_text())
        if not args.no_plots:
            report["plots"] = make_plots(report, args.plots)
        print_table(headline(report))
        print_scorecard(report)
        return 0
    parts = args.only or PARTS
    if args.no_irc:
        parts = tuple(p for p in parts if p != "side_by_side")
    elif "side_by_side" in parts and bench_irc.ngircd_path() is None:
        print(bench_irc.NGIRCD_MISSING + " (or pass --no-irc to run the rest)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    started = time.perf_counter()
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    report: dict[str, Any] = {
        "benchmark": "all",
        "mode": mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "scripts/bench" + (" --quick" if args.quick else ""),
        "machine": benchkit.machine_info(libp2p=True),
        "parts": {},
    }
    print(
        f"benchmarks ({mode} run): {', '.join(parts)}; load average {report['machine']['loadavg']}",
        flush=True,
    )
    for part in parts:
        report["parts"][part] = run_part(part, args.quick, out, args.tiny)
    report["ratios_to_baselines"] = ratios_summary(report)
    report["issue12"] = [dict(zip(SCORECARD_HEAD, row, strict=True)) for row in scorecard.rows(report)]
    report["issue12_why"] = [{"measure": m, "why": w} for m, w in scorecard.why(report)]
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    report["plots"] = [] if args.no_plots else make_plots(report, args.plots)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print_table(headline(report))
    print_scorecard(report)
    failed = [p for p, r in report["parts"].items() if r["status"] == "failed"]
    print(
        f"\nwhole run {report['elapsed_s']} s (load average {report['machine']['loadavg']} at the start, "
        f"{report['loadavg_end']} at the end); wrote {path}"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
