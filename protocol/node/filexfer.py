"""The file stream ``/smallsocial/file/1.0.0``, all three roles: serve, fetch, upload.

- :func:`serve`: answer ``G`` (blobs I hold, to a key that may sync the circle; in a fork,
  the parent's blobs of files carried into it too) and, on
  a relay, ``P`` (a member's upload, within the circle's byte quota).
- :func:`fetch`: get a file's blobs from connected members (then relays), checking each
  blob (id, then the manifest's or the chunk's AEAD) as it arrives; a peer that sends a
  bad one is logged and not asked again, what it did not deliver is asked elsewhere.
- :func:`uploader`: the sender's loop that hands its files' blobs to the circle's pinned
  relays (only those a relay lacks), until one took them all.

Framing is :mod:`protocol.node.filewire`; blobs and their checks :mod:`protocol.files`;
where blobs live :mod:`protocol.node.blobstore`.
"""

from __future__ import annotations

import contextlib
import weakref
from pathlib import Path
from typing import Any, Protocol

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import circle, files
from protocol.errors import ProtocolError
from protocol.node import api, blobstore, filewire
from protocol.node.blobstore import BlobStore
from protocol.node.filewire import frame
from protocol.node.host import LOG, key_of
from protocol.node.limits import RelayPolicy
from protocol.node.profile import Profile
from protocol.node.syncer import read_frame


class Node(Protocol):
    """What the file stream needs of a node (:class:`protocol.node.node.Node` is one)."""

    profile: Profile
    relay: RelayPolicy | None
    stats: dict[str, int]
    host: Any
    peers: Any
    """Its :class:`~protocol.node.peers.Peers` (``connected``: the peer IDs connected now)."""

    def emit(self, event: api.Event) -> None: ...


BATCH = filewire.MAX_WANT
"""Blob ids asked in one ``G`` while fetching. Every ``G`` of a peer goes out at once (a few KiB)
and the answers are read in turn, so no round trip waits between batches: with 16 ids per ``G``
asked one after the other a 20 MB fetch ran at 33 MB/s, with everything asked up front ~60."""
FRAME_TIMEOUT = 30.0
PUT_WINDOW = 8
"""Uploaded blobs whose answer is not read yet."""
UPLOAD_POLL = 1.0
UPLOAD_BACKOFF_MAX = 300.0
"""The longest wait before offering a relay again a file it refused."""
"""Seconds between looks for files a relay has not taken yet."""

_BLOB_BYTES: weakref.WeakKeyDictionary[Node, dict[bytes, int]] = weakref.WeakKeyDictionary()
"""Per relay node and circle: bytes of blobs stored (counted from disk once)."""


def expire(node: Node, circle_id: bytes, before: float) -> int:
    """A relay's retention: delete the circle's blobs stored before ``before`` (wall-clock
    seconds) and count them off its byte quota; how many."""
    n, size = _store(node).expire(circle_id, before)
    if n:
        LOG.info("retention: deleted %d file blob(s) of circle %s", n, circle_id.hex()[:12])
        used = _BLOB_BYTES.get(node, {})
        if circle_id in used:
            used[circle_id] = max(0, used[circle_id] - size)
    return n


def _store(node: Node) -> BlobStore:
    return BlobStore(node.profile.paths.root)


def may_fetch(node: Node, circle_id: bytes, key: bytes | None) -> str | None:
    """None if ``key`` may fetch the circle's blobs from me, else why not."""
    row = node.profile.store.circle(circle_id)
    if row is None or row.status == "invited" or key is None:
        return "not a member of that circle"
    if not node.profile.view(circle_id).roster.may_sync(key):
        return "not a member of that circle"
    return None


