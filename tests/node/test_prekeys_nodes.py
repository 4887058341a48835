"""Prekeys over the wire (issue 15 part A): real member nodes as separate processes.

bob's node publishes his prekey in the circle after joining; alice's node seals the rekey of
a removal to it; bob's node opens it with his private prekey and reads what alice sends
next. bob's identity key alone opens neither that rekey (in any store) nor his keys at rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from protocol import records
from protocol.errors import DecryptError
from protocol.identity import load_identity
from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(180)

CIRCLE = "friends"


def _sql(peer: Peer, query: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{peer.root / 'store.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return list(db.execute(query, args))
    finally:
        db.close()


def _of_type(peer: Peer, circle: str, t: str) -> list[records.Record]:
    rows = _sql(peer, "SELECT id, raw FROM records WHERE circle = ? AND type = ?", bytes.fromhex(circle), t)
    return [records.load(bytes(raw), bytes(rid)) for rid, raw in rows]


def _join(inviter: Peer, joiner: Peer, circle: str) -> None:
    joiner.json("join", inviter.json("invite", CIRCLE, joiner.key)["token"])
    wait_until(lambda: inviter.saw("MemberJoined", circle=circle, member=joiner.key), 30, what="the join")


def test_a_removal_rekey_is_sealed_to_bobs_prekey_and_his_node_opens_it(
    make_peer: Callable[[str], Peer],
) -> None:
    alice, bob, carol = make_peer("alice"), make_peer("bob"), make_peer("carol")
    circle = alice.json("circle", "new", CIRCLE)["id"]
    alice.start()
    bob.start()
    carol.start()
    _join(alice, bob, circle)
    _join(alice, carol, circle)
    bob_key = bytes.fromhex(records_key(bob))

    def alice_has_bobs_prekey() -> bool:
        carriers = [*_of_type(alice, circle, records.PREKEY), *_of_type(alice, circle, records.JOIN)]
        return any(r.author == bob_key and "pk" in r.body for r in carriers)

    wait_until(alice_has_bobs_prekey, 45, what="alice to get bob's prekey (his join carries it)")
    assert alice.json("remove", CIRCLE, carol.key)["removed"] == carol.key
    secret = "after carol's removal"
    alice.json("send", CIRCLE, secret)
    wait_until(lambda: secret in bob.texts(circle), 45, what="bob to read alice's post-removal message")

    thief = load_identity((bob.root / "identity.key").read_bytes())
    (rekey,) = [
        r for r in _of_type(bob, circle, records.REKEY) if r.author == bytes.fromhex(records_key(alice))
    ]
    sealed = {bytes(k): bytes(s) for k, s in rekey.body["ks"]}
    with pytest.raises(DecryptError):
        thief.unseal(sealed[bob_key])
    for (key_sealed,) in _sql(bob, "SELECT key_sealed FROM epoch_keys"):
        with pytest.raises(DecryptError):
            thief.unseal(bytes(key_sealed))
    for p in (alice, bob, carol):
        assert p.stop() == 0


def records_key(p: Peer) -> str:
    from protocol.identity import parse_peer_id

    return parse_peer_id(p.key).hex()
