#!/usr/bin/env python3
"""TUI render benchmark: the app, headless, opens a circle holding 10,000 messages.

The app (``SmallSocialApp``) runs under Textual's ``App.run_test()`` (no
terminal) against the fake node of the TUI tests (``tests/tui/fake_node.py``,
only imported here), so nothing but the TUI is measured: no libp2p, no store.
The circle's history (``--messages``, 10,000 by default; 400-character texts
from two authors, wrapped at the 140-column screen) is answered in one
``HistoryLoaded``. Timed with ``time.perf_counter``:

- **start -> history shown**: from entering ``run_test`` until the message log
  holds a rendered block for every message (the app mounted, the node started,
  the history loaded and every row laid out);
- **first paint**: the screen composed after that (one ``pilot.pause()``);
- **scroll**: jumping to the top and back to the end, each with a repaint;
- **live**: ``--live`` (1,000) more messages arriving one event each (as the
  node emits ``MessageReceived``) until all are in the log: messages per second.

Then **start-up**, as a user sees it (``benchkit.startup``): ``smallsocial`` spawned in a
140x40 pseudo-terminal on a real profile (its circle empty, then holding
``--spawn-history`` messages, 10,000), timed from spawn to its first frame (the main
screen), to its node up (listening, its addresses written), to the circles and the
newest message shown; and ``smallsocial run --json`` to its ``NodeStarted``. A bare Textual app showing one
label is spawned in the same rounds: what Textual alone costs to paint. Medians over
``--spawn-runs`` (3) interleaved rounds after one untimed warm-up round;
``--checkout DIR`` (repeatable) spawns that checkout's code instead of this one's
(``PYTHONPATH``), to compare a base and a branch in one run; 0 runs skip it.

Usage: scripts/bench_tui.py [--messages N] [--live N] [--spawn-runs N] [--spawn-history N]
                            [--checkout DIR ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEFAULT_JSON = "bench-results/bench_tui.json"
FAKE_NODE = ROOT / "tests" / "tui" / "fake_node.py"
TEXT_CHARS = 400


def text(i: int) -> str:
    head = f"message {i}: "
    return head + ("lorem ipsum dolor sit amet " * 20)[: TEXT_CHARS - len(head)]


async def measure(messages: int, live: int, work: Path) -> dict[str, Any]:
    from protocol.node.paths import ProfilePaths
    from protocol.node.profile import Profile
    from smallsocial_tui.app.app import SmallSocialApp
    from smallsocial_tui.app.widgets.message_log import MessageLog
    from tests.tui.fake_node import FakeNode, ident

    paths = ProfilePaths(work / "profiles" / "alice")
    Profile.create(paths, "alice", identity=ident(1)).close()
    node = FakeNode()
    bob = ident(2).public_key
    node.contacts = {bob: "bob"}
    cid = node.add_circle("bench", members=(bob,))
    t0 = time.perf_counter()
    for i in range(messages):
        node.add_message(cid, bob if i % 2 else node.me.public_key, text(i))
    fill_s = time.perf_counter() - t0
    app = SmallSocialApp(paths, node.factory, tz=UTC, clock=lambda: 1_700_000_000.0)

    def blocks() -> int:
        try:
            log = app.screen.query_one(MessageLog)
        except Exception:
            return 0
        return len(getattr(log, "_blocks", ()))

    async def until(pilot: Any, n: int, timeout: float) -> float:
        t = time.perf_counter()
        while blocks() < n:
            if time.perf_counter() - t > timeout:
                raise RuntimeError(f"the message log shows {blocks()} of {n} messages after {timeout} s")
            await pilot.pause(0.01)
        return time.perf_counter()

    out: dict[str, Any] = {"messages": messages, "text_chars": TEXT_CHARS, "screen": [140, 40]}
    t0 = time.perf_counter()
    async with app.run_test(size=(140, 40)) as pilot:
        t_shown = await until(pilot, messages, 120)
        await pilot.pause()
        t_paint = time.perf_counter()
        log = app.screen.query_one(MessageLog)
        out["lines"] = log.line_count
        t1 = time.perf_counter()
        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        out["scroll_top_and_back_ms"] = round((time.perf_counter() - t1) * 1000, 2)
        t1 = time.perf_counter()
        for i in range(live):
            node.receive(cid, bob, text(messages + i))
            if i % 50 == 49:
                await pilot.pause()
        t_live = await until(pilot, messages + live, 120)
        out["live"] = {
            "messages": live,
            "seconds": round(t_live - t1, 3),
            "per_second": round(live / (t_live - t1), 1) if live else None,
        }
    out["fill_fake_node_s"] = round(fill_s, 3)
    out["start_to_history_shown_s"] = round(t_shown - t0, 3)
    out["first_paint_ms"] = round((t_paint - t_shown) * 1000, 2)
    out["us_per_message_loaded"] = round((t_shown - t0) / messages * 1e6, 1) if messages else None
    return out


def run(messages: int = 10_000, live: int = 1000) -> dict[str, Any]:
    """The benchmark; raises FileNotFoundError when the TUI tests' fake node is not there."""
    if not FAKE_NODE.is_file():
        raise FileNotFoundError(f"{FAKE_NODE.relative_to(ROOT)} is missing: the TUI benchmark needs it")
    with tempfile.TemporaryDirectory(prefix="bench_tui_") as work:
        return asyncio.run(measure(messages, live, Path(work)))


