"""The sync stream protocol, both ends: pull what I lack, serve what a peer lacks.

Framing and limits are in :mod:`protocol.node.syncwire`; what to send is
:func:`protocol.sync.plan`. Every record received here goes through the same
validation as gossip (``Node.take``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import records, sync
from protocol.errors import ProtocolError
from protocol.node import api, syncwire
from protocol.node.host import LOG, key_of
from protocol.node.ports import NodePort
from protocol.records import Record
from protocol.view import Held

MERGE_FRAMES = 8
"""``R`` frames taken in one transaction (at most 2,048 records) when they come one right after
the other (within :data:`MERGE_WAIT`): each commit rewrites every page of the record-id index
its records touch (ids are hashes, spread over the whole index), so a member catching up
commits less often. Held at most: these, the ones read ahead (as many) and the reader's,
17 frames (68 MiB from a hostile peer filling each to ``MAX_FRAME``; 3 MiB of an honest answer
of 400-byte messages; yamux lets a peer queue 16 MiB a stream anyway)."""
MERGE_WAIT = 0.005
"""Seconds a batch waits for the next frame before it is committed without it."""


async def pull(node: NodePort, pid: ID, circle_id: bytes) -> None:
    """Ask ``pid`` for what I lack in one circle and take it in, a commit per batch of frames.

    One task reads frames while this one commits; frames that come one right after the other
    are taken as one batch (:data:`MERGE_FRAMES`)."""
    stream = await node.host.new_stream(pid, [TProtocol(syncwire.PROTOCOL)])
    try:
        # Without the genesis (joined by a short token) an empty vector asks for it too.
        pending = node.profile.view(circle_id).genesis is None
        vec = {} if pending else node.core.vector(circle_id)
        await stream.write(syncwire.frame(syncwire.VECTOR, sync.encode_vector(circle_id, vec)))
        received = 0
        strangers: list[Record] = []
        send, frames = trio.open_memory_channel[tuple[bytes, bytes]](MERGE_FRAMES)
        failed: list[Exception] = []
        async with _one_error(), trio.open_nursery() as nursery:
            nursery.start_soon(_read_frames, stream, send, failed)
            async for tag, payload in frames:
                if tag != syncwire.RECORDS:
                    if tag != syncwire.VECTOR:
                        LOG.info("sync denied by %s: %s", pid, payload[:200].decode(errors="replace"))
                        return
                    break
                raws, n = syncwire.parse_records(payload), 1
                with trio.move_on_after(MERGE_WAIT):  # the reader's state survives a timeout
                    while n < MERGE_FRAMES:
                        try:
                            tag, payload = await frames.receive()
                        except trio.EndOfChannel:  # the reader failed: what came is taken first
                            break
                        if tag != syncwire.RECORDS:
                            break  # the end (or a denial): nothing more to read
                        raws += syncwire.parse_records(payload)
                        n += 1
                batch, errors = records.parse_batch(raws)
                for e in errors:
                    node.drop(circle_id, f"sync from {pid}: {e}")
                batch.sort(key=lambda r: (not r.is_roster, r.author, r.seq))
                if pending and any(r.type == records.GENESIS and r.id == circle_id for r in batch):
                    genesis = next(r for r in batch if r.type == records.GENESIS and r.id == circle_id)
                    pending = not node.take(genesis, None)  # the circle opens: its records can be judged
                ours = [r for r in batch if r.type != records.GENESIS and r.circle == circle_id]
                # A stranger's record waits: its author's join may come later in this answer.
                received += _take_all(node, ours, strangers)
                await trio.sleep(0)
                if tag != syncwire.RECORDS:
                    break
            nursery.cancel_scope.cancel()
        if failed:  # the answer broke off: what came before it is taken, the rest comes next time
            raise failed[0]
        received += _settle_strangers(node, pid, circle_id, strangers)
        LOG.debug("pulled %d record(s) of %s from %s", received, circle_id.hex()[:12], pid)
        if received:
            node.emit(api.SyncProgress(circle_id, pid.to_base58(), received, 0))
    finally:
        await stream.close()


@contextlib.asynccontextmanager
async def _one_error() -> AsyncIterator[None]:
    """A reader's or a commit's one failure raised as itself, not in an exception group."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
            raise group.exceptions[0] from None
        raise


async def _read_frames(
    stream: INetStream, out: trio.MemorySendChannel[tuple[bytes, bytes]], failed: list[Exception]
) -> None:
    """Read a pull's answer frame by frame into ``out``, until its last (anything but ``R``); a
    read that fails goes in ``failed`` once the frames before it are passed on."""
    async with out:
        try:
            while True:
                tag, payload = await read_frame(stream)
                await out.send((tag, payload))
                if tag != syncwire.RECORDS:
                    return
        except Exception as e:
            failed.append(e)


def _unplaceable_stranger(node: NodePort, record: Record) -> bool:
    """A record that cannot be placed yet, by an author the roster does not know (yet)."""
    view = node.profile.view(record.circle)
    return not view.known(record.author) and isinstance(view.check(record), Held)


