"""The benchmark workers' protocol and payloads.

A worker prints JSON lines on stdout (each with ``"t": time.time()``) and reads JSON commands
on stdin; a command with ``"q"`` is answered by ``{"ev": "reply", "q": ...}`` (:func:`reply`).
Receipts stay in the worker's memory (:class:`Receipts`) and are fetched with ``count`` /
``report``, so the measured processes do not write a line per message. A message is a
:data:`PAYLOAD_BYTES`-byte text that starts with a JSON header (:func:`pad`). A worker that
runs a trio loop reads its commands with :func:`commands`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator
from typing import Any

PAYLOAD_BYTES = 400

_DECODER = json.JSONDecoder()
_OUT_LOCK = threading.Lock()


def pad(fields: dict[str, Any]) -> str:
    """A message text: ``fields`` as compact JSON, padded to ``PAYLOAD_BYTES``."""
    head = json.dumps(fields, separators=(",", ":"))
    return head + " " + "x" * max(0, PAYLOAD_BYTES - len(head) - 1)


def payload(phase: str, i: int, ts: float) -> str:
    return pad({"p": phase, "i": i, "ts": ts})


CATCHUP = "catchup"
"""The catch-up phase: told in bulk by design, counted by number (:meth:`Receipts.count`)."""


def parse_payload(text: str) -> dict[str, Any] | None:
    """The header of a text :func:`pad` made (with a phase ``"p"``), else ``None``."""
    try:
        head, _ = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return head if isinstance(head, dict) and "p" in head else None


def out(obj: dict[str, Any]) -> None:
    """One JSON line on stdout, whole (threads share it)."""
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with _OUT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def reply(cmd: dict[str, Any], **fields: Any) -> None:
    out({"ev": "reply", "q": cmd.get("q"), "t": time.time(), **fields})


def sent_done(phase: str, n: int, sent: int, first: float | None) -> None:
    """The line a bare sender (gossipsub, IRC) prints when it has sent a phase's messages."""
    t = time.time()
    out({"ev": "sent_done", "p": phase, "n": n, "sent": sent, "first": first, "last": t, "t": t})


async def commands() -> AsyncGenerator[dict[str, Any], None]:
    """The commands on stdin, one JSON line each, for a worker running a trio loop."""
    import trio

    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buf = b""
    while chunk := await stdin.receive_some(1 << 16):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield json.loads(line)


class Receipts:
    """First receipt of each (phase, index): (send stamp, receive stamp); thread-safe."""

    def __init__(self, by_number: bool = False) -> None:
        self.by_number = by_number
        """Messages told in bulk count by number in every phase (a catch-up member: what it
        catches up is all told so, and reading it back would cost the catch-up it measures)."""
        self.lock = threading.Lock()
        self.by_phase: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
        self.dups: Counter[str] = Counter()
        self.last: dict[str, float] = {}
        self.arrived = 0
        """Messages told in bulk (``MessagesArrived``: a sync batch, its bodies not opened)."""
        self.arrived_first: float | None = None
        self.arrived_last: float | None = None
        self.told = 0
        """Messages of live phases told in bulk, read back from the node's history (:meth:`add_told`)."""

    def add_bulk(self, n: int, t: float) -> None:
        with self.lock:
            self.arrived += n
            self.arrived_first = self.arrived_first or t
            self.arrived_last = t

    def add(self, text: str, t: float) -> None:
        head = parse_payload(text)
        if head is None:
            return
        p, i = head["p"], int(head["i"])
        with self.lock:
            d = self.by_phase[p]
            if i in d:
                self.dups[p] += 1
                return
            d[i] = (float(head["ts"]), t)
            self.last[p] = t

    def add_told(self, text: str, t: float) -> bool:
        """A message the node told in bulk (read back from its history), stamped when told;
        nothing if it was received already (not a duplicate: the same message read back)."""
        head = parse_payload(text)
        if head is None or head["p"] == CATCHUP:  # the catch-up phase counts bulk by number
            return False
        p, i = head["p"], int(head["i"])
        with self.lock:
            d = self.by_phase[p]
            if i in d:
                return False
            d[i] = (float(head["ts"]), t)
            self.last[p] = max(t, self.last.get(p, t))
            self.told += 1
            return True

    def count(self, p: str) -> tuple[int, float | None]:
        """Messages of phase ``p`` received, and when the last came; the catch-up's with those
        told in bulk (a live phase's bulk-told ones are read back by id: :meth:`add_told`)."""
        with self.lock:
            if p != CATCHUP and not self.by_number:
                return len(self.by_phase.get(p, ())), self.last.get(p)
            stamps = [t for t in (self.last.get(p), self.arrived_last) if t is not None]
            return len(self.by_phase.get(p, ())) + self.arrived, max(stamps, default=None)

    def report(self, p: str) -> tuple[list[list[float]], int]:
        with self.lock:
            return [[i, ts, t] for i, (ts, t) in self.by_phase.get(p, {}).items()], self.dups[p]


def read_back(profile: Any, circle: bytes, marks: dict[bytes, int]) -> list[str]:
    """The texts of a circle's messages stored since the last read (``marks``: the last rowid
    read per circle), on the node's own thread and store connection: what a ``MessagesArrived``
    told, read back cheaply (only what is new) and consistently (the writer's connection)."""
    from protocol import messages, records

    keys = profile.epoch_keys(circle)
    texts = []
    for rowid, rid, raw in profile.store.messages_after(circle, marks.get(circle, 0)):
        marks[circle] = rowid
        rec = records.load(raw, rid)
        key = keys.get(bytes(rec.body["e"]))
        if key is not None:
            texts.append(messages.open_message(rec, key).text or "")
    return texts
