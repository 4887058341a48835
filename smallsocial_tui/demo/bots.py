"""Simulated friends: a thread per friend that talks through its node's control socket.

A :class:`Bot` watches its node's events (messages, fork invitations), and every
few seconds says something from a list of friendly lines, answers someone
(more readily when it is "you"), or reacts. One bot (the founder) forks a side circle
with another friend and "you" after a while, since the circle is past its soft cap,
carrying the last messages along; the friend it brings along accepts and
chats there too. Everything goes through the same control socket the CLI
uses (``send``, ``fork``, ``accept_fork``, ``react``), never around the node.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.identity import parse_peer_id
from protocol.node import api
from smallsocial_tui import control

LINES = (
    "good morning, circle ☀️",
    "anyone up for a walk later?",
    "I finally fixed my bike's squeaky brake",
    "this tea is excellent, highly recommend",
    "just saw the cutest dog on the street",
    "reading a book about lighthouses, oddly gripping",
    "who's bringing snacks on saturday?",
    "the bakery on the corner has cardamom buns again",
    "my plants survived the week 🌱",
    "I'm trying to learn three chords on the ukulele",
    "it's raining here, perfect excuse to stay in",
    "does anyone have a good soup recipe?",
    "nice to chat somewhere without ads, isn't it",
    "all of this is on 127.0.0.1, by the way",
    "fun fact: every message here is signed and encrypted",
    "I watched the sunset from the roof yesterday",
    "back from the market, the strawberries are in",
    "my cat just walked across the keyboard, sorry if I sent gibberish",
    "what's everyone listening to these days?",
)
REPLIES = (
    "haha, yes!",
    "oh, nice",
    "same here",
    "tell me more",
    "I'm in 👍",
    "good point",
    "hmm, maybe sunday instead?",
    "love that",
)
HELLO_YOU = (
    "hi! welcome to the circle 👋",
    "oh hello, glad you're here",
    "hey you! try /help to see what you can do",
    "welcome! forks, replies, reactions: all here",
)
SIDE_LINES = (
    "shh, this is the side circle — a surprise party planning room 🎉",
    "only the people in here can read this one",
    "what do we get them? I'm thinking a kite",
    "let's keep it small, a picnic maybe",
    "I can bake something",
    "saturday afternoon works for me",
    "who keeps them busy while we set up?",
    "balloons: yes or no?",
)
EMOJI = ("👍", "❤️", "😄", "🎉", "🙌")
SIDE_NAME = "side-quest"


@dataclass
class ForkPlan:
    """When the forking bot forks, and whom it brings (peer IDs)."""

    after: float
    members: list[str]
    name: str = SIDE_NAME
    history: str = "none"
    """What of the circle's messages the side circle carries (``api.ForkCircle.history``)."""
    note: str = ""
    """Said in the circle just before forking (why the fork, what it carries)."""


@dataclass
class _Seen:
    circle: str
    record_id: str
    author: str


