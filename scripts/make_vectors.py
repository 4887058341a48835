"""Build the golden test vectors in tests/vectors/*.json.

Run from the repository root::

    /work/venv/bin/python scripts/make_vectors.py

Keys, nonces, epoch keys and timestamps are fixed, so every record whose
builder takes its randomness as an argument comes out byte for byte the same
on every run (``"deterministic": true`` in the JSON). A few builders draw
randomness that cannot be pinned from outside: sealed boxes
(``crypto.seal``: the rekey's sealed epoch keys, the token's sealed secret, the
fork's sealed child keys) and the child circle a fork creates. Those vectors
(``"deterministic": false``) hold the bytes of the run that made them; the
tests re-verify them (signature, id, schema, who can unseal what) instead of
rebuilding them, so re-running this script changes only those bytes and the
ids that depend on them.

JSON conventions: a byte string is ``{"bin": "<hex>"}`` wherever a value is
typed (record bodies, plaintexts, wire values); fields whose names end in
``_hex`` are plain hex strings; everything else is the JSON value itself.
"""

from __future__ import annotations

import base64
import heapq
import json
import random
import sys
from pathlib import Path
from typing import Any

import nacl.pwhash

from protocol import (
    actions,
    addrpack,
    carry,
    circle,
    crypto,
    files,
    fork,
    invitation,
    messages,
    records,
    roster,
    schema,
    shorttoken,
    sync,
    tokentext,
    wire,
)
from protocol.chain import ChainPos
from protocol.errors import ProtocolError
from protocol.identity import Identity, dump_identity, peer_id
from protocol.records import Record
from protocol.view import CircleView, Stored

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors"

T0 = 1_700_000_000_000
"""2023-11-14 22:13:20 UTC, in milliseconds: the scenario's clock starts here."""

SEEDS = {
    "alice": bytes([1]) * 32,
    "bob": bytes([2]) * 32,
    "carol": bytes([3]) * 32,
    "dave": bytes([4]) * 32,
    "relay": bytes([5]) * 32,
}
IDS = {name: Identity.from_seed(seed) for name, seed in SEEDS.items()}
KEYS = {name: ident.public_key for name, ident in IDS.items()}
NAMES = {key: name for name, key in KEYS.items()}

CIRCLE_NAME = "friends"
GENESIS_NONCE = bytes([0x11]) * 16
EPOCH0_KEY = bytes([0x22]) * 32
NAME_NONCE = bytes([0x33]) * 24
ADDRS = ["/ip4/127.0.0.1/tcp/4001"]
TOKEN_ADDRS = [
    f"/ip4/127.0.0.1/tcp/4001/p2p/{IDS['alice'].peer_id}",
    f"/ip6/::1/tcp/4002/p2p/{IDS['relay'].peer_id}",
    "/dns4/relay.example/tcp/4001",
]
"""A short token's addresses: one of each packed form (the inviter's, another key's, text)."""


def tj(value: Any) -> Any:
    """A wire value as typed JSON: bytes become {"bin": hex}."""
    if isinstance(value, bytes):
        return {"bin": value.hex()}
    if isinstance(value, (list, tuple)):
        return [tj(v) for v in value]
    if isinstance(value, dict):
        return {k: tj(v) for k, v in value.items()}
    return value


def ts(n: int) -> int:
    """The scenario's n-th second."""
    return T0 + n * 1000


