"""Issue 10, class 2: records that ride in an invitation token are trusted.

docs/protocol.md section 11 says a format-1 token's ``ch`` carries raw records (the chain to
the founder and the roster past); this release still reads such tokens. The inviter (here
mallory, a member) controls those bytes; the promise (docs/security.md 2.2) is that every one
of them goes through the same validator as a gossip record of that circle (``CircleView``)
before the joiner stores it. (A format-2 token carries no records: they come by sync, through
the same validator; its last test here is the control for that format.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import actions, invitation, messages, records
from protocol.chain import ChainPos
from protocol.errors import TokenInvalid
from protocol.identity import Identity
from protocol.node.profile import Profile
from protocol.records import Record
from tests.attacks.spec_kit import cli, format1_token, make, share

ALICE, BOB, MALLORY, DAVE, CAROL = (Identity.from_seed(bytes([n]) * 32) for n in (1, 2, 3, 4, 5))
NOW_MS = 1_800_000_000_000


class Scene:
    """Circle X: alice (founder), mallory and carol members. Circle Y: alice and bob only.

    Mallory invites bob into X with a token whose ``ch`` she fills.
    """

    def __init__(self, tmp: Path) -> None:
        self.alice, self.bob, self.mallory = (
            make(tmp, "alice", 1),
            make(tmp, "bob", 2),
            make(tmp, "mallory", 3),
        )
        self.carol = make(tmp, "carol", 5)
        self.x = self.alice.new_circle("x").circle_id
        self.y = self.alice.new_circle("y").circle_id
        for p in (self.mallory, self.carol):
            p.join_token(self.alice.invite(self.x, p.me))
            share(p, self.alice, self.x)
        self.bob.join_token(self.alice.invite(self.y, self.bob.me))
        share(self.bob, self.alice, self.y)
        share(self.alice, self.bob, self.y)
        for p in (self.mallory, self.carol):
            share(self.alice, p, self.x)

    def token(self, extra: list[Record]) -> str:
        return format1_token(self.mallory, self.x, self.bob.me, extra)

    def stranger_msg(self, who: Identity, cid: bytes, text: str = "planted") -> Record:
        eid = cid  # epoch 0's id is the circle id (protocol.md 6); the key is anyone's guess
        return messages.seal(who, cid, ChainPos(), eid, b"\x42" * 32, messages.Content("text", NOW_MS, text))

    def roster_body(self, who: Identity, cid: bytes, t: str, **fields: object) -> dict[str, object]:
        return {"t": t, "a": who.public_key, "c": cid, "q": 1, "p": None, "h": [cid], "ts": NOW_MS, **fields}


def _authors(p: Profile, cid: bytes) -> set[bytes]:
    p.forget_views()
    return {records.parse(raw).author for raw in p.store.raw_records(cid)}


def _everything(p: Profile, cid: bytes) -> set[bytes]:
    raws = p.store.raw_records(cid) + p.store.conflicts(cid) + p.store.held(cid)
    return {records.record_id(r) for r in raws}


def test_a_record_of_another_circle_in_the_token_stays_out_of_that_circle(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    planted = s.stranger_msg(MALLORY, s.y)  # mallory is not in Y; bob is
    before = _everything(s.bob, s.y)
    s.bob.join_token(s.token([planted]))
    assert _everything(s.bob, s.y) == before
    assert MALLORY.public_key not in _authors(s.bob, s.y)


def test_a_non_members_message_in_the_token_is_not_stored(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    planted = s.stranger_msg(DAVE, s.x)
    s.bob.join_token(s.token([planted]))
    assert planted.id not in _everything(s.bob, s.x)
    assert (
        s.bob.me in s.bob.view(s.x).roster.members or s.bob.view(s.x).roster.pending
    )  # the join itself stands


@pytest.mark.parametrize("kind", ["pin", "remove", "invite"])
def test_a_non_members_roster_record_in_the_token_is_not_stored(tmp_path: Path, kind: str) -> None:
    s = Scene(tmp_path)
    fields: dict[str, object] = {
        "pin": {"k": DAVE.public_key, "ad": ["/ip4/127.0.0.1/tcp/1/p2p/" + DAVE.peer_id]},
        "remove": {"k": ALICE.public_key, "s": 0, "sh": None},
        "invite": {"k": CAROL.public_key, "r": "admin", "x": 2**31, "n": b"\x01" * 16, "e": s.x},
    }[kind]
    planted = records.sign(DAVE, s.roster_body(DAVE, s.x, kind, **fields))
    s.bob.join_token(s.token([planted]))
    assert planted.id not in _everything(s.bob, s.x)
    assert DAVE.public_key not in _authors(s.bob, s.x)


def test_a_removed_members_record_past_the_cut_in_the_token_is_not_stored(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    s.alice.remove(s.x, s.carol.me)
    share(s.alice, s.mallory, s.x)
    late = s.carol.send_text(s.x, "carol after her removal")  # carol has not heard yet
    removal = [r for r in s.alice.view(s.x).roster_records.values() if r.type in ("remove", "rekey")]
    s.bob.join_token(s.token([*removal, late]))
    assert late.id not in _everything(s.bob, s.x)
    assert s.carol.me in s.bob.view(s.x).roster.departed


def test_a_record_of_a_circle_the_joiner_is_not_in_is_not_stored_anywhere(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    z = s.mallory.new_circle("z").circle_id
    planted = s.mallory.send_text(z, "from z")
    s.bob.join_token(s.token([planted]))
    assert s.bob.store.raw_records(z) == [] and s.bob.store.held(z) == []


def test_a_token_whose_invite_the_circle_refuses_is_refused(tmp_path: Path) -> None:
    """The invite itself is judged by the roster the token carries: a removed inviter's is void."""
    s = Scene(tmp_path)
    tok = invitation.decode_token(format1_token(s.mallory, s.x, s.bob.me))  # made while a member ...
    assert isinstance(tok, invitation.Token)
    s.alice.remove(s.x, s.mallory.me)  # ... then she is removed, and her cut names her invite's
    roster = list(s.alice.view(s.x).roster_records.values())
    assert any(r.type == "remove" for r in roster)  # alice never saw the invite: it is past the cut
    eid = bytes(tok.invite.body["e"])
    key = s.mallory.epoch_keys(s.x)[eid]
    bad = invitation.make_token(tok.invite, tok.genesis, roster, eid, key, "x", tok.addrs)
    with pytest.raises(TokenInvalid, match="does not hold up"):
        s.bob.join_token(bad)
    assert s.bob.store.circle(s.x) is None  # all or nothing


