"""devices.json (built by make_vectors.py): device certificates and the ``device`` and ``unlink``
roster records (docs/protocol.md section 8.5), all deterministic.

In records.json's circle (alice founds it, invites bob, bob joins), alice certifies her laptop
and links it; the laptop links alice's phone with alice's certificate for it; bob tries to
link a tablet with a certificate alice made (refused: the certificate is another person's);
the laptop unlinks the phone. The unlink burns epoch 0 (the phone held it), so the circle has
no current epoch until someone rekeys (the builder's rekey, random, is left out).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from protocol import actions, circle, devicecert, records, roster, wire
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.records import Record

DEVICE_SEEDS = {
    "alice_laptop": bytes([6]) * 32,
    "alice_phone": bytes([7]) * 32,
    "alice_tablet": bytes([8]) * 32,
}
CERT_NONCES = {
    "alice_laptop": bytes([0x71]) * 16,
    "alice_phone": bytes([0x72]) * 16,
    "alice_tablet": bytes([0x73]) * 16,
}
INVITE_NONCE = bytes([0x44]) * 16


def build_devices(
    ids: dict[str, Identity],
    genesis_args: dict[str, Any],
    ts: Callable[[int], int],
    entry: Callable[..., dict[str, Any]],
    tj: Callable[[Any], Any],
) -> dict[str, Any]:
    alice, bob = ids["alice"], ids["bob"]
    devs = {name: Identity.from_seed(seed) for name, seed in DEVICE_SEEDS.items()}
    who = {**{i.public_key: n for n, i in ids.items()}, **{i.public_key: n for n, i in devs.items()}}
    new = circle.create(alice, "friends", ts(0), **genesis_args)
    g = new.genesis
    made: list[Record] = []
    entries: list[dict[str, Any]] = []

    def pos(i: Identity) -> ChainPos:
        mine = [r for r in made if r.author == i.public_key]
        return ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()

    def add(name: str, rec: Record, inputs: dict[str, Any]) -> Record:
        made.append(rec)
        e = entry(name, rec, deterministic=True, inputs=inputs)
        e["author"] = who[rec.author]
        entries.append(e)
        return rec

    def state() -> roster.RosterState:
        return roster.fold(g, made)

    certs: dict[str, devicecert.DeviceCert] = {}
    cert_entries = []
    for n, (name, nm) in enumerate(
        (("alice_laptop", "laptop"), ("alice_phone", "phone"), ("alice_tablet", "tablet"))
    ):
        c = devicecert.make(alice, devs[name].public_key, nm, ts(2 + n), nonce=CERT_NONCES[name])
        certs[name] = c
        body_bytes, sig = wire.decode(c.raw, devicecert.MAX_CERT)
        cert_entries.append(
            {
                "name": f"cert_{name}",
                "inputs": tj(
                    {
                        "person": "alice",
                        "device": name,
                        "name": nm,
                        "now_ms": ts(2 + n),
                        "nonce": CERT_NONCES[name],
                    }
                ),
                "domain": devicecert.DOMAIN[:-1].decode(),
                "domain_hex": devicecert.DOMAIN.hex(),
                "body": tj(wire.decode(body_bytes, devicecert.MAX_CERT)),
                "body_hex": body_bytes.hex(),
                "sig_hex": sig.hex(),
                "raw_hex": c.raw.hex(),
            }
        )

    inv = actions.invite(alice, state(), pos(alice), bob.public_key, ts(1), nonce=INVITE_NONCE)
    add("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": INVITE_NONCE})
    add("join_bob", actions.join(bob, inv, pos(bob), ts(2)), {"now_ms": ts(2)})
    lap, phone = devs["alice_laptop"], devs["alice_phone"]
    add(
        "device_laptop",
        actions.link_device(alice, state(), pos(alice), certs["alice_laptop"].raw, ts(5)),
        {"cert": "cert_alice_laptop", "now_ms": ts(5)},
    )
    add(
        "device_phone_by_laptop",
        actions.link_device(lap, state(), pos(lap), certs["alice_phone"].raw, ts(6)),
        {"cert": "cert_alice_phone", "now_ms": ts(6)},
    )
    p = pos(bob)
    body = {"t": records.DEVICE, "a": bob.public_key, "c": g.id, "q": p.seq, "p": p.prev}
    body |= {
        "h": list(state().heads),
        "ts": ts(7),
        "k": devs["alice_tablet"].public_key,
        "dc": certs["alice_tablet"].raw,
    }
    add(
        "device_tablet_by_bob",
        records.sign(bob, body),
        {"cert": "cert_alice_tablet", "now_ms": ts(7), "by_hand": True},
    )
    un, _rekey = actions.unlink(lap, state(), pos(lap), phone.public_key, 0, ts(8))
    add("unlink_phone_by_laptop", un, {"device": "alice_phone", "cut": 0, "now_ms": ts(8)})

    st = state()
    rng = random.Random(11)
    for _ in range(20):
        shuffled = made[:]
        rng.shuffle(shuffled)
        if roster.fold(g, shuffled).roster_hash != st.roster_hash:
            raise SystemExit("devices.json: the roster depends on the arrival order")
    names = {bytes.fromhex(e["id_hex"]): e["name"] for e in entries}

    good = certs["alice_laptop"].raw
    body_bytes, sig = wire.decode(good, devicecert.MAX_CERT)
    damaged = []
    for case, raw in (
        (
            "a signature by the device, not the person",
            wire.encode([body_bytes, lap.sign(devicecert.DOMAIN + body_bytes)]),
        ),
        (
            "signed under the device record's domain",
            wire.encode([body_bytes, alice.sign(records.DOMAINS["device"] + body_bytes)]),
        ),
        ("one byte of the name changed", good.replace(b"laptop", b"lapton")),
        ("cut short", good[:-1]),
    ):
        try:
            devicecert.parse(raw)
        except ProtocolError as e:
            damaged.append({"case": case, "raw_hex": raw.hex(), "error": type(e).__name__, "message": str(e)})
        else:
            raise SystemExit(f"devices.json: damaged certificate {case!r} parsed")
    return {
        "_about": __doc__.strip(),
        "deterministic": True,
        "device_seeds": {n: s.hex() for n, s in DEVICE_SEEDS.items()},
        "device_keys": {n: i.public_key.hex() for n, i in devs.items()},
        "genesis_raw_hex": g.raw.hex(),
        "certificates": cert_entries,
        "damaged_certificates": damaged,
        "records": entries,
        "accepted": sorted(names[i] for i in st.accepted),
        "rejected": {names[i]: why for i, why in sorted(st.rejected.items(), key=lambda x: names[x[0]])},
        "members": {
            who[k]: {"role": m.role, "person": who[m.person] if m.person else None}
            for k, m in sorted(st.members.items())
        },
        "departed": {who[k]: {"kind": d.kind, "cut": d.cut} for k, d in st.departed.items()},
        "current_epoch": None if st.current_epoch is None else st.current_epoch.id.hex(),
        "needs_rekey": st.needs_rekey,
        "roster_hash_hex": st.roster_hash.hex(),
    }
