"""Start-up as a user sees it: ``smallsocial`` spawned in a pseudo-terminal, timed to its first frame.

:func:`run_startup` spawns, per round and per checkout (``PYTHONPATH``), the TUI on a
profile with an empty circle and on one whose circle holds ``history`` messages, and
``smallsocial run --json`` (the headless node) on both, plus a bare Textual app (one
label) as the floor of what Textual itself costs. Every figure is seconds from just
before ``Popen`` (``time.perf_counter``) to when the parent sees it:

- **first paint**: the main screen's status bar ("F1 help") in the terminal's output;
- **node up**: the TUI's node wrote ``<profile>/addrs``, which it does once it listens and its
  tasks have had a first turn (polled every 5 ms; with a long history that turn includes the
  dialer building the circle's view: about 0.25 s for 10,000 messages);
- **circles shown**: the circle's name, which only the node's overview gives;
- **history shown**: the newest message's text (with a history);
- **headless listening**: ``smallsocial run --json`` printed its ``NodeStarted`` line.

Why a pty and the screen's bytes, not a marker the app writes when a benchmark asks: it needs
no hook in the product, it times what reaches the terminal (Textual writes frames from its
own thread), and ``smallsocial`` opens the TUI only when stdin and stdout are terminals. The
text is matched with the escape codes taken out (a frame positions its runs with them).

The children run without ``PYTHONDONTWRITEBYTECODE``, as an installed program does (its
``.pyc`` files exist), and one untimed round first writes those files and warms the page
cache. They run in the work directory, with the checkout on ``PYTHONPATH``: ``python -m``
would import the working directory's package first. Rounds are interleaved: bare, then each
checkout's TUI and headless runs.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchkit.circles import make_circle, write_missed
from benchkit.stats import median, rnd

COLS, ROWS = 140, 40
ESCAPE = re.compile(
    r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[^\[\]PX^_])"
)
"""A whole escape code: CSI, OSC, DCS-like strings, or ESC and one character."""
CIRCLE = "startupbench"
PAINTED = "F1 help"  # the main screen's status bar
BARE_LABEL = "bare-textual-first-paint"
BARE_APP = f"""
from textual.app import App
from textual.widgets import Label

class Bare(App[None]):
    def compose(self):
        yield Label({BARE_LABEL!r})

Bare().run()
"""


def child_env(checkout: Path | None) -> dict[str, str]:
    """The environment of a spawned program: a terminal, 127.0.0.1 only, ``.pyc`` files written.

    Without ``COLUMNS`` and ``LINES`` (some runners set 80x24), which Textual would take over the
    pty's size.
    """
    drop = {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "COLUMNS", "LINES"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(TERM="xterm-256color", SMALLSOCIAL_DISCOVERY="off")
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    return env


def _quit(proc: subprocess.Popen[bytes], master: int) -> None:
    """ctrl+q (the app stops its node and exits), reading the terminal until it does; then kill."""
    with contextlib.suppress(OSError):
        os.write(master, b"\x11")
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                if not os.read(master, 1 << 16):
                    break
            except OSError:
                break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def screen_times(
    argv: list[str],
    env: Mapping[str, str],
    markers: Mapping[str, str],
    files: Mapping[str, Path] | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> dict[str, float | None]:
    """Spawn ``argv`` in a COLSxROWS pty: seconds until each marker's text shows (and each file exists)."""
    files = files or {}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    found: dict[str, float | None] = dict.fromkeys([*markers, *files])
    decode = codecs.getincrementaldecoder("utf-8")("replace").decode
    text, raw = "", ""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    try:
        while None in found.values() and time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([master], [], [], 0.005)
            now = time.perf_counter() - t0
            if ready:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # the child closed the terminal
                    break
                raw += decode(chunk)
                cut = raw.rfind("\x1b")  # a chunk may end inside an escape code: keep that for the next
                cut = cut if cut >= 0 and not ESCAPE.match(raw, cut) else len(raw)
                new = ESCAPE.sub("", raw[:cut])
                raw = raw[cut:]
                window = text[-64:] + new
                text += new
                for name, marker in markers.items():
                    if found[name] is None and marker in window:
                        found[name] = now
            for name, path in files.items():
                if found[name] is None and path.exists():
                    found[name] = now
            if proc.poll() is not None:
                break
    finally:
        _quit(proc, master)
        with contextlib.suppress(OSError):
            os.close(master)
    return {k: rnd(v, 3) for k, v in found.items()}