def entry(
    name: str, rec: Record, *, deterministic: bool, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything about one record: body fields and bytes, domain, signature, raw, id."""
    dom = records.DOMAINS[rec.type]
    out: dict[str, Any] = {
        "name": name,
        "type": rec.type,
        "author": NAMES.get(rec.author, rec.author.hex()),
        "deterministic": deterministic,
        "domain": dom[:-1].decode(),
        "domain_hex": dom.hex(),
        "body": tj(dict(records.parse(rec.raw).body)),
        "body_hex": rec.body_bytes.hex(),
        "sig_hex": rec.sig.hex(),
        "raw_hex": rec.raw.hex(),
        "id_hex": rec.id.hex(),
    }
    if inputs is not None:
        out["inputs"] = tj(inputs)
    return out


class Scenario:
    """One circle's history, fed through a CircleView so every record is checked as it goes."""

    def __init__(self, genesis: Record) -> None:
        self.view = CircleView(genesis)
        self.entries: list[dict[str, Any]] = []

    def pos(self, who: str) -> ChainPos:
        return self.view.next_pos(KEYS[who])

    def add(
        self,
        name: str,
        rec: Record,
        inputs: dict[str, Any] | None = None,
        *,
        deterministic: bool = True,
        **extra: Any,
    ) -> Record:
        """The view takes ``rec``; it is recorded as :func:`entry` ``name``, with ``extra`` fields."""
        outcome = self.view.add(rec)
        if not isinstance(outcome, Stored) or outcome.note is not None:
            sys.exit(f"{name}: the view did not accept it cleanly: {outcome}")
        self.entries.append(entry(name, rec, deterministic=deterministic, inputs=inputs) | extra)
        return rec


def build_records() -> tuple[dict[str, Any], dict[str, Any]]:
    """The main scenario (records.json) and the token (token.json)."""
    alice, bob, dave = IDS["alice"], IDS["bob"], IDS["dave"]
    new = circle.create(
        alice, CIRCLE_NAME, ts(0), nonce=GENESIS_NONCE, epoch_key=EPOCH0_KEY, name_nonce=NAME_NONCE
    )
    g = new.genesis
    cid = g.id
    s = Scenario(g)
    s.entries.append(
        entry(
            "genesis",
            g,
            deterministic=True,
            inputs={
                "founder": "alice",
                "name": CIRCLE_NAME,
                "now_ms": ts(0),
                "invite_policy": "member",
                "nonce": GENESIS_NONCE,
                "epoch_key": EPOCH0_KEY,
                "name_nonce": NAME_NONCE,
            },
        )
        | {"circle_id_hex": cid.hex(), "topic": circle.topic(cid)}
    )

    def invite(name: str, who: str, whom: str, n: int, nonce: bytes) -> Record:
        r = actions.invite(IDS[who], s.view.roster, s.pos(who), KEYS[whom], ts(n), nonce=nonce)
        inputs = {"invitee": whom, "now_ms": ts(n), "role": "member", "ttl_s": actions.DEFAULT_INVITE_TTL_S}
        return s.add(name, r, inputs | {"nonce": nonce})

    def join(name: str, who: str, inv: str, n: int) -> Record:
        inv_rec = next(records.parse(bytes.fromhex(e["raw_hex"])) for e in s.entries if e["name"] == inv)
        r = actions.join(IDS[who], inv_rec, s.pos(who), ts(n))
        return s.add(name, r, {"invite": inv, "now_ms": ts(n)})

    invite("invite_bob", "alice", "bob", 1, bytes([0x44]) * 16)
    join("join_bob", "bob", "invite_bob", 2)

    token_now_s = ts(1) // 1000 + 60
    inv_bob = records.parse(bytes.fromhex(s.entries[1]["raw_hex"]))
    token_text = invitation.make_short_token(alice, inv_bob, cid, EPOCH0_KEY, CIRCLE_NAME, TOKEN_ADDRS)
    token1_text = invitation.make_token(inv_bob, g, [], cid, EPOCH0_KEY, CIRCLE_NAME, ADDRS)

    # bob says hello under epoch 0 (whose id is the circle id)
    content = messages.Content(messages.TEXT, ts(3), "hello, circle")
    msg_nonce = bytes([0x55]) * 24
    m = messages.seal(bob, cid, s.pos("bob"), cid, EPOCH0_KEY, content, nonce=msg_nonce)
    plain = content.encode()
    s.add(
        "msg_bob",
        m,
        {
            "epoch_id": cid,
            "epoch_key": EPOCH0_KEY,
            "nonce": msg_nonce,
            "content": {"k": content.kind, "ts": content.ts, "tx": content.text, "re": content.ref},
        },
        plaintext_hex=plain.hex(),
        aad_hex=messages.associated_data(m.author, cid, m.seq, m.prev, cid).hex(),
        ciphertext_hex=bytes(m.body["x"]).hex(),
    )

    invite("invite_carol", "alice", "carol", 4, bytes([0x66]) * 16)
    join("join_carol", "carol", "invite_carol", 5)
    invite("invite_dave", "alice", "dave", 6, bytes([0x77]) * 16)
    join("join_dave", "dave", "invite_dave", 7)

    lv = actions.leave(dave, s.view.roster, s.pos("dave"), ts(8))
    s.add("leave_dave", lv, {"now_ms": ts(8)})

    rl = actions.change_role(alice, s.view.roster, s.pos("alice"), KEYS["bob"], "admin", ts(9))
    s.add("role_bob", rl, {"target": "bob", "role": "admin", "now_ms": ts(9)})

    pn = actions.pin(alice, s.view.roster, s.pos("alice"), KEYS["relay"], ADDRS, ts(10))
    s.add("pin_relay", pn, {"relay": "relay", "addrs": ADDRS, "now_ms": ts(10)})

    cut, cut_id = s.view.chains.head(KEYS["carol"])
    rm, rk = actions.remove(alice, s.view.roster, s.pos("alice"), KEYS["carol"], cut, ts(11), cut_id=cut_id)
    s.add("remove_carol", rm, {"target": "carol", "cut": cut, "cut_id": cut_id, "now_ms": ts(11)})
    s.add(
        "rekey_after_remove",
        rk.record,
        deterministic=False,
        epoch_key_hex=rk.key.hex(),
        recipients=[NAMES[bytes(p[0])] for p in rk.record.body["ks"]],
    )

    parent_hash = s.view.roster.roster_hash
    fk = fork.create(alice, s.view.roster, s.pos("alice"), "side", [KEYS["bob"]], ts(12))
    opened = fork.open_fork(fk.fork_record, bob)
    s.add(
        "fork_side",
        fk.fork_record,
        deterministic=False,
        child_circle_id_hex=fk.child.circle_id.hex(),
        child_name=fk.child.name,
        child_epoch_key_hex=fk.child.epoch_key.hex(),
        parent_roster_hash_hex=parent_hash.hex(),
        child_genesis_raw_hex=fk.child.genesis.raw.hex(),
        invitees=[NAMES[k] for k in fork.contents(fk.fork_record).invitees],
        opened_by_bob={"name": opened.name, "epoch_key_hex": opened.epoch_key.hex()},
    )

    st = s.view.roster
    assert st.current_epoch is not None
    after = {
        "members": {NAMES[k]: m.role for k, m in sorted(st.members.items())},
        "departed": {NAMES[k]: {"kind": d.kind, "cut": d.cut} for k, d in sorted(st.departed.items())},
        "relays": {NAMES[k]: list(r.addrs) for k, r in sorted(st.relays.items())},
        "current_epoch": {"number": st.current_epoch.number, "id_hex": st.current_epoch.id.hex()},
        "needs_rekey": st.needs_rekey,
        "heads_hex": [h.hex() for h in st.heads],
        "roster_hash_hex": st.roster_hash.hex(),
    }
    recs = {
        "_about": "One circle's history, in the order it was built. Bytes in 'body' and 'inputs' "
        'are {"bin": hex}. "deterministic": false marks records whose builder draws randomness '
        "(sealed boxes, a fork's child circle): their bytes are recorded, not rebuilt.",
        "t0_ms": T0,
        "circle_id_hex": cid.hex(),
        "records": s.entries,
        "roster_after": after,
    }

    token = short_token_vector(token_text, token_now_s)
    token["format1"] = format1_token_vector(token1_text, token_now_s)
    return recs, token


def short_token_vector(text: str, now_s: int) -> dict[str, Any]:
    """token.json: alice's short token (format 2) for bob, its parts, and how damage is reported."""
    version, body = tokentext.unframe(text)
    payload = base64.b32decode(text[4:].upper() + "=" * (-len(text[4:]) % 8))
    tok = invitation.decode_token(text)
    assert isinstance(tok, shorttoken.ShortToken) and version == 2
    signed, sig = body[: -shorttoken.SIG_SIZE], body[-shorttoken.SIG_SIZE :]
    items = wire.decode(signed, len(signed))
    secret = wire.encode([None, EPOCH0_KEY, CIRCLE_NAME])
    return {
        "_about": "A short invitation token (format 2) from alice for bob (deterministic: false: "
        "the secret is a sealed box; everything else is fixed). 'payload_hex' is the base32-decoded "
        "text after 'ssi2'; the body is 'signed_hex' then 'sig_hex'.",
        "text": text,
        "prefix": "ssi2",
        "payload_hex": payload.hex(),
        "length": len(body),
        "body_hex": body.hex(),
        "checksum_hex": payload[4 + len(body) :].hex(),
        "signed_hex": signed.hex(),
        "sig_hex": sig.hex(),
        "signed_message_hex": (shorttoken.DOMAIN + KEYS["bob"] + signed).hex(),
        "fields": {
            "c_hex": items[0].hex(),
            "i_hex": items[1].hex(),
            "a": NAMES[items[2]],
            "x": items[3],
            "sl_hex": items[4].hex(),
            "ad_hex": items[5].hex(),
        },
        "secret_hex": secret.hex(),
        "invite_id_hex": tok.invite_id.hex(),
        "genesis_id_hex": tok.circle_id.hex(),
        "invitee": "bob",
        "inviter": "alice",
        "expires_s": tok.expires,
        "addrs": list(tok.addrs),
        "addr_entries": addr_entries(),
        "open_as_bob_at_s": now_s,
        "opened": {
            "epoch_id_hex": tok.circle_id.hex(),
            "epoch_key_hex": EPOCH0_KEY.hex(),
            "name": CIRCLE_NAME,
        },
        "errors": token_errors(text, tok.expires),
    }


def opened_vector(cid: bytes) -> dict[str, Any]:
    return {"epoch_id_hex": cid.hex(), "epoch_key_hex": EPOCH0_KEY.hex(), "name": CIRCLE_NAME}


def addr_entries() -> list[dict[str, Any]]:
    """Each packed address form alone (inviter alice), and a second entry repeating a key."""
    relay = IDS["relay"].peer_id
    cases = [
        [TOKEN_ADDRS[0]],
        [TOKEN_ADDRS[1]],
        [TOKEN_ADDRS[2]],
        ["/ip4/192.0.2.1/tcp/4001"],
        [f"/ip4/192.0.2.1/tcp/4001/p2p/{relay}", f"/ip4/198.51.100.2/tcp/443/p2p/{relay}"],
    ]
    return [{"addrs": a, "packed_hex": addrpack.pack(a, KEYS["alice"]).hex()} for a in cases]


def format1_token_vector(text: str, now_s: int) -> dict[str, Any]:
    """The format-1 token earlier releases wrote (and this one still reads), alice's for bob."""
    framed = base64.b32decode(text[4:].upper() + "=" * (-len(text[4:]) % 8))
    declared = int.from_bytes(framed[:4], "big")
    body = framed[4 : 4 + declared]
    tok = invitation.decode_token(text)
    assert isinstance(tok, invitation.Token)
    return {
        "_about": "An invitation token of format 1 from alice for bob (deterministic: false: the "
        "secret is a sealed box). 'payload_hex' is the base32-decoded text after 'ssi1'.",
        "text": text,
        "prefix": "ssi1",
        "payload_hex": framed.hex(),
        "length": declared,
        "body_hex": body.hex(),
        "checksum_hex": framed[4 + declared :].hex(),
        "invite_id_hex": tok.invite.id.hex(),
        "genesis_id_hex": tok.genesis.id.hex(),
        "invitee": "bob",
        "expires_s": tok.expires,
        "addrs": list(tok.addrs),
        "open_as_bob_at_s": now_s,
        "opened": {
            "epoch_id_hex": tok.genesis.id.hex(),
            "epoch_key_hex": EPOCH0_KEY.hex(),
            "name": CIRCLE_NAME,
        },
        "errors": token_errors(text, tok.expires),
    }


def token_errors(text: str, expires_s: int) -> list[dict[str, Any]]:
    """How each kind of damage to a token is reported."""
    head, body = text[:4], text[4:]
    flipped = body[:20] + ("b" if body[20] != "b" else "c") + body[21:]
    cases: list[dict[str, Any]] = [
        {"case": "empty", "text": "   \n"},
        {"case": "not a token", "text": "hello " + text[:10]},
        {"case": "newer version", "text": "ssi3" + body},
        {"case": "bad character", "text": text[:30] + "1" + text[31:]},
        {"case": "cut short", "text": text[: len(text) // 2]},
        {"case": "cut short by a few characters", "text": text[:-16]},
        {"case": "extra characters at the end", "text": text + "aaaaaaaa"},
        {"case": "one character changed", "text": head + flipped},
        {"case": "opened by carol", "text": text, "open_as": "carol", "now_s": expires_s - 10},
        {"case": "expired", "text": text, "open_as": "bob", "now_s": expires_s + 1},
        {"case": "already used", "text": text, "open_as": "bob", "now_s": expires_s - 10, "used": True},
    ]
    if head == "ssi2":  # the signed word, signed by someone else than the inviter it names
        version, body2 = tokentext.unframe(text)
        signed = body2[: -shorttoken.SIG_SIZE]
        sig = IDS["dave"].sign(shorttoken.DOMAIN + KEYS["bob"] + signed)
        forged = tokentext.frame(version, signed + sig)
        case = {"case": "signed by another key", "text": forged, "open_as": "bob", "now_s": expires_s - 10}
        cases.append(case)
    inv_id = invitation.decode_token(text).invite_id
    for c in cases:
        try:
            if "open_as" in c:
                used = {inv_id} if c.get("used") else set()
                invitation.open_token(c["text"], IDS[c["open_as"]], c["now_s"], used)
            else:
                invitation.decode_token(c["text"])
        except ProtocolError as e:
            c["error"] = type(e).__name__
            c["message"] = str(e)
        else:
            sys.exit(f"token case {c['case']!r} did not fail")
    return cases


def summarize(g: Record, entries: list[dict[str, Any]], about: str) -> dict[str, Any]:
    """Fold one example's records and record the outcome (checked against 20 shuffles)."""
    recs = [records.parse(bytes.fromhex(e["raw_hex"])) for e in entries]
    names = {r.id: e["name"] for r, e in zip(recs, entries, strict=True)}
    st = roster.fold(g, recs)
    rng = random.Random(7)
    for _ in range(20):  # the same outcome whatever the arrival order
        shuffled = recs[:]
        rng.shuffle(shuffled)
        if roster.fold(g, shuffled).roster_hash != st.roster_hash:
            sys.exit(f"{about}: the roster depends on the arrival order")
    assert st.current_epoch is not None
    return {
        "_about": about,
        "records": entries,
        "canonical_order": [names[r] for r in sorted_order(g, recs)],
        "accepted": sorted(names[r] for r in st.accepted),
        "rejected": {names[r]: why for r, why in sorted(st.rejected.items(), key=lambda x: names[x[0]])},
        "members": {NAMES[k]: m.role for k, m in sorted(st.members.items())},
        "departed": {NAMES[k]: {"kind": d.kind, "cut": d.cut} for k, d in st.departed.items()},
        "current_epoch": {
            "number": st.current_epoch.number,
            "id_hex": st.current_epoch.id.hex(),
            "holders": sorted(NAMES[k] for k in st.current_epoch.holders),
        },
        "needs_rekey": st.needs_rekey,
        "roster_hash_hex": st.roster_hash.hex(),
    }


def build_roster_example(main: dict[str, Any]) -> dict[str, Any]:
    """docs/protocol.md's worked examples, over records.json's genesis."""
    by_name = {e["name"]: records.parse(bytes.fromhex(e["raw_hex"])) for e in main["records"]}
    g = by_name["genesis"]

    # 1. carol invites dave while alice removes carol
    shared = ["invite_bob", "join_bob", "invite_carol", "join_carol"]
    base = roster.fold(g, [by_name[n] for n in shared])
    pos_alice = ChainPos(3, by_name["invite_carol"].id)
    pos_carol = ChainPos(2, by_name["join_carol"].id)
    inv_dave = actions.invite(IDS["carol"], base, pos_carol, KEYS["dave"], ts(20), nonce=bytes([0x88]) * 16)
    rm, rk = actions.remove(IDS["alice"], base, pos_alice, KEYS["carol"], 1, ts(21), cut_id=pos_carol.prev)
    jd = actions.join(IDS["dave"], inv_dave, ChainPos(), ts(22))
    first = [entry(n, by_name[n], deterministic=True) for n in shared]
    first += [
        entry("carol_invites_dave", inv_dave, deterministic=True),
        entry("alice_removes_carol", rm, deterministic=True),
        entry("alice_rekeys", rk.record, deterministic=False) | {"epoch_key_hex": rk.key.hex()},
        entry("dave_joins", jd, deterministic=True),
    ]

    # 2. two admins remove each other concurrently
    alice, bob, carol = IDS["alice"], IDS["bob"], IDS["carol"]
    ib = actions.invite(
        alice, roster.fold(g, []), ChainPos(), KEYS["bob"], ts(30), role="admin", nonce=bytes([0x99]) * 16
    )
    jb = actions.join(bob, ib, ChainPos(), ts(31))
    ic = actions.invite(
        alice,
        roster.fold(g, [ib, jb]),
        ChainPos(2, ib.id),
        KEYS["carol"],
        ts(32),
        role="admin",
        nonce=bytes([0xAA]) * 16,
    )
    jc = actions.join(carol, ic, ChainPos(), ts(33))
    base2 = roster.fold(g, [ib, jb, ic, jc])
    rm_b, rk_b = actions.remove(bob, base2, ChainPos(2, jb.id), KEYS["carol"], 1, ts(34), cut_id=jc.id)
    rm_c, rk_c = actions.remove(carol, base2, ChainPos(2, jc.id), KEYS["bob"], 1, ts(34), cut_id=jb.id)
    second = [
        entry("invite_bob_admin", ib, deterministic=True),
        entry("join_bob", jb, deterministic=True),
        entry("invite_carol_admin", ic, deterministic=True),
        entry("join_carol", jc, deterministic=True),
        entry("bob_removes_carol", rm_b, deterministic=True),
        entry("bob_rekeys", rk_b.record, deterministic=False) | {"epoch_key_hex": rk_b.key.hex()},
        entry("carol_removes_bob", rm_c, deterministic=True),
        entry("carol_rekeys", rk_c.record, deterministic=False) | {"epoch_key_hex": rk_c.key.hex()},
    ]
    return {
        "_about": "The roster worked examples in docs/protocol.md section 9, over records.json's genesis. "
        "The rekeys are not deterministic (sealed boxes), so their ids, and their places in the "
        "canonical order, change when the vectors are regenerated; the outcomes do not.",
        "genesis_raw_hex": g.raw.hex(),
        "examples": {
            "remove_vs_invite": summarize(
                g, first, "alice founds; bob and carol join; carol invites dave while alice removes carol"
            ),
            "mutual_removal": summarize(
                g, second, "bob and carol, both admins, remove each other concurrently: the smaller id wins"
            ),
        },
    }


def sorted_order(g: Record, recs: list[Record]) -> list[bytes]:
    """The canonical walk order (parents first, ties by smaller id), as roster.fold uses it."""
    ids = {r.id for r in recs}
    parents = {r.id: {h for h in r.heads if h in ids} for r in recs}
    heap = [rid for rid, ps in parents.items() if not ps]
    heapq.heapify(heap)
    order: list[bytes] = []
    while heap:
        x = heapq.heappop(heap)
        order.append(x)
        for rid, ps in parents.items():
            if x in ps:
                ps.discard(x)
                if not ps:
                    heapq.heappush(heap, rid)
    assert len(order) == len(recs)
    return order


def build_identities() -> dict[str, Any]:
    people = {
        name: {
            "seed_hex": SEEDS[name].hex(),
            "public_key_hex": ident.public_key.hex(),
            "peer_id": peer_id(ident.public_key),
            "x25519_public_hex": crypto.x25519_public(ident.public_key).hex(),
        }
        for name, ident in IDS.items()
    }
    salt, nonce = bytes([0x99]) * nacl.pwhash.argon2id.SALTBYTES, bytes([0xAA]) * crypto.NONCE_SIZE
    ops, mem = nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
    sealed = dump_identity(IDS["alice"], "correct horse", opslimit=ops, memlimit=mem, salt=salt, nonce=nonce)
    return {
        "_about": "Fixed identities: Identity.from_seed(seed). peer_id is the libp2p peer ID text.",
        "identities": people,
        "keyfiles": {
            "plain": {"who": "alice", "hex": dump_identity(IDS["alice"]).hex()},
            "passphrase": {
                "who": "alice",
                "passphrase": "correct horse",
                "opslimit": ops,
                "memlimit": mem,
                "salt_hex": salt.hex(),
                "nonce_hex": nonce.hex(),
                "hex": sealed.hex(),
            },
        },
    }


WIRE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2**32,
    2**63 - 1,
    2**64 - 1,
    -1,
    -32,
    -33,
    -128,
    -129,
    -(2**63),
    "",
    "a",
    "é",
    "x" * 31,
    "x" * 32,
    b"",
    b"\x00\xff",
    [],
    [1, [2, "b"]],
    {"b": 1, "a": 2},
    {"b": 1, "aa": 2},
    {"é": 1, "z": 2},
    {"v": 1, "t": "msg", "n": b"\x01\x02"},
]

WIRE_REJECTS = [
    ("", "empty input"),
    ("c0c0", "trailing bytes"),
    ("cc01", "1 as uint8 instead of a positive fixint"),
    ("d90161", '"a" as str8 instead of fixstr'),
    ("dc000101", "a one-element array as array16"),
    ("82a16201a16102", "map keys not sorted"),
    ("82a16101a16102", "duplicate map key"),
    ("8101c0", "a map key that is an integer"),
    ("81c4016101", "a map key that is bytes"),
    ("a1ff", "text that is not UTF-8"),
    ("cb3ff0000000000000", "a float"),
    ("ca3f800000", "a float32"),
    ("d40100", "an ext type"),
    ("91919191919191919191c0", "nesting deeper than MAX_DEPTH"),
    ("c1", "the reserved byte 0xc1"),
    ("92c0", "an array cut short"),
]


def build_wire() -> dict[str, Any]:
    values = [{"value": tj(v), "hex": wire.encode(v).hex()} for v in WIRE_VALUES]
    for v in values:
        assert wire.encode(wire.decode(bytes.fromhex(v["hex"]), 1 << 20)) == bytes.fromhex(v["hex"])
    rejects = []
    for hx, why in WIRE_REJECTS:
        try:
            wire.decode(bytes.fromhex(hx), 1024)
        except ProtocolError as e:
            rejects.append({"hex": hx, "why": why, "error": type(e).__name__, "message": str(e)})
        else:
            sys.exit(f"wire reject {hx} ({why}) decoded")
    try:
        wire.decode(bytes(8), 4)
    except ProtocolError as e:
        oversize = {"hex": bytes(8).hex(), "max_size": 4, "error": type(e).__name__, "message": str(e)}
    return {
        "_about": 'Canonical msgpack (protocol.wire). Values are typed JSON: bytes are {"bin": hex}.',
        "values": values,
        "rejects": rejects,
        "oversize": oversize,
    }


def build_sync(circle_id: bytes) -> dict[str, Any]:
    a, b, c = KEYS["alice"], KEYS["bob"], KEYS["carol"]
    held = {a: list(range(1, 9)), b: [1, 2, 4]}
    theirs = {a: 5, b: 5, c: 2}
    mine = sync.vector(held)
    p = sync.plan(held, theirs)

    def rng(r: sync.Range) -> dict[str, Any]:
        return {"author": NAMES[r.author], "first": r.first, "last": r.last}

    return {
        "_about": "Anti-entropy sync (protocol.sync). Authors are names from identities.json.",
        "circle_id_hex": circle_id.hex(),
        "held": {NAMES[k]: v for k, v in held.items()},
        "vector": {NAMES[k]: v for k, v in mine.items()},
        "vector_message_hex": sync.encode_vector(circle_id, mine).hex(),
        "theirs": {NAMES[k]: v for k, v in theirs.items()},
        "plan": {"send": [rng(r) for r in p.send], "ask": [rng(r) for r in p.ask]},
        "want_message_hex": sync.encode_want(circle_id, p.ask).hex(),
        "batches_of_send_limit_2": [[rng(r) for r in batch] for batch in sync.batches(p.send, 2)],
    }


class _Book:
    """records.json's circle, founded by alice, its roster records added in order, each kept as a
    vector entry: what the roster-setting vectors (softcap, filecap) build on."""

    def __init__(self) -> None:
        new = circle.create(
            IDS["alice"], CIRCLE_NAME, ts(0), nonce=GENESIS_NONCE, epoch_key=EPOCH0_KEY, name_nonce=NAME_NONCE
        )
        self.g = new.genesis
        self.made: list[Record] = []
        self.entries: list[dict[str, Any]] = []

    def pos(self, who: str) -> ChainPos:
        mine = [r for r in self.made if r.author == KEYS[who]]
        return ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()

    def add(self, name: str, rec: Record, inputs: dict[str, Any]) -> Record:
        self.made.append(rec)
        self.entries.append(entry(name, rec, deterministic=True, inputs=inputs))
        return rec

    def verdicts(self, st: roster.RosterState) -> dict[str, Any]:
        """The names of the entries the fold accepted, and why it refused the others."""
        named = {bytes.fromhex(e["id_hex"]): e["name"] for e in self.entries}
        return {
            "accepted": sorted(n for rid, n in named.items() if rid in st.accepted),
            "rejected": {n: st.rejected[rid] for rid, n in named.items() if rid in st.rejected},
        }


def build_softcap() -> dict[str, Any]:
    """softcap.json: admins set the soft cap; a member's is refused; two concurrent, the last walked holds."""
    alice, bob = IDS["alice"], IDS["bob"]
    book = _Book()
    g, made, entries, pos, add = book.g, book.made, book.entries, book.pos, book.add

    def state() -> roster.RosterState:
        return roster.fold(g, made)

    inv = actions.invite(alice, state(), pos("alice"), KEYS["bob"], ts(1), nonce=bytes([0x44]) * 16)
    add("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": bytes([0x44]) * 16})
    add("join_bob", actions.join(bob, inv, pos("bob"), ts(2)), {"now_ms": ts(2)})
    add(
        "softcap_alice_12",
        actions.set_soft_cap(alice, state(), pos("alice"), 12, ts(3)),
        {"cap": 12, "now_ms": ts(3)},
    )
    p = pos("bob")
    body = {"t": records.SOFTCAP, "a": KEYS["bob"], "c": g.id, "q": p.seq, "p": p.prev}
    body |= {"h": list(state().heads), "ts": ts(4), "n": 3}
    add("softcap_bob_member", records.sign(bob, body), {"cap": 3, "now_ms": ts(4), "by_hand": True})
    role = actions.change_role(alice, state(), pos("alice"), KEYS["bob"], "admin", ts(5))
    add("role_bob_admin", role, {"target": "bob", "role": "admin", "now_ms": ts(5)})
    seen = state()
    add(
        "softcap_bob_30", actions.set_soft_cap(bob, seen, pos("bob"), 30, ts(6)), {"cap": 30, "now_ms": ts(6)}
    )
    concurrent = actions.set_soft_cap(alice, seen, pos("alice"), 8, ts(7))  # did not see bob's
    add("softcap_alice_8_concurrent", concurrent, {"cap": 8, "now_ms": ts(7), "heads_of": "role_bob_admin"})
    st = state()
    order = sorted_order(g, made)
    return {
        "_about": "Section 8's softcap record: alice (the founder, an admin) sets 12; bob, a member, "
        "sets 3 (refused); alice makes bob an admin; bob sets 30 and alice, concurrently (citing the "
        "same heads), 8: both apply, in the canonical order, and the one walked last holds. Every "
        "record is deterministic; the genesis is records.json's.",
        "genesis_raw_hex": g.raw.hex(),
        "records": entries,
        "canonical_order": [next(e["name"] for e in entries if e["id_hex"] == rid.hex()) for rid in order],
        **book.verdicts(st),
        "soft_cap": st.soft_cap,
        "soft_cap_by": NAMES[st.soft_cap_by] if st.soft_cap_by else None,
        "default_soft_cap": roster.DEFAULT_SOFT_CAP,
    }


def build_filecap() -> dict[str, Any]:
    """filecap.json: an admin sets the circle's file limit; a member's is refused; what it allows."""
    alice, bob = IDS["alice"], IDS["bob"]
    book = _Book()
    g, made, entries, pos, add = book.g, book.made, book.entries, book.pos, book.add

    inv = actions.invite(
        alice, roster.fold(g, made), pos("alice"), KEYS["bob"], ts(1), nonce=bytes([0x44]) * 16
    )
    add("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": bytes([0x44]) * 16})
    add("join_bob", actions.join(bob, inv, pos("bob"), ts(2)), {"now_ms": ts(2)})
    cap = 10 * 1024 * 1024
    add(
        "filecap_alice_10mib",
        actions.set_file_cap(alice, roster.fold(g, made), pos("alice"), cap, ts(3)),
        {"cap": cap, "now_ms": ts(3)},
    )
    p = pos("bob")
    body = {"t": records.FILECAP, "a": KEYS["bob"], "c": g.id, "q": p.seq, "p": p.prev}
    body |= {"h": list(roster.fold(g, made).heads), "ts": ts(4), "n": schema.MAX_FILE_CAP}
    add(
        "filecap_bob_member",
        records.sign(bob, body),
        {"cap": schema.MAX_FILE_CAP, "now_ms": ts(4), "by_hand": True},
    )
    st = roster.fold(g, made)
    sizes = [0, cap, cap + 1, schema.MAX_FILE_CAP]
    return {
        "_about": "Section 8's filecap record: alice (the founder, an admin) sets the file limit to "
        "10 MiB; bob, a member, sets 64 MiB (refused). A file announcement over the limit is not "
        "sent, shown nor fetched (files.over_limit); the genesis is records.json's.",
        "genesis_raw_hex": g.raw.hex(),
        "records": entries,
        **book.verdicts(st),
        "file_cap": st.file_cap,
        "file_cap_by": NAMES[st.file_cap_by] if st.file_cap_by else None,
        "default_file_cap": roster.DEFAULT_FILE_CAP,
        "over_limit": {str(n): files.over_limit(n, st.file_cap) for n in sizes},
        "over_limit_of_0": files.over_limit(1, 0),
    }


