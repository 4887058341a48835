"""Several devices per person (issue 14 part 1): certificates, ``device`` and ``unlink`` records.

A person is the key in the rosters; each device has its own key and chain, certified by the
person's key and linked into a circle by a ``device`` record; ``unlink`` takes one out as a
removal would (its epochs burned, its concurrent records void); removing a person removes
every device of theirs. docs/protocol.md section 8.5.
"""

from __future__ import annotations

import itertools

import pytest
from proto_kit import ALICE, BOB, CAROL, NOW_MS, World, ident, new_world, stored

from protocol import actions, devicecert, display, records, wire
from protocol.errors import RosterError, SchemaError, VerifyError
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import VOID, fold
from protocol.view import CircleView, Dropped

LAPTOP = ident(41)
PHONE = ident(42)
TABLET = ident(43)


def cert(person: Identity, device: Identity, name: str = "laptop") -> bytes:
    return devicecert.make(person, device.public_key, name, NOW_MS, nonce=bytes(16)).raw


def link(w: World, by: Identity, device: Identity, person: Identity | None = None) -> Record:
    rec = actions.link_device(by, w.roster, w.pos(by), cert(person or by, device), NOW_MS)
    w.add(rec)
    return rec


def circle_with_alice_laptop() -> World:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    link(w, ALICE, LAPTOP)
    return w


# ---- the certificate ---------------------------------------------------------------------------


def test_certificate_round_trip() -> None:
    c = devicecert.make(ALICE, LAPTOP.public_key, " laptop ", NOW_MS, nonce=bytes(16))
    assert (c.person, c.device, c.name, c.created_ms) == (
        ALICE.public_key,
        LAPTOP.public_key,
        "laptop",
        NOW_MS,
    )
    assert devicecert.parse(c.raw) == c
    assert len(c.raw) <= devicecert.MAX_CERT


def test_certificate_signature_is_checked_and_domain_separated() -> None:
    c = devicecert.make(ALICE, LAPTOP.public_key, "laptop", NOW_MS, nonce=bytes(16))
    body, _sig = wire.decode(c.raw, 1024)
    with pytest.raises(VerifyError, match="does not verify"):
        devicecert.parse(wire.encode([body, bytes(64)]))
    # signed by the person, but as a record body (another domain): refused
    other = ALICE.sign(records.DOMAINS["device"] + body)
    with pytest.raises(VerifyError):
        devicecert.parse(wire.encode([body, other]))
    # signed by the device itself instead of the person
    with pytest.raises(VerifyError):
        devicecert.parse(wire.encode([body, LAPTOP.sign(devicecert.DOMAIN + body)]))


def test_certificate_refusals() -> None:
    with pytest.raises(SchemaError, match="differ"):
        devicecert.make(ALICE, ALICE.public_key, "me", NOW_MS)
    with pytest.raises(SchemaError, match="at most 64"):
        devicecert.make(ALICE, LAPTOP.public_key, "x" * 65, NOW_MS)
    with pytest.raises(SchemaError, match="control"):
        devicecert.make(ALICE, LAPTOP.public_key, "lap\x1b[2Jtop", NOW_MS)
    with pytest.raises(SchemaError, match="needs a name"):
        devicecert.make(ALICE, LAPTOP.public_key, "  ", NOW_MS)
    with pytest.raises(SchemaError, match="over the limit"):
        devicecert.parse(b"\x92" + bytes(600))
    with pytest.raises(SchemaError, match="malformed"):
        devicecert.parse(b"\x92\xc4\x01\x00\xc4\x40" + bytes(64))
    body = wire.encode({"d": ALICE.public_key, "n": bytes(16), "nm": "x", "p": ALICE.public_key, "ts": 1})
    with pytest.raises(SchemaError, match="own key"):
        devicecert.parse(wire.encode([body, ALICE.sign(devicecert.DOMAIN + body)]))


# ---- linking -----------------------------------------------------------------------------------


