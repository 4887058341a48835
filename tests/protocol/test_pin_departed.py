"""A pin of a departed key applies only if it cites the departure (docs/protocol.md, roster rules).

A pin concurrent with a removal of the key it names loses to the removal, as the removed
member's own concurrent records do (rule 3), in whichever order the records arrive: a pin
refused when it was made (the key was a member) never turns the removed member into the
relay afterwards. A pin made after the departure, citing it, re-pins the key.
"""

from __future__ import annotations

from itertools import permutations

from proto_kit import ALICE, BOB, NOW_MS, World, ident, new_world

from protocol import actions, records
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.records import Record
from protocol.roster import RosterState, fold
from protocol.view import CircleView

RELAY = ident(40)
ADDR = ["/ip4/127.0.0.1/tcp/1"]
NEW_ADDR = ["/ip4/127.0.0.1/tcp/2"]


def _raw_pin(who: Identity, state: RosterState, pos: ChainPos, key: bytes) -> Record:
    """A pin body ``actions.pin`` would refuse to make (of a member), signed all the same."""
    body = {
        "t": records.PIN,
        "a": who.public_key,
        "c": state.circle_id,
        "q": pos.seq,
        "p": pos.prev,
        "h": list(state.heads),
        "ts": NOW_MS,
        "k": key,
        "ad": ADDR,
    }
    return records.sign(who, body)


def _every_order(genesis: Record, base: list[Record], late: list[Record]) -> list[RosterState]:
    """The roster after ``base`` then ``late`` in every order, by the view and by the reference."""
    out = []
    for order in permutations(late):
        view = CircleView(genesis)
        for r in (*base, *order):
            view.add(r)
        ref = fold(genesis, [*base, *order])
        assert view.roster.relays == ref.relays
        assert view.roster.departed == ref.departed
        assert view.roster.accepted == ref.accepted
        out.append(ref)
    return out


def test_a_refused_pin_of_a_member_stays_refused_after_their_removal() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    base = list(w.history)
    pin = _raw_pin(ALICE, w.roster, w.pos(ALICE), BOB.public_key)
    out = w.view.add(pin)
    assert getattr(out, "note", None) == "a member cannot be pinned as a relay"
    rm, rk = w.remove(ALICE, BOB)  # cites the heads, which the refused pin is not among
    assert pin.id not in rm.heads
    for state in _every_order(w.genesis, base, [pin, rm, *rk.before, rk.record]):
        assert BOB.public_key in state.departed
        assert BOB.public_key not in state.relays
        assert pin.id in state.rejected


def _repin(w: World, addr: str) -> Record:
    return actions.pin(BOB, w.roster, w.pos(BOB), RELAY.public_key, [addr], NOW_MS)


def test_a_pin_concurrent_with_the_relays_removal_loses() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.add(actions.pin(ALICE, w.roster, w.pos(ALICE), RELAY.public_key, ADDR, NOW_MS))
    base = list(w.history)
    # Bob moves the relay's address while alice, not having seen that, removes the relay.
    rm, rk = actions.remove(ALICE, w.roster, w.pos(ALICE), RELAY.public_key, 0, NOW_MS)
    # The canonical walk takes the smaller id first: a re-pin walked before the removal is
    # undone by it anyway, so pick addresses whose pin sorts after the removal.
    repin = next(
        p for p in (_repin(w, f"/ip4/127.0.0.1/tcp/{port}") for port in range(2, 200)) if p.id > rm.id
    )
    for state in _every_order(w.genesis, base, [repin, rm, *rk.before, rk.record]):
        assert RELAY.public_key in state.departed
        assert RELAY.public_key not in state.relays
        assert state.rejected[repin.id] == "the pinned key departed concurrently"


def test_a_pin_that_cites_the_departure_pins_again() -> None:
    w = new_world()
    w.invite_and_join(ALICE, BOB)
    w.add(actions.pin(ALICE, w.roster, w.pos(ALICE), RELAY.public_key, ADDR, NOW_MS))
    w.remove(ALICE, RELAY)
    assert RELAY.public_key in w.roster.departed
    w.add(actions.pin(BOB, w.roster, w.pos(BOB), RELAY.public_key, NEW_ADDR, NOW_MS))
    assert w.roster.relays[RELAY.public_key].addrs == tuple(NEW_ADDR)
    assert RELAY.public_key not in w.roster.departed
    assert w.refold().relays == w.roster.relays
