"""Helpers for the attacks written from docs/protocol.md alone (issue 10, items 1-4).

Everything here goes through the public entry points an outsider has: ``records.sign`` and
``records.parse`` for bytes, ``CircleView`` for the validator, ``Profile`` (real SQLite) for a
member's store, bundles (``export``/``import``) as the offline sync path, and the CLI as a
subprocess. An attacker signs with their own key only; what they forge is everything else.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nacl.pwhash

from protocol import invitation, records
from protocol.chain import ChainPos
from protocol.identity import Identity
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from protocol.records import Record
from smallsocial_tui.nodeproc import cli_env, run_cli

CHEAP = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
NOW_S = 1_800_000_000.0


class Clock:
    def __init__(self, t: float = NOW_S) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 0.001  # every record of a run gets its own time
        return self.t


def make(tmp: Path, name: str, seed: int) -> Profile:
    return Profile.create(
        resolve(str(tmp), name), name, None, Clock(), Identity.from_seed(bytes([seed]) * 32), **CHEAP
    )


def share(src: Profile, dst: Profile, cid: bytes) -> None:
    """Offline sync: ``dst`` takes in everything ``src`` holds of the circle."""
    dst.import_bundle(src.export([cid]))


def circle(tmp: Path, *names: str) -> tuple[list[Profile], bytes]:
    """``names[0]`` founds a circle and invites the others; everyone then holds everything."""
    people = [make(tmp, n, i + 1) for i, n in enumerate(names)]
    founder = people[0]
    cid = founder.new_circle("friends").circle_id
    for p in people[1:]:
        p.join_token(founder.invite(cid, p.me))
        share(p, founder, cid)
    for p in people[1:]:
        share(founder, p, cid)
    return people, cid


def format1_token(inviter: Profile, cid: bytes, invitee: bytes, extra: Sequence[Record] = ()) -> str:
    """A format-1 token for a new invite, as the release before format 2 wrote it (and this one
    still reads): the invite, the genesis, the joins and invites back to the founder, the roster
    records the invite follows, then ``extra``."""
    short = invitation.decode_token(inviter.invite(cid, invitee))
    view = inviter.view(cid)
    assert view.genesis is not None
    inv = view.roster_records[short.invite_id]
    chain: list[Record] = []
    key = inviter.me
    while key != view.roster.founder:
        m = view.roster.members[key]
        join = view.roster_records[m.since]
        invite = view.roster_records[bytes(join.body["i"])]
        chain += [join, invite]
        key = invite.author
    past: list[Record] = []
    todo, seen = list(inv.heads), {r.id for r in chain} | {cid}
    while todo:
        rid = todo.pop()
        if rid in seen or rid not in view.roster_records:
            continue
        seen.add(rid)
        past.append(view.roster_records[rid])
        todo += list(view.roster_records[rid].heads)
    eid = bytes(inv.body["e"])
    row = inviter.store.circle(cid)
    assert row is not None
    name = inviter.circle_name(row)
    key = inviter.epoch_keys(cid)[eid]
    return invitation.make_token(inv, view.genesis, [*chain, *past, *extra], eid, key, name, short.addrs)


def bundle(*recs: Record) -> bytes:
    from protocol.node.ingest import encode_bundle

    return encode_bundle([r.raw for r in recs])


def resign(who: Identity, victim: Record, pos: ChainPos, **changes: Any) -> Record:
    """``victim``'s body with the author, chain position (and ``changes``) replaced, signed by ``who``."""
    body = {k: v for k, v in victim.body.items() if k != "v"}
    body.update({"a": who.public_key, "q": pos.seq, "p": pos.prev, **changes})
    return records.sign(who, body)


def texts(p: Profile, cid: bytes) -> list[tuple[bytes, str | None]]:
    return [(e.author, e.text) for e in p.log(cid)]


def cli(profile: Profile, *args: str) -> subprocess.CompletedProcess[str]:
    """``smallsocial ARGS`` as a subprocess on ``profile``'s data dir (the profile is closed first)."""
    root = profile.paths.root
    profile.close()
    return run_cli(args, cli_env(root.parent.parent, root.name))


def cli_json(profile: Profile, *args: str) -> Any:
    p = cli(profile, *args, "--json")
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    out = p.stdout.strip()
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines() if line.strip()]