def test_a_linked_device_is_a_key_of_its_person() -> None:
    w = circle_with_alice_laptop()
    s = w.roster
    a, lap = ALICE.public_key, LAPTOP.public_key
    assert s.is_member(lap) and s.may_sync(lap)
    assert s.person_of(lap) == a and s.person_of(a) == a and s.person_of(CAROL.public_key) is None
    assert s.keys_of(a) == sorted([a, lap]) and s.keys_of(lap) == []
    assert set(s.persons()) == {a, BOB.public_key}
    assert set(s.devices()) == {lap}
    assert s.members[lap].role == "admin" and s.members[lap].person == a
    assert lap in s.recipients()
    # it holds the current epoch (what its linker hands over), so nothing needs a rekey
    assert s.current_epoch is not None and lap in s.current_epoch.holders
    assert not s.needs_rekey
    assert w.refold().members == dict(s.members)


def test_a_device_writes_in_its_own_chain_and_acts_for_its_person() -> None:
    w = circle_with_alice_laptop()
    msg = w.post(LAPTOP, "from the laptop")
    assert msg.seq == 1  # its own chain, not alice's
    w.post(ALICE, "from the phone")
    # an admin's device invites and rekeys as its person would
    w.invite_and_join(LAPTOP, CAROL)
    assert w.roster.members[CAROL.public_key].invited_by == LAPTOP.public_key
    rk = w.rekey(LAPTOP)
    assert set(w.roster.epochs[rk.record.id].holders) == {
        ALICE.public_key,
        LAPTOP.public_key,
        BOB.public_key,
        CAROL.public_key,
    }
    # a device links another device of the same person
    link(w, LAPTOP, PHONE, person=ALICE)
    assert w.roster.person_of(PHONE.public_key) == ALICE.public_key


def test_only_the_person_or_their_devices_link_and_only_their_own_certificates() -> None:
    w = circle_with_alice_laptop()
    # bob brings in a certificate alice made: refused by the builder and by the roster
    with pytest.raises(RosterError):
        actions.link_device(BOB, w.roster, w.pos(BOB), cert(ALICE, PHONE), NOW_MS)
    body = {
        "t": "device", "a": BOB.public_key, "c": w.cid, **_pos(w, BOB), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": PHONE.public_key, "dc": cert(ALICE, PHONE),
    }  # fmt: skip
    out = w.view.add(records.sign(BOB, body))
    assert out.note == "the certificate is for another person"  # type: ignore[union-attr]
    assert PHONE.public_key not in w.roster.members


def test_a_certificate_for_another_key_than_the_record_names_is_refused_at_parsing() -> None:
    w = circle_with_alice_laptop()
    body = {
        "t": "device", "a": ALICE.public_key, "c": w.cid, **_pos(w, ALICE), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": TABLET.public_key, "dc": cert(ALICE, PHONE),
    }  # fmt: skip
    with pytest.raises(SchemaError, match="another key"):
        records.sign(ALICE, body)
    body_bytes = wire.encode({**body, "v": 1})
    raw = wire.encode([body_bytes, ALICE.sign(records.DOMAINS["device"] + body_bytes)])
    out = w.view.receive(raw)
    assert isinstance(out, Dropped) and "another key" in out.reason


def test_a_member_or_relay_key_cannot_be_linked() -> None:
    w = circle_with_alice_laptop()
    with pytest.raises(RosterError, match="already in this circle"):
        actions.link_device(ALICE, w.roster, w.pos(ALICE), cert(ALICE, BOB), NOW_MS)
    body = {
        "t": "device", "a": ALICE.public_key, "c": w.cid, **_pos(w, ALICE), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": BOB.public_key, "dc": cert(ALICE, BOB),
    }  # fmt: skip
    out = w.view.add(records.sign(ALICE, body))
    assert out.note == "the key is already in the circle"  # type: ignore[union-attr]


# ---- unlinking ---------------------------------------------------------------------------------


def _pos(w: World, who: Identity) -> dict[str, object]:
    p = w.pos(who)
    return {"q": p.seq, "p": p.prev}


def unlink(w: World, by: Identity, device: Identity) -> tuple[Record, actions.Rekeyed]:
    cut, cut_id = w.view.chains.head(device.public_key)
    rec, rk = actions.unlink(by, w.roster, w.pos(by), device.public_key, cut, NOW_MS, cut_id=cut_id)
    w.add(rec)
    w.add(rk.record)
    w.keys[rk.record.id] = rk.key
    return rec, rk