HCHACHA_DRAFT = {  # draft-irtf-cfrg-xchacha-03, section 2.2.1
    "key_hex": bytes(range(32)).hex(),
    "nonce16_hex": "000000090000004a0000000031415927",
    "subkey_hex": "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc",
}


def build_carry() -> dict[str, Any]:
    """carry.json: a parent with two messages, a fork of it, and the carry record that brings
    both into the child; then forged variants and what opening each refuses with."""
    alice, bob = IDS["alice"], IDS["bob"]
    parent = circle.create(
        alice, CIRCLE_NAME, ts(0), nonce=GENESIS_NONCE, epoch_key=EPOCH0_KEY, name_nonce=NAME_NONCE
    )
    s = Scenario(parent.genesis)
    s.entries.append(entry("genesis", parent.genesis, deterministic=True))
    inv = s.add(
        "invite_bob",
        actions.invite(alice, s.view.roster, s.pos("alice"), KEYS["bob"], ts(1), nonce=bytes([0x44]) * 16),
    )
    s.add("join_bob", actions.join(bob, inv, s.pos("bob"), ts(2)))
    pid = parent.circle_id
    said = [
        ("bob", ts(3), "shall we plan the trip?", bytes([0x61]) * 24),
        ("alice", ts(4), "yes, in a side circle", bytes([0x62]) * 24),
    ]
    msgs = []
    for who, t, text, nonce in said:
        c = messages.Content(messages.TEXT, t, text)
        rec = messages.seal(IDS[who], pid, s.pos(who), pid, EPOCH0_KEY, c, nonce=nonce)
        msgs.append(
            s.add(
                f"msg_{who}",
                rec,
                {
                    "epoch_key": EPOCH0_KEY,
                    "nonce": nonce,
                    "plaintext": {"k": "text", "ts": t, "tx": text, "re": None},
                },
            )
        )
    child = circle.create(
        alice,
        "trip",
        ts(5),
        parent=(pid, s.view.roster.roster_hash),
        nonce=bytes([0x71]) * 16,
        epoch_key=bytes([0x72]) * 32,
        name_nonce=bytes([0x73]) * 24,
    )
    cid, ckey = child.circle_id, child.epoch_key
    c = Scenario(child.genesis)
    c.entries.append(entry("child_genesis", child.genesis, deterministic=True))
    c.add(
        "child_invite_bob",
        actions.invite(alice, c.view.roster, c.pos("alice"), KEYS["bob"], ts(5), nonce=bytes([0x74]) * 16),
    )
    items = [(m, carry.reveal_key(EPOCH0_KEY, m)) for m in msgs]
    pos = c.pos("alice")
    nonce = bytes([0x75]) * 24
    (rec,) = carry.seal(alice, cid, pos, cid, ckey, pid, items, ts(5), nonces=[nonce])
    plain = {"pc": pid, "it": [[m.raw, k] for m, k in items]}
    c.add(
        "carry",
        rec,
        {"epoch_key": ckey, "parent": pid, "nonce": nonce, "now_ms": ts(5)},
        plaintext_hex=wire.encode(plain).hex(),
        aad_hex=carry.associated_data(alice.public_key, cid, pos.seq, pos.prev, cid).hex(),
        reveals=[
            {
                "record_id_hex": m.id.hex(),
                "nonce16_hex": bytes(m.body["n"])[:16].hex(),
                "reveal_key_hex": k.hex(),
            }
            for m, k in items
        ],
    )

    def forged(why: str, its: list[tuple[bytes, bytes]], pc: bytes = pid) -> dict[str, Any]:
        body = dict(rec.body)
        body["x"] = crypto.aead_encrypt(
            ckey,
            wire.encode({"pc": pc, "it": [[r, k] for r, k in its]}),
            nonce,
            carry.associated_data(alice.public_key, cid, pos.seq, pos.prev, cid),
        )
        bad = records.sign(alice, {k: v for k, v in body.items() if k != "v"})
        try:
            carry.open_carry(bad, ckey, pid)
        except ProtocolError as e:
            return {"why": why, "raw_hex": bad.raw.hex(), "error": type(e).__name__, "message": str(e)}
        sys.exit(f"carry.json: the forged variant {why!r} opened")

    m0, k0 = items[0]
    body_bytes, sig = wire.decode(m0.raw, records.MAX_RECORD_SIZE)
    bad_sig = wire.encode([body_bytes, bytes([sig[0] ^ 1]) + sig[1:]])
    return {
        "about": "docs/protocol.md, section 12.1: carried history",
        "hchacha20": HCHACHA_DRAFT,
        "parent_circle_id_hex": pid.hex(),
        "child_circle_id_hex": cid.hex(),
        "parent": s.entries,
        "child": c.entries,
        "forged": [
            forged("an item's author signature is forged", [(bad_sig, k0)]),
            forged("an item's reveal key is another message's", [(m0.raw, items[1][1])]),
            forged("an item's reveal key is zeros", [(m0.raw, bytes(32))]),
            forged("an item is a roster record, not a message", [(inv.raw, k0)]),
            forged("the plaintext names another parent", [(m0.raw, k0)], cid),
        ],
    }


