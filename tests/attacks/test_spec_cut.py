"""Issue 10, class 4: a removed member rewrites history below the cut.

docs/protocol.md section 5 (``remove``): the cut is the highest seq of the removed member's
chain that is accepted. If the cut named only a seq, carol (removed) could sign other records
for the seqs at or below it and hand them to dave, who had not seen the originals yet. The
promise (docs/security.md 2.4): the removal names the record at the cut (``sh``); at and below
the cut only the chain ending there is accepted, whatever order things arrive in.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from protocol import messages, records, wire
from protocol.chain import ChainPos
from protocol.errors import SchemaError
from protocol.identity import Identity
from protocol.node.profile import Profile
from protocol.records import Record
from tests.attacks.spec_kit import bundle, cli, cli_json, make, share, texts

ALICE, CAROL, DAVE = (Identity.from_seed(bytes([n]) * 32) for n in (1, 3, 4))
TS = 1_800_000_070_000


class Scene:
    """alice (founder), carol and dave. carol posts; dave never sees carol's posts."""

    def __init__(self, tmp: Path, posts: int = 1) -> None:
        self.tmp = tmp
        self.alice, self.carol = make(tmp, "alice", 1), make(tmp, "carol", 3)
        self.cid = self.alice.new_circle("friends").circle_id
        self.carol.join_token(self.alice.invite(self.cid, self.carol.me))
        share(self.carol, self.alice, self.cid)
        self.dave_token = self.alice.invite(self.cid, DAVE.public_key)
        share(self.alice, self.carol, self.cid)
        self.dave = self.new_dave("dave")
        self.posts = [self.carol.send_text(self.cid, f"original {i}") for i in range(posts)]
        share(self.carol, self.alice, self.cid)

    def new_dave(self, name: str) -> Profile:
        dave = make(self.tmp / name, "dave", 4)
        dave.join_token(self.dave_token)
        dave.import_bundle(self.roster_bundle())
        return dave

    def roster_bundle(self) -> bytes:
        """The genesis and roster records (dave's short token carries neither: sync would)."""
        view = self.alice.view(self.cid)
        assert view.genesis is not None
        return bundle(view.genesis, *view.roster_records.values())

    def remove_carol(self) -> None:
        self.alice.remove(self.cid, self.carol.me)

    def forge(self, seq: int, prev: bytes | None, text: str = "forged") -> Record:
        """carol signs another record for a seq she already used."""
        eid = self.cid  # epoch 0: carol held it
        key = self.carol.epoch_keys(self.cid)[eid]
        return messages.seal(
            CAROL, self.cid, ChainPos(seq, prev), eid, key, messages.Content("text", TS, text)
        )


def _carol_texts(p: Profile, cid: bytes) -> list[str | None]:
    p.forget_views()
    return [t for a, t in texts(p, cid) if a == CAROL.public_key]


