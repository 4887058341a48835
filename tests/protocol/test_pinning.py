"""A relay accepts a circle only from an offer whose roster pins the relay's own key."""

from __future__ import annotations

import pytest
from proto_kit import ALICE, BOB, NOW_MS, ident, new_world

from protocol import actions, pinning, records
from protocol.errors import ProtocolError

RELAY = ident(40)
OTHER_RELAY = ident(41)


def _pinned_world():  # type: ignore[no-untyped-def]
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    pin = actions.pin(ALICE, w.roster, w.pos(ALICE), RELAY.public_key, ["/ip4/127.0.0.1/tcp/1"], NOW_MS)
    w.add(pin)
    w.post(BOB, "content the relay never sees")
    return w


def test_an_offer_of_a_pinned_circle_is_accepted_with_its_roster() -> None:
    w = _pinned_world()
    raws = pinning.offer_records(w.view)
    offer = pinning.check_offer(raws, RELAY.public_key)
    assert offer.circle_id == w.cid
    assert {r.type for r in offer.accepted} == {"invite", "join", "pin"}  # roster only: no messages


def test_offers_are_refused_for_another_relay_or_when_mangled() -> None:
    w = _pinned_world()
    raws = pinning.offer_records(w.view)
    with pytest.raises(ProtocolError, match="does not pin this relay"):
        pinning.check_offer(raws, OTHER_RELAY.public_key)
    with pytest.raises(ProtocolError, match="starts with the circle's genesis"):
        pinning.check_offer(raws[1:], RELAY.public_key)
    with pytest.raises(ProtocolError):
        pinning.check_offer([b"\x93junk"], RELAY.public_key)
    with pytest.raises(ProtocolError):
        pinning.check_offer([], RELAY.public_key)
    # Without the pin record the roster names no relay.
    no_pin = [r for r in raws if records.parse(r).type != records.PIN]
    assert len(no_pin) == len(raws) - 1
    with pytest.raises(ProtocolError, match="does not pin this relay"):
        pinning.check_offer(no_pin, RELAY.public_key)


def test_a_pin_forged_by_a_non_member_pins_nothing() -> None:
    w = _pinned_world()
    stranger = ident(42)
    outsider_world = new_world(stranger)  # the stranger's own roster lets him sign a pin body
    forged = actions.pin(stranger, outsider_world.roster, w.pos(stranger), OTHER_RELAY.public_key, [], NOW_MS)
    raws = pinning.offer_records(w.view)
    with pytest.raises(ProtocolError, match="does not pin this relay"):
        pinning.check_offer([*raws, forged.raw], OTHER_RELAY.public_key)
