"""``smallsocial demo``: a circle of simulated friends on 127.0.0.1, opened in the TUI.

:func:`run_demo` makes a temporary data dir with a profile for "you" and a few
friends, founds ``demo-friends`` (everyone a member), starts each friend's real
node in a background process, lets a bot per friend chat through its node's
control socket (one of them forks a side circle with another friend and
"you"), and then opens the TUI on "you". Without a terminal or without the TUI
(``tui=False``), "you" runs as a headless node too and the conversation is
printed as it happens, until Ctrl-C. Whatever way it ends (quit, Ctrl-C,
SIGTERM, SIGHUP, an error), every process is stopped and the data dir is
deleted unless ``keep``.

:class:`Demo` is the same world without the front end, for tests and scripts:
``start()``, then ``close()``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from types import FrameType
from typing import Any, TextIO

from protocol.node.reach import ENV as DISCOVERY_ENV
from smallsocial_tui.demo.bots import SIDE_NAME, Bot, BotConfig, ForkPlan
from smallsocial_tui.demo.world import CIRCLE_NAME, YOU, DemoError, DemoWorld, NodeProc
from smallsocial_tui.text import safe, safe_name

__all__ = ["Demo", "DemoError", "run_demo"]


CARRIED = 20
"""Messages the demo's side circle carries from the main one (``--history last:20``)."""


class Demo:
    """The demo's world and its bots, without a front end."""

    def __init__(
        self,
        friends: int = 3,
        *,
        keep: bool = False,
        interval: tuple[float, float] = (5.0, 15.0),
        fork_after: tuple[float, float] = (20.0, 40.0),
        first_after: tuple[float, float] | None = None,
        seed: int | None = None,
    ) -> None:
        self.world = DemoWorld(friends, keep=keep)
        self.rng = random.Random(seed)
        self.fork_after = self.rng.uniform(*fork_after)
        first = first_after or (min(1.0, interval[0]), min(4.0, interval[1]))
        self.config = BotConfig(interval, first, seed, self.world.data_dir / "bots.log")
        self.bots: list[Bot] = []

    @property
    def data_dir(self) -> str:
        return str(self.world.data_dir)

    def start(self) -> None:
        """Profiles and circle, the friends' nodes, then their bots."""
        w = self.world
        w.create()
        w.start_friends()
        forker, *others = w.friend_names
        members = [w.people[others[0]].key] if others else []
        size = len(w.friend_names) + 1
        plan = ForkPlan(
            self.fork_after,
            [*members, w.you.key],
            history=f"last:{CARRIED}",
            note=f"we're {size} here and this circle's soft cap is {w.soft_cap}: rather than grow it, "
            f"I'm forking a side circle and bringing our last {CARRIED} messages along",
        )
        for name in w.friend_names:
            p = w.people[name]
            bot = Bot(name, p.root, p.key, w.circle, w.you.key, self.config, plan if name == forker else None)
            w.nodes[name].subscribe(bot.on_event)
            self.bots.append(bot)
            bot.start()

    def start_you(self) -> NodeProc:
        """ "You" as a headless node (no TUI)."""
        return self.world.start_you()

    def close(self) -> None:
        """Bots first (they talk to the nodes), then the nodes, then the data dir."""
        for b in self.bots:
            b.stop()
        for b in self.bots:
            b.join(5)
        self.world.close()


class _Terminated(BaseException):
    """SIGTERM or SIGHUP: leave through the ``finally`` that cleans up."""


@contextlib.contextmanager
def _exit_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception in the main thread, so clean-up runs.

    Ctrl-C raises KeyboardInterrupt, even when the demo was started with SIGINT ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:  # a second signal while cleaning up must not cut the clean-up short
            fired = True
            raise _Terminated(signum)

    sigs = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {s: signal.signal(s, handler) for s in sigs}
    # The demo says "Press Ctrl-C to stop". A shell that starts a program in the
    # background (a script's `&`, a CI runner) hands it SIGINT ignored, and Python then
    # installs no KeyboardInterrupt: Ctrl-C, or `kill -INT`, would do nothing.
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C pressed again while cleaning up must not leave half the nodes running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _tui_runner() -> Callable[[str | None, str | None], int] | None:
    try:
        from smallsocial_tui.app import run_app
    except ImportError:
        return None
    return run_app


