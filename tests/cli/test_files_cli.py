"""The file commands' words on the command line, with no node: the file limit (shown, set by an
admin, held to by send-file), ``log --json``'s file fields, sizes in KiB/MiB, ``invite --qr``, and
errors from the core as sentences (``A message cannot be empty.``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from protocol.errors import sentence
from tests.cli.test_offline_flow import Cli

pytestmark = pytest.mark.timeout(120)


def test_errors_read_as_sentences() -> None:
    assert sentence("a message cannot be empty") == "A message cannot be empty."
    assert sentence(ValueError("Already one.")) == "Already one."
    assert sentence("deadbeefcafe is not here") == "deadbeefcafe is not here."  # an id stays as it is
    assert sentence("12D3KooW… is not a member?") == "12D3KooW… is not a member?"


def test_file_limit_log_json_and_qr(tmp_path: Path) -> None:
    alice, bob = Cli(tmp_path, "alice"), Cli(tmp_path, "bob")
    alice.run("id", "--name", "alice")
    bob_key = bob.json("id", "--name", "bob")["key"]
    circle = alice.json("circle", "new", "friends")["id"]

    assert alice.fails("send", "friends", "   ") == "smallsocial: A message cannot be empty."

    # the limit: 64 MiB until an admin sets it; bad sizes are one sentence
    assert (
        alice.run("file-limit", "friends").stdout.strip()
        == "friends: the file limit is 64 MiB (the default)."
    )
    assert "is not a size" in alice.fails("file-limit", "friends", "lots")
    assert "up to 64 MiB at the most" in alice.fails("file-limit", "friends", "100MiB")
    got = alice.json("file-limit", "friends", "4KiB")
    assert got == {"circle": circle, "file_limit": 4096, "set_by": got["set_by"]} and got["set_by"]
    big, small = tmp_path / "big.bin", tmp_path / "notes.txt"
    big.write_bytes(os.urandom(5000))
    small.write_bytes(b"x" * 3000)
    why = alice.fails("send-file", "friends", str(big))
    assert why == "smallsocial: Cannot send big.bin: 4.9 KiB is over this circle's limit of 4 KiB per file."
    sent = alice.json("send-file", "friends", str(small))
    assert sent["status"] == "queued" and sent["size"] == 3000
    assert "(2.9 KiB)" in alice.run("log", "friends").stdout

    # log --json: file fields on a file message, null elsewhere
    alice.run("send", "friends", "and a word")
    rows = {r["kind"]: r for r in map(json.loads, alice.run("log", "friends", "--json").stdout.splitlines())}
    assert rows["text"]["file"] is None
    f = rows["file"]["file"]
    assert (f["name"], f["size"], f["mime"], f["here"], f["complete"]) == (
        "notes.txt",
        3000,
        "text/plain",
        3000,
        True,
    )
    assert len(f["blake2b"]) == 64
    assert alice.json("file-limit", "friends", "0")["file_limit"] == 0
    assert "this circle takes no files" in alice.fails("send-file", "friends", str(small))

    # invite --qr: the token, then its QR code (in --json too)
    plain = alice.run("invite", "friends", bob_key, "--qr").stdout.splitlines()
    assert plain[0].startswith("ssi") and len(plain) > 20 and all(set(ln) <= set("█▀▄ ") for ln in plain[1:])
    data = alice.json("invite", "friends", bob_key, "--qr")
    assert data["token"].startswith("ssi") and data["qr"].count("\n") > 20
    assert "qr" not in alice.json("invite", "friends", bob_key)
