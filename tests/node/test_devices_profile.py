"""protocol.node.devices on profiles, without a network: link codes, bundles, refusals.

Bad input (a mangled code, a bundle for another device, garbage) gets one sentence and changes
nothing; a linked device that is not the person cannot link further devices.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.errors import RosterError
from protocol.identity import Identity
from protocol.node import devices
from protocol.node.paths import ProfilePaths
from protocol.node.profile import Profile

CHEAP = {"opslimit": 1, "memlimit": 8192}


def make(tmp: Path, name: str, n: int) -> Profile:
    return Profile.create(
        ProfilePaths(tmp / name), name, identity=Identity.from_seed(bytes([n]) * 32), **CHEAP
    )


def test_link_code_round_trip_and_refusals(tmp_path: Path) -> None:
    laptop = make(tmp_path, "laptop", 41)
    code = devices.request(laptop, " laptop ")
    assert code.startswith("ssd1") and len(code) < 120
    assert devices.parse_request(code) == (laptop.me, "laptop")
    assert devices.parse_request(code.upper()[:20] + "\n " + code.upper()[20:]) == (laptop.me, "laptop")
    for bad, sentence in (
        ("ssi2abc", "not a device link code"),
        ("ssd1!!!!", "damaged"),
        (code[:-3], "damaged"),
        (code[:10] + ("a" if code[10] != "a" else "b") + code[11:], "damaged"),
    ):
        with pytest.raises(devices.DeviceError, match=sentence):
            devices.parse_request(bad)


def test_a_bundle_links_the_device_and_nothing_else_opens_it(tmp_path: Path) -> None:
    alice, laptop, eve = make(tmp_path, "alice", 1), make(tmp_path, "laptop", 41), make(tmp_path, "eve", 6)
    cid = alice.new_circle("friends").circle_id
    alice.send_text(cid, "before")
    with pytest.raises(devices.DeviceError, match="own code"):
        devices.add(alice, devices.request(alice, "me"))
    bundle, circles = devices.add(alice, devices.request(laptop, "laptop"))
    assert circles == [cid]
    # not for eve, and not a bundle at all: one sentence, nothing stored
    with pytest.raises(devices.DeviceError, match="not for this device"):
        devices.accept(eve, bundle)
    with pytest.raises(devices.DeviceError, match="not a device link bundle"):
        devices.accept(eve, b"garbage")
    assert eve.store.circles() == []
    assert devices.accept(laptop, bundle) == [cid]
    assert [e.text for e in laptop.log(cid)] == ["before"]
    laptop.send_text(cid, "from the laptop")
    roster = laptop.view(cid).roster
    assert roster.person_of(laptop.me) == alice.me and roster.keys_of(alice.me) == sorted(
        [alice.me, laptop.me]
    )
    # a linked device cannot certify further devices (the person's key signs certificates)
    tablet = make(tmp_path, "tablet", 43)
    with pytest.raises(devices.DeviceError, match="holds your person's key"):
        devices.add(laptop, devices.request(tablet, "tablet"))
    listed = {d.key: d for d in devices.listing(alice)}
    assert listed[laptop.me].name == "laptop" and listed[alice.me].is_me
    # revoke: unlinked with a new epoch; revoking again is a sentence
    assert devices.revoke(alice, laptop.me) == [cid]
    after = alice.view(cid).roster
    assert laptop.me in after.departed and after.current_epoch is not None
    assert laptop.me not in after.current_epoch.holders
    with pytest.raises(RosterError, match="not one of your linked devices"):
        devices.revoke(alice, laptop.me)


def test_a_bundle_hands_the_device_its_first_prekey_and_a_mismatched_one_is_refused(tmp_path: Path) -> None:
    from protocol import crypto, records, wire

    alice, laptop = make(tmp_path, "alice", 1), make(tmp_path, "laptop", 41)
    cid = alice.new_circle("friends").circle_id
    bundle, _ = devices.add(alice, devices.request(laptop, "laptop"))
    (rec,) = [r for r in alice.store.load_records(cid, records.DEVICE)]
    assert alice.view(cid).roster.prekeys[laptop.me].key == bytes(rec.body["pk"])
    assert bytes(rec.body["pk"]) not in [pk for pk, *_ in alice.store.prekeys()]  # not kept by the linker
    body = wire.decode(laptop.identity.unseal(bundle[len(devices.BUNDLE_MAGIC) :]), devices.MAX_LINK_BUNDLE)
    _, other_private = crypto.prekey_pair()
    bad = {**body, "pk": [body["pk"][0], other_private, *body["pk"][2:]]}
    forged = devices.BUNDLE_MAGIC + crypto.seal(laptop.me, wire.encode(bad))
    with pytest.raises(devices.DeviceError, match="damaged"):
        devices.accept(laptop, forged)
    assert laptop.store.circles() == [] and laptop.store.prekeys() == []
    devices.accept(laptop, bundle)
    assert [pk for pk, *_ in laptop.store.prekeys()] == [bytes(rec.body["pk"])]
    assert laptop.refresh_prekeys() == []  # the roster shows it already: nothing to publish
