"""The offline two-profile flow, as real subprocesses with temporary data dirs.

alice creates a circle, invites bob's key, bob joins with the token and sees the
circle's name; records move between the profiles as export/import bundles (no
network); alice forks a child circle with bob and bob sees it under the parent.
Bad tokens and bad arguments get one sentence and a non-zero exit, and change
nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


class Cli:
    def __init__(self, data_dir: Path, profile: str) -> None:
        self.data_dir = data_dir
        self.profile = profile

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SMALLSOCIAL_DATA_DIR": str(self.data_dir), "SMALLSOCIAL_PROFILE": self.profile}
        env.pop("SMALLSOCIAL_PASSPHRASE", None)
        p = subprocess.run(
            [sys.executable, "-m", "smallsocial_tui", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if ok:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def fails(self, *args: str) -> str:
        p = self.run(*args, ok=False)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("smallsocial: "), p.stderr
        assert "Traceback" not in p.stderr
        return lines[0]


@pytest.fixture
def people(tmp_path: Path) -> tuple[Cli, Cli, Cli]:
    return Cli(tmp_path, "alice"), Cli(tmp_path, "bob"), Cli(tmp_path, "carol")


def test_offline_invite_join_fork(people: tuple[Cli, Cli, Cli], tmp_path: Path) -> None:
    alice, bob, carol = people
    alice.run("id", "--name", "alice")
    bob_key = bob.json("id", "--name", "bob")["key"]
    carol.json("id")
    assert bob_key.startswith("12D3KooW")

    circle = alice.json("circle", "new", "friends")
    token = alice.json("invite", "friends", bob_key, "--addr", "/ip4/127.0.0.1/tcp/4001")["token"]
    assert token.startswith("ssi2") and len(token) <= 600  # a short token (format 2)

    # Bad tokens: each its own sentence, and nothing joined.
    assert "cut short" in bob.fails("join", token[: len(token) // 2])
    mangled = token[:40] + ("a" if token[40] != "a" else "b") + token[41:]
    assert "damaged" in bob.fails("join", mangled)
    assert "not a smallsocial invitation" in bob.fails("join", "hello")
    assert "not for your key" in carol.fails("join", token)
    assert bob.json("circle", "list") == []
    assert carol.json("circle", "list") == []

    # Bob joins (the token pastes fine even when wrapped over lines).
    wrapped = "\n".join(token[i : i + 60] for i in range(0, len(token), 60))
    joined = bob.json("join", wrapped)
    assert joined["id"] == circle["id"] and joined["name"] == "friends"
    listed = bob.json("circle", "list")
    assert [(c["name"], c["status"]) for c in listed] == [("friends", "member")]
    assert listed[0]["waiting"] and "joining" in bob.run("circle", "list").stdout  # until the first sync
    assert "already a member of friends" in bob.fails("join", token)

    bob_msg = bob.json("send", "friends", "hello from bob")
    assert len(bob_msg["id"]) == 64

    # Sneakernet, both ways: the circle's history reaches bob (his first sync: it confirms his
    # join, so what he wrote may leave), then bob's records reach alice.
    alice.run("export", "-o", str(tmp_path / "alice0.ssb"))
    bob.json("import", str(tmp_path / "alice0.ssb"))
    bob.run("export", "-o", str(tmp_path / "bob.ssb"))
    report = alice.json("import", str(tmp_path / "bob.ssb"))
    assert report["stored"] >= 2 and report["dropped"] == []
    members = alice.json("members", "friends")
    assert sorted(m["role"] for m in members) == ["admin", "member"]
    assert bob_key in {m["key"] for m in members}
    log = [json.loads(line) for line in alice.run("log", "friends", "--json").stdout.splitlines()]
    assert [(e["author"], e["text"]) for e in log] == [(bob_key, "hello from bob")]

    # Alice forks a child circle with bob; bob sees it under the parent.
    alice.run("send", "friends", "hi bob")
    child = alice.json("fork", "friends", "side", "--member", bob_key)
    alice.run("export", "-o", str(tmp_path / "alice.ssb"))
    bob.json("import", str(tmp_path / "alice.ssb"))
    listed = {c["id"]: c for c in bob.json("circle", "list")}
    assert listed[circle["id"]]["waiting"] is None and listed[circle["id"]]["members"] == 2  # confirmed
    assert listed[child["id"]]["parent"] == circle["id"]
    assert listed[child["id"]]["status"] == "invited"
    assert listed[child["id"]]["name"] == "side"
    tree = bob.run("circle", "list").stdout
    assert tree.splitlines()[1].startswith("└─ side")
    # The hint to accept names the same data dir and profile, so it can be pasted as is.
    explicit = bob.run("--data-dir", str(tmp_path), "--profile", "bob", "circle", "list").stdout
    assert f"smallsocial --data-dir {tmp_path} --profile bob join {child['id'][:12]}" in explicit

    bob.json("join", child["id"][:12])
    listed = {c["id"]: c for c in bob.json("circle", "list")}
    assert listed[child["id"]]["status"] == "member" and listed[child["id"]]["members"] == 2

    log = [json.loads(line) for line in bob.run("log", "friends", "--json").stdout.splitlines()]
    assert [e["text"] for e in log] == ["hello from bob", "hi bob"]


def test_bad_arguments_get_one_sentence(people: tuple[Cli, Cli, Cli]) -> None:
    alice, _, _ = people
    alice.run("circle", "new", "friends")
    alice.run("circle", "new", "family")
    assert "No circle matches" in alice.fails("send", "nope", "hi")
    assert "Nobody is named @alice here" in alice.fails("invite", "friends", "alice")
    assert "not a smallsocial key" in alice.fails("contact", "add", "bob", "alice")
    assert "check that you copied all of it" in alice.fails(
        "invite", "friends", "12D3KooWBwysBenJ7awDsMb26atxf3StKbRF5skCRZtCxP4Koi"
    )
    assert "not a duration" in alice.fails("invite", "friends", "12D3KooW", "--expires", "soon")
    assert "not a smallsocial bundle" in alice.fails("import", __file__)
    assert "Cannot write" in alice.fails("export", "-o", "/nonexistent-dir/x.ssb")
    assert "not an address to listen on" in alice.fails("run", "--listen", "nonsense")
    assert "lacks the peer's key" in alice.fails("run", "--peer", "/ip4/127.0.0.1/tcp/4001")
    with socket.socket() as busy:  # libp2p would share the port (SO_REUSEPORT): refuse instead
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "already in use" in alice.fails("run", "--listen", f"/ip4/127.0.0.1/tcp/{port}")


def test_output_into_a_closed_pipe_is_not_an_error(people: tuple[Cli, Cli, Cli]) -> None:
    alice, _, _ = people
    alice.run("id")
    p = subprocess.Popen(
        [sys.executable, "-m", "smallsocial_tui", "--help"],
        env={**os.environ, "SMALLSOCIAL_DATA_DIR": str(alice.data_dir), "SMALLSOCIAL_PROFILE": "alice"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # like `smallsocial … | head -0`
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(30) == 0 and "Traceback" not in err
    assert "not a usable profile name" in Cli(alice.data_dir, "../x").fails("id")
