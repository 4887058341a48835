"""prekeys.json (built by make_vectors.py): the ``prekey`` roster record (docs/protocol.md
section 8.6), all deterministic.

In records.json's circle (alice founds it, invites bob, bob joins), alice and bob each publish
a prekey; bob publishes a newer one (it replaces his first) and then an older one (kept out:
the newest by ``ts`` wins, whatever the order they arrive in); carol, no member, publishes
one (refused). Bodies no honest builder makes (a small-order key, a prekey expired when made,
one valid for longer than records.MAX_PREKEY_TTL_MS) are signed by hand and listed with the
error :func:`protocol.records.parse` gives. The X25519 private keys are fixed here (never do
this outside vectors) so anyone can check which key a rekey sealed to a prekey opens with.

``carried``: a second circle of format 2, whose genesis carries alice's first prekey
(``alice_g``), bob's join his (``bob_j``), and alice's ``device`` record linking her laptop
the laptop's (``laptop_d``, made by alice): the roster holds all three with no ``prekey``
record.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import nacl.bindings

from protocol import actions, circle, devicecert, records, roster, wire
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.records import Record

PREKEY_PRIVATE = {
    "alice_1": bytes([0x21]) * 32,
    "bob_1": bytes([0x31]) * 32,
    "bob_2": bytes([0x32]) * 32,
    "bob_0": bytes([0x30]) * 32,
    "carol_1": bytes([0x41]) * 32,
    "alice_g": bytes([0x22]) * 32,
    "bob_j": bytes([0x33]) * 32,
    "laptop_d": bytes([0x34]) * 32,
}
LAPTOP_SEED = bytes([6]) * 32
"""alice's laptop, as in devices.json."""
CERT_NONCE = bytes([0x71]) * 16
INVITE_NONCE = bytes([0x45]) * 16
DAY_MS = 24 * 3600 * 1000


def prekey_public(name: str) -> bytes:
    return bytes(nacl.bindings.crypto_scalarmult_base(PREKEY_PRIVATE[name]))


def build_prekeys(
    ids: dict[str, Identity],
    genesis_args: dict[str, Any],
    ts: Callable[[int], int],
    entry: Callable[..., dict[str, Any]],
    tj: Callable[[Any], Any],
) -> dict[str, Any]:
    alice, bob, carol = ids["alice"], ids["bob"], ids["carol"]
    who = {i.public_key: n for n, i in ids.items()}
    g = circle.create(alice, "friends", ts(0), **genesis_args).genesis
    made: list[Record] = []
    entries: list[dict[str, Any]] = []

    def pos(i: Identity) -> ChainPos:
        mine = [r for r in made if r.author == i.public_key]
        return ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()

    def state() -> roster.RosterState:
        return roster.fold(g, made)

    def add(name: str, rec: Record, inputs: dict[str, Any]) -> None:
        made.append(rec)
        e = entry(name, rec, deterministic=True, inputs=inputs)
        e["author"] = who[rec.author]
        entries.append(e)

    def by_hand(i: Identity, pk: bytes, now_ms: int, ex: int) -> Record:
        p = pos(i)
        body = {"t": records.PREKEY, "a": i.public_key, "c": g.id, "q": p.seq, "p": p.prev}
        return records.sign(i, body | {"h": list(state().heads), "ts": now_ms, "pk": pk, "ex": ex})

    inv = actions.invite(alice, state(), pos(alice), bob.public_key, ts(1), nonce=INVITE_NONCE)
    add("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": INVITE_NONCE})
    add("join_bob", actions.join(bob, inv, pos(bob), ts(2)), {"now_ms": ts(2)})
    for name, i, prekey, at in (
        ("prekey_alice", alice, "alice_1", 3),
        ("prekey_bob", bob, "bob_1", 4),
        ("prekey_bob_newer", bob, "bob_2", 5),
    ):
        rec = actions.prekey(i, state(), pos(i), prekey_public(prekey), ts(at))
        add(name, rec, {"prekey": prekey, "now_ms": ts(at), "ttl_ms": actions.PREKEY_TTL_MS})
    older = by_hand(bob, prekey_public("bob_0"), ts(4) - 1, ts(4) - 1 + actions.PREKEY_TTL_MS)
    add("prekey_bob_older", older, {"prekey": "bob_0", "now_ms": ts(4) - 1, "by_hand": True})
    add(
        "prekey_carol_not_a_member",
        by_hand(carol, prekey_public("carol_1"), ts(6), ts(6) + DAY_MS),
        {"prekey": "carol_1", "now_ms": ts(6), "by_hand": True},
    )

    st = state()
    rng = random.Random(13)
    for _ in range(20):
        shuffled = made[:]
        rng.shuffle(shuffled)
        if roster.fold(g, shuffled).prekeys != st.prekeys:
            raise SystemExit("prekeys.json: the prekeys depend on the arrival order")
    names = {bytes.fromhex(e["id_hex"]): e["name"] for e in entries}

    refused = []
    small_order = bytes(32)  # the all-zero point: every shared secret with it is zero
    for case, pk, now_ms, ex in (
        ("a small-order key", small_order, ts(7), ts(7) + DAY_MS),
        ("expired when made", prekey_public("alice_1"), ts(7), ts(7)),
        ("valid for longer than 60 days", prekey_public("alice_1"), ts(7), ts(7) + 61 * DAY_MS),
    ):
        p = pos(alice)
        body = {"v": records.VERSION, "t": records.PREKEY, "a": alice.public_key, "c": g.id, "q": p.seq}
        body |= {"p": p.prev, "h": list(st.heads), "ts": now_ms, "pk": pk, "ex": ex}
        body_bytes = wire.encode(body)
        raw = wire.encode([body_bytes, alice.sign(records.DOMAINS[records.PREKEY] + body_bytes)])
        try:
            records.parse(raw)
        except ProtocolError as e:
            refused.append({"case": case, "raw_hex": raw.hex(), "error": type(e).__name__, "message": str(e)})
        else:
            raise SystemExit(f"prekeys.json: refused prekey {case!r} parsed")
    return {
        "carried": carried(alice, bob, who, genesis_args, ts, entry),
        "_about": __doc__.strip(),
        "deterministic": True,
        "prekey_private": {n: k.hex() for n, k in PREKEY_PRIVATE.items()},
        "prekey_public": {n: prekey_public(n).hex() for n in PREKEY_PRIVATE},
        "genesis_raw_hex": g.raw.hex(),
        "records": entries,
        "refused": refused,
        "accepted": sorted(names[i] for i in st.accepted),
        "rejected": {names[i]: why for i, why in sorted(st.rejected.items(), key=lambda x: names[x[0]])},
        "prekeys": {
            who[k]: {"prekey": names[p.record], "pk_hex": p.key.hex(), "expires": p.expires}
            for k, p in sorted(st.prekeys.items())
        },
        "roster_hash_hex": st.roster_hash.hex(),
    }