def may_upload(node: Node, circle_id: bytes, key: bytes | None, size: int) -> str | None:
    """None if a relay takes a blob of ``size`` bytes from ``key`` for the circle, else why not."""
    row = node.profile.store.circle(circle_id)
    if node.relay is None or row is None or row.status != "relay":
        return "this node does not relay that circle"
    if key is None or not node.profile.view(circle_id).roster.is_member(key):
        return "not a member of that circle"
    if size > files.MAX_BLOB:
        return f"a blob is at most {files.MAX_BLOB} bytes"
    used = _BLOB_BYTES.setdefault(node, {})
    if circle_id not in used:
        used[circle_id] = _store(node).bytes_used(circle_id)
    records_bytes = node.relay.use(circle_id)[1]
    if records_bytes + used[circle_id] + size > node.relay.quota.bytes:
        node.profile.store.bump("over_quota")
        LOG.warning("circle %s is at its byte quota: refusing a file upload", circle_id.hex()[:12])
        return "that circle is at this relay's quota"
    return None


def _parent(node: Node, circle_id: bytes) -> bytes | None:
    """The circle ``circle_id`` was forked from: files carried into it keep their blobs there.

    A blob id is a capability (the BLAKE2b-256 of a ciphertext, learnt only from a manifest the
    asker can open), so a fork's member may have from the parent's blobs what it names."""
    g = node.profile.view(circle_id).genesis
    return circle.parent_of(g) if g is not None else None


# serving -----------------------------------------------------------------------------------
async def serve(node: Node, stream: INetStream) -> None:
    """Answer a peer's ``G`` and ``P`` frames until it closes the stream."""
    pid = stream.muxed_conn.peer_id
    key, store = key_of(pid), _store(node)
    try:
        while True:
            try:
                with trio.fail_after(60):
                    tag, payload = await read_frame(stream)
            except EOFError:
                return
            if tag == filewire.GET:
                cid, ids = filewire.parse_get(payload)
                why = may_fetch(node, cid, key)
                if why is not None:
                    node.stats["files_denied"] += 1
                    await stream.write(frame(filewire.DENIED, why.encode()))
                    return
                parent = _parent(node, cid)
                for bid in ids:
                    blob = store.get(cid, bid)
                    if blob is None and parent is not None:  # a file carried into this fork
                        blob = store.get(parent, bid)
                    answer = (
                        frame(filewire.BLOB, bid + blob) if blob is not None else frame(filewire.NONE, bid)
                    )
                    await stream.write(answer)
                    node.stats["file_blobs_served"] += blob is not None
                await stream.write(frame(filewire.END, b""))
            elif tag == filewire.PUT:
                cid, blob = filewire.split_id(payload)
                why = may_upload(node, cid, key, len(blob))
                if why is not None:
                    node.stats["files_denied"] += 1
                    await stream.write(frame(filewire.DENIED, why.encode()))
                    return
                bid = files.blob_id(blob)
                if not store.has(cid, bid):
                    store.put(cid, bid, blob)
                    _BLOB_BYTES[node][cid] += len(blob)
                await stream.write(frame(filewire.OK, bid))
            else:
                await stream.write(frame(filewire.DENIED, b"unknown frame"))
                return
    except (ProtocolError, trio.TooSlowError) as e:
        LOG.info("file request from %s refused: %s", pid, e)
    except Exception as e:
        LOG.info("file stream with %s ended: %s", pid, e)
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


# fetching ----------------------------------------------------------------------------------
def sources(node: Node, circle_id: bytes) -> list[ID]:
    """Connected peers that may hold the circle's blobs: members first, then its relays."""
    roster = node.profile.view(circle_id).roster
    me = node.profile.me
    keyed = [(pid, key_of(pid)) for pid in sorted(node.peers.connected, key=str)]
    members = [pid for pid, k in keyed if k is not None and k != me and roster.is_member(k)]
    relays = [pid for pid, k in keyed if k is not None and k in roster.relays]
    return members + relays


class BadPeer(Exception):
    """A peer sent a blob that is not what was asked: not asked again for this file."""


async def _ask(
    stream: INetStream, circle_id: bytes, ids: list[bytes]
) -> tuple[dict[bytes, bytes], list[bytes]]:
    """One ``G``: the blobs the peer sent (by id, each checked against its id) and those it lacks."""
    await stream.write(filewire.get_frame(circle_id, ids))
    return await _answer(stream, ids)