def test_unlinking_burns_the_device_epochs_and_the_rekey_leaves_it_out() -> None:
    w = circle_with_alice_laptop()
    w.post(LAPTOP, "before")
    old = w.roster.current_epoch
    assert old is not None
    rec, _ = unlink(w, ALICE, LAPTOP)
    s = w.roster
    lap = LAPTOP.public_key
    assert lap not in s.members and s.departed[lap].kind == "unlinked" and s.departed[lap].cut == 1
    assert s.current_epoch is not None and s.current_epoch.id != old.id
    assert lap not in s.current_epoch.holders and lap not in s.recipients()
    assert s.keys_of(ALICE.public_key) == [ALICE.public_key]
    # the burned epoch never comes back, even before the rekey arrives
    rekey = w.history[-1]
    bare = fold(w.genesis, [r for r in w.history if r.is_roster and r.id != rekey.id])
    assert rec.id in bare.accepted and bare.current_epoch is None
    # what the device signs after the cut is refused, under the old epoch or any
    late = w.message(LAPTOP, "after", epoch=(old.id, w.keys[old.id]))
    out = w.view.add(late)
    assert (
        isinstance(out, Dropped)
        and out.reason == "the author was unlinked from the circle; records after that are refused"
    )
    # a device key once unlinked cannot be linked again
    with pytest.raises(RosterError, match="departed"):
        actions.link_device(ALICE, w.roster, w.pos(ALICE), cert(ALICE, LAPTOP), NOW_MS)


def test_only_the_person_or_a_sibling_device_unlinks() -> None:
    w = circle_with_alice_laptop()
    with pytest.raises(RosterError, match="not one of your"):
        actions.unlink(BOB, w.roster, w.pos(BOB), LAPTOP.public_key, 0, NOW_MS)
    with pytest.raises(RosterError, match="cannot unlink itself"):
        actions.unlink(LAPTOP, w.roster, w.pos(LAPTOP), LAPTOP.public_key, 0, NOW_MS)
    body = {
        "t": "unlink", "a": BOB.public_key, "c": w.cid, **_pos(w, BOB), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": LAPTOP.public_key, "s": 0, "sh": None,
    }  # fmt: skip
    out = w.view.add(records.sign(BOB, body))
    assert out.note == "the key is not a linked device of the author's person"  # type: ignore[union-attr]
    # nor is a person's own key a device
    body = {**body, "a": LAPTOP.public_key, **_pos(w, LAPTOP), "k": ALICE.public_key}
    out = w.view.add(records.sign(LAPTOP, body))
    assert out.note == "the key is not a linked device of the author's person"  # type: ignore[union-attr]
    # a sibling device does it
    link(w, ALICE, PHONE)
    unlink(w, PHONE, LAPTOP)
    assert LAPTOP.public_key in w.roster.departed


def _concurrent(w: World, by: Identity, heads: list[bytes], t: str, **fields: object) -> Record:
    body = {"t": t, "a": by.public_key, "c": w.cid, **_pos(w, by), "h": sorted(heads), "ts": NOW_MS, **fields}
    return records.sign(by, body)


def test_an_unlink_voids_what_the_device_did_concurrently() -> None:
    w = circle_with_alice_laptop()
    heads = list(w.roster.heads)
    sneaky = _concurrent(
        w, LAPTOP, heads, "invite", k=CAROL.public_key, r="admin", x=NOW_MS // 1000 + 60, n=bytes(16), e=w.cid
    )
    un = _concurrent(w, ALICE, heads, "unlink", k=LAPTOP.public_key, s=0, sh=None)
    for order in itertools.permutations([sneaky, un]):
        s = fold(w.genesis, [*[r for r in w.history if r.is_roster], *order])
        assert s.rejected[sneaky.id] == VOID and un.id in s.accepted
        view = CircleView(w.genesis, w.history)
        for r in order:
            view.add(r)
        assert sneaky.id not in view.roster.accepted
        assert all(i.invitee != CAROL.public_key for i in view.roster.invites.values())