def carried(
    alice: Identity,
    bob: Identity,
    who: dict[bytes, str],
    genesis_args: dict[str, Any],
    ts: Callable[[int], int],
    entry: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """A genesis and a join of format 2, each carrying its author's first prekey."""
    ttl = actions.PREKEY_TTL_MS
    g_in = {"prekey": "alice_g", "now_ms": ts(0), "ex": ts(0) + ttl}
    g = circle.create(alice, "friends", ts(0), **genesis_args, prekey=(prekey_public("alice_g"), ts(0) + ttl))
    inv = actions.invite(
        alice, roster.fold(g.genesis, []), ChainPos(), bob.public_key, ts(1), nonce=INVITE_NONCE
    )
    j_in = {"prekey": "bob_j", "now_ms": ts(2), "ex": ts(2) + ttl}
    join = actions.join(bob, inv, ChainPos(), ts(2), prekey=(prekey_public("bob_j"), ts(2) + ttl))
    entries = []
    for name, rec, inputs in (
        ("genesis_with_prekey", g.genesis, g_in),
        ("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": INVITE_NONCE}),
        ("join_with_prekey", join, j_in),
    ):
        e = entry(name, rec, deterministic=True, inputs=inputs)
        e["author"] = who[rec.author]
        entries.append(e)
    laptop = Identity.from_seed(LAPTOP_SEED)
    who = {**who, laptop.public_key: "alice_laptop"}
    cert = devicecert.make(alice, laptop.public_key, "laptop", ts(3), nonce=CERT_NONCE)
    d_in = {"prekey": "laptop_d", "now_ms": ts(3), "ex": ts(3) + ttl, "cert_nonce": CERT_NONCE}
    st = roster.fold(g.genesis, [inv, join])
    dev = actions.link_device(
        alice, st, ChainPos(2, inv.id), cert.raw, ts(3), prekey=(prekey_public("laptop_d"), ts(3) + ttl)
    )
    e = entry("device_with_prekey", dev, deterministic=True, inputs=d_in)
    e["author"] = "alice"
    entries.append(e)
    st = roster.fold(g.genesis, [inv, join, dev])
    if sorted(st.accepted) != sorted([inv.id, join.id, dev.id]):
        raise SystemExit("prekeys.json: a format-2 record was not accepted")
    return {
        "records": entries,
        "prekeys": {
            who[k]: {"pk_hex": p.key.hex(), "expires": p.expires} for k, p in sorted(st.prekeys.items())
        },
    }