class Decks:
    """Lines dealt like cards, shared by every bot of a demo: no line comes again until each
    of its list has been said once (by any friend), and none twice in a row across a reshuffle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: dict[tuple[str, ...], list[str]] = {}
        self._last: dict[tuple[str, ...], str] = {}

    def deal(self, lines: tuple[str, ...], rng: random.Random) -> str:
        with self._lock:
            left = self._left.get(lines)
            if not left:
                left = list(lines)
                rng.shuffle(left)
                if len(left) > 1 and left[-1] == self._last.get(lines):
                    left[0], left[-1] = left[-1], left[0]  # dealt from the end: not the same one again
                self._left[lines] = left
            text = left.pop()
            self._last[lines] = text
            return text


@dataclass
class BotConfig:
    interval: tuple[float, float] = (5.0, 15.0)
    first_after: tuple[float, float] = (1.0, 4.0)
    seed: int | None = None
    log: Path | None = None
    decks: Decks = field(default_factory=Decks)


class Bot(threading.Thread):
    """One simulated friend."""

    def __init__(
        self,
        name: str,
        root: Path,
        key: str,
        circle: str,
        you_key: str,
        config: BotConfig,
        fork_plan: ForkPlan | None = None,
    ) -> None:
        super().__init__(name=f"demo-bot-{name}", daemon=True)
        self.person = name
        self.root = root
        self.key = key
        self.circle = circle
        self.you_key = you_key
        self.config = config
        self.fork_plan = fork_plan
        self.rng = random.Random(None if config.seed is None else f"{config.seed}-{name}")
        self.side: str | None = None  # the side circle, once in it
        self.sent = 0
        self.forked: str | None = None
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self._seen: collections.deque[_Seen] = collections.deque(maxlen=20)
        self._answer_you: list[_Seen] = []
        self._accept: list[str] = []
        self._greeted = False
        self._mu = threading.Lock()

    # events from the node (reader thread) ----------------------------------------
    def on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "MessageReceived" and ev.get("author") != self.key:
            seen = _Seen(str(ev.get("circle")), str(ev.get("record_id")), str(ev.get("author")))
            with self._mu:
                self._seen.append(seen)
                if seen.author == self.you_key and ev.get("kind") in ("text", "reply"):
                    self._answer_you.append(seen)
            if seen.author == self.you_key:
                self._wake.set()
        elif kind == "CircleForked" and ev.get("invited"):
            with self._mu:
                self._accept.append(str(ev.get("circle")))
            self._wake.set()

    # the loop -----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def run(self) -> None:
        start = time.monotonic()
        next_say = start + self.rng.uniform(*self.config.first_after)
        while not self._stop_event.is_set():
            now = time.monotonic()
            wait = next_say - now
            if self.fork_plan is not None and self.forked is None:
                wait = min(wait, start + self.fork_plan.after - now)
            self._wake.wait(max(0.0, wait))
            self._wake.clear()
            if self._stop_event.is_set():
                return
            try:
                self._accept_forks()
                self._answer()
                now = time.monotonic()
                if self.fork_plan is not None and self.forked is None and now >= start + self.fork_plan.after:
                    self._fork()
                if now >= next_say:
                    self._say_something()
                    next_say = time.monotonic() + self.rng.uniform(*self.config.interval)
            except Exception as e:  # the node is busy or going away; try again next turn
                self._log(f"{type(e).__name__}: {e}")

    # actions --------------------------------------------------------------------------
    def _request(self, cmd: api.Command) -> dict[str, Any]:
        reply = control.request(self.root, cmd, timeout=15)
        if not reply["ok"]:
            self._log(f"{type(cmd).__name__}: {reply.get('message')}")
        return reply

    def _pick(self, lines: tuple[str, ...]) -> str:
        """The next line of the demo's shuffled deck of ``lines``: none again before all were said."""
        return self.config.decks.deal(lines, self.rng)

    def _send(self, circle: str, text: str, reply: str | None = None) -> bool:
        cmd = api.SendMessage(bytes.fromhex(circle), text, bytes.fromhex(reply) if reply else None)
        ok = bool(self._request(cmd)["ok"])
        self.sent += ok
        return ok

    def _accept_forks(self) -> None:
        with self._mu:
            pending, self._accept = self._accept, []
        for cid in pending:
            if self._request(api.AcceptFork(bytes.fromhex(cid)))["ok"]:
                self.side = cid
                self._stop_event.wait(self.rng.uniform(0.5, 1.5))
                self._send(cid, "ooh, a side circle! count me in")

    def _answer(self) -> None:
        with self._mu:
            pending, self._answer_you = self._answer_you[-1:], []
        for seen in pending:
            self._stop_event.wait(self.rng.uniform(0.8, 2.5))  # typing…
            lines = REPLIES if self._greeted else HELLO_YOU
            self._greeted = self._send(seen.circle, self._pick(lines), reply=seen.record_id) or self._greeted

    def _fork(self) -> None:
        assert self.fork_plan is not None
        plan = self.fork_plan
        members = tuple(parse_peer_id(m) for m in plan.members)
        if plan.note:
            self._send(self.circle, plan.note)
        reply = self._request(api.ForkCircle(bytes.fromhex(self.circle), plan.name, members, plan.history))
        self.forked = str(reply.get("circle", "")) if reply["ok"] else ""
        if self.forked:
            self.side = self.forked
            self._stop_event.wait(0.5)
            self._send(self.forked, SIDE_LINES[0])

    def _say_something(self) -> None:
        with self._mu:
            recent = [s for s in self._seen if s.circle == self.circle]
        roll = self.rng.random()
        if self.side and roll < 0.25:
            self._send(self.side, self._pick(SIDE_LINES[1:]))
        elif recent and roll < 0.45:
            self._send(self.circle, self._pick(REPLIES), reply=self.rng.choice(recent).record_id)
        elif recent and roll < 0.6:
            target = self.rng.choice(recent)
            emoji = self._pick(EMOJI)
            cmd = api.ReactTo(bytes.fromhex(self.circle), bytes.fromhex(target.record_id), emoji)
            if not self._request(cmd)["ok"]:  # a reply says the same
                self._send(self.circle, emoji, reply=target.record_id)
        else:
            self._send(self.circle, self._pick(LINES))

    def _log(self, text: str) -> None:
        if self.config.log is None:
            return
        try:
            with open(self.config.log, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {self.person}: {text}\n")
        except OSError:
            pass
