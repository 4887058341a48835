"""Fixtures for attacks by software we did not write: a js-libp2p peer, and py-libp2p dialers.

``js_peer(tmp_path, **config)`` runs ``jspeer/foreign.mjs`` (js-libp2p 2.10, versions pinned in
``jspeer/package.json`` and its lock file) and returns its JSON report. Its packages are
installed on first use with ``npm ci`` from the npm registry; without node and npm the
tests skip, except under CI, where that is a failure. ``member_pair`` gives two members of
one circle, alice (the target) and bob, as real ``smallsocial run`` processes on 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.harness import Peer, wait_until

JSPEER = Path(__file__).resolve().parent / "jspeer"
REPO = Path(__file__).resolve().parents[2]
CIRCLE = "friends"
JsPeer = Callable[..., dict[str, Any]]


def _npm_ci() -> None:
    with open(JSPEER / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (JSPEER / "node_modules" / "libp2p" / "package.json").exists():
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JSPEER, check=True, timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.fixture(scope="session")
def js_peer() -> JsPeer:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the foreign-peer tests: node and npm are missing")
        pytest.skip("the foreign js-libp2p peer needs node and npm")
    _npm_ci()

    def run(
        tmp_path: Path, timeout: float = 240, cpus: set[int] | None = None, **config: Any
    ) -> dict[str, Any]:
        """Run foreign.mjs with ``config``; ``cpus``: pin the js process to these CPUs."""
        cfg = tmp_path / f"js-{config['mode']}-{len(list(tmp_path.glob('js-*')))}.json"
        cfg.write_text(json.dumps(config))
        p = subprocess.run(
            ["node", str(JSPEER / "foreign.mjs"), str(cfg)],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            preexec_fn=None if cpus is None else (lambda: os.sched_setaffinity(0, cpus)),
        )  # fmt: skip
        lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
        assert lines, f"the js peer printed no report (exit {p.returncode}): {p.stderr[-2000:]}"
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    return run


def py_dial(tmp_path: Path, target: str, security: str, claim: str | None = None) -> dict[str, Any]:
    """Dial ``target`` from a py-libp2p host offering only ``security`` (see pydialer.py)."""
    cfg = tmp_path / f"dial-{security}.json"
    cfg.write_text(json.dumps({"target": target, "security": security, "claim": claim,
                               "log_dir": str(tmp_path / f"dial-{security}")}))  # fmt: skip
    p = subprocess.run(
        [sys.executable, "-m", "tests.attacks.pydialer", str(cfg)],
        capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    report: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return report


def join(inviter: Peer, joiner: Peer, circle: str) -> None:
    token = inviter.json("invite", CIRCLE, joiner.key)["token"]
    joiner.json("join", token)
    wait_until(lambda: inviter.saw("MemberJoined", circle=circle, member=joiner.key), 30,
               what=f"{inviter.name} to see {joiner.name} join")  # fmt: skip


def chat_works(sender: Peer, receiver: Peer, circle: str, text: str) -> None:
    """``text`` sent by ``sender`` reaches ``receiver`` (both nodes still serve)."""
    sender.json("send", CIRCLE, text)
    wait_until(lambda: text in receiver.texts(circle), 30, what=f"{receiver.name} to read {text!r}")


@pytest.fixture
def member_pair(tmp_path: Path) -> Iterator[tuple[Peer, Peer, str]]:
    alice, bob = Peer(tmp_path, "alice"), Peer(tmp_path, "bob")
    for p in (alice, bob):
        p.cli("id", "--name", p.name)
    circle = str(alice.json("circle", "new", CIRCLE)["id"])
    try:
        alice.start()
        assert alice.addr is not None
        bob.start(alice.addr)
        join(alice, bob, circle)
        chat_works(alice, bob, circle, "before the attack")
        yield alice, bob, circle
    finally:
        for p in (alice, bob):
            if p.running():
                p.kill()
