"""`send` and `log --follow` with and without a running node on the profile."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from protocol.node import api
from smallsocial_tui.control import request
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(180)


def test_send_queues_offline_and_goes_out_with_the_node(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])

    # No node for bob: the message waits in his outbox.
    queued = bob.json("send", "friends", "written offline")
    assert queued["status"] == "queued"
    assert "written offline" in bob.texts(circle)
    assert "written offline" not in alice.texts(circle)

    # bob's node starts, finds alice from the token and delivers it.
    bob.start()
    wait_until(lambda: "written offline" in alice.texts(circle), 30, what="the queued message at alice")

    # With bob's node running, send reaches it through the control socket and goes out at once.
    sent = bob.json("send", "friends", "written online")
    assert sent["status"] == "sent"
    wait_until(lambda: "written online" in alice.texts(circle), 15, what="the live message at alice")
    assert bob.json("send", "friends", "written online")["id"] != sent["id"]

    # A second node on the same profile is refused with one sentence.
    second = bob.cli("run", ok=False, timeout=30)
    assert second.returncode == 1 and "already running" in second.stderr


def test_log_follow_prints_new_messages(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    follower = subprocess.Popen(
        [sys.executable, "-m", "smallsocial_tui", "log", "friends", "--follow"],
        env=alice.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        bob.json("send", "friends", "watch this")
        wait_until(lambda: any("watch this" in ln for ln in lines), 30, what="log --follow to print it")
        assert circle
    finally:
        follower.kill()
        follower.wait(10)
        reader.join(5)
        if follower.stdout is not None:
            follower.stdout.close()


def test_a_burst_arrives_whole_long_before_the_periodic_sync(make_peer: Callable[[str], Peer]) -> None:
    """600 sends from ten clients at once: all at bob well before the 30 s periodic sync.

    (Tail loss itself does not reproduce in this small setup; the benchmark's burst phase
    shows the pull hint at work: 17% delivered without it, 100% with it.)"""
    alice, bob = make_peer("alice"), make_peer("bob")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start()
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start()
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 30, what="bob's join")
    assert alice.json("id")["addresses"] == [alice.addr]  # `id` shows where the node listens
    sent: list[str] = []

    def sender(k: int) -> None:  # many clients at once: the node publishes with no pause between
        for i in range(60):
            reply = request(alice.root, api.SendMessage(bytes.fromhex(circle), f"burst {k}.{i}"))
            assert reply["ok"], reply
            sent.append(reply["record_id"])

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(sent) == 600
    # Well under the 30 s periodic sync: only the hint or gossip can have delivered them.
    wait_until(lambda: set(sent) <= bob.record_ids(circle), 15, what="the whole burst at bob")


def test_the_control_socket_speaks_the_api_codec_and_refuses_anything_else(
    make_peer: Callable[[str], Peer],
) -> None:
    """One vocabulary: the socket takes api commands in codec JSON and answers with api events."""
    import json
    import socket

    from smallsocial_tui import control

    alice = make_peer("alice")
    circle = bytes.fromhex(alice.json("circle", "new", "friends")["id"])
    alice.start(serving=True)
    status = control.call(alice.root, api.GetStatus(request_id=77))
    assert isinstance(status, api.NodeStatus) and status.request_id == 77 and status.addrs
    sent = control.call(alice.root, api.SendMessage(circle, "through the codec"))
    assert isinstance(sent, api.MessageSent) and sent.circle == circle
    assert "through the codec" in alice.texts(circle.hex())

    def raw(line: bytes) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(alice.root / "control.sock"))
            s.sendall(line + b"\n")
            reply: dict[str, object] = json.loads(s.makefile().readline())
            return reply

    for junk in (b"not json", b'{"op": "send"}', b'{"command": "SendMessage", "circle": "zz", "text": 1}'):
        reply = raw(junk)
        assert reply["event"] == "CommandFailed" and str(reply["message"]).startswith("Bad request: "), reply
    assert control.call(alice.root, api.GetStatus()).peers == 0  # still serving


def test_run_without_json_prints_lines_for_a_person(make_peer: Callable[[str], Peer]) -> None:
    """``run`` renders events as text through the UI package (smallsocial_tui/render.py)."""
    alice = make_peer("alice")
    alice.json("circle", "new", "friends")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallsocial_tui", "run", "--listen", "/ip4/127.0.0.1/tcp/0"],
        env=alice.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " listening on /ip4/127.0.0.1/tcp/" in first and first[:8].count(":") == 2, first
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_a_watcher_sees_every_event_and_one_that_leaves_rudely_does_not_stop_the_node(
    make_peer: Callable[[str], Peer],
) -> None:
    """``{"watch": true}``: NodeStarted and Reachability first, then the node's events, commands
    in on the same line; a bad line is refused to that watcher; a watcher that vanishes mid-stream
    (many, while events flow) ends only its watch."""
    import json
    import socket

    from smallsocial_tui import control

    alice = make_peer("alice")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start(serving=True)
    seen: list[api.Event] = []
    closed = threading.Event()
    watch = control.Watch(alice.root, seen.append, closed.set)
    try:
        wait_until(lambda: len(seen) >= 2, 10, what="the watch's first events")
        assert isinstance(seen[0], api.NodeStarted) and seen[0].peer_id == alice.key
        assert isinstance(seen[1], api.Reachability)
        watch.send(api.SendMessage(bytes.fromhex(circle), "through a watch", request_id=4242))
        wait_until(lambda: any(getattr(e, "request_id", None) == 4242 for e in seen), 10, what="the answer")
        assert any(isinstance(e, api.MessageSent) and e.request_id == 4242 for e in seen)
        control.call(alice.root, api.SendMessage(bytes.fromhex(circle), "from another client"))
        wait_until(lambda: any(isinstance(e, api.MessageSent) and e.request_id != 4242 for e in seen), 10)

        for _ in range(5):  # watchers that leave without a word, while the node keeps emitting
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(alice.root / "control.sock"))
            s.sendall(b'{"watch": true}\n{"command": "GetStatus"}\nnot json\n')
            s.recv(10)
            s.close()
            control.call(alice.root, api.SendMessage(bytes.fromhex(circle), "while one leaves"))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(alice.root / "control.sock"))
            s.sendall(b'{"watch": true}\nnot json\n')
            lines = s.makefile()
            got = [json.loads(lines.readline()) for _ in range(3)]
        assert got[2]["event"] == "CommandFailed" and str(got[2]["message"]).startswith("Bad request: ")
        assert alice.running() and control.call(alice.root, api.GetStatus()).peer_id == alice.key
        assert not closed.is_set()
        alice.stop()
        assert closed.wait(10)  # the watch is told the node went away
    finally:
        watch.close()
