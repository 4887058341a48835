"""The code against the golden vectors in tests/vectors/ (built by scripts/make_vectors.py).

Deterministic vectors are rebuilt and compared byte for byte. Vectors whose
builder draws randomness (sealed boxes, a fork's child circle) are
re-verified instead: the signature verifies, the id is BLAKE2b-256 of the raw
bytes, the body decodes to the documented fields, and the right keys (only
those) open what is sealed in them.
"""

from __future__ import annotations

import base64
import heapq
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    actions,
    addrpack,
    carry,
    circle,
    crypto,
    devicecert,
    errors,
    files,
    fork,
    invitation,
    messages,
    records,
    rekeysched,
    roster,
    sync,
    wire,
)
from protocol.chain import ChainPos
from protocol.fold import RosterIndex
from protocol.identity import (
    Identity,
    dump_identity,
    keyfile_is_encrypted,
    load_identity,
    parse_peer_id,
    peer_id,
)
from protocol.records import Record
from protocol.view import CircleView, Stored

VECTORS = Path(__file__).parent / "vectors"


@cache
def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def fj(value: Any) -> Any:
    """Typed JSON back to a wire value: {"bin": hex} is bytes."""
    if isinstance(value, dict):
        if set(value) == {"bin"}:
            return bytes.fromhex(value["bin"])
        return {k: fj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fj(v) for v in value]
    return value


def ident(name: str) -> Identity:
    devices = load("devices.json")["device_seeds"]  # alice's devices: devices.json's own seeds
    if name in devices:
        return Identity.from_seed(bytes.fromhex(devices[name]))
    return Identity.from_seed(bytes.fromhex(load("identities.json")["identities"][name]["seed_hex"]))


def key(name: str) -> bytes:
    return ident(name).public_key


def name_of(k: bytes) -> str:
    people = load("identities.json")["identities"]
    return next(n for n, p in people.items() if p["public_key_hex"] == k.hex())


def raw(e: dict[str, Any]) -> bytes:
    return bytes.fromhex(e["raw_hex"])


def main_records() -> list[dict[str, Any]]:
    return list(load("records.json")["records"])


def by_name(name: str) -> dict[str, Any]:
    return next(e for e in main_records() if e["name"] == name)


def parsed(name: str) -> Record:
    return records.parse(raw(by_name(name)))


def genesis() -> Record:
    return parsed("genesis")


EXAMPLES = load("roster_example.json")["examples"]
SOFTCAP = load("softcap.json")
FILECAP = load("filecap.json")
ALL_RECORDS = (
    [("records", e) for e in main_records()]
    + [(name, e) for name, ex in EXAMPLES.items() for e in ex["records"]]
    + [("softcap", e) for e in SOFTCAP["records"]]
    + [("filecap", e) for e in FILECAP["records"]]
    + [("devices", e) for e in load("devices.json")["records"]]
    + [("prekeys", e) for e in load("prekeys.json")["records"]]
    + [("prekeys_carried", e) for e in load("prekeys.json")["carried"]["records"]]
    + [("rekeyevery", e) for e in load("rekeyevery.json")["records"]]
)


# -- identities and key files ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(load("identities.json")["identities"]))
def test_identity(name: str) -> None:
    v = load("identities.json")["identities"][name]
    me = Identity.from_seed(bytes.fromhex(v["seed_hex"]))
    assert me.public_key.hex() == v["public_key_hex"]
    assert me.peer_id == peer_id(me.public_key) == v["peer_id"]
    assert v["peer_id"].startswith("12D3KooW")
    assert parse_peer_id(v["peer_id"]) == me.public_key
    assert parse_peer_id(f"  {v['peer_id']}\n") == me.public_key
    assert crypto.x25519_public(me.public_key).hex() == v["x25519_public_hex"]


def test_keyfile_plain() -> None:
    v = load("identities.json")["keyfiles"]["plain"]
    data = bytes.fromhex(v["hex"])
    assert dump_identity(ident(v["who"])) == data
    assert wire.decode(data, 4096) == {"v": 1, "kdf": "none", "seed": ident(v["who"]).seed}
    assert not keyfile_is_encrypted(data)
    assert load_identity(data).public_key == key(v["who"])


def test_keyfile_passphrase() -> None:
    v = load("identities.json")["keyfiles"]["passphrase"]
    data = bytes.fromhex(v["hex"])
    made = dump_identity(
        ident(v["who"]),
        v["passphrase"],
        opslimit=v["opslimit"],
        memlimit=v["memlimit"],
        salt=bytes.fromhex(v["salt_hex"]),
        nonce=bytes.fromhex(v["nonce_hex"]),
    )
    assert made == data
    assert keyfile_is_encrypted(data)
    assert set(wire.decode(data, 4096)) == {"v", "kdf", "salt", "ops", "mem", "nonce", "box"}
    assert load_identity(data, v["passphrase"]).public_key == key(v["who"])
    with pytest.raises(errors.WrongPassphrase):
        load_identity(data, v["passphrase"] + "!")
    with pytest.raises(errors.WrongPassphrase):
        load_identity(data)


# -- canonical encoding -----------------------------------------------------------------


@pytest.mark.parametrize("v", load("wire.json")["values"], ids=lambda v: v["hex"][:16])
def test_wire_value(v: dict[str, Any]) -> None:
    value, data = fj(v["value"]), bytes.fromhex(v["hex"])
    assert wire.encode(value) == data
    assert wire.decode(data, len(data)) == value


@pytest.mark.parametrize("v", load("wire.json")["rejects"], ids=lambda v: v["why"])
def test_wire_reject(v: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, v["error"])) as e:
        wire.decode(bytes.fromhex(v["hex"]), 1024)
    assert isinstance(e.value, errors.DecodeError)
    assert str(e.value) == v["message"]


def test_wire_oversize() -> None:
    v = load("wire.json")["oversize"]
    with pytest.raises(errors.OversizeError, match=v["message"]):
        wire.decode(bytes.fromhex(v["hex"]), v["max_size"])


# -- every record: bytes, domain, signature, id ---------------------------------------