def headless_listening(
    argv: list[str], env: Mapping[str, str], timeout: float = 60.0, cwd: Path | None = None
) -> float | None:
    """Seconds from spawning ``smallsocial run --json`` to its ``NodeStarted`` line; then SIGINT."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    got = None
    try:
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if b'"NodeStarted"' in line:
                got = time.perf_counter() - t0
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    return rnd(got, 3)


def _profiles(work: Path, history: int) -> dict[int, Path]:
    """A profile whose one circle is empty and, if ``history``, one whose circle holds that many messages."""
    made: dict[int, Path] = {}
    for n in sorted({0, history}):
        root = work / f"history-{n}"
        circle = make_circle(root, 2, name=CIRCLE)
        if n:
            write_missed(circle.roots[0], circle.circles[0], n)
        made[n] = circle.roots[0]  # the founder: its store holds the messages
    return made


def _figures(samples: dict[str, list[float | None]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in samples.items():
        got = [v for v in values if v is not None]
        out[name] = {"median": rnd(median(got), 3), "runs": values}
    return out


def run_startup(
    checkouts: dict[str, Path | None], runs: int, history: int, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The start-up figures: per checkout and history size, medians over ``runs`` interleaved rounds."""
    profiles = _profiles(work, history)
    py = sys.executable
    bare: list[float | None] = []
    tui: dict[str, dict[int, dict[str, list[float | None]]]] = {
        c: {n: {} for n in profiles} for c in checkouts
    }
    headless: dict[str, dict[int, list[float | None]]] = {c: {n: [] for n in profiles} for c in checkouts}
    for rnd_i in range(runs + 1):  # round 0 writes the .pyc files and warms the caches: not counted
        counted = rnd_i > 0
        t = screen_times([py, "-c", BARE_APP], child_env(None), {"first_paint": BARE_LABEL}, cwd=work)
        if counted:
            bare.append(t["first_paint"])
        for label, checkout in checkouts.items():
            env = child_env(checkout)
            for n, root in profiles.items():
                (root / "addrs").unlink(missing_ok=True)
                markers = {"first_paint": PAINTED, "circles_shown": CIRCLE}
                if n:
                    markers["history_shown"] = f'"i":{n - 1},'
                where = ["--data-dir", str(root.parent.parent), "--profile", root.name]
                got = screen_times(
                    [py, "-m", "smallsocial_tui", *where],
                    env,
                    markers,
                    {"node_up": root / "addrs"},
                    cwd=work,  # not a checkout: `python -m` puts the working directory first on sys.path
                )
                listen = ["run", "--json", "--listen", "/ip4/127.0.0.1/tcp/0"]
                h = headless_listening([py, "-m", "smallsocial_tui", *where, *listen], env, cwd=work)
                if counted:
                    for k, v in got.items():
                        tui[label][n].setdefault(k, []).append(v)
                    headless[label][n].append(h)
                    log(
                        f"  start-up round {rnd_i}: {label}, {n:,} messages: first paint "
                        f"{got['first_paint']} s, node up {got['node_up']} s; "
                        f"headless listening {h} s"
                    )
    return {
        "screen": [COLS, ROWS],
        "runs": runs,
        "history_messages": history,
        "bare_textual_first_paint_s": _figures({"first_paint": bare})["first_paint"],
        "checkouts": {
            label: {
                "pythonpath": str(checkouts[label]) if checkouts[label] else None,
                "tui_s": {str(n): _figures(s) for n, s in tui[label].items()},
                "headless_listening_s": {str(n): _figures({"x": v})["x"] for n, v in headless[label].items()},
            }
            for label in checkouts
        },
    }


def startup_rows(res: dict[str, Any]) -> list[tuple[str, ...]]:
    """Table rows: what was spawned, its history, then first paint, node up, circles shown,
    history shown and the headless node's listening, in seconds (medians)."""

    def cell(fig: dict[str, Any] | None) -> str:
        return "-" if not fig or fig["median"] is None else f"{fig['median']:.3f}"

    rows = [("bare Textual app (one label)", "", cell(res["bare_textual_first_paint_s"]), "", "", "", "")]
    for label, c in res["checkouts"].items():
        for n, figs in c["tui_s"].items():
            rows.append(
                (
                    f"smallsocial {label}",
                    f"{int(n):,}",
                    cell(figs.get("first_paint")),
                    cell(figs.get("node_up")),
                    cell(figs.get("circles_shown")),
                    cell(figs.get("history_shown")) if int(n) else "",
                    cell(c["headless_listening_s"][n]),
                )
            )
    return rows
