"""Where a profile keeps file blobs, and the file steps that need a disk but no network.

Blobs (:mod:`protocol.files`: sealed chunks and manifests) live in
``<profile>/files/<circle hex>/<blob id hex>``, each written whole (a temporary file,
then a rename), so a blob present is a blob complete and checked, and a killed
transfer resumes with what it has. A sender's file waiting for a relay to take it
is marked by ``<profile>/files/<circle hex>/up-<manifest id hex>`` until one did.

Besides the store: sealing a file from disk into blobs (:func:`prepare`), finding a
file message's descriptor and where its blobs live (:func:`locate`), and putting a fetched
file back together, checked against its size and hash (:func:`assemble`).

A file message carried into a fork (docs/protocol.md 12.1) was announced in the parent: its
blobs live under the parent's directory (its *home*), on the profile that sent it and on those
that fetch it in the fork alike, and a node serving a fork's members looks there too
(:func:`protocol.node.filexfer.serve`).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from protocol import files, messages, records
from protocol.errors import ProtocolError
from protocol.node import carrying

if TYPE_CHECKING:
    from protocol.node.profile import Profile

UP_PREFIX = "up-"


class BlobStore:
    """A profile's blobs, by circle and id."""

    def __init__(self, root: Path) -> None:
        self.root = root / "files"

    def dir(self, circle_id: bytes) -> Path:
        return self.root / circle_id.hex()

    def path(self, circle_id: bytes, blob_id: bytes) -> Path:
        return self.dir(circle_id) / blob_id.hex()

    def has(self, circle_id: bytes, blob_id: bytes) -> bool:
        return self.path(circle_id, blob_id).is_file()

    def get(self, circle_id: bytes, blob_id: bytes) -> bytes | None:
        try:
            return self.path(circle_id, blob_id).read_bytes()
        except OSError:
            return None

    def put(self, circle_id: bytes, blob_id: bytes, blob: bytes) -> None:
        """Store a blob the caller checked (its id is its hash), whole or not at all."""
        d = self.dir(circle_id)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = d / blob_id.hex()
        if final.exists():
            return
        tmp = d / f".{blob_id.hex()}.{os.getpid()}.tmp"
        try:
            tmp.write_bytes(blob)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def missing(self, circle_id: bytes, ids: list[bytes]) -> list[bytes]:
        return [i for i in ids if not self.has(circle_id, i)]

    def expire(self, circle_id: bytes, before: float) -> tuple[int, int]:
        """Delete the circle's blobs stored before ``before`` (seconds since the epoch, this
        machine's clock, as the file's modification time says); (blobs, bytes) deleted.

        A relay's retention sweep: it cannot read which announcement a blob belongs to, but a
        blob comes to it (uploaded by the sender once the announcement is committed) when the
        announcement does, so blobs stored before the cut belong to announcements received
        before it, which the same sweep deletes."""
        d = self.dir(circle_id)
        if not d.is_dir():
            return 0, 0
        n = size = 0
        for p in d.iterdir():
            if len(p.name) != 64:
                continue
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                if st.st_mtime < before:
                    p.unlink()
                    n, size = n + 1, size + st.st_size
        return n, size

    def bytes_used(self, circle_id: bytes) -> int:
        """Bytes of blobs stored for a circle (a relay's quota counts them)."""
        d = self.dir(circle_id)
        if not d.is_dir():
            return 0
        return sum(p.stat().st_size for p in d.iterdir() if len(p.name) == 64)

    # uploads waiting for a relay -------------------------------------------------------------
    def mark_upload(self, circle_id: bytes, manifest: bytes) -> None:
        d = self.dir(circle_id)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        (d / f"{UP_PREFIX}{manifest.hex()}").touch()

    def uploaded(self, circle_id: bytes, manifest: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir(circle_id) / f"{UP_PREFIX}{manifest.hex()}").unlink()

    def pending_uploads(self) -> list[tuple[bytes, bytes]]:
        """(circle, manifest id) of files a relay has not taken yet."""
        out: list[tuple[bytes, bytes]] = []
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            for p in d.glob(f"{UP_PREFIX}*"):
                with contextlib.suppress(ValueError):
                    out.append((bytes.fromhex(d.name), bytes.fromhex(p.name.removeprefix(UP_PREFIX))))
        return out

    def blob_ids(self, circle_id: bytes, manifest: bytes) -> list[bytes] | None:
        """The manifest and every chunk id of a file whose manifest I hold and can read (my own).

        Reads the manifest's plaintext only to list ids: the descriptor is needed to open it,
        so this takes the ids from a side file written by :func:`prepare`."""
        try:
            raw = (self.dir(circle_id) / f"{manifest.hex()}.ids").read_bytes()
        except OSError:
            return None
        return [manifest, *(raw[i : i + 32] for i in range(0, len(raw), 32))]


Progress = Callable[[int, int], None]


