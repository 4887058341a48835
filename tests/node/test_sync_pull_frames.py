"""The requester's side of a sync answer (``syncer.pull``) against a scripted responder: frames
already read are taken in one transaction, a batch's records are the same whichever way the
answer is cut into frames, and an answer that breaks off mid-frame keeps what came before it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from protocol import sync
from protocol.identity import Identity
from protocol.node import api, syncer, syncwire
from protocol.node.node import Node
from protocol.node.profile import Profile
from protocol.records import Record

from .test_core_batch import rows, twin

pytestmark = pytest.mark.timeout(60)


class ScriptedStream:
    """A sync stream whose answer is bytes given in advance, read in chunks of ``chunk``."""

    def __init__(self, answer: bytes, chunk: int = 65536) -> None:
        self.answer, self.at, self.chunk = answer, 0, chunk
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def read(self, n: int) -> bytes:
        await trio.sleep(0)
        out = self.answer[self.at : self.at + min(n, self.chunk)]
        self.at += len(out)
        return out

    async def close(self) -> None:
        pass


class ScriptedHost:
    def __init__(self, stream: ScriptedStream) -> None:
        self.stream = stream

    async def new_stream(self, pid: object, protocols: object) -> ScriptedStream:
        return self.stream


def answer(batch: list[Record], per_frame: int, end: bool = True) -> bytes:
    frames = [
        syncwire.records_frame([r.raw for r in batch[k : k + per_frame]])
        for k in range(0, len(batch), per_frame)
    ]
    return b"".join(frames) + (
        syncwire.frame(syncwire.VECTOR, sync.encode_vector(b"\0" * 32, {})) if end else b""
    )


def pull(profile: Profile, data: bytes) -> tuple[Node, list[api.Event], list[int]]:
    """Run ``syncer.pull`` for the profile's node against ``data``; the node, its events and the
    size of each transaction's batch (``take_batch``)."""
    got: list[api.Event] = []
    node = Node(profile, got.append)
    node.host = ScriptedHost(ScriptedStream(data))  # type: ignore[assignment]
    sizes: list[int] = []
    take_batch = node.take_batch

    def counted(batch: list[Record], source: object) -> int:
        sizes.append(len(batch))
        return take_batch(batch, source)  # type: ignore[arg-type]

    node.take_batch = counted  # type: ignore[method-assign]
    cid = next(iter(c.id for c in profile.store.circles()))
    trio.run(syncer.pull, node, ID.from_base58(Identity.generate().peer_id), cid)
    return node, got, sizes


@pytest.mark.parametrize("per_frame", [1, 7, 256])
def test_frames_read_ahead_are_taken_together_with_the_same_result(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path, per_frame: int
) -> None:
    alice, bob, _, c = world
    batch = [bob.send_text(c, f"m{i}") for i in range(600)]
    one = twin(alice, tmp_path / "one")
    try:
        _, got, sizes = pull(one, answer(batch, per_frame))
        assert sum(sizes) == len(batch)
        assert len(sizes) < math.ceil(len(batch) / per_frame)  # frames read ahead went in together
        assert max(sizes) <= syncer.MERGE_FRAMES * per_frame
        assert {r.id for r in batch} <= rows(one, c)[0]
        progress = [e for e in got if isinstance(e, api.SyncProgress)]
        assert [p.received for p in progress] == [len(batch)]
    finally:
        one.close()


def test_an_answer_broken_off_keeps_the_frames_before_the_break(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, bob, _, c = world
    batch = [bob.send_text(c, f"m{i}") for i in range(40)]
    whole = answer(batch, 10, end=False)
    cut = whole[: len(whole) - 100]  # the last frame ends early
    one = twin(alice, tmp_path / "one")
    try:
        with pytest.raises(EOFError):  # as itself, not in an exception group
            pull(one, cut)
        held = rows(one, c)[0]
        assert {r.id for r in batch[:30]} <= held
        assert not {r.id for r in batch[30:]} & held
    finally:
        one.close()


def test_a_frame_over_the_limit_ends_the_pull_with_what_came_before(
    world: tuple[Profile, Profile, Profile, bytes], tmp_path: Path
) -> None:
    alice, bob, _, c = world
    batch = [bob.send_text(c, f"m{i}") for i in range(20)]
    bad = (syncwire.MAX_FRAME + 1).to_bytes(4, "big") + b"R"
    one = twin(alice, tmp_path / "one")
    try:
        with pytest.raises(Exception, match="outside"):
            pull(one, answer(batch, 10, end=False) + bad)
        assert {r.id for r in batch} <= rows(one, c)[0]
    finally:
        one.close()
