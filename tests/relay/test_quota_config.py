"""Relay limits from defaults, a TOML file and flags; a bad value is one sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protocol.node.relay import Quota, QuotaError
from smallsocial_tui.nodeproc import RelayProc


def test_flags_override_the_file_which_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "relay.toml"
    cfg.write_text("[quota]\nrecords = 500\nretention_days = 7\n")
    q = Quota.load(cfg, records=None, bytes=10_000, retention_days=None, circles=None)
    assert (q.records, q.bytes, q.retention_days, q.circles) == (500, 10_000, 7, Quota().circles)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[quota]\nrecords = -1\n", "must be a positive number"),
        ("[quota]\nrecord = 5\n", "takes only"),
        ("[quota\n", "Cannot read the relay config"),
        ('[quota]\nbytes = "lots"\n', "must be a positive number"),
    ],
)
def test_bad_configs_are_refused_with_a_sentence(tmp_path: Path, text: str, says: str) -> None:
    cfg = tmp_path / "relay.toml"
    cfg.write_text(text)
    with pytest.raises(QuotaError, match=says):
        Quota.load(cfg)


def test_the_cli_reports_a_bad_quota_and_exits_1(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "smallsocial_tui", "--data-dir", str(tmp_path), "relay", "--max-records", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert p.returncode == 1
    assert p.stderr.strip() == "smallsocial: The quota records must be a positive number, not 0."


def test_a_relay_on_loopback_says_how_to_be_reachable_from_other_machines(tmp_path: Path) -> None:
    # Not the shared harness (smallsocial_tui.nodeproc): this reads the human-readable lines a
    # person sees, which the harness (JSON lines only) does not keep.
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallsocial_tui", "--data-dir", str(tmp_path), "relay"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        code = proc.wait(20)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0
    text = "".join(lines)
    assert "smallsocial circle pin CIRCLE /ip4/127.0.0.1/tcp/" in text
    assert "loopback only" in text and "--announce" in text


def test_announce_sets_the_address_members_are_given_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    relay = RelayProc(tmp_path, "relay")
    try:
        relay.start("--announce", "/ip4/203.0.113.7/tcp/4001")
    finally:
        code = relay.stop(20) if relay.proc is not None else None
    assert code == 0
    started = relay.events[0]
    assert started["event"] == "RelayStarted"
    assert started["addrs"] == [f"/ip4/203.0.113.7/tcp/4001/p2p/{started['key']}"]

    bad = subprocess.run(
        [sys.executable, "-m", "smallsocial_tui", "--data-dir", str(tmp_path), "relay", "--announce", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert bad.returncode == 1
    assert (
        bad.stderr.startswith("smallsocial: 'nope' is not an address to announce")
        and len(bad.stderr.strip().splitlines()) == 1
    )