class _Printer:
    """The conversation as "you"'s node sees it, one line per event (for the no-TUI demo)."""

    def __init__(self, demo: Demo, out: TextIO) -> None:
        self.demo = demo
        self.out = out
        self.circles = {demo.world.circle: CIRCLE_NAME}
        self.texts: dict[str, tuple[str, str]] = {}
        self.peers: set[str] = set()
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.out.write(f"{datetime.now():%H:%M:%S} {line}\n")
            self.out.flush()

    def __call__(self, ev: dict[str, Any]) -> None:
        w = self.demo.world
        kind = ev.get("event")
        circle = str(ev.get("circle", ""))
        where = safe_name(self.circles.get(circle, circle[:8]))
        if kind == "MessageReceived":
            who = w.name_of(str(ev.get("author")))
            text = safe(str(ev.get("text") or ""))
            self.texts[str(ev.get("record_id"))] = (who, text)
            ref = self.texts.get(str(ev.get("ref")))
            about = f" ({ref[0]}: “{ref[1][:40]}”)" if ref else ""
            if ev.get("kind") == "react":
                self.write(f"[{where}] {who} reacted {text}{about}")
            elif ev.get("kind") == "reply":
                self.write(f"[{where}] {who}: ↪{about} {text}")
            else:
                self.write(f"[{where}] {who}: {text}")
        elif kind == "CircleForked" and ev.get("invited"):
            name = str(ev.get("name", SIDE_NAME))
            self.circles[circle] = name
            parent = self.circles.get(str(ev.get("parent")), "a circle")
            self.write(
                f"[{safe_name(parent)}] you are invited to the side circle {safe_name(name)}; accept with:\n"
                f"    smallsocial --data-dir {w.data_dir} --profile {YOU} join {circle[:12]}"
            )
        elif kind == "MessageSent":
            self.texts[str(ev.get("record_id"))] = ("you", "…")
        elif kind == "CircleJoined":
            self.circles[circle] = str(ev.get("name", ""))
        elif kind == "PeerConnected":
            who = w.name_of(str(ev.get("peer_id")))
            if who not in self.peers:
                self.peers.add(who)
                self.write(f"connected to {who}")


def _wait(demo: Demo, duration: float | None, printer: _Printer | None) -> int:
    end = None if duration is None else time.monotonic() + duration
    while end is None or time.monotonic() < end:
        time.sleep(0.3)
        for n in demo.world.nodes.values():
            if not n.running():
                if printer:
                    printer.write(f"{n.name}'s node stopped unexpectedly; see {n.name}.stderr.log")
                return 1
    return 0


def run_demo(
    friends: int = 3,
    keep: bool = False,
    *,
    tui: bool | None = None,
    interval: tuple[float, float] = (5.0, 15.0),
    fork_after: tuple[float, float] = (20.0, 40.0),
    duration: float | None = None,
    seed: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo; returns the exit code.

    ``tui=None`` opens the TUI when stdin and stdout are terminals and the TUI
    can be imported; ``tui=False`` prints the conversation instead, until
    Ctrl-C (or for ``duration`` seconds). ``interval`` is the range of seconds
    between a bot's messages; ``fork_after`` when the side circle is forked.
    """
    out = out or sys.stdout
    os.environ[DISCOVERY_ENV] = "off"  # the demo stays on 127.0.0.1: no LAN discovery, no port mapping
    run_app = None
    if tui is not False:
        run_app = _tui_runner()
        if run_app is None:
            print("(The TUI is not available here; printing the conversation instead.)", file=out)
        elif tui is None and not (sys.stdin.isatty() and sys.stdout.isatty()):
            run_app = None
    demo: Demo | None = None
    code = 0
    with _exit_on_signals():
        try:
            demo = Demo(friends, keep=keep, interval=interval, fork_after=fork_after, seed=seed)
            atexit.register(demo.close)
            names = demo.world.friend_names
            who = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
            print(f"Starting the demo: {who} on 127.0.0.1 (data in {demo.data_dir}) …", file=out, flush=True)
            demo.start()
            if run_app is not None:
                print(
                    f"{who} are online in {CIRCLE_NAME}. Opening smallsocial as 'you'; quit with ctrl+q "
                    f"and everything here is cleaned up.",
                    file=out,
                    flush=True,
                )
                code = run_app(demo.data_dir, YOU)
            else:
                printer = _Printer(demo, out)
                demo.start_you().subscribe(printer)
                cmd = f"smallsocial --data-dir {demo.data_dir} --profile {YOU}"
                printer.write(
                    f"You are in {CIRCLE_NAME} with {who}; all traffic stays on 127.0.0.1. "
                    f"Press Ctrl-C to stop.\n    say something:  {cmd} send {CIRCLE_NAME} 'hi all'"
                    f"\n    or read along:  {cmd} log {CIRCLE_NAME} --follow"
                )
                code = _wait(demo, duration, printer)
        except KeyboardInterrupt:
            code = 0
        except _Terminated:
            code = 143
        except DemoError as e:
            print(f"smallsocial demo: {e}", file=sys.stderr)
            code = 1
        finally:
            if demo is not None:
                with _no_interrupts(), contextlib.suppress(KeyboardInterrupt, _Terminated):
                    demo.close()
                atexit.unregister(demo.close)
                if keep:
                    print(f"The demo's data is kept in {demo.data_dir}", file=out, flush=True)
    return code
