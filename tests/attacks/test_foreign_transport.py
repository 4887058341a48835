"""Threat A: only Noise is offered, so a peer's ID is proven by its key, never just claimed.

py-libp2p 0.8.1 offers Noise, TLS, secio and unencrypted ``/plaintext/2.0.0`` by default.
Over plaintext a peer presents any public key it likes, so a stranger could be bob to
alice: pull the circle over sync, get the real bob graylisted. Each of these dials comes
from software other than the node: js-libp2p (plaintext and Noise), and py-libp2p hosts
offering one transport each, the plaintext one presenting bob's (public) key as its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.conftest import JsPeer, chat_works, py_dial
from tests.node.harness import Peer

pytestmark = pytest.mark.timeout(240)


def test_js_libp2p_plaintext_is_refused_noise_is_not(
    member_pair: tuple[Peer, Peer, str], js_peer: JsPeer, tmp_path: Path
) -> None:
    alice, bob, circle = member_pair
    plain = js_peer(tmp_path, mode="dial", target=alice.addr, encrypters=["plaintext"])
    assert plain.get("connected") is not True, plain
    assert any("protocol selection failed" in e or "Encryption" in e for e in plain["errors"]), plain

    noise = js_peer(tmp_path, mode="dial", target=alice.addr, encrypters=["noise"], muxers=["mplex"])
    assert noise["connected"] is True, noise
    assert noise["encryption"] == "/noise" and noise["multiplexer"] == "/mplex/6.7.0", noise
    assert "/smallsocial/sync/1.0.0" in noise["protocols"], noise
    chat_works(bob, alice, circle, "after the foreign dials")


@pytest.mark.parametrize("security", ["plaintext", "secio", "tls"])
def test_py_libp2p_dial_without_noise_is_refused(
    member_pair: tuple[Peer, Peer, str], tmp_path: Path, security: str
) -> None:
    alice, bob, circle = member_pair
    before = _connects(alice, bob.key)
    claim = bob.key if security == "plaintext" else None  # pose as bob: his key is public
    report = py_dial(tmp_path, str(alice.addr), security, claim)
    assert report["connected"] is False, report
    chat_works(bob, alice, circle, f"after a {security} dial")
    assert _connects(alice, bob.key) == before, "someone else was taken for bob"


def test_py_libp2p_noise_dial_works(member_pair: tuple[Peer, Peer, str], tmp_path: Path) -> None:
    """The control: the same dialer with Noise connects and pings, so the refusals above are real."""
    alice, _, _ = member_pair
    report = py_dial(tmp_path, str(alice.addr), "noise")
    assert report == {"connected": True, "ping": True}, report


def _connects(node: Peer, peer_id: str) -> int:
    return sum(1 for e in node.events if e.get("event") == "PeerConnected" and e.get("peer_id") == peer_id)
