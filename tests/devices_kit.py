"""Shared set-up for linked-device tests: alice and bob in "friends", alice's laptop linked
there, on real profiles under one data directory (``resolve(root, name)``), closed after."""

from __future__ import annotations

from pathlib import Path

from protocol.identity import Identity
from protocol.node import devices
from protocol.node.paths import resolve
from protocol.node.profile import Profile

CHEAP = {"opslimit": 1, "memlimit": 8192}


def make(root: Path, name: str, n: int) -> Profile:
    """A profile named ``name`` in the data directory ``root``, its key from seed byte ``n``."""
    return Profile.create(
        resolve(str(root), name), name, identity=Identity.from_seed(bytes([n]) * 32), **CHEAP
    )


def alice_laptop_bob(root: Path, *, then: list[str] | None = None) -> tuple[bytes, bytes, bytes, bytes]:
    """alice founds "friends", bob joins, alice links her laptop (named "laptop"), bob names
    alice "alice"; ``then``: circles bob founds afterwards. (friends, alice, bob, laptop) keys."""
    alice, bob, laptop = make(root, "alice", 1), make(root, "bob", 2), make(root, "laptop", 41)
    cid = alice.new_circle("friends").circle_id
    bob.join_token(alice.invite(cid, bob.me))
    alice.import_bundle(bob.export([cid]))
    bundle, _ = devices.add(alice, devices.request(laptop, "laptop"))
    devices.accept(laptop, bundle)
    bob.import_bundle(alice.export([cid]))
    bob.store.set_contact(alice.me, "alice", 0)
    for name in then or []:
        bob.new_circle(name)
    keys = (cid, alice.me, bob.me, laptop.me)
    for p in (alice, bob, laptop):
        p.close()
    return keys
