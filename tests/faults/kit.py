"""Helpers for the fault tests: real ``smallsocial run`` nodes, short and long settings, figures.

Builds on :mod:`tests.node.harness` (the shared process harness): :class:`Node` is a
harness ``Peer`` that waits for its control socket and keeps its processes' history;
events carry their arrival time (for latency); ``preexec`` sets resource limits.
:func:`report` appends a JSON line of measured figures to ``$SMALLSOCIAL_STRESS_REPORT``
(``scripts/stress`` reads it).

When a fault test fails, however it fails (an assertion, a timeout, an exception from a
socket), ``conftest.py`` adds :func:`failure_report` to the report: what the test
:func:`note`-d (its seed, the round it was in) and, for each node it made
(:data:`WATCHED`), whether its process still runs, exited by itself (and how) or was
stopped by the test, and the tail of its ``stderr.log`` and ``logs/node.log``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sqlite3
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from protocol import records
from protocol.identity import parse_peer_id
from protocol.node import api
from smallsocial_tui import control
from tests.node.harness import LOOPBACK, Peer, wait_until

CIRCLE = "friends"
REPORT_ENV = "SMALLSOCIAL_STRESS_REPORT"
STRESS_ENV = "SMALLSOCIAL_STRESS"


def stress() -> bool:
    """Whether the long versions were asked for (``scripts/stress`` sets it)."""
    return os.environ.get(STRESS_ENV, "") not in ("", "0")


def report(test: str, **figures: Any) -> None:
    """Keep one test's measured figures: printed (``pytest -s``) and appended to the report file."""
    line = json.dumps({"test": test, **figures}, sort_keys=True)
    print(f"\nFIGURES {line}")
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


# what a failure report shows ----------------------------------------------------------
NOTES: dict[str, Any] = {}
"""Facts of the running test (its seed, its round); :func:`note` sets them, each test starts empty."""
WATCHED: list[Peer] = []
"""The nodes (and relays) the running test made, for :func:`failure_report`."""
TAIL_LINES = 25
SHORT_TAIL = 5


def note(**facts: Any) -> None:
    """Remember facts for the failure report: ``note(seed=seed)``, then ``note(round=rnd)`` each round."""
    NOTES.update(facts)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a text file (reads at most its last 64 KiB), or why there are none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return f"  ({path.name}: {e.strerror})"
    got = text.splitlines()[-lines:]
    return "\n".join(f"  {line[:400]}" for line in got) if got else f"  ({path.name} is empty)"


def process_state(node: Peer) -> str:
    """Whether the node's process runs, exited by itself (with which code or signal), or the test ended it."""
    history = "; ".join(getattr(node, "history", [])[-4:])
    proc = node.proc
    if proc is None:
        state = "not running (the test stopped or killed it, or never started it)"
    elif (code := proc.poll()) is None:
        state = f"running, pid {proc.pid}"
    elif code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        state = f"pid {proc.pid} ENDED, NOT BY THE TEST: killed by signal {name}"
    else:
        state = f"pid {proc.pid} ENDED, NOT BY THE TEST: exit code {code}"
    sock = node.root / "control.sock"
    state += f"; control.sock {'exists' if sock.exists() else 'absent'}"
    state += f"; node lock {'held' if control.node_running(node.root) else 'free'}"
    return f"{state}\n  recent: {history}" if history else state


def describe(node: Peer, lines: int = TAIL_LINES) -> str:
    """One node for a failure report: its process, the tail of its stderr and of its node.log."""
    piped = node.stderr_lines  # a Node started with a preexec keeps its stderr in memory
    err = "\n".join(f"  {x.rstrip()[:400]}" for x in piped[-lines:]) if piped else None
    return (
        f"== {node.name}: {process_state(node)}\n"
        f"-- {node.name} stderr (last {lines} lines):\n{err or tail(node.root / 'stderr.log', lines)}\n"
        f"-- {node.name} logs/node.log (last {lines} lines):\n{tail(node.root / 'logs' / 'node.log', lines)}"
    )


