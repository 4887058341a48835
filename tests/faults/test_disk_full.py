"""Disk full: a node refuses to acknowledge what it could not store, says so, and recovers.

alice's profile lives on a small filesystem: a tmpfs mounted for the test when we may mount
(root), otherwise (or with ``SMALLSOCIAL_FAULTS_DISK=rlimit``) alice's processes run under
``RLIMIT_FSIZE`` (the file-size limit) and "space" is the soft limit, lowered and raised on
the running node with ``prlimit``. bob is
on the normal disk. With alice's disk full, sends through her node (control socket and the
``smallsocial send`` CLI) must fail with one sentence and nothing acknowledged may be
missing; the node stays up (or exits cleanly); the store passes ``integrity_check``; when
space returns, sending works again and bob gets every acknowledged message, in an unbroken
chain. Then the same with no node running (the CLI writes the outbox itself).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from smallsocial_tui.nodeproc import run_cli
from tests.faults import kit
from tests.faults.kit import CIRCLE, Node, wait_until

SHORT = {"cycles": 1, "per_cycle": 30}
LONG = {"cycles": 6, "per_cycle": 200}

pytestmark = pytest.mark.timeout(300)


@dataclass
class SmallDisk:
    """A place whose free space the test controls: ``fill()`` and ``free()``."""

    root: Path
    mode: str  # "tmpfs" or "rlimit"
    nodes: list[Node] = field(default_factory=list)
    _limit: int | None = None

    # rlimit mode: a low soft limit (raised and lowered on running processes with prlimit)
    def preexec(self) -> None:
        if self._limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (self._limit, resource.RLIM_INFINITY))

    def _largest_file(self) -> int:
        return max((p.stat().st_size for p in self.root.rglob("*") if p.is_file()), default=0)

    def fill(self, strict: bool = False) -> None:
        """No more space. ``strict`` (rlimit mode): no write at all, not even inside a file."""
        if self.mode == "tmpfs":
            fd = os.open(self.root / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                chunk = b"\0" * 65536
                while True:
                    try:
                        os.write(fd, chunk)
                    except OSError as e:
                        assert e.errno == errno.ENOSPC, e
                        if len(chunk) == 1:
                            break
                        chunk = chunk[: len(chunk) // 2]
            finally:
                os.close(fd)
        else:
            # no file may grow past its current size: SQLite's WAL and database cannot extend
            self._limit = 0 if strict else self._largest_file()
            for n in self.nodes:
                if n.running():
                    assert n.proc is not None
                    resource.prlimit(n.proc.pid, resource.RLIMIT_FSIZE, (self._limit, resource.RLIM_INFINITY))

    def free(self) -> None:
        if self.mode == "tmpfs":
            (self.root / "filler").unlink()
        else:
            self._limit = None
            for n in self.nodes:
                if n.running():
                    assert n.proc is not None
                    resource.prlimit(
                        n.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
                    )

    def run_cli(self, node: Node, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, node.env, preexec=self.preexec)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "small"
    root.mkdir()
    mounted = False
    if os.geteuid() == 0 and os.environ.get("SMALLSOCIAL_FAULTS_DISK") != "rlimit":
        got = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(root)],
            capture_output=True,
            text=True,
        )
        mounted = got.returncode == 0
    try:
        yield SmallDisk(root, "tmpfs" if mounted else "rlimit")
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], capture_output=True)


def _one_sentence(text: str) -> bool:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return len(lines) == 1 and "Traceback" not in text


def _refusal_ok(reply: dict[str, object]) -> bool:
    return reply.get("ok") is False and isinstance(reply.get("message"), str)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(LONG, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(900)]),
    ],
)
def test_disk_full_refuses_then_recovers(
    small_disk: SmallDisk, make_node: Callable[..., Node], settings: dict[str, int]
) -> None:
    disk = small_disk
    alice = make_node("alice", disk.root)
    bob = make_node("bob")
    alice.preexec = disk.preexec
    disk.nodes.append(alice)
    circle = alice.json("circle", "new", CIRCLE)["id"]
    alice.start()
    bob.start()
    kit.join(alice, bob, circle, alice)
    akey = kit.author_hex(alice)

    acked: list[str] = []  # alice's
    acked_bob: list[str] = []
    refused = 0
    refusal_texts: set[str] = set()
    cli_refusals: list[str] = []
    t_start = time.monotonic()
    for cycle in range(settings["cycles"]):
        kit.note(cycle=cycle)
        # some messages with space, then a full disk
        for i in range(5):
            r = kit.send(alice, circle, f"c{cycle} before {i}")
            assert r.get("ok"), r
            acked.append(str(r["record_id"]))
        disk.fill()
        # bob keeps talking while alice cannot store: alice must survive it and catch up later
        from_bob = [kit.send(bob, circle, f"c{cycle} bob while alice is full {i}") for i in range(5)]
        assert all(r.get("ok") for r in from_bob), from_bob
        acked_bob += [str(r["record_id"]) for r in from_bob]
        refused_here = 0
        sent_full = 0
        for i in range(settings["per_cycle"]):
            r = kit.send(alice, circle, f"c{cycle} full {i} " + "x" * 400)
            if r.get("ok"):  # SQLite can still reuse WAL space it had: then it is stored
                acked.append(str(r["record_id"]))
                sent_full += 1
            else:
                assert _refusal_ok(r), r
                refused += 1
                refused_here += 1
                refusal_texts.add(str(r["message"]))
            assert alice.running(), f"alice's node died on a full disk: {alice.stderr_text()[-3000:]}"
        assert refused_here, f"a full disk took every message (cycle {cycle}, {sent_full} acked)"
        # the CLI through the node: one sentence, a non-zero exit (or, if it got space, a stored id)
        for i in range(20):
            p = alice.cli("send", CIRCLE, f"c{cycle} via the CLI on a full disk {i}", ok=False)
            if p.returncode == 0:
                acked.append(p.stdout.strip())
                continue
            assert _one_sentence(p.stderr), p.stderr
            break
        else:
            raise AssertionError(f"the CLI never refused on a full disk (node up: {alice.running()})")
        cli_refusals.append(p.stderr.strip())

        assert alice.running()
        assert kit.integrity(alice) == "ok"
        assert set(acked) <= kit.ids(alice, circle), "an acknowledged message is not in the store"

        # space returns: sending works again at once
        disk.free()
        for i in range(5):
            r = kit.send(alice, circle, f"c{cycle} after {i}")
            assert r.get("ok"), f"no recovery after space returned: {r}"
            acked.append(str(r["record_id"]))
        p = alice.cli("send", CIRCLE, f"c{cycle} via the CLI after")
        acked.append(p.stdout.strip())
        assert kit.integrity(alice) == "ok"
        assert not kit.chain_problems(alice, circle, akey), kit.chain_problems(alice, circle, akey)

    # bob gets every acknowledged message, alice's chain unbroken at both ends
    t0 = time.monotonic()
    wait_until(lambda: set(acked) <= kit.ids(bob, circle), 60, 0.2, "bob to get every acknowledged message")
    assert set(acked_bob) <= kit.ids(bob, circle)
    wait_until(lambda: set(acked_bob) <= kit.ids(alice, circle), 60, 0.2, "alice to get bob's messages")
    catch_up = time.monotonic() - t0
    for n in (alice, bob):
        assert not kit.chain_problems(n, circle, akey), (n.name, kit.chain_problems(n, circle, akey))
    bob_texts = bob.texts(circle)
    assert len(bob_texts) == len(set(bob_texts)), "bob shows a message twice"

    # the node exits cleanly; then the CLI on its own (no node) on a full disk
    assert alice.stop() == 0, alice.stderr_text()[-3000:]
    disk.fill(strict=True)  # a fresh process: a file-size limit must leave it no room at all
    p = disk.run_cli(alice, "send", CIRCLE, "offline on a full disk")
    assert p.returncode != 0, p.stdout
    assert _one_sentence(p.stderr), p.stderr
    offline_refusal = p.stderr.strip()
    disk.free()
    assert kit.integrity(alice) == "ok"
    p = disk.run_cli(alice, "send", CIRCLE, "offline after space returned", "--json")
    assert p.returncode == 0, p.stderr
    acked.append(p.stdout.strip().split('"id": "')[1].split('"')[0])
    alice.start(*([bob.addr] if bob.addr else []))
    wait_until(lambda: set(acked) <= kit.ids(bob, circle), 60, 0.2, "bob to get the queued message")
    for n in (alice, bob):
        assert kit.integrity(n) == "ok"
        assert not kit.chain_problems(n, circle, akey)
    with contextlib.suppress(Exception):
        assert alice.stop() == 0
    kit.report(
        "disk_full",
        mode=disk.mode,
        cycles=settings["cycles"],
        acked=len(acked),
        acked_by_bob_meanwhile=len(acked_bob),
        refused=refused,
        lost=0,
        integrity="ok",
        bob_catch_up_s=round(catch_up, 2),
        seconds=round(time.monotonic() - t_start, 1),
        node_refusal=sorted(refusal_texts)[:2],
        cli_refusal=cli_refusals[0],
        offline_refusal=offline_refusal,
    )
