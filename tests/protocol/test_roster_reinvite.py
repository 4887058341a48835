"""Re-inviting a departed member keeps the circle's current epoch usable."""

from __future__ import annotations

from protocol import actions, circle, invitation
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.view import CircleView, Stored

NOW = 1_800_000_000_000


def test_reinviting_a_removed_member_keeps_a_current_epoch() -> None:
    alice, carol = Identity.from_seed(bytes([1]) * 32), Identity.from_seed(bytes([3]) * 32)
    c = circle.create(alice, "friends", NOW)
    v = CircleView(c.genesis)
    inv = actions.invite(alice, v.roster, v.next_pos(alice.public_key), carol.public_key, NOW)
    assert isinstance(v.add(inv), Stored)
    assert isinstance(v.add(actions.join(carol, inv, ChainPos(), NOW)), Stored)
    cut, cut_id = v.chains.head(carol.public_key)
    rm, rk = actions.remove(
        alice, v.roster, v.next_pos(alice.public_key), carol.public_key, cut, NOW, cut_id=cut_id
    )
    v.add(rm)
    v.add(rk.record)
    assert v.roster.current_epoch is not None and v.roster.current_epoch.number == 1
    again = actions.invite(alice, v.roster, v.next_pos(alice.public_key), carol.public_key, NOW)
    assert isinstance(v.add(again), Stored)
    assert v.roster.current_epoch is not None and v.roster.current_epoch.id == rk.record.id
    tok = invitation.make_token(again, c.genesis, [], rk.record.id, rk.key, "friends")
    opened = invitation.open_token(tok, carol, NOW // 1000)
    join = actions.join(carol, opened.token.invite, v.next_pos(carol.public_key), NOW)
    assert isinstance(v.add(join), Stored)
    assert carol.public_key in v.roster.members and not v.roster.needs_rekey
