"""The demo's world: a temporary data dir, a circle of friends, and their nodes as processes.

:class:`DemoWorld` creates the profiles ("you" and a few friends) offline,
founds the circle, has everyone join, and exchanges the records as bundles so
every store starts with the same roster. :class:`NodeProc` runs one profile's
``smallsocial run --json`` (through the shared process harness) in its own session on
127.0.0.1 and hands its JSON events to whoever subscribed. :meth:`DemoWorld.close` stops every process
(SIGTERM, then SIGKILL after a deadline) and deletes the data dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from protocol.node import family
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from protocol.node.reach import ENV as DISCOVERY_ENV
from smallsocial_tui import nodeproc

CIRCLE_NAME = "demo-friends"
FRIEND_NAMES = ("alice", "bob", "carol", "dave", "erin")
YOU = "you"


class DemoError(RuntimeError):
    """The demo could not set up its world; the message is one sentence."""


@dataclass(frozen=True)
class Person:
    name: str
    key: str  # peer ID text
    root: Path  # the profile directory


class NodeProc(nodeproc.NodeProc):
    """One profile's headless node from the shared harness (:mod:`smallsocial_tui.nodeproc`).

    It runs through ``python -m smallsocial_tui.demo node``, which asks Linux for SIGTERM
    when the demo dies (``PR_SET_PDEATHSIG``: launch it from a thread that outlives it, the
    main thread), in its own session (no terminal signals; one signal reaches its group),
    with none of the user's ``SMALLSOCIAL_*`` settings, on 127.0.0.1 only.
    """

    def __init__(self, data_dir: Path, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLSOCIAL_")}
        env[DISCOVERY_ENV] = "off"  # a demo friend stays on 127.0.0.1
        super().__init__(
            data_dir,
            name,
            # the data dir on the command line too: one can see (and the tests find) whose node it is
            program=(
                sys.executable,
                "-m",
                "smallsocial_tui.demo",
                "node",
                "--data-dir",
                str(data_dir),
                "--profile",
                name,
            ),
            stderr_path=data_dir / f"{name}.stderr.log",
            base_env=env,
            new_session=True,
        )

    def wait_started(self, timeout: float = 60.0, *, serving: bool = False) -> str:
        """The node's address (``/ip4/127.0.0.1/tcp/…/p2p/…``) once it listens."""
        try:
            return super().wait_started(timeout, serving=serving)
        except nodeproc.ProcError:
            tail = self.stderr_text().strip().splitlines()[-3:]
            raise DemoError(f"{self.name}'s node did not start: {' / '.join(tail) or 'no output'}") from None


def _profile(data_dir: Path, name: str) -> Profile:
    return Profile.create(resolve(str(data_dir), name), name)


class DemoWorld:
    """Profiles, the circle, the friends' nodes, and the clean-up of all of it."""

    def __init__(self, friends: int = 3, *, keep: bool = False) -> None:
        if not 1 <= friends <= len(FRIEND_NAMES):
            raise DemoError(f"The demo has 1 to {len(FRIEND_NAMES)} friends.")
        self.friend_names = list(FRIEND_NAMES[:friends])
        self.soft_cap = max(2, friends)
        """The demo circle's soft cap: one below its size (the friends and you), at least 2."""
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
            # A soft cap one below the circle's size: the circle is past it from the start, so
            # the founder's bot forks (with the recent history) instead of growing it.
            family.set_soft_cap(founder, cid, self.soft_cap)
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
            node = NodeProc(self.data_dir, name)
            self.nodes[name] = node
            node.launch(*peers)

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
            n.reap(deadline - time.monotonic())
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