@pytest.mark.parametrize(("src", "e"), ALL_RECORDS, ids=[f"{s}:{e['name']}" for s, e in ALL_RECORDS])
def test_record_bytes(src: str, e: dict[str, Any]) -> None:
    body = fj(e["body"])
    body_bytes = bytes.fromhex(e["body_hex"])
    sig = bytes.fromhex(e["sig_hex"])
    domain = bytes.fromhex(e["domain_hex"])
    author = ident(e["author"])

    assert domain == e["domain"].encode() + b"\x00" == records.DOMAINS[e["type"]]
    assert e["domain"] == f"smallsocial/v1/{e['type']}"
    assert (
        (
            body["v"] == records.TYPE_VERSIONS.get(e["type"], records.VERSION)
            or (e["type"], body["v"]) in records.OLDER_SCHEMAS
        )
        and body["t"] == e["type"]
        and body["a"] == author.public_key
    )
    assert wire.encode(body) == body_bytes
    assert wire.decode(body_bytes, records.MAX_RECORD_SIZE) == body
    assert records.validate_body(body) == e["type"]
    assert crypto.verify(author.public_key, sig, domain + body_bytes)
    assert author.sign(domain + body_bytes) == sig  # Ed25519 is deterministic
    assert wire.encode([body_bytes, sig]) == raw(e)
    assert crypto.blake2b256(raw(e)).hex() == e["id_hex"]

    rec = records.parse(raw(e))
    assert rec.id.hex() == e["id_hex"]
    assert rec.type == e["type"]
    assert dict(rec.body) == body
    assert rec.body_bytes == body_bytes and rec.sig == sig

    again = records.sign(author, body)
    assert again.raw == raw(e) and again.id == rec.id

    # the same body under another type's domain does not verify
    other = records.DOMAINS[records.MSG if e["type"] != records.MSG else records.INVITE]
    assert not crypto.verify(author.public_key, sig, other + body_bytes)


# -- the builders reproduce the deterministic records -----------------------------------


def _build(e: dict[str, Any], prior: list[Record]) -> Record:
    """Rebuild one deterministic record of records.json from its inputs and the records before it."""
    inp = fj(e.get("inputs", {}))
    t, who = e["type"], ident(e["author"])
    if t == records.GENESIS:
        return circle.create(
            ident(inp["founder"]),
            inp["name"],
            inp["now_ms"],
            invite_policy=inp["invite_policy"],
            nonce=inp["nonce"],
            epoch_key=inp["epoch_key"],
            name_nonce=inp["name_nonce"],
        ).genesis
    g = prior[0]
    state = roster.fold(g, [r for r in prior if r.is_roster])
    mine = [r for r in prior if r.author == who.public_key and r.type != records.GENESIS]
    pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
    if t == records.INVITE:
        return actions.invite(
            who,
            state,
            pos,
            key(inp["invitee"]),
            inp["now_ms"],
            role=inp["role"],
            ttl_s=inp["ttl_s"],
            nonce=inp["nonce"],
        )
    if t == records.JOIN:
        inv = next(r for r in prior if r.id.hex() == by_name(inp["invite"])["id_hex"])
        return actions.join(who, inv, pos, inp["now_ms"])
    if t == records.MSG:
        c = inp["content"]
        content = messages.Content(c["k"], c["ts"], c["tx"], c["re"])
        return messages.seal(who, g.id, pos, inp["epoch_id"], inp["epoch_key"], content, nonce=inp["nonce"])
    if t == records.LEAVE:
        return actions.leave(who, state, pos, inp["now_ms"])
    if t == records.ROLE:
        return actions.change_role(who, state, pos, key(inp["target"]), inp["role"], inp["now_ms"])
    if t == records.PIN:
        return actions.pin(who, state, pos, key(inp["relay"]), inp["addrs"], inp["now_ms"])
    if t == records.REMOVE:
        target, cut, cut_id = key(inp["target"]), inp["cut"], inp["cut_id"]
        return actions.remove(who, state, pos, target, cut, inp["now_ms"], cut_id=cut_id)[0]
    raise AssertionError(f"no builder for {t}")


def test_builders_reproduce_deterministic_records() -> None:
    prior: list[Record] = []
    rebuilt = 0
    for e in main_records():
        if e["deterministic"]:
            assert _build(e, prior).raw == raw(e), e["name"]
            rebuilt += 1
        prior.append(records.parse(raw(e)))
    assert rebuilt == 12


def test_roster_examples_deterministic_records() -> None:
    g = genesis()

    def ex_recs(name: str) -> dict[str, Record]:
        return {e["name"]: records.parse(raw(e)) for e in EXAMPLES[name]["records"]}

    def ts_of(name: str, rec: str) -> int:
        return int(next(e for e in EXAMPLES[name]["records"] if e["name"] == rec)["body"]["ts"])

    r = ex_recs("remove_vs_invite")
    base = roster.fold(g, [r[n] for n in ("invite_bob", "join_bob", "invite_carol", "join_carol")])
    inv = actions.invite(
        ident("carol"),
        base,
        ChainPos(2, r["join_carol"].id),
        key("dave"),
        ts_of("remove_vs_invite", "carol_invites_dave"),
        nonce=r["carol_invites_dave"].body["n"],
    )
    assert inv.raw == r["carol_invites_dave"].raw
    rm, _ = actions.remove(
        ident("alice"),
        base,
        ChainPos(3, r["invite_carol"].id),
        key("carol"),
        1,
        ts_of("remove_vs_invite", "alice_removes_carol"),
        cut_id=r["join_carol"].id,
    )
    assert rm.raw == r["alice_removes_carol"].raw
    jd = actions.join(ident("dave"), inv, ChainPos(), ts_of("remove_vs_invite", "dave_joins"))
    assert jd.raw == r["dave_joins"].raw

    r = ex_recs("mutual_removal")
    ib, jb, ic, jc = (r[n] for n in ("invite_bob_admin", "join_bob", "invite_carol_admin", "join_carol"))
    assert (
        actions.invite(
            ident("alice"),
            roster.fold(g, []),
            ChainPos(),
            key("bob"),
            ib.body["ts"],
            role="admin",
            nonce=ib.body["n"],
        ).raw
        == ib.raw
    )
    assert actions.join(ident("bob"), ib, ChainPos(), jb.body["ts"]).raw == jb.raw
    assert (
        actions.invite(
            ident("alice"),
            roster.fold(g, [ib, jb]),
            ChainPos(2, ib.id),
            key("carol"),
            ic.body["ts"],
            role="admin",
            nonce=ic.body["n"],
        ).raw
        == ic.raw
    )
    assert actions.join(ident("carol"), ic, ChainPos(), jc.body["ts"]).raw == jc.raw
    base = roster.fold(g, [ib, jb, ic, jc])
    rm_b, _ = actions.remove(
        ident("bob"),
        base,
        ChainPos(2, jb.id),
        key("carol"),
        1,
        r["bob_removes_carol"].body["ts"],
        cut_id=jc.id,
    )
    rm_c, _ = actions.remove(
        ident("carol"),
        base,
        ChainPos(2, jc.id),
        key("bob"),
        1,
        r["carol_removes_bob"].body["ts"],
        cut_id=jb.id,
    )
    assert rm_b.raw == r["bob_removes_carol"].raw and rm_c.raw == r["carol_removes_bob"].raw