def failure_report() -> str:
    """The seed, round (whatever the test noted) and each watched node's state and log tails.

    A node the test had stopped or killed gets a short tail; one still running, or one that
    ended without the test ending it, gets :data:`TAIL_LINES`.
    """
    noted = ", ".join(f"{k} {v}" for k, v in NOTES.items()) or "(the test noted no seed or round)"
    parts = [f"noted: {noted}"]
    for n in WATCHED:
        try:
            parts.append(describe(n, TAIL_LINES if n.proc is not None else SHORT_TAIL))
        except Exception as e:  # a report must not hide the failure it reports
            parts.append(f"== {n.name}: could not describe ({e!r})")
    return "\n".join(parts)


class Node(Peer):
    """A harness peer that keeps a short history of its processes (started, killed, stopped) for the
    failure report, and runs them with ``PYTHONFAULTHANDLER=1`` so that an interpreter crash leaves
    a traceback instead of nothing. Every event carries ``_t`` (monotonic arrival, from the harness).

    Set ``preexec`` (resource limits) and its process's stderr is kept in memory instead of
    ``stderr.log`` (the limit applies to that file too).
    """

    def __init__(self, data_dir: Path, name: str) -> None:
        super().__init__(data_dir, name)
        self.history: list[str] = []
        self.serve_lag_s: list[float] = []
        """Per start: seconds from NodeStarted until the control socket answered."""
        self.extra_env["PYTHONFAULTHANDLER"] = "1"

    def _log(self, what: str) -> None:
        self.history.append(f"{time.strftime('%H:%M:%S')} {what}")
        del self.history[:-20]

    def start(self, *peers: str, listen: str = LOOPBACK, timeout: float = 30, serving: bool = True) -> str:
        """Start the node and return once its control socket answers, not merely once it listens.

        ``smallsocial run`` prints NodeStarted before it binds ``control.sock``, and until
        it does, the file a SIGKILLed node left behind refuses connections. A node with a
        big store spends seconds in between (about 3 s at 25,000 records, on a busy
        2-core machine); a request sent then got ConnectionRefusedError (issue 16).
        """
        self.stderr_path = None if self.preexec is not None else self.root / "stderr.log"
        self.stderr_lines.clear()
        lag: float | None = None
        try:
            addr = super().start(*peers, listen=listen, timeout=timeout, serving=serving)
            lag = self.serve_lag
        finally:
            how = "not serving" if lag is None else f"control socket answered {lag:.2f} s after NodeStarted"
            self._log(f"started pid {self.pid}, {how}")
        if lag is not None:
            self.serve_lag_s.append(lag)
        return addr

    def kill(self) -> None:
        pid = self.pid
        before = self.proc.poll() if self.proc is not None else None
        super().kill()
        if before is not None:
            self._log(f"pid {pid} HAD ALREADY ENDED (code {before}) when the test came to kill it")
        else:
            self._log(f"killed pid {pid} (SIGKILL by the test)")

    def stop(self, timeout: float = 10.0) -> int:
        pid = self.pid
        code = super().stop(timeout)
        self._log(f"stopped pid {pid} (SIGTERM by the test), exit code {code}")
        return code

    def peers(self) -> int:
        try:
            return int(self.status()["peers"])
        except (OSError, ValueError, KeyError):
            return -1


def kill_quietly(node: Peer) -> None:
    """SIGKILL a node if it runs, and reap it (also one that already exited)."""
    if node.proc is not None:
        with contextlib.suppress(Exception):
            node.kill()


# talking to a running node ------------------------------------------------------------
def send(node: Peer, circle: str, text: str, timeout: float = 10.0) -> dict[str, Any]:
    """One message through the node's control socket (what ``smallsocial send`` does); the reply."""
    return control.request(node.root, api.SendMessage(bytes.fromhex(circle), text), timeout)


def remove(node: Peer, circle: str, key: str, timeout: float = 10.0) -> dict[str, Any]:
    return control.request(node.root, api.RemoveMember(bytes.fromhex(circle), parse_peer_id(key)), timeout)


# reading a store ----------------------------------------------------------------------
@contextlib.contextmanager
def db(node: Peer) -> Iterator[sqlite3.Connection]:
    path = node.root / "store.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def rows(node: Peer, circle: str) -> list[tuple[str, str, int, str]]:
    """(record id, author key hex, seq, type) of every stored record of the circle."""
    with db(node) as conn:
        got = conn.execute(
            "SELECT id, author, seq, type FROM records WHERE circle = ?", (bytes.fromhex(circle),)
        ).fetchall()
    return [(bytes(i).hex(), bytes(a).hex(), int(q), str(t)) for i, a, q, t in got]