def prepare(
    store: BlobStore,
    circle_id: bytes,
    path: Path,
    progress: Progress | None = None,
    cap: int = files.MAX_FILE_BYTES,
) -> files.FileInfo:
    """Seal the file at ``path`` into blobs of the circle, whose file limit is ``cap``; its
    descriptor. One sentence if it cannot."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ValueError(f"{path} is not a file.")
        why = files.over_limit(size, cap)
        if why is not None:
            raise ValueError(f"Cannot send {path.name}: {why}.")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        name = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in path.name)
        name = name[:200] or "file"
        sealer = files.Sealer(name, mime, size)
        with path.open("rb") as f:
            done = 0
            while done < size:
                plain = f.read(min(files.CHUNK_SIZE, size - done))
                if not plain:
                    raise ValueError(f"{path} shrank while it was read; try again.")
                bid, blob = sealer.add(plain)
                store.put(circle_id, bid, blob)
                done += len(plain)
                if progress is not None:
                    progress(done, size)
        info, manifest = sealer.finish()
    except OSError as e:
        raise ValueError(f"Cannot read {path}: {e.strerror or e}.") from None
    except ProtocolError as e:
        raise ValueError(f"Cannot send {path.name}: {e}.") from None
    store.put(circle_id, info.manifest, manifest)
    (store.dir(circle_id) / f"{info.manifest.hex()}.ids").write_bytes(b"".join(sealer.ids))
    return info


def describe(profile: Profile, circle_id: bytes, record_id: bytes) -> files.FileInfo:
    """The descriptor a file message of the circle announces (``ValueError``: a sentence)."""
    return locate(profile, circle_id, record_id)[0]


def locate(profile: Profile, circle_id: bytes, record_id: bytes) -> tuple[files.FileInfo, bytes]:
    """The descriptor a file message shown in the circle announces, and its blobs' home: the
    circle it was announced in (the parent, for one carried into a fork). ``ValueError``: a sentence."""
    raws = profile.store.raws([record_id])
    try:
        rec = records.load(raws[0], record_id) if raws else None
        if rec is not None and rec.circle == circle_id:
            key = profile.epoch_keys(circle_id).get(bytes(rec.body["e"]))
            if key is None:
                raise ValueError("That message is not readable in that circle.")
            content = messages.open_message(rec, key)
        else:
            got = next((c for c in carrying.carried(profile, circle_id) if c.record.id == record_id), None)
            if got is None:
                raise ValueError(
                    "That message is not readable in that circle."
                    if raws
                    else "No such message in that circle."
                )
            rec, content = got.record, got.content
    except ProtocolError as e:
        raise ValueError(f"That message cannot be opened: {e}.") from None
    if content.file is None:
        raise ValueError("That message is not a file.")
    why = files.over_limit(content.file.size, profile.view(circle_id).roster.file_cap)
    if why is not None:
        raise ValueError(f"That file is not fetched: {why}.")
    return content.file, rec.circle


def chunk_ids(store: BlobStore, circle_id: bytes, info: files.FileInfo) -> list[bytes] | None:
    """The chunk ids of a file whose manifest is here (checked); None until it is."""
    blob = store.get(circle_id, info.manifest)
    if blob is None:
        return None
    return files.open_manifest(info, blob)


def have(store: BlobStore, circle_id: bytes, info: files.FileInfo) -> int:
    """Plaintext bytes of the file already here (for a progress bar)."""
    ids = chunk_ids(store, circle_id, info) if store.has(circle_id, info.manifest) else None
    if ids is None:
        return 0
    here = (i for i, c in enumerate(ids) if store.has(circle_id, c))
    return sum(files.chunk_length(info.size, info.chunk_size, i) for i in here)


def complete(store: BlobStore, circle_id: bytes, info: files.FileInfo) -> bool:
    """Whether every blob of the file is here."""
    ids = chunk_ids(store, circle_id, info) if store.has(circle_id, info.manifest) else None
    return ids is not None and not store.missing(circle_id, ids)


def assemble(
    store: BlobStore, circle_id: bytes, info: files.FileInfo, out: Path, *, overwrite: bool = False
) -> Path:
    """Write the file from its blobs, checking each and the whole (``ValueError``); where it went.

    ``out`` a directory: under the sender's name made safe, or ``name (1)`` and so on when that
    is taken (:func:`protocol.files.local_names`); an existing file is never replaced. ``out``
    a file: refused if it exists, unless ``overwrite``.
    """
    ids = chunk_ids(store, circle_id, info)
    if ids is None or store.missing(circle_id, ids):
        raise ValueError("Not every part of the file is here yet.")
    into_dir = out.is_dir()
    first = next(files.local_names(info.name))
    tmp = (out / f".{first}.part") if into_dir else out.with_name(f".{out.name}.part")
    digest = hashlib.blake2b(digest_size=32)
    try:
        with tmp.open("wb") as f:
            for i, cid in enumerate(ids):
                blob = store.get(circle_id, cid)
                if blob is None or files.blob_id(blob) != cid:
                    raise ValueError(f"Part {i} of the file is damaged on disk; fetch it again.")
                plain = files.open_chunk(info, i, blob)
                digest.update(plain)
                f.write(plain)
        if tmp.stat().st_size != info.size or digest.digest() != info.digest:
            raise ValueError("The file put together is not the one announced.")
        if into_dir:
            for n, name in enumerate(files.local_names(info.name)):
                if n >= MAX_NAME_TRIES:
                    raise ValueError(f"{out} already holds {MAX_NAME_TRIES} files named like {first}.")
                if _place(tmp, out / name):
                    return out / name
        if overwrite:
            os.replace(tmp, out)
        elif not _place(tmp, out):
            raise ValueError(f"{out} already exists; choose another path (or add --overwrite).")
        return out
    except OSError as e:
        raise ValueError(f"Cannot write {out}: {e.strerror or e}.") from None
    except ProtocolError as e:
        raise ValueError(f"The file does not open: {e}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


MAX_NAME_TRIES = 1000
"""``name (1)`` to ``name (999)``: past that, saving into a directory gives up with a sentence."""


def _place(tmp: Path, target: Path) -> bool:
    """Put the finished file at ``target`` unless something is there already (False then):
    a hard link fails atomically when the name exists; where the file system has none,
    look, then rename."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError:
        if target.exists() or target.is_symlink():
            return False
        os.replace(tmp, target)
        return True
