"""Files and pictures, sans-IO: the file descriptor, chunk and manifest encryption, limits.

A file sent to a circle is announced by a chat message of kind ``file``
(:mod:`protocol.messages`) whose encrypted content carries a :class:`FileInfo`:
name, size, mime type, chunk size, the BLAKE2b-256 of the plaintext, a random
per-file key and the id of the file's *manifest*. The bytes travel apart from
the message, as *blobs*:

- chunk ``i`` (0-based) of the plaintext, ``chunk_size`` bytes (the last one
  shorter), sealed with XChaCha20-Poly1305 under the file key, nonce
  :func:`nonce` ``(i)``, associated data :func:`associated_data` ``(i, size, chunk_size)``;
- the manifest: the canonical msgpack list of the chunk ids, sealed the same way
  with the index :data:`MANIFEST_INDEX`.

A blob's id is the BLAKE2b-256 of its ciphertext, so anyone (a relay) can check a
blob it stores or serves without reading it, and a fetcher checks each blob as it
arrives. Everything secret (name, size, mime, key, which blobs make which file)
is inside the message's ciphertext; a relay sees only blobs of a circle.

Why a random per-file key rather than one derived from the epoch key: a rekey
does not orphan files already sent (their key travels in the announcement, which
the members of that epoch can read), and two sendings of the same file produce
unrelated blobs, so blob ids say nothing of equal contents.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from protocol import crypto, schema, shallow, wire
from protocol.errors import DecryptError, OversizeError, SchemaError

CHUNK_SIZE = 256 * 1024
"""The chunk size a sender uses."""
MIN_CHUNK = 16 * 1024
MAX_CHUNK = 1024 * 1024
"""Chunk sizes a receiver accepts."""
MAX_FILE_BYTES = schema.MAX_FILE_CAP
"""The largest file any circle takes (64 MiB); a circle's own limit, its roster's ``file_cap``,
may be lower (docs/protocol.md section 15)."""
MAX_CHUNKS = -(-MAX_FILE_BYTES // MIN_CHUNK)
MAX_NAME_BYTES = 255
MAX_MIME_BYTES = 127
MAX_DESCRIPTOR = 1024
"""Bytes of an encoded :class:`FileInfo`."""
MANIFEST_INDEX = 2**32 - 1
"""The index the manifest is sealed with (no chunk has it: at most :data:`MAX_CHUNKS` chunks)."""
MAX_BLOB = MAX_CHUNK + crypto.AEAD_OVERHEAD
"""The largest blob (a chunk; a manifest of MAX_CHUNKS ids is smaller)."""
AAD_DOMAIN = b"smallsocial/v2/file-aad\x00"
"""Prefix of a blob's associated data."""

_SCHEMA = {
    "n": schema.text(MAX_NAME_BYTES, 1),
    "s": schema.integer(0, MAX_FILE_BYTES),
    "m": schema.text(MAX_MIME_BYTES, 3),
    "c": schema.integer(MIN_CHUNK, MAX_CHUNK),
    "h": schema.fixed_bytes(32),
    "k": schema.fixed_bytes(crypto.KEY_SIZE),
    "i": schema.ident,
}
_SHAPES = {name: shallow.PLAIN for name in _SCHEMA}