def _take_all(node: NodePort, batch: list[Record], strangers: list[Record]) -> int:
    """Take a batch in one transaction (rolled back whole if it fails); how many were stored.

    Records by authors the roster does not know yet go to ``strangers`` instead.
    """
    stored = 0
    try:
        with node.profile.store.tx():  # one commit per batch, not per record
            # Roster records one by one (each may make the next one's author known), then the
            # rest (which changes no one's standing) in one go.
            for r in (r for r in batch if r.is_roster):
                if _unplaceable_stranger(node, r):
                    strangers.append(r)
                elif node.take(r, None):
                    stored += 1
            rest: list[Record] = []
            for r in (r for r in batch if not r.is_roster):
                (strangers if _unplaceable_stranger(node, r) else rest).append(r)
            stored += node.take_batch(rest, None) if rest else 0
    except BaseException:
        node.profile.forget_views()  # the memory views ran ahead of a rolled-back store
        raise
    return stored


def _settle_strangers(node: NodePort, pid: ID, circle_id: bytes, strangers: list[Record]) -> int:
    """After a whole answer, take the strangers' records it placed; drop the rest with a reason.

    As for gossip (the node's gossip validator), a record by an author nobody knows is not parked in
    the store's held area: a peer (a hostile relay, say) could fill it with records of made-up
    keys. A real one comes again in a later sync, with what places it.
    """
    stored, n = 0, len(strangers) + 1
    while strangers and len(strangers) < n:  # each pass may place some: their joins came first
        n, rest = len(strangers), list[Record]()
        stored += _take_all(node, strangers, rest)
        strangers = rest
    for r in strangers:
        node.drop(circle_id, f"sync from {pid}: a record by {r.author.hex()[:12]}, who is not a member")
    return stored


async def serve(node: NodePort, stream: INetStream) -> None:
    """Answer a pull: members get what they lack; departed members roster records only."""
    pid = stream.muxed_conn.peer_id
    try:
        with trio.fail_after(60):
            tag, payload = await read_frame(stream)
            if tag != syncwire.VECTOR:
                return
            cid, theirs = sync.decode_vector(payload)
            key = key_of(pid)
            row = node.profile.store.circle(cid)
            roster = node.profile.view(cid).roster if row and row.status != "invited" else None
            departed = roster is not None and key is not None and key in roster.departed
            contact = key is not None and key in node.profile.contacts(cid)
            if roster is None or key is None or not (roster.may_sync(key) or departed or contact):
                node.stats["sync_denied"] += 1
                LOG.debug("denied a sync of %s to %s", cid.hex()[:12], pid)
                await stream.write(syncwire.frame(syncwire.DENIED, b"not a member of that circle"))
                return
            # A departed member gets only the roster records it lacks: they tell it that it
            # is out, and why (the rekey in them is sealed to the remaining members only).
            # Without them a removed member, offline at the removal, never learns of it. Before
            # the roster confirms my own join (a short token's), I send roster records only too:
            # what I wrote meanwhile waits for that (Ledger.confirm).
            view = node.profile.view(cid)
            unconfirmed = node.profile.store.ticket(cid) is not None
            roster_only = set(view.roster_records) if departed or unconfirmed else None
            send, mine = node.core.to_send(cid, theirs)
            sent = 0
            batch: list[bytes] = []
            size = 0
            if not theirs and view.genesis is not None and not departed:
                batch.append(view.genesis.raw)  # asked with an empty vector: a joiner by id needs it
            for r in send:
                # Read a batch's worth at a time: the first frame goes out at once, whatever the history.
                for first in range(r.first, r.last + 1, syncwire.BATCH_RECORDS):
                    last = min(r.last, first + syncwire.BATCH_RECORDS - 1)
                    for raw in node.profile.store.raw_range(cid, r.author, first, last):
                        if roster_only is not None and records.record_id(raw) not in roster_only:
                            continue
                        batch.append(raw)
                        size += len(raw)
                        if len(batch) >= syncwire.BATCH_RECORDS or size >= syncwire.BATCH_BYTES:
                            await stream.write(syncwire.records_frame(batch))
                            sent += len(batch)
                            batch, size = [], 0
            # Rare, and always sent: conflicts (so rosters converge) and every record that shows
            # an author equivocating (so members holding different versions both get both).
            evidence = node.profile.store.raws([e.id for e in node.profile.view(cid).evidence()])
            extra = list(dict.fromkeys([*node.profile.store.conflicts(cid), *evidence]))
            if roster_only is not None:
                extra = [raw for raw in extra if records.parse(raw).is_roster]
            batch += extra
            if batch:
                await stream.write(syncwire.records_frame(batch))
                sent += len(batch)
            await stream.write(syncwire.frame(syncwire.VECTOR, sync.encode_vector(cid, mine)))
            node.stats["sync_served"] += sent
            LOG.debug("served %d record(s) of %s to %s", sent, cid.hex()[:12], pid)
            if any(q > mine.get(a, 0) for a, q in theirs.items()):  # they hold what I lack
                node.want_sync(pid, cid)
    except (ProtocolError, trio.TooSlowError) as e:
        LOG.info("sync request from %s refused: %s", pid, e)
    except Exception as e:
        LOG.info("sync stream with %s ended: %s", pid, e)
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise EOFError("the stream ended inside a frame")
        buf += chunk
    return bytes(buf)


async def read_frame(stream: INetStream) -> tuple[bytes, bytes]:
    n = int.from_bytes(await _read_exactly(stream, 4), "big")
    syncwire.check_length(n)
    body = await _read_exactly(stream, n)
    return body[:1], body[1:]