def test_two_devices_unlinking_each_other_the_smaller_id_wins_in_every_order() -> None:
    w = circle_with_alice_laptop()
    link(w, ALICE, PHONE)
    heads = list(w.roster.heads)
    a = _concurrent(w, LAPTOP, heads, "unlink", k=PHONE.public_key, s=0, sh=None)
    b = _concurrent(w, PHONE, heads, "unlink", k=LAPTOP.public_key, s=0, sh=None)
    win, lose = sorted([a, b], key=lambda r: r.id)
    base = [r for r in w.history if r.is_roster]
    for order in itertools.permutations([a, b]):
        s = fold(w.genesis, [*base, *order])
        assert win.id in s.accepted and s.rejected[lose.id] == VOID
        assert len(s.keys_of(ALICE.public_key)) == 2  # alice and the winner
    # the person key can always unlink the winner afterwards
    assert ALICE.public_key in s.members


# ---- removal and roles -------------------------------------------------------------------------


def test_removing_a_person_removes_every_device() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.invite_and_join(ALICE, CAROL)
    link(w, BOB, LAPTOP)
    link(w, LAPTOP, PHONE, person=BOB)
    w.post(LAPTOP, "hi")
    heads = list(w.roster.heads)
    concurrent = _concurrent(w, PHONE, heads, "pin", k=TABLET.public_key, ad=[])
    cut, cut_id = w.view.chains.head(BOB.public_key)
    lap_cut = w.view.chains.head(LAPTOP.public_key)
    rm, rk = actions.remove(
        ALICE, w.roster, w.pos(ALICE), BOB.public_key, cut, NOW_MS, cut_id=cut_id,
        device_cuts={LAPTOP.public_key: lap_cut},
    )  # fmt: skip
    assert [r.type for r in rk.before] == ["remove"] and bytes(rk.before[0].body["k"]) == LAPTOP.public_key
    for r in (*rk.before, rm, rk.record, concurrent):
        w.view.add(r)
    s = w.view.roster
    for k in (BOB, LAPTOP, PHONE):
        assert k.public_key not in s.members and s.departed[k.public_key].kind == "removed"
    assert s.departed[LAPTOP.public_key].cut == lap_cut[0]  # named first, so its history stays
    assert s.departed[PHONE.public_key].cut == 0  # went with bob
    assert concurrent.id not in s.accepted  # the view drops it (past the phone's cut of 0)
    full = fold(w.genesis, [*[r for r in w.history if r.is_roster], *rk.before, rm, rk.record, concurrent])
    assert full.rejected[concurrent.id] == VOID
    assert s.current_epoch is not None and set(s.current_epoch.holders) == {
        ALICE.public_key,
        CAROL.public_key,
    }
    assert not s.needs_rekey


def test_a_role_is_the_person_s_and_the_founder_s_devices_cannot_be_removed() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB, role="admin")
    w.invite_and_join(ALICE, CAROL)
    link(w, CAROL, PHONE)
    assert w.roster.members[PHONE.public_key].role == "member"
    w.add(actions.change_role(ALICE, w.roster, w.pos(ALICE), CAROL.public_key, "admin", NOW_MS))
    assert w.roster.members[PHONE.public_key].role == "admin"
    out = w.view.add(actions_role_body(w, PHONE.public_key))
    assert out.note == "a device's role is its person's"  # type: ignore[union-attr]
    link(w, ALICE, LAPTOP)
    with pytest.raises(RosterError, match="founder"):
        actions.remove(BOB, w.roster, w.pos(BOB), LAPTOP.public_key, 0, NOW_MS)
    body = {
        "t": "remove", "a": BOB.public_key, "c": w.cid, **_pos(w, BOB), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": LAPTOP.public_key, "s": 0, "sh": None,
    }  # fmt: skip
    out = w.view.add(records.sign(BOB, body))
    assert out.note == "the founder cannot be removed"  # type: ignore[union-attr]


def actions_role_body(w: World, target: bytes) -> Record:
    body = {
        "t": "role", "a": ALICE.public_key, "c": w.cid, **_pos(w, ALICE), "h": list(w.roster.heads),
        "ts": NOW_MS, "k": target, "r": "member",
    }  # fmt: skip
    return records.sign(ALICE, body)