def startup(runs: int, history: int, checkouts: list[str]) -> dict[str, Any]:
    """Spawn -> first paint (and node up) of real processes: ``benchkit.startup``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchkit.startup import run_startup

    def label(path: Path) -> str:
        """``DIR@commit``, with ``+`` when its code has local edits."""

        def git(*args: str) -> str:
            got = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=False)
            return got.stdout.strip()

        sha = git("rev-parse", "--short", "HEAD")
        dirty = "+" if git("status", "--porcelain", "--", "protocol", "smallsocial_tui") else ""
        return f"{path.name}@{sha}{dirty}" if sha else path.name

    paths = [Path(c).resolve() for c in checkouts] or [ROOT]
    spawned: dict[str, Path | None] = {label(p): p for p in paths}
    with tempfile.TemporaryDirectory(prefix="bench_tui_startup_") as work:
        return run_startup(spawned, runs, history, Path(work), print)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000, help="history size (10,000)")
    ap.add_argument("--live", type=int, default=1000, help="messages arriving live after it (1,000)")
    ap.add_argument("--spawn-runs", type=int, default=3, help="start-up rounds (3; 0 skips start-up)")
    ap.add_argument("--spawn-history", type=int, default=10_000, help="start-up history size (10,000)")
    ap.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="DIR",
        help="spawn this checkout's code for start-up (repeatable; default: this one)",
    )
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    args = ap.parse_args(argv)
    try:
        res = run(args.messages, args.live)
    except FileNotFoundError as e:
        print(f"skipped: {e}")
        return 0
    if args.spawn_runs > 0:
        res["startup"] = startup(args.spawn_runs, args.spawn_history, args.checkout)
    print(
        f"TUI: {res['messages']:,} messages ({res['lines']:,} lines) shown "
        f"{res['start_to_history_shown_s']} s after start ({res['us_per_message_loaded']} µs a message), "
        f"first paint {res['first_paint_ms']} ms, scroll to top and back {res['scroll_top_and_back_ms']} ms, "
        f"{res['live']['messages']:,} live messages at {res['live']['per_second']}/s"
    )
    if "startup" in res:
        from benchkit import print_rows
        from benchkit.startup import startup_rows

        st = res["startup"]
        print(
            f"\nStart-up: seconds from spawn, in a {st['screen'][0]}x{st['screen'][1]} pty, "
            f"median of {st['runs']} interleaved rounds"
        )
        head = ("spawned", "messages", "first paint", "node up", "circles", "history", "headless listening")
        print_rows(head, startup_rows(st), left=2)
    result = {
        "benchmark": "tui",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        **res,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