# -- the history as a member sees it ------------------------------------------------------


def test_genesis() -> None:
    e = by_name("genesis")
    g = genesis()
    inp = fj(e["inputs"])
    assert g.id.hex() == e["circle_id_hex"] == load("records.json")["circle_id_hex"]
    assert circle.topic(g.id) == e["topic"] == "/smallsocial/1/circle/" + g.id.hex()
    assert circle.open_name(inp["epoch_key"], g) == inp["name"]
    assert g.body["nm"][: crypto.NONCE_SIZE] == inp["name_nonce"]
    assert circle.parent_of(g) is None


def test_history_is_accepted_by_a_view() -> None:
    view = CircleView(genesis())
    for e in main_records()[1:]:
        out = view.add(records.parse(raw(e)))
        assert isinstance(out, Stored) and out.note is None, (e["name"], out)
    after = load("records.json")["roster_after"]
    st = view.roster
    assert {name_of(k): m.role for k, m in st.members.items()} == after["members"]
    assert {name_of(k): {"kind": d.kind, "cut": d.cut} for k, d in st.departed.items()} == after["departed"]
    assert {name_of(k): list(r.addrs) for k, r in st.relays.items()} == after["relays"]
    assert st.current_epoch is not None
    assert st.current_epoch.number == after["current_epoch"]["number"]
    assert st.current_epoch.id.hex() == after["current_epoch"]["id_hex"]
    assert st.needs_rekey is after["needs_rekey"]
    assert [h.hex() for h in st.heads] == after["heads_hex"]
    assert st.roster_hash.hex() == after["roster_hash_hex"]
    # the same set in another order folds to the same roster
    roster_recs = [records.parse(raw(e)) for e in main_records() if e["type"] in records.ROSTER_TYPES]
    random.Random(1).shuffle(roster_recs)
    assert roster.fold(genesis(), roster_recs).roster_hash == st.roster_hash


def test_message_decrypts() -> None:
    e = by_name("msg_bob")
    inp = fj(e["inputs"])
    rec = records.parse(raw(e))
    plain = bytes.fromhex(e["plaintext_hex"])
    assert rec.body["e"] == inp["epoch_id"] == genesis().id
    assert rec.body["n"] == inp["nonce"]
    assert rec.body["x"].hex() == e["ciphertext_hex"]
    # XChaCha20-Poly1305 with the record's place as associated data (protocol.md section 10)
    aad = bytes.fromhex(e["aad_hex"])
    assert aad == messages.associated_data(rec.author, rec.circle, rec.seq, rec.prev, rec.body["e"])
    assert aad == messages.AAD_DOMAIN + wire.encode(
        [rec.author, rec.circle, rec.seq, rec.prev, rec.body["e"]]
    )
    assert crypto.aead_decrypt(inp["epoch_key"], rec.body["x"], rec.body["n"], aad) == plain
    with pytest.raises(errors.DecryptError):  # the same bytes under another author's place
        crypto.aead_decrypt(inp["epoch_key"], rec.body["x"], rec.body["n"], aad[:-1] + b"\x00")
    assert wire.decode(plain, 1 << 16) == inp["content"]
    c = inp["content"]
    content = messages.Content(c["k"], c["ts"], c["tx"], c["re"])
    assert content.encode() == plain
    assert messages.open_message(rec, inp["epoch_key"]) == content
    with pytest.raises(errors.DecryptError):
        messages.open_message(rec, bytes(32))


def test_rekey() -> None:
    e = by_name("rekey_after_remove")
    assert e["deterministic"] is False
    rec = records.parse(raw(e))
    rm = parsed("remove_carol")
    new_key = bytes.fromhex(e["epoch_key_hex"])
    assert rec.body["e"] == 1
    assert rec.body["pe"] == genesis().id  # epoch 0's id is the circle id
    assert rec.body["h"] == [rm.id]
    assert rec.prev == rm.id and rec.seq == rm.seq + 1
    holders = [bytes(p[0]) for p in rec.body["ks"]]
    assert holders == sorted(holders) == sorted([key(n) for n in e["recipients"]])
    assert sorted(e["recipients"]) == ["alice", "bob"]
    for k, sealed in rec.body["ks"]:
        assert len(sealed) == crypto.KEY_SIZE + crypto.SEAL_OVERHEAD
        assert ident(name_of(k)).unseal(sealed) == new_key
    for outsider in ("carol", "dave", "relay"):
        for _, sealed in rec.body["ks"]:
            with pytest.raises(errors.DecryptError):
                ident(outsider).unseal(sealed)


def test_fork() -> None:
    e = by_name("fork_side")
    assert e["deterministic"] is False
    rec = records.parse(raw(e))
    c = fork.contents(rec)
    child = bytes.fromhex(e["child_circle_id_hex"])
    assert c.genesis.id == child and c.genesis.raw.hex() == e["child_genesis_raw_hex"]
    assert c.genesis.author == rec.author == key("alice")
    assert c.genesis.body["par"] == {"c": genesis().id, "r": bytes.fromhex(e["parent_roster_hash_hex"])}
    assert circle.ancestry(child, {child: c.genesis, genesis().id: genesis()}) == [child, genesis().id]
    assert [name_of(k) for k in c.invitees] == e["invitees"] == ["bob"]
    assert all(i.type == records.INVITE and i.circle == child for i in c.invites)
    assert [i.body["e"] for i in c.invites] == [child]  # epoch 0 of the child
    opened = fork.open_fork(rec, ident("bob"))
    assert opened.name == e["opened_by_bob"]["name"] == e["child_name"]
    assert opened.epoch_key.hex() == e["opened_by_bob"]["epoch_key_hex"] == e["child_epoch_key_hex"]
    for outsider in ("alice", "carol"):
        with pytest.raises(errors.RosterError):
            fork.open_fork(rec, ident(outsider))


# -- the invitation token ------------------------------------------------------------------