def test_the_cli_join_keeps_only_what_the_validator_accepts(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    planted = [s.stranger_msg(DAVE, s.x), s.stranger_msg(MALLORY, s.y, "in y")]
    planted.append(records.sign(DAVE, s.roster_body(DAVE, s.x, "leave")))
    token = s.token(planted)
    root = s.bob.paths
    p = cli(s.bob, "join", token)
    assert p.returncode == 0, p.stderr
    bob = Profile.open(root)
    try:
        for r in planted:
            assert r.id not in _everything(bob, r.circle)
        assert bob.store.circle(s.x) is not None
    finally:
        bob.close()


def test_an_honest_token_still_joins_at_once(tmp_path: Path) -> None:
    """The control: a format-1 token of a member's with its roster past folds straight away."""
    s = Scene(tmp_path)
    cid = s.bob.join_token(s.token([]))
    assert s.bob.me in s.bob.view(cid).roster.members
    assert actions.DEFAULT_INVITE_TTL_S > 0


def test_an_honest_short_token_joins_and_its_first_sync_confirms_it(tmp_path: Path) -> None:
    """The control for format 2: no records ride in it; the first sync brings them (here a
    bundle from the inviter), each through the validator, and the roster takes the join."""
    s = Scene(tmp_path)
    cid = s.bob.join_token(s.mallory.invite(s.x, s.bob.me))
    assert s.bob.view(cid).genesis is None and s.bob.me not in s.bob.view(cid).roster.members
    share(s.bob, s.mallory, s.x)
    share(s.mallory, s.bob, s.x)
    assert s.bob.me in s.bob.view(cid).roster.members
    assert s.bob.store.ticket(cid) is None
