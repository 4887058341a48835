"""protocol.files and the ``file`` message kind: round trips, tampering, limits, hostile names."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest

from protocol import files, messages, wire
from protocol.errors import DecryptError, OversizeError, ProtocolError, SchemaError


def sealed(
    size: int = 3 * files.MIN_CHUNK + 5,
) -> tuple[files.FileInfo, bytes, list[tuple[bytes, bytes]], bytes]:
    data = os.urandom(size)
    info, manifest, blobs = files.seal_bytes("a b.png", "image/png", data, chunk_size=files.MIN_CHUNK)
    return info, manifest, blobs, data


def test_round_trip_chunk_by_chunk() -> None:
    info, manifest, blobs, data = sealed()
    assert info.chunks == 4 == len(blobs)
    assert files.open_manifest(info, manifest) == [i for i, _ in blobs]
    assert b"".join(files.open_chunk(info, i, b) for i, (_, b) in enumerate(blobs)) == data
    assert all(files.blob_id(b) == i for i, b in blobs)


def test_empty_file() -> None:
    info, manifest, blobs = files.seal_bytes("e", "text/plain", b"", chunk_size=files.MIN_CHUNK)
    assert info.chunks == 0 and blobs == [] and files.open_manifest(info, manifest) == []


def test_a_tampered_chunk_fails_its_id_and_its_tag() -> None:
    info, _, blobs, _ = sealed()
    bid, blob = blobs[1]
    bad = blob[:10] + bytes([blob[10] ^ 1]) + blob[11:]
    assert files.blob_id(bad) != bid
    with pytest.raises(DecryptError):
        files.open_chunk(info, 1, bad)


def test_a_chunk_opens_only_at_its_own_index_and_file() -> None:
    info, _, blobs, _ = sealed()
    with pytest.raises(DecryptError):
        files.open_chunk(info, 2, blobs[1][1])  # swapped chunks do not open
    other, _, _, _ = sealed()
    with pytest.raises(DecryptError):
        files.open_chunk(other, 1, blobs[1][1])
    with pytest.raises(SchemaError):
        files.open_chunk(info, 4, blobs[1][1])


def test_a_manifest_of_another_file_is_refused() -> None:
    info, _, _, _ = sealed()
    _, manifest2, _, _ = sealed()
    with pytest.raises(DecryptError):
        files.open_manifest(info, manifest2)


def test_size_limit_on_send() -> None:
    with pytest.raises(OversizeError):
        files.Sealer("big", "application/octet-stream", files.MAX_FILE_BYTES + 1)


def test_a_file_that_changes_size_while_read_is_refused() -> None:
    s = files.Sealer("x", "text/plain", 10, chunk_size=files.MIN_CHUNK)
    with pytest.raises(SchemaError):
        s.add(b"short")


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "a\\b", ".", "..", "bell\x07", "esc\x1b[2J", ""])
def test_hostile_names_are_refused(name: str) -> None:
    info, _, _, _ = sealed()
    fields = {**info._fields(), "n": name}
    with pytest.raises(SchemaError):
        files.FileInfo.decode(wire.encode(fields))


@pytest.mark.parametrize(
    ("field", "value"),
    [("s", files.MAX_FILE_BYTES + 1), ("c", files.MIN_CHUNK - 1), ("c", files.MAX_CHUNK + 1), ("m", "png"),
     ("h", b"x" * 31), ("k", b"k" * 33), ("i", b"i")],
)  # fmt: skip
def test_descriptor_fields_are_checked(field: str, value: object) -> None:
    info, _, _, _ = sealed()
    with pytest.raises(ProtocolError):
        files.FileInfo.decode(wire.encode({**info._fields(), field: value}))


def test_file_message_round_trip_and_text() -> None:
    info, _, _, _ = sealed()
    c = messages.Content(messages.FILE, 7, file=info)
    assert c.text == f"[file] a b.png ({files.human_size(info.size)})"
    assert messages.Content.decode(c.encode()) == c


def test_other_kinds_keep_their_bytes_and_refuse_a_file_field() -> None:
    info, _, _, _ = sealed()
    t = messages.Content(messages.TEXT, 7, "hi")
    assert t.encode() == wire.encode({"k": "text", "ts": 7, "tx": "hi", "re": None})
    with pytest.raises(SchemaError):
        messages.Content.decode(
            wire.encode({"k": "text", "ts": 7, "tx": "hi", "re": None, "fl": info.encode()})
        )
    with pytest.raises(SchemaError):
        messages.Content.decode(wire.encode({"k": "text", "ts": 7, "tx": "hi", "re": None, "fl": None}))
    with pytest.raises(SchemaError):
        messages.Content.decode(wire.encode({"k": "file", "ts": 7, "tx": None, "re": None}))
    with pytest.raises(SchemaError):
        messages.Content.decode(
            wire.encode({"k": "file", "ts": 7, "tx": "x", "re": None, "fl": info.encode()})
        )
    with pytest.raises(SchemaError):
        messages.Content(messages.TEXT, 7, "hi", file=info).encode()


def test_parse_size() -> None:
    assert [files.parse_size(t) for t in ("0", "1000", "512k", "10M", "10 MiB", "1.5KiB", "64MiB")] == [
        0, 1000, 512 * 1024, 10 * 2**20, 10 * 2**20, 1536, files.MAX_FILE_BYTES
    ]  # fmt: skip
    for bad in ("", "lots", "-1", "10MB", "10 GiB", "1e3", "65MiB"):
        with pytest.raises(ValueError):
            files.parse_size(bad)


def test_human_size() -> None:
    assert [files.human_size(n) for n in (0, 1023, 1024, 1536, 20 * 2**20, 3 * 2**30, 2**20 - 1)] == [
        "0 B", "1023 B", "1 KiB", "1.5 KiB", "20 MiB", "3 GiB", "1 MiB"
    ]  # fmt: skip


# -- what a key holder (a member) could forge, and the limits as documented -----------------


def test_a_members_other_manifest_is_refused() -> None:
    info, _, blobs, _ = sealed()
    ids = [i for i, _ in blobs]
    other = files.seal_blob(
        info.key, files.MANIFEST_INDEX, info.size, info.chunk_size, wire.encode(ids[::-1])
    )
    with pytest.raises(DecryptError, match="not the one announced"):
        files.open_manifest(info, other)


@pytest.mark.parametrize("ids", [lambda ids: ids[:-1], lambda ids: [*ids[:-1], ids[-1][:31]]])
def test_a_manifest_must_list_every_chunk_id_of_32_bytes(ids: Callable[[list[bytes]], list[bytes]]) -> None:
    info, _, blobs, _ = sealed()
    forged = files.seal_blob(
        info.key, files.MANIFEST_INDEX, info.size, info.chunk_size, wire.encode(ids([i for i, _ in blobs]))
    )
    with pytest.raises(SchemaError):
        files.open_manifest(dataclasses.replace(info, manifest=files.blob_id(forged)), forged)


def test_a_members_chunk_of_the_wrong_length_is_refused() -> None:
    info, _, _, _ = sealed()
    short = files.seal_blob(info.key, 1, info.size, info.chunk_size, b"too short")
    with pytest.raises(DecryptError, match="wrong length"):
        files.open_chunk(info, 1, short)
    with pytest.raises(SchemaError):
        files.open_chunk(info, -1, short)


def test_descriptor_checks_on_encode_and_size() -> None:
    info, _, _, _ = sealed()
    with pytest.raises(SchemaError):
        dataclasses.replace(info, name="a/b").encode()
    with pytest.raises(SchemaError):
        dataclasses.replace(info, size=-1).encode()
    with pytest.raises(OversizeError):
        files.FileInfo.decode(b"\x80" * (files.MAX_DESCRIPTOR + 1))
    s = files.Sealer("x", "png", 0, chunk_size=files.MIN_CHUNK)
    with pytest.raises(SchemaError):
        s.finish()  # the mime type is checked before a descriptor is made


def test_the_sealer_checks_name_size_and_chunk_count() -> None:
    files.Sealer("max", "application/octet-stream", files.MAX_FILE_BYTES)  # the limit itself is fine
    with pytest.raises(SchemaError):
        files.Sealer("a/b", "text/plain", 1)
    s = files.Sealer("x", "text/plain", files.MIN_CHUNK + 1, chunk_size=files.MIN_CHUNK)
    with pytest.raises(SchemaError):
        s.finish()  # before every chunk was added
    s.add(b"a" * files.MIN_CHUNK)
    s.add(b"b")
    with pytest.raises(SchemaError):
        s.add(b"c")  # one chunk too many
    assert s.finish()[0].chunks == 2


@pytest.mark.parametrize(("name", "ok"), [("\x1f", False), (" x", True), ("\x7f", False), ("\x9f", False),
                                          ("\xa0", True), ("~", True), ("é.png", True)])  # fmt: skip
def test_control_characters_at_the_edges(name: str, ok: bool) -> None:
    info, _, _, _ = sealed()
    if ok:
        dataclasses.replace(info, name=name).validate()
    else:
        with pytest.raises(SchemaError):
            dataclasses.replace(info, name=name).validate()


def test_mime_types_are_ascii() -> None:
    info, _, _, _ = sealed()
    with pytest.raises(SchemaError):
        dataclasses.replace(info, mime="image/pngé").validate()
    dataclasses.replace(info, mime="text/plain; charset=utf-8").validate()


def test_limits_are_the_documented_ones() -> None:
    assert files.CHUNK_SIZE == 262144 and files.MIN_CHUNK == 16384 and files.MAX_CHUNK == 1048576
    assert files.MAX_FILE_BYTES == 67108864 and files.MAX_CHUNKS == 4096
    assert files.MAX_NAME_BYTES == 255 and files.MAX_MIME_BYTES == 127 and files.MAX_DESCRIPTOR == 1024
    assert files.MAX_BLOB == 1048592 and files.MANIFEST_INDEX == 2**32 - 1
    assert [files.human_size(n) for n in (files.MAX_FILE_BYTES, 20_000_000, 67_100_000)] == [
        "64 MiB",
        "19.1 MiB",
        "64 MiB",
    ]


def test_local_names_are_never_hidden_and_number_what_is_taken() -> None:
    import itertools

    from protocol.files import local_names

    assert list(itertools.islice(local_names(".bashrc"), 3)) == ["bashrc", "bashrc (1)", "bashrc (2)"]
    assert list(itertools.islice(local_names("holiday.tar.gz"), 2)) == [
        "holiday.tar.gz",
        "holiday.tar (1).gz",
    ]
    assert next(local_names("...")) == "file" and next(local_names("photo.jpg")) == "photo.jpg"
