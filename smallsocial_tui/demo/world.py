"""The demo's world: a temporary data dir, a circle of friends, and their nodes as processes.

:class:`DemoWorld` creates the profiles ("you" and a few friends) offline,
founds the circle, has everyone join, and exchanges the records as bundles so
every store starts with the same roster. :class:`NodeProc` runs one profile's
``smallsocial run --json`` in its own session on 127.0.0.1 and hands its JSON
events to whoever subscribed. :meth:`DemoWorld.close` stops every process
(SIGTERM, then SIGKILL after a deadline) and deletes the data dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from protocol.node.paths import resolve
from protocol.node.profile import Profile
from protocol.node.reach import ENV as DISCOVERY_ENV

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
CIRCLE_NAME = "demo-friends"
FRIEND_NAMES = ("alice", "bob", "carol", "dave", "erin")
YOU = "you"

Event = dict[str, Any]


class DemoError(RuntimeError):
    """The demo could not set up its world; the message is one sentence."""


@dataclass(frozen=True)
class Person:
    name: str
    key: str  # peer ID text
    root: Path  # the profile directory


class NodeProc:
    """One profile's headless node (``smallsocial run --json``) in a background process."""

    def __init__(self, data_dir: Path, name: str, peers: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.name = name
        self.peers = list(peers or [])
        self.root = data_dir / "profiles" / name
        self.proc: subprocess.Popen[str] | None = None
        self.addr: str | None = None
        self._started = threading.Event()
        self._subscribers: list[Callable[[Event], None]] = []
        self._reader: threading.Thread | None = None
        self._err: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` (from the reader thread) for every event the node prints."""
        self._subscribers.append(callback)

    def start(self) -> None:
        """Launch the node. Call from a thread that outlives it (the main thread): on Linux the
        node gets SIGTERM when the thread that started it ends (``PR_SET_PDEATHSIG``)."""
        args = [sys.executable, "-m", "smallsocial_tui.demo", "node"]
        args += ["--data-dir", str(self.data_dir), "--profile", self.name, "run", "--json"]
        args += ["--listen", LOOPBACK]
        for p in self.peers:
            args += ["--peer", p]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLSOCIAL_")}
        env[DISCOVERY_ENV] = "off"  # a demo friend stays on 127.0.0.1
        self._err = open(self.data_dir / f"{self.name}.stderr.log", "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # its own process group: no terminal signals, one kill for all
        )
        self._reader = threading.Thread(target=self._read, name=f"demo-{self.name}-out", daemon=True)
        self._reader.start()

    def wait_started(self, timeout: float = 60.0) -> str:
        """The node's address (``/ip4/127.0.0.1/tcp/…/p2p/…``) once it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._started.wait(0.1) and self.addr:
                return self.addr
            if self.proc is None or self.proc.poll() is not None:
                break
        log = self.data_dir / f"{self.name}.stderr.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise DemoError(f"{self.name}'s node did not start: {' / '.join(tail) or 'no output'}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("event") == "NodeStarted" and ev.get("addrs"):
                self.addr = str(ev["addrs"][0])
                self._started.set()
            for cb in list(self._subscribers):
                with contextlib.suppress(Exception):  # a subscriber's bug must not stop the reader
                    cb(ev)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # the node leads its own group (start_new_session)

    def reap(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic), then SIGKILL; always closes the pipes."""
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._err is not None:
            self._err.close()
            self._err = None


def _profile(data_dir: Path, name: str) -> Profile:
    return Profile.create(resolve(str(data_dir), name), name)


class DemoWorld:
    """Profiles, the circle, the friends' nodes, and the clean-up of all of it."""

    def __init__(self, friends: int = 3, *, keep: bool = False) -> None:
        if not 1 <= friends <= len(FRIEND_NAMES):
            raise DemoError(f"The demo has 1 to {len(FRIEND_NAMES)} friends.")
        self.friend_names = list(FRIEND_NAMES[:friends])
        self.keep = keep
        self.data_dir = Path(tempfile.mkdtemp(prefix="smallsocial-demo-"))
        self.people: dict[str, Person] = {}
        self.circle = ""  # the main circle's id (hex)
        self.nodes: dict[str, NodeProc] = {}
        self._closed = False
        self._lock = threading.Lock()

    # names -------------------------------------------------------------------
    @property
    def you(self) -> Person:
        return self.people[YOU]

    def name_of(self, key: str) -> str:
        for p in self.people.values():
            if p.key == key:
                return p.name
        return key[:8] + "…"

    # set-up, offline ---------------------------------------------------------
    def create(self) -> None:
        """Identities, the circle founded by the first friend, everyone joined, names everywhere."""
        names = [*self.friend_names, YOU]
        profiles = {n: _profile(self.data_dir, n) for n in names}
        try:
            for n, p in profiles.items():
                self.people[n] = Person(n, p.identity.peer_id, p.paths.root)
            founder = profiles[self.friend_names[0]]
            cid = founder.new_circle(CIRCLE_NAME).circle_id
            self.circle = cid.hex()
            for n in names[1:]:
                token = founder.invite(cid, profiles[n].me)
                profiles[n].join_token(token)
            # Everyone's join reaches the founder, then the founder's full store reaches everyone:
            # each store starts with the whole roster, before any node runs.
            for n in names[1:]:
                founder.import_bundle(profiles[n].export([cid]))
            everything = founder.export([cid])
            for n in names[1:]:
                profiles[n].import_bundle(everything)
            now = int(time.time())
            for n, p in profiles.items():
                for other, q in profiles.items():
                    if other != n:
                        p.store.set_contact(q.me, other, now)
        finally:
            for p in profiles.values():
                p.close()

    # processes ---------------------------------------------------------------
    def start_friends(self, timeout: float = 60.0) -> None:
        """Each friend's node on 127.0.0.1; the first listens, the others dial it."""
        first, *rest = self.friend_names
        self._start(first, [])
        addr = self.nodes[first].wait_started(timeout)
        for n in rest:
            self._start(n, [addr])
        for n in rest:
            self.nodes[n].wait_started(timeout)
        self.tell_you_where_friends_are()

    def tell_you_where_friends_are(self) -> None:
        """Put the friends' addresses in "you"'s store, as an invitation would; "you"'s node dials them."""
        addrs = [n.addr for n in self.nodes.values() if n.addr and n.name != YOU]
        p = Profile.open(resolve(str(self.data_dir), YOU))
        try:
            p.store.add_peer_addrs(bytes.fromhex(self.circle), addrs, "token", int(time.time()))
        finally:
            p.close()

    def start_you(self, timeout: float = 60.0) -> NodeProc:
        """ "You" as a headless node too (when there is no TUI to run it)."""
        peers = [n.addr for n in self.nodes.values() if n.addr]
        self._start(YOU, peers)
        self.nodes[YOU].wait_started(timeout)
        return self.nodes[YOU]

    def _start(self, name: str, peers: list[str]) -> None:
        with self._lock:
            if self._closed:
                raise DemoError("The demo is shutting down.")
            node = NodeProc(self.data_dir, name, peers)
            self.nodes[name] = node
            node.start()

    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes.values() if n.pid is not None]

    # tear-down ---------------------------------------------------------------
    def close(self, grace: float = 8.0) -> None:
        """Stop every node (SIGTERM, SIGKILL after ``grace`` s) and delete the data dir unless kept.

        Safe to call twice and from an ``atexit`` hook.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        nodes = list(self.nodes.values())
        for n in nodes:
            n.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for n in nodes:
            n.reap(deadline)
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