def test_an_unlinked_device_is_no_rekey_recipient() -> None:
    w = circle_with_alice_laptop()
    unlink(w, ALICE, LAPTOP)
    cur = w.roster.current_epoch
    assert cur is not None
    body = {
        "t": "rekey", "a": ALICE.public_key, "c": w.cid, **_pos(w, ALICE), "h": list(w.roster.heads),
        "ts": NOW_MS, "e": cur.number + 1, "pe": cur.id,
        "ks": sorted([[k, bytes(80)] for k in (ALICE.public_key, LAPTOP.public_key, BOB.public_key)]),
    }  # fmt: skip
    out = w.view.add(records.sign(ALICE, body))
    assert out.note == "a recipient is not a member"  # type: ignore[union-attr]


def test_the_device_shows_as_its_person() -> None:
    w = circle_with_alice_laptop()
    s = w.roster
    persons = {k: p for k in s.members if (p := s.person_of(k)) is not None}
    shown = display.who(
        LAPTOP.public_key, me=BOB.public_key, my_name="bob", contacts={ALICE.public_key: "alice"},
        names={}, persons=persons,
    )  # fmt: skip
    assert shown == "alice"
    # and my own device is "me"
    mine = display.who(
        LAPTOP.public_key, me=ALICE.public_key, my_name="al", contacts={}, names={}, persons=persons
    )
    assert mine == "al"


def test_the_view_stores_a_device_record_then_its_messages() -> None:
    w = circle_with_alice_laptop()
    view = CircleView(w.genesis)
    for r in w.history:
        stored(view.add(r))
    assert view.roster.person_of(LAPTOP.public_key) == ALICE.public_key


# ---- the certificate's limits, at their edges ----------------------------------------------------


def _signed_cert(body: dict[str, object], by: Identity = ALICE) -> bytes:
    body_bytes = wire.encode(body)
    return wire.encode([body_bytes, by.sign(devicecert.DOMAIN + body_bytes)])


def test_certificate_size_limit_is_512_bytes() -> None:
    with pytest.raises(SchemaError, match="malformed"):  # 512 bytes: read, and refused as garbage
        devicecert.parse(b"\x92" + bytes(511))
    with pytest.raises(SchemaError, match="513 bytes is over the limit of 512"):
        devicecert.parse(b"\x92" + bytes(512))
    with pytest.raises(SchemaError, match="must be bytes"):
        devicecert.parse("a text")  # type: ignore[arg-type]


def test_certificate_name_limits() -> None:
    longest = "\U0001f600" * 64  # 64 characters of 4 bytes: 256 bytes
    assert devicecert.make(ALICE, LAPTOP.public_key, longest, NOW_MS).name == longest
    assert devicecert.make(ALICE, LAPTOP.public_key, "x" * 64, NOW_MS).name == "x" * 64
    with pytest.raises(SchemaError, match="at most 64"):
        devicecert.check_device_name("x" * 65)
    for bad in ("\x1f", "\x7f", "\x9f", "\x00"):
        with pytest.raises(SchemaError, match="control"):
            devicecert.check_device_name(f"a{bad}b")
    for fine in (" a ", "~", "\xa0x", "é"):
        assert devicecert.check_device_name(f"x{fine}")
    base = {"d": LAPTOP.public_key, "n": bytes(16), "p": ALICE.public_key, "ts": NOW_MS}
    assert devicecert.parse(_signed_cert({**base, "nm": "\U0001f600" * 64})).name == "\U0001f600" * 64
    for nm in ("", "\U0001f600" * 64 + "x"):  # signed by hand past what make allows: refused
        with pytest.raises(SchemaError, match="field 'nm'"):
            devicecert.parse(_signed_cert({**base, "nm": nm}))
    with pytest.raises(SchemaError, match="field 'n'"):
        devicecert.parse(_signed_cert({**base, "nm": "x", "n": bytes(15)}))
    with pytest.raises(SchemaError, match="field 'd'"):
        devicecert.parse(_signed_cert({**base, "nm": "x", "d": bytes(32)}))


def test_make_draws_a_nonce_and_checks_the_device_key_itself() -> None:
    a = devicecert.make(ALICE, LAPTOP.public_key, "laptop", NOW_MS)
    b = devicecert.make(ALICE, LAPTOP.public_key, "laptop", NOW_MS)
    assert len(a.nonce) == 16 and a.nonce != b.nonce
    with pytest.raises(SchemaError) as err:
        devicecert.make(ALICE, bytes(32), "laptop", NOW_MS)
    assert str(err.value).startswith("field 'd'")  # make's own check, not parse's "malformed (…)"