def ids(node: Peer, circle: str) -> set[str]:
    return {r[0] for r in rows(node, circle)}


def integrity(node: Peer) -> str:
    with db(node) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def held(node: Peer, circle: str) -> set[str]:
    with db(node) as conn:
        got = conn.execute("SELECT id FROM held WHERE circle = ?", (bytes.fromhex(circle),)).fetchall()
    return {bytes(r[0]).hex() for r in got}


def epoch_keys(node: Peer, circle: str) -> set[str]:
    with db(node) as conn:
        got = conn.execute("SELECT epoch FROM epoch_keys WHERE circle = ?", (bytes.fromhex(circle),))
        return {bytes(r[0]).hex() for r in got}


def chain_problems(node: Peer, circle: str, author_hex: str | None = None) -> list[str]:
    """Duplicate (author, seq) pairs and gaps in each author's chain (or one author's)."""
    by_author: dict[str, list[int]] = {}
    for _, a, q, t in rows(node, circle):
        if t != "genesis" and (author_hex is None or a == author_hex):
            by_author.setdefault(a, []).append(q)
    out = []
    for a, seqs in by_author.items():
        if len(seqs) != len(set(seqs)):
            out.append(f"{a[:12]}: an (author, seq) twice")
        missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
        if missing:
            out.append(f"{a[:12]}: gaps at {missing[:10]}")
    return out


def author_hex(node: Peer) -> str:
    """A profile's public key as hex (how the store keeps authors)."""
    with db(node) as conn:
        return bytes(conn.execute("SELECT public_key FROM identity WHERE id = 1").fetchone()[0]).hex()


# circles ------------------------------------------------------------------------------
def join(inviter: Peer, joiner: Peer, circle: str, *watchers: Peer, timeout: float = 30) -> None:
    """``inviter`` invites ``joiner``'s key through its running node; the joiner joins with the token."""
    key = joiner.key  # a CLI call: once, not at every poll
    token = inviter.json("invite", CIRCLE, key)["token"]
    joiner.json("join", token)
    for w in watchers:
        wait_until(
            functools.partial(w.saw, "MemberJoined", circle=circle, member=key),
            timeout,
            what=f"{w.name} to see {joiner.name} join",
        )


def prekeys_everywhere(nodes: Sequence[Peer], circle: str, timeout: float = 30) -> None:
    """Wait until every store holds, for every node's key, a record that gives it a prekey: a
    ``prekey`` record, or a genesis or join that carries one. A member whose join carries none
    publishes a ``prekey`` record once the roster takes its join, and that may reach the others
    after later records do: a test that snapshots the stores to compare them later waits first."""
    keys = {author_hex(p) for p in nodes}

    def holds_all(p: Peer) -> bool:
        with db(p) as conn:
            got = conn.execute(
                "SELECT author, type, raw FROM records"
                " WHERE circle = ? AND type IN ('prekey', 'genesis', 'join')",
                (bytes.fromhex(circle),),
            ).fetchall()
        have = {
            bytes(a).hex() for a, t, raw in got if t == "prekey" or "pk" in records.parse(bytes(raw)).body
        }
        return have >= keys

    for p in nodes:
        wait_until(functools.partial(holds_all, p), timeout, 0.1, f"{p.name} to hold every member's prekey")


def members(node: Peer) -> list[dict[str, Any]]:
    return sorted(node.json("members", CIRCLE), key=lambda m: str(m["key"]))


def circle_row(node: Peer, circle: str) -> dict[str, Any]:
    return dict(next(c for c in node.json("circle", "list") if c["id"] == circle))


# latency ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else float("nan"),
    }


def arrival(node: Node, record_id: str) -> float | None:
    """When ``node``'s event stream announced the record as received (monotonic), if it did."""
    for ev in reversed(node.events):
        if ev.get("event") == "MessageReceived" and ev.get("record_id") == record_id:
            return float(ev["_t"])
    return None


__all__ = [
    "CIRCLE",
    "Node",
    "arrival",
    "author_hex",
    "chain_problems",
    "circle_row",
    "describe",
    "failure_report",
    "held",
    "ids",
    "integrity",
    "join",
    "kill_quietly",
    "members",
    "note",
    "percentile",
    "remove",
    "report",
    "rows",
    "send",
    "stress",
    "summary",
    "wait_until",
]