async def _answer(stream: INetStream, ids: list[bytes]) -> tuple[dict[bytes, bytes], list[bytes]]:
    """Read the answer to a ``G`` for ``ids`` (see :func:`_ask`)."""
    got: dict[bytes, bytes] = {}
    lacks: list[bytes] = []
    while True:
        with trio.fail_after(FRAME_TIMEOUT):
            tag, payload = await read_frame(stream)
        if tag == filewire.END:
            return got, lacks
        if tag == filewire.DENIED:
            raise BadPeer(f"denied: {payload[:200].decode(errors='replace')}")
        bid, blob = filewire.split_id(payload)
        if bid not in ids:
            raise BadPeer(f"sent blob {bid.hex()[:12]}, which was not asked for")
        if tag == filewire.NONE:
            lacks.append(bid)
        elif tag == filewire.BLOB:
            if files.blob_id(blob) != bid:
                raise BadPeer(f"sent a blob for {bid.hex()[:12]} whose hash is not that id")
            got[bid] = blob
        else:
            raise BadPeer(f"sent an unknown frame {tag!r}")


async def _fetch_from(
    node: Node,
    pid: ID,
    circle_id: bytes,
    record_id: bytes,
    info: files.FileInfo,
    store: BlobStore,
    home: bytes,
) -> None:
    """Take from ``pid`` what it has of the file, asking in ``circle_id`` and keeping the blobs
    under ``home`` (:func:`protocol.node.blobstore.locate`); ``BadPeer`` if it sent a bad blob."""
    stream = await node.host.new_stream(pid, [TProtocol(filewire.PROTOCOL)])
    try:
        if not store.has(home, info.manifest):
            got, _ = await _ask(stream, circle_id, [info.manifest])
            if info.manifest not in got:
                return
            try:
                files.open_manifest(info, got[info.manifest])
            except ProtocolError as e:
                raise BadPeer(f"sent a manifest that does not open: {e}") from None
            store.put(home, info.manifest, got[info.manifest])
        ids = blobstore.chunk_ids(store, home, info) or []
        index = {c: i for i, c in enumerate(ids)}
        want = store.missing(home, ids)
        have = blobstore.have(store, home, info)
        batches = [want[n : n + BATCH] for n in range(0, len(want), BATCH)]
        if batches:
            await stream.write(b"".join(filewire.get_frame(circle_id, b) for b in batches))
        for batch in batches:
            got, _ = await _answer(stream, batch)
            for bid, blob in got.items():
                try:
                    files.open_chunk(info, index[bid], blob)
                except ProtocolError as e:
                    raise BadPeer(f"sent chunk {index[bid]} that does not open: {e}") from None
                store.put(home, bid, blob)
                have += files.chunk_length(info.size, info.chunk_size, index[bid])
            if got:
                node.emit(api.FileProgress(circle_id, record_id, have, info.size))
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


async def fetch(
    node: Node, circle_id: bytes, record_id: bytes, request_id: int | None, save_to: str | None = None
) -> api.FileFetched:
    """Fetch a file message's blobs from whoever has them (and save the file to ``save_to``);
    the answer (emitted when nobody awaits it by request id)."""
    store = _store(node)
    try:
        info, home = blobstore.locate(node.profile, circle_id, record_id)
    except ValueError as e:
        return _done(node, api.FileFetched(request_id, circle_id, record_id, False, str(e), 0, 0))
    for pid in sources(node, circle_id):
        if blobstore.complete(store, home, info):
            break
        try:
            await _fetch_from(node, pid, circle_id, record_id, info, store, home)
        except BadPeer as e:
            node.stats["file_blobs_refused"] += 1
            LOG.warning("file %s: refused what %s sent (%s); asking elsewhere", record_id.hex()[:12], pid, e)
        except Exception as e:
            LOG.info("file %s: fetching from %s failed: %s", record_id.hex()[:12], pid, e)
    have = blobstore.have(store, home, info)
    if blobstore.complete(store, home, info):
        path = None
        if save_to is not None:
            out = Path(save_to).expanduser()
            try:
                out = blobstore.assemble(store, home, info, out)
            except ValueError as e:
                return _done(
                    node, api.FileFetched(request_id, circle_id, record_id, False, str(e), have, info.size)
                )
            path = str(out)
        done = api.FileFetched(request_id, circle_id, record_id, True, "", have, info.size, path)
        return _done(node, done)
    why = (
        f"Only {files.human_size(have)} of {files.human_size(info.size)} could be fetched: no connected "
        "member or relay has the rest yet; try again later."
    )
    return _done(node, api.FileFetched(request_id, circle_id, record_id, False, why, have, info.size))