def test_a_forged_record_at_the_cut_is_refused(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    s.remove_carol()
    s.dave.import_bundle(s.roster_bundle())  # dave learns of the removal, not of carol's post
    forged = s.forge(s.posts[0].seq, s.posts[0].prev)
    rep = s.dave.import_bundle(bundle(forged))
    assert rep.stored == 0 and rep.dropped, rep
    assert "forged" not in _carol_texts(s.dave, s.cid)
    rm = next(r for r in s.alice.view(s.cid).roster_records.values() if r.type == "remove")
    assert bytes(rm.body["sh"]) == s.posts[0].id and rm.body["s"] == s.posts[0].seq
    s.dave.import_bundle(bundle(s.posts[0]))
    assert _carol_texts(s.dave, s.cid) == ["original 0"]


def test_a_forged_record_below_the_cut_never_gets_in(tmp_path: Path) -> None:
    s = Scene(tmp_path, posts=2)
    s.remove_carol()
    s.dave.import_bundle(s.roster_bundle())
    first = s.posts[0]
    forged = s.forge(first.seq, first.prev)  # below the cut: nothing links it yet
    s.dave.import_bundle(bundle(forged))
    assert "forged" not in _carol_texts(s.dave, s.cid)
    s.dave.import_bundle(bundle(*s.posts))  # the real chain, up to the record the cut names
    assert _carol_texts(s.dave, s.cid) == ["original 0", "original 1"]
    s.dave.forget_views()
    assert forged.id not in s.dave.view(s.cid).records and s.dave.store.held(s.cid) == []


def test_a_forgery_taken_before_the_removal_is_replaced_by_the_real_history(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    forged = s.forge(s.posts[0].seq, s.posts[0].prev)
    s.dave.import_bundle(bundle(forged))  # carol is still a member for dave: he keeps it
    assert _carol_texts(s.dave, s.cid) == ["forged"]
    s.remove_carol()
    s.dave.import_bundle(s.roster_bundle())
    assert "forged" not in _carol_texts(s.dave, s.cid)
    share(s.alice, s.dave, s.cid)
    assert _carol_texts(s.dave, s.cid) == ["original 0"]

    def carols(p: Profile) -> set[bytes]:
        p.forget_views()
        return {i for i, r in p.view(s.cid).records.items() if r.author == CAROL.public_key}

    assert carols(s.dave) == carols(s.alice)  # the same chain as alice's, the forgery gone


def test_every_arrival_order_ends_with_the_real_history(tmp_path: Path) -> None:
    s = Scene(tmp_path, posts=2)
    s.remove_carol()
    forged = [s.forge(s.posts[0].seq, s.posts[0].prev, "forged 0")]
    forged.append(s.forge(s.posts[1].seq, forged[0].id, "forged 1"))
    removal = s.roster_bundle()
    pieces: list[bytes] = [removal, bundle(*forged), bundle(s.posts[0]), bundle(s.posts[1])]
    for i, order in enumerate(itertools.permutations(range(4))):
        if i % 3:  # a spread of the 24 orders keeps this quick
            continue
        dave = s.new_dave(f"dave{i}")
        for j in order:
            dave.import_bundle(pieces[j])
        assert _carol_texts(dave, s.cid) == ["original 0", "original 1"], order
        dave.close()


def test_a_removal_must_name_the_record_at_its_cut() -> None:
    """Format: ``sh`` is nil exactly when ``s`` is 0, and a ``remove`` without ``sh`` does not parse."""
    cid = b"\x01" * 32
    base = {"t": "remove", "a": ALICE.public_key, "c": cid, "q": 2, "p": b"\x02" * 32, "h": [cid], "ts": TS}
    with pytest.raises(SchemaError, match="sh"):
        records.sign(ALICE, {**base, "k": CAROL.public_key, "s": 3, "sh": None})
    with pytest.raises(SchemaError, match="sh"):
        records.sign(ALICE, {**base, "k": CAROL.public_key, "s": 0, "sh": b"\x03" * 32})
    old = {**base, "v": 1, "k": CAROL.public_key, "s": 3}  # format 1: the cut is only a seq
    body_bytes = wire.encode(old)
    raw = wire.encode([body_bytes, ALICE.sign(records.DOMAINS["remove"] + body_bytes)])
    with pytest.raises(SchemaError):
        records.parse(raw)
    ok = records.sign(ALICE, {**base, "k": CAROL.public_key, "s": 3, "sh": b"\x03" * 32})
    assert records.parse(ok.raw).body["sh"] == b"\x03" * 32


def test_a_leave_fixes_the_history_below_it_too(tmp_path: Path) -> None:
    s = Scene(tmp_path, posts=2)
    s.carol.leave(s.cid)
    share(s.carol, s.alice, s.cid)
    s.dave.import_bundle(s.roster_bundle())  # the leave, not the posts before it
    forged = s.forge(s.posts[0].seq, s.posts[0].prev)
    rep = s.dave.import_bundle(bundle(forged))
    assert rep.stored == 0, rep
    assert "forged" not in _carol_texts(s.dave, s.cid)
    s.dave.import_bundle(bundle(*s.posts))
    assert _carol_texts(s.dave, s.cid) == ["original 0", "original 1"]


def test_the_cli_log_shows_the_real_history(tmp_path: Path) -> None:
    s = Scene(tmp_path)
    s.remove_carol()
    s.dave.import_bundle(s.roster_bundle())
    path = tmp_path / "forged.bundle"
    path.write_bytes(bundle(s.forge(s.posts[0].seq, s.posts[0].prev), s.posts[0]))
    cid = s.cid.hex()
    p = cli(s.dave, "import", str(path))
    assert p.returncode == 0, p.stderr
    rows = cli_json(Profile.open(s.dave.paths), "log", cid)
    rows = rows if isinstance(rows, list) else [rows]
    assert [r["text"] for r in rows if r["author"] == CAROL.peer_id] == ["original 0"]