def _token(fmt: str) -> dict[str, Any]:
    """token.json's format-2 vector, or (``fmt`` "format1") the format-1 one it keeps."""
    v = load("token.json")
    return v if fmt == "format2" else v["format1"]


FORMATS = ["format2", "format1"]


def test_short_token_decodes() -> None:
    v = load("token.json")
    tok = invitation.decode_token(v["text"])
    assert isinstance(tok, invitation.ShortToken)
    assert tok.invite_id.hex() == v["invite_id_hex"] == by_name("invite_bob")["id_hex"]
    assert tok.circle_id.hex() == v["genesis_id_hex"] == load("records.json")["circle_id_hex"]
    assert tok.inviter == key(v["inviter"])
    assert tok.expires == v["expires_s"] == by_name("invite_bob")["body"]["x"]
    assert list(tok.addrs) == v["addrs"]
    assert len(v["text"]) <= 600


def test_short_token_framing_and_signature() -> None:
    v = load("token.json")
    text = v["text"]
    assert text.startswith("ssi2") and text == text.lower() and "=" not in text
    b32 = text[4:]
    payload = base64.b32decode(b32.upper() + "=" * (-len(b32) % 8))
    assert payload.hex() == v["payload_hex"]
    body = bytes.fromhex(v["body_hex"])
    assert int.from_bytes(payload[:4], "big") == v["length"] == len(body)
    assert crypto.checksum(b"ssi2" + payload[:-5], 5).hex() == v["checksum_hex"] == payload[-5:].hex()
    signed, sig = bytes.fromhex(v["signed_hex"]), bytes.fromhex(v["sig_hex"])
    assert body == signed + sig and len(sig) == 64
    f = v["fields"]
    assert wire.decode(signed, len(signed)) == [
        bytes.fromhex(f["c_hex"]),
        bytes.fromhex(f["i_hex"]),
        key(f["a"]),
        f["x"],
        bytes.fromhex(f["sl_hex"]),
        bytes.fromhex(f["ad_hex"]),
    ]
    assert wire.encode(wire.decode(signed, len(signed))) == signed  # canonical
    message = bytes.fromhex(v["signed_message_hex"])
    assert message == b"smallsocial/v2/token\x00" + key("bob") + signed
    assert crypto.verify(key("alice"), sig, message)
    assert not crypto.verify(key("alice"), sig, b"smallsocial/v2/token\x00" + key("carol") + signed)
    # The secret opens for bob only, to [epoch (nil: epoch 0), key, name].
    sealed = bytes.fromhex(f["sl_hex"])
    assert ident("bob").unseal(sealed).hex() == v["secret_hex"]
    assert wire.decode(bytes.fromhex(v["secret_hex"]), 2048) == [
        None,
        bytes.fromhex(v["opened"]["epoch_key_hex"]),
        v["opened"]["name"],
    ]
    with pytest.raises(errors.DecryptError):
        ident("carol").unseal(sealed)


def test_short_token_addresses_pack_as_documented() -> None:
    v = load("token.json")
    alice = key("alice")
    assert addrpack.unpack(bytes.fromhex(v["fields"]["ad_hex"]), alice, 8) == v["addrs"]
    for e in v["addr_entries"]:
        assert addrpack.pack(e["addrs"], alice).hex() == e["packed_hex"]
        assert addrpack.unpack(bytes.fromhex(e["packed_hex"]), alice, 8) == e["addrs"]


def test_format1_token_decodes() -> None:
    v = _token("format1")
    tok = invitation.decode_token(v["text"])
    assert isinstance(tok, invitation.Token)
    assert tok.invite.id.hex() == v["invite_id_hex"] == by_name("invite_bob")["id_hex"]
    assert tok.genesis.id.hex() == v["genesis_id_hex"] == load("records.json")["circle_id_hex"]
    assert tok.invitee == key(v["invitee"])
    assert tok.expires == v["expires_s"]
    assert list(tok.addrs) == v["addrs"]
    assert tok.chain == ()