def _done(node: Node, ev: api.FileFetched) -> api.FileFetched:
    if ev.request_id is None:
        node.emit(ev)
    return ev


# uploading ---------------------------------------------------------------------------------
async def push(node: Node, pid: ID, circle_id: bytes, ids: list[bytes]) -> bool:
    """Upload to the relay ``pid`` the blobs of ``ids`` it lacks; True once it holds them all."""
    store = _store(node)
    stream = await node.host.new_stream(pid, [TProtocol(filewire.PROTOCOL)])
    try:
        lacking: list[bytes] = []
        for n in range(0, len(ids), filewire.MAX_WANT):
            batch = ids[n : n + filewire.MAX_WANT]
            await stream.write(filewire.get_frame(circle_id, batch))
            while True:  # headers only would do; a relay's blobs are not read back, only counted
                with trio.fail_after(FRAME_TIMEOUT):
                    tag, payload = await read_frame(stream)
                if tag == filewire.END:
                    break
                if tag == filewire.DENIED:
                    LOG.info("relay %s will not list blobs: %s", pid, payload[:200].decode(errors="replace"))
                    return False
                bid, _ = filewire.split_id(payload)
                if tag == filewire.NONE:
                    lacking.append(bid)
        in_flight = 0
        for n, bid in enumerate(lacking):
            blob = store.get(circle_id, bid)
            if blob is None:
                return False
            await stream.write(frame(filewire.PUT, circle_id + blob))
            in_flight += 1
            # Up to PUT_WINDOW blobs go out before their answers are read; then one answer per blob.
            while in_flight and (in_flight >= PUT_WINDOW or n == len(lacking) - 1):
                with trio.fail_after(FRAME_TIMEOUT):
                    tag, payload = await read_frame(stream)
                in_flight -= 1
                if tag != filewire.OK:
                    LOG.info("relay %s refused a blob: %s", pid, payload[:200].decode(errors="replace"))
                    return False
        return True
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


async def uploader(node: Node) -> None:
    """Hand my files' blobs to the circles' connected relays, until one relay took each file."""
    store = _store(node)
    retry: dict[tuple[bytes, bytes], tuple[float, float]] = {}
    """(circle, manifest) a relay refused or failed: (when to try again, the wait after that)."""
    while True:
        await trio.sleep(UPLOAD_POLL)
        for cid, manifest in store.pending_uploads():
            at, wait = retry.get((cid, manifest), (0.0, UPLOAD_POLL))
            if trio.current_time() < at:
                continue
            row = node.profile.store.circle(cid)
            if row is None or row.status != "member":
                continue
            ids = store.blob_ids(cid, manifest)
            if ids is None:
                store.uploaded(cid, manifest)
                continue
            relays = node.profile.view(cid).roster.relays
            taken = False
            connected = [p for p in list(node.peers.connected) if key_of(p) in relays]
            for pid in connected:
                try:
                    with trio.fail_after(300):
                        taken = await push(node, pid, cid, ids) or taken
                except Exception as e:
                    LOG.info("upload of file %s to relay %s failed: %s", manifest.hex()[:12], pid, e)
            if taken:
                LOG.info("relay took file %s of circle %s", manifest.hex()[:12], cid.hex()[:12])
                store.uploaded(cid, manifest)
                retry.pop((cid, manifest), None)
            elif connected:  # refused (a quota, say) or failed: back off, up to UPLOAD_BACKOFF_MAX
                retry[(cid, manifest)] = (trio.current_time() + wait, min(wait * 2, UPLOAD_BACKOFF_MAX))
