"""Attacks from the spec on numbers (issue 10, item 9): every number a record holds is bounded,
and every reader survives any value a valid record can hold.

protocol.md section 1 said ``uint`` is 0..2**63-1 for every ``ts``: a member could sign a
message dated in the year 292 million, and ``smallsocial log`` died with a traceback, the TUI
exited. Now times are bounded by ``schema.MAX_TS_MS`` (9999-12-30), chain positions, epochs
and cuts by ``schema.MAX_SEQ`` (2**53 - 1), and the readers show any int (clamped) anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from protocol import crypto, messages, records, schema
from protocol.display import local_time
from protocol.errors import SchemaError
from protocol.identity import Identity
from protocol.invitation import when
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui.nodeproc import cli_env, run_cli

pytestmark = pytest.mark.timeout(120)

MALLORY = Identity.from_seed(b"\x66" * 32)
C = b"\x11" * 32
FAR = [2**53, 2**63 - 1, schema.MAX_TS_MS + 1]


def _signed(body: dict[str, Any], who: Identity = MALLORY) -> bytes:
    """A record as an attacker builds it from protocol.md section 4, around any field values."""
    from protocol import wire

    full = {"a": who.public_key, **body}
    body_bytes = wire.encode(full)
    sig = who.sign(records.DOMAINS[full["t"]] + body_bytes)
    return wire.encode([body_bytes, sig])


def _roster(t: str, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "t": t, "c": C, "q": 1, "p": None, "h": [C], "ts": 1_700_000_000_000, **extra}


@pytest.mark.parametrize("value", FAR)
def test_every_time_field_is_bounded(value: int) -> None:
    cases = {
        "join ts": _roster("join", i=C, ts=value),
        "leave ts": _roster("leave", ts=value),
        "invite expiry": _roster("invite", k=MALLORY.public_key, r="member", x=value, n=b"\0" * 16, e=C),
        "presence ts": {
            "v": 2,
            "t": "presence",
            "c": C,
            "ts": value,
            "e": C,
            "n": b"\0" * 24,
            "x": b"\0" * 16,
        },
        "genesis ts": {
            "v": 1,
            "t": "genesis",
            "ts": value,
            "n": b"\0" * 16,
            "pol": {"inv": "member"},
            "nm": b"\1" * 40,
            "par": None,
        },
    }
    for name, body in cases.items():
        with pytest.raises(SchemaError, match="must be an integer in"):
            records.parse(_signed(body))
        # the largest allowed value is a valid record (the bound is exactly where the spec says)
        ok = dict(body)
        field = "x" if name == "invite expiry" else "ts"
        ok[field] = schema.MAX_TS_MS // 1000 if field == "x" else schema.MAX_TS_MS
        assert records.parse(_signed(ok)).body[field] == ok[field], name


@pytest.mark.parametrize("value", [2**53, 2**62, 2**63 - 1])
def test_every_position_epoch_and_cut_is_bounded(value: int) -> None:
    cases = {
        "chain seq": _roster("leave", q=value, p=C),
        "rekey epoch": _roster("rekey", e=value, pe=C, ks=[[MALLORY.public_key, b"\0" * 80]]),
        "remove cut": _roster("remove", v=2, k=MALLORY.public_key, s=value, sh=C),
    }
    for name, body in cases.items():
        with pytest.raises(SchemaError, match="must be an integer in"):
            records.parse(_signed(body))
        ok = {**body, ("q" if name == "chain seq" else "e" if name == "rekey epoch" else "s"): schema.MAX_SEQ}
        assert records.parse(_signed(ok)), name


def test_a_message_dated_far_in_the_future_does_not_open() -> None:
    for ts in FAR:
        rec = messages.seal(
            MALLORY, C, _pos(), C, b"\x07" * 32, messages.Content("text", ts, "from the future")
        )
        with pytest.raises(SchemaError):
            messages.open_message(records.parse(rec.raw), b"\x07" * 32)
    rec = messages.seal(
        MALLORY, C, _pos(), C, b"\x07" * 32, messages.Content("text", schema.MAX_TS_MS, "late")
    )
    assert messages.open_message(rec, b"\x07" * 32).ts == schema.MAX_TS_MS


def _pos() -> Any:
    from protocol.chain import ChainPos

    return ChainPos(1, None)


def test_readers_show_any_int_as_a_date() -> None:
    for ts in [-(2**63), -1, 0, schema.MAX_TS_MS, schema.MAX_TS_MS + 1, 2**63 - 1, 2**64]:
        assert 1970 <= local_time(ts).year <= 9999
    assert "9999" in when(2**63 - 1) and "1970" in when(-5)


def test_every_number_in_a_record_fits_a_double() -> None:
    # --json output is read by JavaScript too: no number a record holds may lose precision.
    assert float(schema.MAX_SEQ) == schema.MAX_SEQ and float(schema.MAX_TS_MS) == schema.MAX_TS_MS
    assert crypto.KEY_SIZE == 32


# ---- the readers: the CLI as a subprocess ------------------------------------------------------


def _cli(data: Path, profile: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    p = run_cli(args, cli_env(data, profile))
    assert "Traceback" not in p.stderr, p.stderr
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def test_smallsocial_log_survives_a_member_who_dates_messages_in_the_far_future(tmp_path: Path) -> None:
    _cli(tmp_path, "alice", "id", "--name", "alice")
    bob_key = json.loads(_cli(tmp_path, "bob", "id", "--name", "bob", "--json").stdout)["key"]
    _cli(tmp_path, "alice", "circle", "new", "friends")
    token = json.loads(_cli(tmp_path, "alice", "invite", "friends", bob_key, "--json").stdout)["token"]
    cid = bytes.fromhex(json.loads(_cli(tmp_path, "bob", "join", token, "--json").stdout)["id"])
    _cli(tmp_path, "alice", "export", "-o", str(tmp_path / "alice.ssb"))
    _cli(tmp_path, "bob", "import", str(tmp_path / "alice.ssb"))  # bob's first sync confirms his join

    # bob is a member gone bad: his client signs whatever time he likes (protocol.md section 10).
    bob = Profile.open(resolve(str(tmp_path), "bob"))
    try:
        for ts in FAR:
            bob.send(cid, messages.Content("text", ts, f"sent at {ts}"))
        bob.send(cid, messages.Content("text", schema.MAX_TS_MS, "the last valid moment"))
        bob.send_text(cid, "an ordinary message")
    finally:
        bob.store.close()
    _cli(tmp_path, "bob", "export", "-o", str(tmp_path / "bob.ssb"))
    _cli(tmp_path, "alice", "import", str(tmp_path / "bob.ssb"))

    out = _cli(tmp_path, "alice", "log", "friends").stdout
    assert "an ordinary message" in out
    assert "9999-12-3" in out and "the last valid moment" in out  # shown, in any time zone
    assert "sent at" not in out  # the far-future ones do not open: dropped, not shown
    rows = [
        json.loads(line) for line in _cli(tmp_path, "alice", "log", "friends", "--json").stdout.splitlines()
    ]
    assert max(r["ts"] for r in rows) == schema.MAX_TS_MS
    # and in a time zone far east of UTC, where 9999-12-31 local is close to the end of datetime
    env_tz = {**os.environ, "TZ": "Pacific/Kiritimati"}
    p = run_cli(
        ["log", "friends"], {**env_tz, "SMALLSOCIAL_DATA_DIR": str(tmp_path), "SMALLSOCIAL_PROFILE": "alice"}
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr


# ---- the readers: the TUI under Pilot ----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_the_tui_message_log_survives_any_timestamp(tmp_path: Path) -> None:
    from protocol.node.paths import ProfilePaths
    from smallsocial_tui.app.widgets.message_log import MessageLog
    from tests.tui.conftest import make_app
    from tests.tui.fake_node import FakeNode, ident
    from tests.tui.helpers import log_text, ready, wait_for

    paths = ProfilePaths(tmp_path / "profiles" / "alice")
    Profile.create(paths, "alice", identity=ident(1)).close()
    node = FakeNode(name="alice")
    bob = ident(2).public_key
    cid = node.add_circle("club", members=(bob,))
    # What a store written before the bounds could hold, and the bounds themselves.
    for ts in [0, schema.MAX_TS_MS, 2**53, 2**63 - 1, -1]:
        e = node.add_message(cid, bob, f"at {ts}")
        node.circles[cid].entries[-1] = type(e)(e.id, e.author, e.seq, ts, e.kind, e.text, e.ref)
    app = make_app(paths, node)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: "at -1" in log_text(app))
        await pilot.pause(0.1)
        app.export_screenshot()  # draws every line, day separators included
        assert app.is_running
        assert app.screen.query_one(MessageLog) is not None
