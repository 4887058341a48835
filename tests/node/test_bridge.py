"""The bridge from asyncio: two NodeThreads driven from one asyncio loop.

Each node runs trio in its own background thread; commands go in with
``submit``, events come back through ``on_event``, which hands them to the
asyncio loop with ``loop.call_soon_threadsafe`` into an ``asyncio.Queue``.
Blocking calls (``start``, ``stop``) run in ``asyncio.to_thread`` so the loop
keeps turning; a ticker measures how late the loop wakes up while the nodes
work, and that lag must stay small.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from protocol.node import api
from protocol.node.bridge import BridgeError, NodeThread
from protocol.node.paths import ProfilePaths, resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(120)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
MAX_LOOP_LAG_S = 0.2
E = TypeVar("E", bound=api.Event)


class Side:
    """One node seen from asyncio: its thread, its event queue, what it emitted so far."""

    def __init__(self, tmp: Path, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.paths: ProfilePaths = resolve(str(tmp), name)
        profile = Profile.create(self.paths, name)  # no passphrase: no key derivation
        self.key = profile.me
        self.peer_id = profile.identity.peer_id
        profile.close()
        self.loop = loop
        self.queue: asyncio.Queue[api.Event] = asyncio.Queue()
        self.seen: list[api.Event] = []
        self.node = NodeThread(self.paths, self._on_event, listen=[LOOPBACK])

    def _on_event(self, ev: api.Event) -> None:
        # Called on the node's thread: never touch the queue here, hand it to the loop.
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(self.queue.put_nowait, ev)

    async def expect(
        self, kind: type[E], where: Callable[[E], bool] = lambda e: True, timeout: float = 30.0
    ) -> E:
        """The first event of ``kind`` matching ``where`` (earlier ones included), within ``timeout``."""
        for ev in self.seen:
            if isinstance(ev, kind) and where(ev):
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                names = [type(e).__name__ for e in self.seen]
                raise AssertionError(f"{self.name}: no {kind.__name__} within {timeout}s; saw {names}")
            try:
                ev = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                continue
            self.seen.append(ev)
            if isinstance(ev, kind) and where(ev):
                return ev

    async def answer(self, cmd: api.Command, kind: type[E], timeout: float = 30.0) -> E:
        """Submit ``cmd`` and return its answer, which must be ``kind`` (not CommandFailed)."""
        self.node.submit(cmd)
        rid = cmd.request_id
        ev = await self.expect(api.Event, lambda e: getattr(e, "request_id", None) == rid, timeout)
        assert isinstance(ev, kind), f"{self.name}: {type(cmd).__name__} answered with {ev!r}"
        return ev


class LagMeter:
    """How late the asyncio loop runs a 10 ms sleep, at worst, while it is on."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - t0 - self.period)
            self.ticks += 1

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.mark.asyncio
async def test_two_node_threads_chat_from_asyncio(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    alice, bob = Side(tmp_path, "alice", loop), Side(tmp_path, "bob", loop)
    started: list[Side] = []
    try:
        with LagMeter() as lag:
            for side in (alice, bob):
                await asyncio.to_thread(side.node.start)
                started.append(side)
                ev = await side.expect(api.NodeStarted)
                assert ev.peer_id == side.peer_id
                assert ev.addrs and all(a.startswith("/ip4/127.0.0.1/tcp/") for a in ev.addrs)
                # what the node holds at start is out of the collector's way (no full-GC stalls)
                assert gc.get_freeze_count() > 0

            # alice founds a circle and invites bob; the answers carry the request ids.
            create = api.CreateCircle("friends")
            created = await alice.answer(create, api.CircleCreated)
            assert created.request_id == create.request_id and created.name == "friends"
            circle = created.circle

            invite = api.InviteKey(circle, bob.key)
            invited = await alice.answer(invite, api.InviteCreated)
            assert invited.request_id == invite.request_id and invited.circle == circle
            assert invited.token

            # bob joins with the token, which carries alice's address: his node dials her.
            accept = api.AcceptInvite(invited.token)
            joined = await bob.answer(accept, api.CircleJoined)
            assert (joined.request_id, joined.circle, joined.name) == (accept.request_id, circle, "friends")
            await bob.expect(api.PeerConnected, lambda e: e.peer_id == alice.peer_id)
            await alice.expect(api.PeerConnected, lambda e: e.peer_id == bob.peer_id)
            await alice.expect(api.MemberJoined, lambda e: e.circle == circle and e.member == bob.key)

            # bob speaks: MessageSent answers him, MessageReceived reaches alice.
            t0 = time.perf_counter()
            send = api.SendMessage(circle, "hello alice, from asyncio")
            sent = await bob.answer(send, api.MessageSent)
            assert (sent.request_id, sent.circle, sent.seq) == (send.request_id, circle, sent.seq)
            got = await alice.expect(api.MessageReceived, lambda e: e.record_id == sent.record_id)
            latency = time.perf_counter() - t0
            assert (got.circle, got.author, got.text, got.kind) == (
                circle,
                bob.key,
                "hello alice, from asyncio",
                "text",
            )
            assert latency < 10, latency

            # and alice answers, the other way round.
            reply = api.SendMessage(circle, "hi bob", reply_to=sent.record_id)
            back = await alice.answer(reply, api.MessageSent)
            got = await bob.expect(api.MessageReceived, lambda e: e.record_id == back.record_id)
            assert (got.author, got.text, got.ref) == (alice.key, "hi bob", sent.record_id)

            # A command that cannot succeed answers with CommandFailed and one sentence.
            bad = api.SendMessage(b"\x00" * 32, "to nowhere")
            bob.node.submit(bad)
            failed = await bob.expect(api.CommandFailed, lambda e: e.request_id == bad.request_id)
            assert failed.message and failed.message[0].isupper() and failed.message.endswith(".")
            assert not any(
                isinstance(e, api.MessageSent) and e.request_id == bad.request_id for e in bob.seen
            )
        assert lag.ticks >= 3  # the meter ran through the exchange (about 0.1–0.5 s)
        assert lag.worst < MAX_LOOP_LAG_S, f"asyncio loop lagged {lag.worst * 1000:.0f} ms"
        assert not [e for e in alice.seen + bob.seen if isinstance(e, api.RecordDropped)]

        # stop() joins the thread within its deadline; NodeStopped is the last word.
        for side in (alice, bob):
            t0 = time.monotonic()
            assert await asyncio.to_thread(side.node.stop, 5.0) is True
            assert time.monotonic() - t0 < 5.0
            assert not side.node.alive
            stopped = await side.expect(api.NodeStopped, timeout=5)
            assert stopped.error is None
            with pytest.raises(BridgeError):
                side.node.submit(api.SendMessage(circle, "too late"))
    finally:
        for side in started:
            if side.node.alive:
                await asyncio.to_thread(side.node.stop, 5.0)


@pytest.mark.asyncio
async def test_submit_before_start_and_unreachable_peer(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    carol = Side(tmp_path, "carol", loop)
    with pytest.raises(BridgeError):
        carol.node.submit(api.SyncNow())
    await asyncio.to_thread(carol.node.start)
    try:
        await carol.expect(api.NodeStarted)
        # A port nobody listens on (ours, closed): the dial fails and the command says so.
        nobody = "/ip4/127.0.0.1/tcp/1/p2p/" + Side(tmp_path, "dave", loop).peer_id
        cmd = api.ConnectPeer(nobody)
        carol.node.submit(cmd)
        failed = await carol.expect(api.CommandFailed, lambda e: e.request_id == cmd.request_id)
        assert "Could not reach" in failed.message
        sync = api.SyncNow()
        done = await carol.answer(sync, api.CommandDone)
        assert done.request_id == sync.request_id
    finally:
        assert await asyncio.to_thread(carol.node.stop, 5.0) is True
    with pytest.raises(BridgeError):
        carol.node.submit(api.SyncNow())


@pytest.mark.asyncio
async def test_every_command_is_answered_even_when_the_node_stops(tmp_path: Path) -> None:
    """Commands still queued when stop() comes get CommandFailed, not silence; later ones BridgeError."""
    loop = asyncio.get_running_loop()
    erin = Side(tmp_path, "erin", loop)
    await asyncio.to_thread(erin.node.start)
    cmds: list[api.Command] = [api.CreateCircle(f"circle {i}") for i in range(200)]
    for cmd in cmds:
        erin.node.submit(cmd)
    stopping = asyncio.create_task(asyncio.to_thread(erin.node.stop, 5.0))
    while True:  # keep submitting until the bridge refuses: each accepted one needs an answer too
        late = api.SyncNow()
        try:
            erin.node.submit(late)
        except BridgeError:
            break
        cmds.append(late)
        await asyncio.sleep(0.001)
    assert await stopping is True
    await erin.expect(api.NodeStopped, timeout=5)
    answers = {getattr(e, "request_id", None): e for e in erin.seen}
    missing = [c.request_id for c in cmds if c.request_id not in answers]
    assert not missing, f"{len(missing)} commands were never answered"
    failed = [e for e in answers.values() if isinstance(e, api.CommandFailed)]
    assert all(e.message == "The node stopped before it could do this." for e in failed)
    assert erin.seen[-1] == api.NodeStopped()