def _check_name(name: str) -> None:
    if name in (".", "..") or any(ch in "/\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise SchemaError("a file name has no path separators or control characters")


def _check_mime(mime: str) -> None:
    main, sep, sub = mime.partition("/")
    ok = sep and main and sub and all(ch.isascii() and (ch.isalnum() or ch in "+-.;=_/ ") for ch in mime)
    if not ok:
        raise SchemaError(f"{schema.shown(mime)} is not a mime type")


def local_names(name: str) -> Iterator[str]:
    """Names to save a received file under, best first: the sender's name without its leading
    dots (a file someone sends never lands as a hidden file, such as a ``.bashrc``), then
    ``stem (1).ext``, ``stem (2).ext`` and so on, for a name already taken."""
    base = name.lstrip(".").strip() or "file"
    stem, dot, ext = base.rpartition(".")
    if not stem:
        stem, dot, ext = base, "", ""
    yield base
    n = 1
    while True:
        yield f"{stem} ({n}){dot}{ext}"
        n += 1


def over_limit(size: int, cap: int) -> str | None:
    """Why a file of ``size`` bytes is over a circle's file limit ``cap`` (its roster's ``file_cap``)."""
    if size <= cap:
        return None
    if cap == 0:
        return "this circle takes no files"
    have, limit = human_size(size), human_size(cap)
    if have == limit:  # just over: the bytes say it
        have, limit = f"{size} bytes", f"{cap} bytes"
    return f"{have} is over this circle's limit of {limit} per file"


_UNITS = {"": 1, "b": 1, "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20}


def parse_size(text: str) -> int:
    """A file limit as people write it: ``0``, ``500000``, ``512k``, ``10M``, ``10 MiB`` (powers of
    1024), in bytes; ``ValueError`` with one sentence unless it is 0 to :data:`MAX_FILE_BYTES`."""
    m = re.fullmatch(r"(\d{1,12}(?:\.\d{1,3})?)([a-z]*)", text.strip().lower().replace(" ", ""))
    if m is None or m.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size: write bytes, or a number and KiB or MiB (10MiB).")
    n = int(float(m.group(1)) * _UNITS[m.group(2)])
    if n > MAX_FILE_BYTES:
        raise ValueError(f"A circle takes files up to {human_size(MAX_FILE_BYTES)} at the most.")
    return n


def human_size(n: int) -> str:
    """``n`` bytes for people, in powers of 1024: ``812 B``, ``4.2 KiB``, ``20 MiB``, ``64 MiB``
    (one decimal, none when it is 0)."""
    if n < 1024:
        return f"{n} B"
    for power, unit in enumerate(("KiB", "MiB", "GiB"), 1):
        value = n / 1024**power
        if value < 1023.95 or unit == "GiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class FileInfo:
    """What a file announcement tells the members (inside the message's ciphertext)."""

    name: str
    size: int
    mime: str
    chunk_size: int
    digest: bytes
    """BLAKE2b-256 of the whole plaintext: checked once the file is put together."""
    key: bytes
    """The random per-file key the chunks and the manifest are sealed with."""
    manifest: bytes
    """Id of the manifest blob (the list of chunk ids)."""

    @property
    def chunks(self) -> int:
        return -(-self.size // self.chunk_size)

    def summary(self) -> str:
        """How a file message reads as text: ``[file] name (size)``."""
        return f"[file] {self.name} ({human_size(self.size)})"

    def validate(self) -> None:
        schema.check(self._fields(), _SCHEMA)
        _check_name(self.name)
        _check_mime(self.mime)

    def _fields(self) -> dict[str, object]:
        return {
            "n": self.name,
            "s": self.size,
            "m": self.mime,
            "c": self.chunk_size,
            "h": self.digest,
            "k": self.key,
            "i": self.manifest,
        }

    def encode(self) -> bytes:
        self.validate()
        return wire.encode(self._fields())

    @classmethod
    def decode(cls, data: bytes) -> FileInfo:
        if len(data) > MAX_DESCRIPTOR:
            raise OversizeError(
                f"a file descriptor of {len(data)} bytes is over the limit of {MAX_DESCRIPTOR}"
            )
        obj = shallow.decode_map(bytes(data), _SHAPES, len(_SHAPES), "a file descriptor")
        schema.check(obj, _SCHEMA)
        info = cls(obj["n"], obj["s"], obj["m"], obj["c"], obj["h"], obj["k"], obj["i"])
        info.validate()
        return info


def nonce(index: int) -> bytes:
    """A blob's nonce: its index, big-endian in 24 bytes (unique per file key)."""
    return index.to_bytes(crypto.NONCE_SIZE, "big")


def associated_data(index: int, size: int, chunk_size: int) -> bytes:
    """What a blob is bound to: ``AAD_DOMAIN || msgpack [index, size, chunk_size]``."""
    return AAD_DOMAIN + wire.encode([index, size, chunk_size])


def blob_id(blob: bytes) -> bytes:
    return crypto.blake2b256(blob)


def chunk_length(size: int, chunk_size: int, index: int) -> int:
    """The plaintext length of chunk ``index`` of a file of ``size`` bytes."""
    return min(chunk_size, size - index * chunk_size)


def seal_blob(key: bytes, index: int, size: int, chunk_size: int, plain: bytes) -> bytes:
    return crypto.aead_encrypt(key, plain, nonce(index), associated_data(index, size, chunk_size))


def open_chunk(info: FileInfo, index: int, blob: bytes) -> bytes:
    """The plaintext of chunk ``index``; ``DecryptError`` unless it is that chunk of that file."""
    if not 0 <= index < info.chunks:
        raise SchemaError(f"chunk {index} is outside the file's {info.chunks} chunks")
    plain = crypto.aead_decrypt(
        info.key, blob, nonce(index), associated_data(index, info.size, info.chunk_size)
    )
    if len(plain) != chunk_length(info.size, info.chunk_size, index):
        raise DecryptError(f"chunk {index} has the wrong length")
    return plain


def open_manifest(info: FileInfo, blob: bytes) -> list[bytes]:
    """The chunk ids a manifest blob lists, checked against the descriptor."""
    if blob_id(blob) != info.manifest:
        raise DecryptError("the manifest is not the one announced")
    aad = associated_data(MANIFEST_INDEX, info.size, info.chunk_size)
    plain = crypto.aead_decrypt(info.key, blob, nonce(MANIFEST_INDEX), aad)
    ids = shallow.decode_list(plain, MAX_CHUNKS, "a manifest")
    if len(ids) != info.chunks or not all(isinstance(i, bytes) and len(i) == 32 for i in ids):
        raise SchemaError(f"a manifest of this file lists {info.chunks} chunk ids of 32 bytes")
    return list(ids)


class Sealer:
    """Seal a file chunk by chunk (the caller reads it): :meth:`add` each chunk, then :meth:`finish`.

    ``key`` is drawn at random unless given (test vectors pin it).
    """

    def __init__(
        self, name: str, mime: str, size: int, *, chunk_size: int = CHUNK_SIZE, key: bytes | None = None
    ) -> None:
        if size > MAX_FILE_BYTES:
            raise OversizeError(
                f"{human_size(size)} is over the limit of {human_size(MAX_FILE_BYTES)} per file"
            )
        _check_name(name)
        self.name, self.mime, self.size, self.chunk_size = name, mime, size, chunk_size
        self.key = key if key is not None else crypto.random_bytes(crypto.KEY_SIZE)
        self.ids: list[bytes] = []
        self._hash = hashlib.blake2b(digest_size=32)

    def add(self, plain: bytes) -> tuple[bytes, bytes]:
        """Seal the next chunk; its ``(id, blob)``."""
        index = len(self.ids)
        if index >= -(-self.size // self.chunk_size) or len(plain) != chunk_length(
            self.size, self.chunk_size, index
        ):
            raise SchemaError("the file changed size while it was read")
        self._hash.update(plain)
        blob = seal_blob(self.key, index, self.size, self.chunk_size, plain)
        self.ids.append(blob_id(blob))
        return self.ids[-1], blob

    def finish(self) -> tuple[FileInfo, bytes]:
        """The descriptor and the manifest blob, once every chunk was added."""
        if len(self.ids) != -(-self.size // self.chunk_size):
            raise SchemaError("the file changed size while it was read")
        manifest = seal_blob(self.key, MANIFEST_INDEX, self.size, self.chunk_size, wire.encode(self.ids))
        info = FileInfo(
            self.name, self.size, self.mime, self.chunk_size, self._hash.digest(), self.key, blob_id(manifest)
        )
        info.validate()
        return info, manifest


def split(data: bytes, chunk_size: int) -> Iterator[bytes]:
    """The chunks of ``data`` (none for an empty file)."""
    for i in range(0, len(data), chunk_size):
        yield data[i : i + chunk_size]


def seal_bytes(
    name: str, mime: str, data: bytes, *, chunk_size: int = CHUNK_SIZE, key: bytes | None = None
) -> tuple[FileInfo, bytes, list[tuple[bytes, bytes]]]:
    """A whole file in memory sealed at once: descriptor, manifest blob, ``(id, blob)`` of each chunk."""
    sealer = Sealer(name, mime, len(data), chunk_size=chunk_size, key=key)
    blobs = [sealer.add(c) for c in split(data, chunk_size)]
    info, manifest = sealer.finish()
    return info, manifest, blobs