def test_format1_token_framing() -> None:
    v = _token("format1")
    text = v["text"]
    assert text.startswith(v["prefix"]) and text == text.lower() and "=" not in text
    b32 = text[len(v["prefix"]) :]
    payload = base64.b32decode(b32.upper() + "=" * (-len(b32) % 8))
    assert payload.hex() == v["payload_hex"]
    assert int.from_bytes(payload[:4], "big") == v["length"] == len(bytes.fromhex(v["body_hex"]))
    framed = payload[:-5]
    assert crypto.checksum(v["prefix"].encode() + framed, 5).hex() == v["checksum_hex"] == payload[-5:].hex()
    body = wire.decode(bytes.fromhex(v["body_hex"]), invitation.MAX_TOKEN_BODY)
    assert set(body) == {"v", "inv", "gen", "ch", "sl", "ad"}
    assert body["v"] == 1
    assert body["inv"] == raw(by_name("invite_bob")) and body["gen"] == raw(by_name("genesis"))
    assert body["ch"] == [] and body["ad"] == v["addrs"]
    assert len(body["sl"]) > crypto.SEAL_OVERHEAD


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_whitespace_and_case(fmt: str) -> None:
    v = _token(fmt)
    text = v["text"]
    wrapped = "\n".join("  " + text[i : i + 60] + " \t" for i in range(0, len(text), 60))
    assert invitation.decode_token(wrapped).invite_id.hex() == v["invite_id_hex"]
    assert invitation.decode_token(text.upper()).invite_id.hex() == v["invite_id_hex"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_opens_for_bob(fmt: str) -> None:
    v = _token(fmt)
    opened = invitation.open_token(v["text"], ident("bob"), v["open_as_bob_at_s"])
    assert opened.epoch_id.hex() == v["opened"]["epoch_id_hex"]
    assert opened.epoch_key.hex() == v["opened"]["epoch_key_hex"]
    assert opened.name == v["opened"]["name"]
    assert opened.circle_id.hex() == v["genesis_id_hex"]


@pytest.mark.parametrize(
    ("fmt", "case"),
    [(fmt, c) for fmt in FORMATS for c in _token(fmt)["errors"]],
    ids=lambda x: x if isinstance(x, str) else x["case"],
)
def test_token_error(fmt: str, case: dict[str, Any]) -> None:
    cls = getattr(errors, case["error"])
    assert issubclass(cls, errors.TokenError)
    with pytest.raises(cls) as e:
        if "open_as" in case:
            used = {bytes.fromhex(_token(fmt)["invite_id_hex"])} if case.get("used") else set()
            invitation.open_token(case["text"], ident(case["open_as"]), case["now_s"], used)
        else:
            invitation.decode_token(case["text"])
    assert str(e.value) == case["message"]


# -- the roster worked example -------------------------------------------------------------


def _canonical_order(recs: list[Record]) -> list[bytes]:
    ids = {r.id for r in recs}
    parents = {r.id: {h for h in r.heads if h in ids} for r in recs}
    ready = [rid for rid, ps in parents.items() if not ps]
    heapq.heapify(ready)
    order = []
    while ready:
        x = heapq.heappop(ready)
        order.append(x)
        for rid, ps in parents.items():
            if x in ps:
                ps.discard(x)
                if not ps:
                    heapq.heappush(ready, rid)
    return order


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_roster_example(name: str) -> None:
    ex = EXAMPLES[name]
    g = records.parse(bytes.fromhex(load("roster_example.json")["genesis_raw_hex"]))
    assert g.id == genesis().id
    recs = [records.parse(raw(e)) for e in ex["records"]]
    names = {r.id: e["name"] for r, e in zip(recs, ex["records"], strict=True)}
    assert [names[i] for i in _canonical_order(recs)] == ex["canonical_order"]
    for seed in range(10):
        shuffled = recs[:]
        random.Random(seed).shuffle(shuffled)
        st = roster.fold(g, shuffled)
        assert sorted(names[i] for i in st.accepted) == ex["accepted"]
        assert {names[i]: why for i, why in st.rejected.items()} == ex["rejected"]
        assert {name_of(k): m.role for k, m in st.members.items()} == ex["members"]
        assert {name_of(k): {"kind": d.kind, "cut": d.cut} for k, d in st.departed.items()} == ex["departed"]
        assert st.current_epoch is not None
        assert st.current_epoch.number == ex["current_epoch"]["number"]
        assert st.current_epoch.id.hex() == ex["current_epoch"]["id_hex"]
        assert sorted(name_of(k) for k in st.current_epoch.holders) == ex["current_epoch"]["holders"]
        assert st.needs_rekey is ex["needs_rekey"]
        assert st.roster_hash.hex() == ex["roster_hash_hex"]
    for e in ex["records"]:
        if e["type"] == records.REKEY:
            for k, sealed in records.parse(raw(e)).body["ks"]:
                assert ident(name_of(k)).unseal(sealed).hex() == e["epoch_key_hex"]


# -- sync -----------------------------------------------------------------------------------


def test_sync_messages_and_plan() -> None:
    v = load("sync.json")
    cid = bytes.fromhex(v["circle_id_hex"])
    held = {key(n): seqs for n, seqs in v["held"].items()}
    theirs = {key(n): q for n, q in v["theirs"].items()}
    vec = sync.vector(held)
    assert {name_of(k): q for k, q in vec.items()} == v["vector"]
    vmsg = bytes.fromhex(v["vector_message_hex"])
    assert sync.encode_vector(cid, vec) == vmsg
    assert sync.decode_vector(vmsg) == (cid, vec)
    assert wire.decode(vmsg, sync.MAX_SYNC_MESSAGE) == {
        "v": 1,
        "c": cid,
        "vec": [[k, q] for k, q in sorted(vec.items())],
    }

    def rng(r: dict[str, Any]) -> sync.Range:
        return sync.Range(key(r["author"]), r["first"], r["last"])

    p = sync.plan(held, theirs)
    assert list(p.send) == [rng(r) for r in v["plan"]["send"]]
    assert list(p.ask) == [rng(r) for r in v["plan"]["ask"]]
    wmsg = bytes.fromhex(v["want_message_hex"])
    assert sync.encode_want(cid, p.ask) == wmsg
    assert sync.decode_want(wmsg) == (cid, list(p.ask))
    assert [list(b) for b in sync.batches(p.send, 2)] == [
        [rng(r) for r in b] for b in v["batches_of_send_limit_2"]
    ]


# -- the soft cap (softcap.json) -----------------------------------------------------------


def test_softcap_records_rebuild_and_fold_in_any_order() -> None:
    g = records.parse(bytes.fromhex(SOFTCAP["genesis_raw_hex"]))
    assert g.raw == genesis().raw
    made: list[Record] = []
    for e in SOFTCAP["records"]:
        inp = fj(e["inputs"])
        who = ident(e["author"])
        state = roster.fold(g, made)
        mine = [r for r in made if r.author == who.public_key]
        pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
        if e["type"] == records.SOFTCAP and not inp.get("by_hand"):
            if "heads_of" in inp:  # concurrent: built on the state its author had seen
                upto = next(i for i, x in enumerate(SOFTCAP["records"]) if x["name"] == inp["heads_of"])
                state = roster.fold(g, made[: upto + 1])
            rebuilt = actions.set_soft_cap(who, state, pos, inp["cap"], inp["now_ms"])
            assert rebuilt.raw == raw(e), e["name"]
        made.append(records.parse(raw(e)))
    names = {r.id: e["name"] for r, e in zip(made, SOFTCAP["records"], strict=True)}
    rng = random.Random(13)
    for _ in range(10):
        rng.shuffle(made)
        st = roster.fold(g, made)
        assert sorted(names[i] for i in st.accepted) == SOFTCAP["accepted"]
        assert {names[i]: why for i, why in st.rejected.items()} == SOFTCAP["rejected"]
        assert (st.soft_cap, name_of(st.soft_cap_by) if st.soft_cap_by else None) == (
            SOFTCAP["soft_cap"],
            SOFTCAP["soft_cap_by"],
        )
    assert roster.fold(g, []).soft_cap == SOFTCAP["default_soft_cap"] == 15


# -- the file limit (filecap.json) ---------------------------------------------------------


def test_filecap_records_rebuild_and_fold_in_any_order() -> None:
    g = records.parse(bytes.fromhex(FILECAP["genesis_raw_hex"]))
    assert g.raw == genesis().raw
    made: list[Record] = []
    for e in FILECAP["records"]:
        inp = fj(e["inputs"])
        who = ident(e["author"])
        mine = [r for r in made if r.author == who.public_key]
        pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
        if e["type"] == records.FILECAP and not inp.get("by_hand"):
            rebuilt = actions.set_file_cap(who, roster.fold(g, made), pos, inp["cap"], inp["now_ms"])
            assert rebuilt.raw == raw(e), e["name"]
        made.append(records.parse(raw(e)))
    names = {r.id: e["name"] for r, e in zip(made, FILECAP["records"], strict=True)}
    rng = random.Random(14)
    for _ in range(5):
        rng.shuffle(made)
        st = roster.fold(g, made)
        assert sorted(names[i] for i in st.accepted) == FILECAP["accepted"]
        assert {names[i]: why for i, why in st.rejected.items()} == FILECAP["rejected"]
        assert (st.file_cap, name_of(st.file_cap_by) if st.file_cap_by else None) == (
            FILECAP["file_cap"],
            FILECAP["file_cap_by"],
        )
        assert RosterIndex(g, made).state().file_cap == FILECAP["file_cap"]
    assert roster.fold(g, []).file_cap == FILECAP["default_file_cap"] == files.MAX_FILE_BYTES
    for size, why in FILECAP["over_limit"].items():
        assert files.over_limit(int(size), FILECAP["file_cap"]) == why
    assert files.over_limit(1, 0) == FILECAP["over_limit_of_0"]


# -- the rekey schedule (rekeyevery.json) ---------------------------------------------------


def test_rekeyevery_records_rebuild_fold_in_any_order_and_say_when_due() -> None:
    v = load("rekeyevery.json")
    g = records.parse(bytes.fromhex(v["genesis_raw_hex"]))
    assert g.raw == genesis().raw
    made: list[Record] = []
    for e in v["records"]:
        inp = fj(e["inputs"])
        who = ident(e["author"])
        mine = [r for r in made if r.author == who.public_key]
        pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
        if e["type"] == records.REKEYEVERY and not inp.get("by_hand"):
            state = roster.fold(g, made)
            rebuilt = actions.set_rekey_schedule(who, state, pos, inp["days"], inp["messages"], inp["now_ms"])
            assert rebuilt.raw == raw(e), e["name"]
        made.append(records.parse(raw(e)))
    names = {r.id: e["name"] for r, e in zip(made, v["records"], strict=True)}
    rng = random.Random(19)
    for _ in range(5):
        rng.shuffle(made)
        st = roster.fold(g, made)
        assert sorted(names[i] for i in st.accepted) == v["accepted"]
        assert {names[i]: why for i, why in st.rejected.items()} == v["rejected"]
        by = name_of(st.rekey_by) if st.rekey_by else None
        assert (st.rekey_days, st.rekey_messages, by) == (v["rekey_days"], v["rekey_messages"], v["rekey_by"])
        i = RosterIndex(g, made).state()
        assert (i.rekey_days, i.rekey_messages) == (v["rekey_days"], v["rekey_messages"])
    empty = roster.fold(g, [])
    assert (empty.rekey_days, empty.rekey_messages) == (v["default_rekey_days"], v["default_rekey_messages"])
    assert st.current_epoch is not None and st.current_epoch.id.hex() == v["current_epoch"]
    for d in v["due"]:
        f = rekeysched.EpochFacts(st.current_epoch.id, d["opened_ms"], d["messages"])
        assert rekeysched.why_due(st, f, d["now_ms"]) == d["why"]


# -- carried history (carry.json) ----------------------------------------------------------


def _carry_entry(part: str, name: str) -> dict[str, Any]:
    return next(e for e in load("carry.json")[part] if e["name"] == name)


def test_hchacha20_draft_vector() -> None:
    v = load("carry.json")["hchacha20"]
    got = crypto.hchacha20(bytes.fromhex(v["key_hex"]), bytes.fromhex(v["nonce16_hex"]))
    assert got.hex() == v["subkey_hex"]


def test_carry_record_rebuilds_and_opens_to_the_parents_signed_messages() -> None:
    v = load("carry.json")
    pid, cid = bytes.fromhex(v["parent_circle_id_hex"]), bytes.fromhex(v["child_circle_id_hex"])
    parent_view = CircleView(records.parse(raw(_carry_entry("parent", "genesis"))))
    msgs = []
    for e in v["parent"][1:]:
        rec = records.parse(raw(e))
        assert isinstance(parent_view.add(rec), Stored) and rec.id.hex() == e["id_hex"]
        if rec.type == records.MSG:
            msgs.append(rec)
    child_g = records.parse(raw(_carry_entry("child", "child_genesis")))
    assert child_g.id == cid and child_g.body["par"]["c"] == pid
    view = CircleView(child_g)
    assert isinstance(view.add(records.parse(raw(_carry_entry("child", "child_invite_bob")))), Stored)
    e = _carry_entry("child", "carry")
    inputs = fj(e["inputs"])
    pkey = fj(_carry_entry("parent", "msg_bob")["inputs"])["epoch_key"]
    reveals = [carry.reveal_key(pkey, m) for m in msgs]
    assert [r["reveal_key_hex"] for r in e["reveals"]] == [k.hex() for k in reveals]
    assert [r["nonce16_hex"] for r in e["reveals"]] == [bytes(m.body["n"])[:16].hex() for m in msgs]
    assert (
        e["reveals"][0]["reveal_key_hex"]
        == crypto.hchacha20(pkey, bytes.fromhex(e["reveals"][0]["nonce16_hex"])).hex()
    )
    (rebuilt,) = carry.seal(
        ident("alice"),
        cid,
        view.next_pos(key("alice")),
        cid,
        inputs["epoch_key"],
        inputs["parent"],
        list(zip(msgs, reveals, strict=True)),
        inputs["now_ms"],
        nonces=[inputs["nonce"]],
    )
    assert rebuilt.raw.hex() == e["raw_hex"] and rebuilt.id.hex() == e["id_hex"]
    rec = records.parse(raw(e))
    assert isinstance(view.add(rec), Stored)
    assert (
        crypto.aead_decrypt(
            inputs["epoch_key"], bytes(rec.body["x"]), bytes(rec.body["n"]), bytes.fromhex(e["aad_hex"])
        ).hex()
        == e["plaintext_hex"]
    )
    got = carry.open_carry(rec, inputs["epoch_key"], pid)
    assert [c.record.raw for c in got] == [m.raw for m in msgs]
    assert [c.content for c in got] == [messages.open_message(m, pkey) for m in msgs]
    assert [name_of(c.record.author) for c in got] == ["bob", "alice"]


@pytest.mark.parametrize("v", load("carry.json")["forged"], ids=lambda v: v["why"])
def test_forged_carry_records_are_refused_as_documented(v: dict[str, Any]) -> None:
    doc = load("carry.json")
    inputs = fj(_carry_entry("child", "carry")["inputs"])
    rec = records.parse(raw(v))  # the founder's signature itself is good
    with pytest.raises(errors.ProtocolError) as caught:
        carry.open_carry(rec, inputs["epoch_key"], bytes.fromhex(doc["parent_circle_id_hex"]))
    assert (type(caught.value).__name__, str(caught.value)) == (v["error"], v["message"])


# -- files (files.json) ------------------------------------------------------------------------


def test_file_vectors_rebuild_and_open() -> None:
    from protocol import files

    v = load("files.json")
    key, cs, n = bytes.fromhex(v["file_key_hex"]), v["chunk_size"], v["plaintext_len"]
    data = bytes(i * 7 % 251 for i in range(n))
    info, manifest, blobs = files.seal_bytes("notes.txt", "text/plain", data, chunk_size=cs, key=key)
    assert [(b.hex(), i.hex()) for i, b in blobs] == [(c["blob_hex"], c["id_hex"]) for c in v["chunks"]]
    assert manifest.hex() == v["manifest"]["blob_hex"] and info.manifest.hex() == v["manifest"]["id_hex"]
    assert info.encode().hex() == v["descriptor"]["encoded_hex"]
    assert files.FileInfo.decode(bytes.fromhex(v["descriptor"]["encoded_hex"])) == info
    for c in v["chunks"]:
        blob = bytes.fromhex(c["blob_hex"])
        assert crypto.blake2b256(blob).hex() == c["id_hex"]
        assert files.associated_data(c["index"], n, cs).hex() == c["aad_hex"]
    ids = files.open_manifest(info, bytes.fromhex(v["manifest"]["blob_hex"]))
    assert wire.encode(ids).hex() == v["manifest"]["plaintext_hex"]
    got = b"".join(files.open_chunk(info, c["index"], bytes.fromhex(c["blob_hex"])) for c in v["chunks"])
    assert got == data and crypto.blake2b256(got).hex() == v["plaintext_blake2b_hex"]
    m = v["message"]
    rec = records.parse(bytes.fromhex(m["record_raw_hex"]))
    assert rec.id.hex() == m["record_id_hex"] and rec.author == key_of_alice()
    content = messages.open_message(rec, bytes([0x22]) * 32)
    assert content.file == info and content.text == m["text"]
    assert content.encode().hex() == m["content_plaintext_hex"]


def key_of_alice() -> bytes:
    return key("alice")


def test_a_circle_handoff_opens_in_its_self_circle_only() -> None:
    v = load("handoff.json")
    own = records.parse(bytes.fromhex(v["self_genesis_hex"]))
    assert own.id.hex() == v["self_circle_id_hex"] and own.author == key_of_alice()
    rec = records.parse(bytes.fromhex(v["record_hex"]))
    assert rec.id.hex() == v["record_id_hex"] and rec.circle == own.id and rec.author == key_of_alice()
    key = bytes.fromhex(v["self_epoch_key_hex"])
    content = messages.open_message(rec, key, handoff=True)
    assert content.kind == messages.CIRCLE and content.text is None and content.ref is None
    assert content.circle is not None and content.circle.hex() == v["cb_hex"]
    assert content.encode().hex() == v["plaintext_hex"]
    assert messages.Content.decode(bytes.fromhex(v["plaintext_hex"])) == content
    genesis_raw, parent, name, keys, addrs = wire.decode(content.circle, 1 << 16)
    handed = records.parse(bytes(genesis_raw))
    assert handed.type == records.GENESIS and handed.id.hex() == v["handed_circle_id_hex"]
    assert parent is None and name == "friends" and len(keys) == 1 and len(addrs) == 1
    assert bytes(keys[0][0]) == handed.id  # epoch 0's id is the circle's
    with pytest.raises(errors.SchemaError, match=v["refused_elsewhere"]):
        messages.open_message(rec, key)


# -- devices (devices.json) ----------------------------------------------------------------------


def test_device_certificates_rebuild_and_damaged_ones_fail() -> None:
    v = load("devices.json")
    devs = {n: Identity.from_seed(bytes.fromhex(s)) for n, s in v["device_seeds"].items()}
    assert {n: i.public_key.hex() for n, i in devs.items()} == v["device_keys"]
    for c in v["certificates"]:
        inp = fj(c["inputs"])
        made = devicecert.make(
            ident(inp["person"]),
            devs[inp["device"]].public_key,
            inp["name"],
            inp["now_ms"],
            nonce=inp["nonce"],
        )
        assert made.raw.hex() == c["raw_hex"], c["name"]
        assert bytes.fromhex(c["domain_hex"]) == devicecert.DOMAIN == b"smallsocial/v1/device-cert\x00"
        assert wire.encode([bytes.fromhex(c["body_hex"]), bytes.fromhex(c["sig_hex"])]).hex() == c["raw_hex"]
        assert wire.decode(bytes.fromhex(c["body_hex"]), 512) == fj(c["body"])
        assert crypto.verify(
            key(inp["person"]), bytes.fromhex(c["sig_hex"]), devicecert.DOMAIN + bytes.fromhex(c["body_hex"])
        )
    for d in v["damaged_certificates"]:
        with pytest.raises(errors.ProtocolError) as err:
            devicecert.parse(bytes.fromhex(d["raw_hex"]))
        assert (type(err.value).__name__, str(err.value)) == (d["error"], d["message"]), d["case"]


def test_device_records_rebuild_and_fold_in_any_order() -> None:
    v = load("devices.json")
    g = records.parse(bytes.fromhex(v["genesis_raw_hex"]))
    assert g.raw == genesis().raw
    devs = {n: Identity.from_seed(bytes.fromhex(s)) for n, s in v["device_seeds"].items()}
    people = {**{n: ident(n) for n in ("alice", "bob")}, **devs}
    certs = {c["name"]: bytes.fromhex(c["raw_hex"]) for c in v["certificates"]}
    made: list[Record] = []
    for e in v["records"]:
        inp = fj(e["inputs"])
        who = people[e["author"]]
        state = roster.fold(g, made)
        mine = [r for r in made if r.author == who.public_key]
        pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
        if e["type"] == records.DEVICE and not inp.get("by_hand"):
            rebuilt = actions.link_device(who, state, pos, certs[inp["cert"]], inp["now_ms"])
            assert rebuilt.raw == raw(e), e["name"]
        if e["type"] == records.UNLINK:
            rebuilt, _ = actions.unlink(
                who, state, pos, devs[inp["device"]].public_key, inp["cut"], inp["now_ms"]
            )
            assert rebuilt.raw == raw(e), e["name"]
        rec = records.parse(raw(e))
        assert rec.id.hex() == e["id_hex"] and bytes.fromhex(e["domain_hex"]) == records.DOMAINS[rec.type]
        made.append(rec)
    names = {r.id: e["name"] for r, e in zip(made, v["records"], strict=True)}
    who_is = {i.public_key: n for n, i in people.items()}
    rng = random.Random(17)
    for _ in range(10):
        rng.shuffle(made)
        st = roster.fold(g, made)
        assert sorted(names[i] for i in st.accepted) == v["accepted"]
        assert {names[i]: why for i, why in st.rejected.items()} == v["rejected"]
        got = {
            who_is[k]: {"role": m.role, "person": who_is[m.person] if m.person else None}
            for k, m in st.members.items()
        }
        assert got == v["members"]
        assert {who_is[k]: {"kind": d.kind, "cut": d.cut} for k, d in st.departed.items()} == v["departed"]
        assert st.current_epoch is None and v["current_epoch"] is None and st.needs_rekey
        assert st.roster_hash.hex() == v["roster_hash_hex"]


# -- prekeys (prekeys.json) ----------------------------------------------------------------------


def test_a_genesis_and_a_join_of_format_2_carry_their_prekeys() -> None:
    v = load("prekeys.json")
    public = {n: bytes.fromhex(k) for n, k in v["prekey_public"].items()}
    g_e, inv_e, join_e, dev_e = v["carried"]["records"]
    alice, bob = ident("alice"), ident("bob")
    g_in, j_in = fj(g_e["inputs"]), fj(join_e["inputs"])
    main = genesis().body
    g = circle.create(
        alice,
        "friends",
        g_in["now_ms"],
        nonce=bytes(main["n"]),
        epoch_key=bytes([0x22]) * 32,  # make_vectors.py's EPOCH0_KEY
        name_nonce=bytes([0x33]) * 24,  # and NAME_NONCE
        prekey=(public[g_in["prekey"]], g_in["ex"]),
    ).genesis
    assert g.raw == raw(g_e) and g.body["v"] == 2
    inv = records.parse(raw(inv_e))
    join = actions.join(bob, inv, ChainPos(), j_in["now_ms"], prekey=(public[j_in["prekey"]], j_in["ex"]))
    assert join.raw == raw(join_e) and join.body["v"] == 2
    d_in = fj(dev_e["inputs"])
    laptop = Identity.from_seed(bytes([6]) * 32)  # alice's laptop, as in devices.json
    cert = devicecert.make(alice, laptop.public_key, "laptop", d_in["now_ms"], nonce=d_in["cert_nonce"])
    dev = actions.link_device(
        alice,
        roster.fold(g, [inv, join]),
        ChainPos(2, inv.id),
        cert.raw,
        d_in["now_ms"],
        prekey=(public[d_in["prekey"]], d_in["ex"]),
    )
    assert dev.raw == raw(dev_e) and dev.body["v"] == 2
    for st in (roster.fold(g, [dev, join, inv]), RosterIndex(g, [dev, join, inv]).state()):
        named = {laptop.public_key: "alice_laptop"}
        got = {
            named.get(k) or name_of(k): {"pk_hex": p.key.hex(), "expires": p.expires}
            for k, p in st.prekeys.items()
        }
        assert got == v["carried"]["prekeys"]
        assert got["alice_laptop"]["pk_hex"] == public["laptop_d"].hex()
        assert (
            got["alice"]["pk_hex"] == public["alice_g"].hex()
            and got["bob"]["pk_hex"] == public["bob_j"].hex()
        )


def test_prekey_records_rebuild_fold_in_any_order_and_refused_ones_fail() -> None:
    v = load("prekeys.json")
    g = records.parse(bytes.fromhex(v["genesis_raw_hex"]))
    assert g.raw == genesis().raw
    private = {n: bytes.fromhex(k) for n, k in v["prekey_private"].items()}
    public = {n: bytes.fromhex(k) for n, k in v["prekey_public"].items()}
    for n, k in private.items():
        sealed = crypto.seal_to_prekey(public[n], b"epoch key")
        assert crypto.unseal_with_prekey(k, sealed) == b"epoch key"
    made: list[Record] = []
    for e in v["records"]:
        inp = fj(e["inputs"])
        who = ident(e["author"])
        mine = [r for r in made if r.author == who.public_key]
        pos = ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()
        if e["type"] == records.PREKEY and not inp.get("by_hand"):
            state = roster.fold(g, made)
            rebuilt = actions.prekey(
                who, state, pos, public[inp["prekey"]], inp["now_ms"], ttl_ms=inp["ttl_ms"]
            )
            assert rebuilt.raw == raw(e), e["name"]
        rec = records.parse(raw(e))
        assert rec.id.hex() == e["id_hex"]
        made.append(rec)
    names = {r.id: e["name"] for r, e in zip(made, v["records"], strict=True)}
    rng = random.Random(19)
    for _ in range(10):
        rng.shuffle(made)
        for st in (roster.fold(g, made), RosterIndex(g, made).state()):
            assert sorted(names[i] for i in st.accepted) == v["accepted"]
            assert {names[i]: why for i, why in st.rejected.items()} == v["rejected"]
            got = {
                name_of(k): {"prekey": names[p.record], "pk_hex": p.key.hex(), "expires": p.expires}
                for k, p in st.prekeys.items()
            }
            assert got == v["prekeys"]
            assert st.roster_hash.hex() == v["roster_hash_hex"]
    # A rekey made now seals to bob's newest prekey: his private prekey opens it, his identity does not.
    st = roster.fold(g, made)
    alice, bob = ident("alice"), ident("bob")
    mine = [r for r in made if r.author == alice.public_key]
    rk = actions.rekey(alice, st, ChainPos(mine[-1].seq + 1, mine[-1].id), v["prekeys"]["bob"]["expires"] - 1)
    sealed = {bytes(k): bytes(b) for k, b in rk.record.body["ks"]}
    assert crypto.unseal_with_prekey(private["bob_2"], sealed[bob.public_key]) == rk.key
    with pytest.raises(errors.DecryptError):
        bob.unseal(sealed[bob.public_key])
    for d in v["refused"]:
        with pytest.raises(errors.ProtocolError) as err:
            records.parse(bytes.fromhex(d["raw_hex"]))
        assert (type(err.value).__name__, str(err.value)) == (d["error"], d["message"]), d["case"]