def build_files() -> dict[str, Any]:
    """files.json: a file's chunks, manifest, descriptor and announcement (scripts/vectors_files.py)."""
    from vectors_files import build_files as build

    genesis = {"nonce": GENESIS_NONCE, "epoch_key": EPOCH0_KEY, "name_nonce": NAME_NONCE}
    return build(IDS["alice"], genesis, ts(0))


def build_devices() -> dict[str, Any]:
    """devices.json: device certificates, ``device`` and ``unlink`` records (scripts/vectors_devices.py)."""
    from vectors_devices import build_devices as build

    genesis = {"nonce": GENESIS_NONCE, "epoch_key": EPOCH0_KEY, "name_nonce": NAME_NONCE}
    return build(IDS, genesis, ts, entry, tj)


def build_devicelink() -> dict[str, Any]:
    """devicelink.json: the link code, MACs and confirmation digits (scripts/vectors_devicelink.py)."""
    from vectors_devicelink import build_devicelink as build

    return build(IDS["alice"])


def build_prekeys() -> dict[str, Any]:
    """prekeys.json: ``prekey`` records, the newest kept, refused ones (scripts/vectors_prekeys.py)."""
    from vectors_prekeys import build_prekeys as build

    genesis = {"nonce": GENESIS_NONCE, "epoch_key": EPOCH0_KEY, "name_nonce": NAME_NONCE}
    return build(IDS, genesis, ts, entry, tj)


