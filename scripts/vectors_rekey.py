"""rekeyevery.json (built by make_vectors.py): the ``rekeyevery`` roster record (docs/protocol.md
section 5, roster rule 8) and when a circle is due for a scheduled rekey, all deterministic.

In records.json's circle (alice founds it, invites bob, bob joins), alice, the founder and an
admin, sets the schedule to every 2 days and 50 messages; bob, a member, tries every day and
5 messages (refused: only admins may set it). Then ``rekeysched.why_due`` for a few facts about
the current epoch (epoch 0: bob joined under it, so it is due for that when nothing else is).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from protocol import actions, circle, records, rekeysched, roster
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.records import Record

INVITE_NONCE = bytes([0x44]) * 16


def build_rekeyevery(
    ids: dict[str, Identity],
    genesis_args: dict[str, Any],
    ts: Callable[[int], int],
    entry: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    alice, bob = ids["alice"], ids["bob"]
    who = {i.public_key: n for n, i in ids.items()}
    g = circle.create(alice, "friends", ts(0), **genesis_args).genesis
    made: list[Record] = []
    entries: list[dict[str, Any]] = []

    def pos(i: Identity) -> ChainPos:
        mine = [r for r in made if r.author == i.public_key]
        return ChainPos(mine[-1].seq + 1, mine[-1].id) if mine else ChainPos()

    def add(name: str, rec: Record, inputs: dict[str, Any]) -> None:
        made.append(rec)
        e = entry(name, rec, deterministic=True, inputs=inputs)
        e["author"] = who[rec.author]
        entries.append(e)

    inv = actions.invite(alice, roster.fold(g, made), pos(alice), bob.public_key, ts(1), nonce=INVITE_NONCE)
    add("invite_bob", inv, {"invitee": "bob", "now_ms": ts(1), "nonce": INVITE_NONCE})
    add("join_bob", actions.join(bob, inv, pos(bob), ts(2)), {"now_ms": ts(2)})
    rec = actions.set_rekey_schedule(alice, roster.fold(g, made), pos(alice), 2, 50, ts(3))
    add("rekeyevery_alice_2d_50", rec, {"days": 2, "messages": 50, "now_ms": ts(3)})
    p = pos(bob)
    body = {"t": records.REKEYEVERY, "a": bob.public_key, "c": g.id, "q": p.seq, "p": p.prev}
    body |= {"h": list(roster.fold(g, made).heads), "ts": ts(4), "d": 1, "m": 5}
    add(
        "rekeyevery_bob_member",
        records.sign(bob, body),
        {"days": 1, "messages": 5, "now_ms": ts(4), "by_hand": True},
    )

    st = roster.fold(g, made)
    rng = random.Random(19)
    for _ in range(10):
        shuffled = made[:]
        rng.shuffle(shuffled)
        s = roster.fold(g, shuffled)
        if (s.rekey_days, s.rekey_messages, s.rekey_by) != (st.rekey_days, st.rekey_messages, st.rekey_by):
            raise SystemExit("rekeyevery.json: the schedule depends on the arrival order")
    names = {r.id: e["name"] for r, e in zip(made, entries, strict=True)}
    assert st.current_epoch is not None
    opened = int(g.body["ts"])
    day = rekeysched.DAY_MS
    cases = [(49, opened + 2 * day - 1), (50, opened), (0, opened + 2 * day), (0, opened + 1)]
    due = [
        {
            "messages": n,
            "opened_ms": opened,
            "now_ms": now,
            "why": rekeysched.why_due(st, rekeysched.EpochFacts(st.current_epoch.id, opened, n), now),
        }
        for n, now in cases
    ]
    return {
        "_about": __doc__.strip(),
        "deterministic": True,
        "genesis_raw_hex": g.raw.hex(),
        "records": entries,
        "accepted": sorted(names[i] for i in st.accepted),
        "rejected": {names[i]: why for i, why in sorted(st.rejected.items(), key=lambda x: names[x[0]])},
        "rekey_days": st.rekey_days,
        "rekey_messages": st.rekey_messages,
        "rekey_by": who[st.rekey_by] if st.rekey_by else None,
        "default_rekey_days": roster.DEFAULT_REKEY_DAYS,
        "default_rekey_messages": roster.DEFAULT_REKEY_MESSAGES,
        "current_epoch": st.current_epoch.id.hex(),
        "due": due,
    }
