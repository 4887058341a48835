"""The state-driving fuzz targets (scripts/fuzzstate.py) catch what they exist for.

A planted defect of each kind must show up on the committed seeds: token records stored
without the circle's validator (issue 10, item 2) as ``foreign``, a rekey that leaves the
other members without the key as ``wedged``. Without the defect the seeds pass (that is
``tests/test_fuzz_corpus.py``'s business too).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import fuzzkit  # noqa: E402
import fuzzstate  # noqa: E402

from protocol import actions, messages, records  # noqa: E402
from protocol.chain import ChainPos  # noqa: E402
from protocol.node.profile import Profile  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    fuzzstate._usable_seen.clear()  # a planted defect changes what a state means
    yield
    fuzzstate._usable_seen.clear()


def _kinds(name: str) -> dict[str, int]:
    target = fuzzkit.TARGETS[name]
    s = fuzzkit.run_inputs(target, fuzzkit.load_corpus(target))
    return {"crashes": s.crashes, "foreign": s.foreign, "wedged": s.wedged}


@pytest.mark.timeout(60)
def test_seeds_pass() -> None:
    assert _kinds("token_records") == {"crashes": 0, "foreign": 0, "wedged": 0}
    assert _kinds("sync_session") == {"crashes": 0, "foreign": 0, "wedged": 0}


@pytest.mark.timeout(60)
def test_token_records_stored_without_the_validator_are_foreign(monkeypatch: pytest.MonkeyPatch) -> None:
    def trusting(self: Profile, view: Any, tok: Any) -> tuple[list[Any], list[Any]]:
        return [(r, False) for r in tok.chain], []

    monkeypatch.setattr(Profile, "_admit_token_records", trusting)
    assert _kinds("token_records")["foreign"] >= 1


@pytest.mark.timeout(60)
def test_a_rekey_to_the_author_alone_is_a_wedge(monkeypatch: pytest.MonkeyPatch) -> None:
    real = actions._rekey_record

    def selfish(identity: Any, state: Any, pos: Any, now_ms: int, keys: Any, *rest: Any) -> Any:
        return real(identity, state, pos, now_ms, [identity.public_key], *rest)

    monkeypatch.setattr(actions, "_rekey_record", selfish)
    assert _kinds("sync_session")["wedged"] >= 1


def _carol_past_her_cut_before_her_removal() -> bytes:
    """A token whose ``ch`` holds carol's message past her cut *before* the removal that sets it."""
    w = fuzzkit.world()
    hist = list(w.history)
    join = next(r for r in hist if r.type == "join" and r.author == fuzzkit.CAROL.public_key)
    late = messages.seal(
        fuzzkit.CAROL,
        w.genesis.id,
        ChainPos(2, join.id),
        w.genesis.id,
        w.epoch_keys[w.genesis.id],
        messages.Content(messages.TEXT, w.now_ms - 5000, "past my cut"),
        nonce=b"\x09" * 24,
    )
    i = hist.index(join) + 1
    return fuzzstate._skeleton(fuzzstate._extra()["inv_mallory"], w.genesis, [*hist[:i], late, *hist[i:]])


@pytest.mark.timeout(60)
def test_a_message_past_the_cut_carried_before_the_removal_is_not_kept() -> None:
    failure, _ = fuzzkit.check_one(fuzzkit.TARGETS["token_records"], _carol_past_her_cut_before_her_removal())
    assert failure is None, failure.signature


@pytest.mark.timeout(60)
def test_a_refused_pin_of_a_member_does_not_undo_their_removal() -> None:
    w = fuzzkit.world()
    view = w.view()
    alice, bob = fuzzkit.ALICE, fuzzkit.BOB
    pos = view.next_pos(alice.public_key)
    body = {
        "t": records.PIN,
        "a": alice.public_key,
        "c": w.genesis.id,
        "q": pos.seq,
        "p": pos.prev,
        "h": list(view.roster.heads),
        "ts": w.now_ms,
        "k": bob.public_key,
        "ad": ["/ip4/127.0.0.1/tcp/1"],
    }
    assert view.add(records.sign(alice, body)).note == "a member cannot be pinned as a relay"  # type: ignore[union-attr]
    cut, cut_id = view.chains.head(bob.public_key)
    rm, rk = actions.remove(
        alice, view.roster, view.next_pos(alice.public_key), bob.public_key, cut, w.now_ms, cut_id=cut_id
    )
    for r in (*rk.before, rm, rk.record):
        view.add(r)
    assert bob.public_key in view.roster.departed
    assert bob.public_key not in view.roster.relays