def build_handoff() -> dict[str, Any]:
    """handoff.json: a circle handed to a person's devices (scripts/vectors_handoff.py)."""
    from vectors_handoff import build_handoff as build

    genesis = {"nonce": GENESIS_NONCE, "epoch_key": EPOCH0_KEY, "name_nonce": NAME_NONCE}
    return build(IDS["alice"], genesis, ts(0))


def build_rekeyevery() -> dict[str, Any]:
    """rekeyevery.json: the ``rekeyevery`` record and when a circle is due (scripts/vectors_rekey.py)."""
    from vectors_rekey import build_rekeyevery as build

    genesis = {"nonce": GENESIS_NONCE, "epoch_key": EPOCH0_KEY, "name_nonce": NAME_NONCE}
    return build(IDS, genesis, ts, entry)


def write(name: str, data: dict[str, Any]) -> None:
    path = OUT / name
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(OUT.parent.parent)}")


def main() -> None:
    """Every vector file; with file names as arguments (``carry.json``), only those of them that
    are built on their own (the others come out of one scenario together)."""
    OUT.mkdir(parents=True, exist_ok=True)
    alone = {
        "carry.json": build_carry,
        "files.json": build_files,
        "filecap.json": build_filecap,
        "devices.json": build_devices,
        "devicelink.json": build_devicelink,
        "prekeys.json": build_prekeys,
        "handoff.json": build_handoff,
        "rekeyevery.json": build_rekeyevery,
    }
    wanted = sys.argv[1:]
    if wanted:
        for name in wanted:
            if name not in alone:
                sys.exit(f"{name} is not built on its own; run without arguments to rebuild every file")
            write(name, alone[name]())
        return
    write("carry.json", build_carry())
    write("files.json", build_files())
    write("filecap.json", build_filecap())
    write("devices.json", build_devices())
    write("devicelink.json", build_devicelink())
    write("prekeys.json", build_prekeys())
    write("handoff.json", build_handoff())
    write("rekeyevery.json", build_rekeyevery())
    recs, token = build_records()
    write("identities.json", build_identities())
    write("wire.json", build_wire())
    write("records.json", recs)
    write("token.json", token)
    write("roster_example.json", build_roster_example(recs))
    write("sync.json", build_sync(bytes.fromhex(recs["circle_id_hex"])))
    write("softcap.json", build_softcap())


if __name__ == "__main__":
    main()
