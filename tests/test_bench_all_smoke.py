"""Smoke tests for scripts/bench (bench_all.py) and its new parts: the IRC baseline and the scaling runs.

Behaviour only: the JSON has the promised shape, nothing is lost, the IRC
server is started and stopped by the benchmark. No timing is judged. Every
byte stays on 127.0.0.1. Without ngircd the IRC test is skipped (``.ci/run``'s
fresh machine does not have it) and the runner must say, in one sentence, how
to install it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_all  # noqa: E402
import bench_irc  # noqa: E402
from benchkit.cluster import summarize  # noqa: E402


@pytest.mark.timeout(40)
def test_irc_baseline_delivers_every_message(tmp_path: Path) -> None:
    if bench_irc.ngircd_path() is None:
        pytest.skip("ngircd is not installed (apt-get install -y ngircd): no IRC baseline to test")
    plan = bench_irc.QUICK
    server = bench_irc.IrcServer(tmp_path)
    cluster = None
    try:
        assert server.addr.startswith("127.0.0.1:")
        cluster = bench_irc.IrcCluster(3, tmp_path, plan, server)
        cluster.start()
        conn = cluster.connect()
        assert conn["failed"] == 0 and conn["mesh_sizes"] == [2, 2, 2]  # everyone sees the two others
        res = summarize([cluster.phase("smoke", 12, 100.0)], plan)
        assert res["expected"] == 24 and res["delivered"] == 24  # 12 messages x 2 receivers
        assert res["lost"] == 0 and res["duplicates"] == 0
        assert res["p50_ms"] is not None and res["p99_ms"] is not None
        stop = cluster.stop()
        assert stop["all_clean"]
    finally:
        if cluster is not None:
            cluster.kill()
        server.stop()
    assert server.proc.poll() is not None  # the benchmark ends the server it started


def test_ratios_are_ours_over_each_baseline() -> None:
    def system(p50: float, p99: float, best: int | None, failing: int | None) -> dict[str, object]:
        return {
            "latency": {"5": {"p50_ms": p50, "p99_ms": p99}},
            "search": {"highest_zero_loss": best, "lowest_failing": failing},
        }

    res = {
        "irc": system(0.5, 1.0, 10000, None),
        "bare": system(5.0, 10.0, 300, 600),
        "smallsocial": system(6.0, 20.0, 600, 1200),
    }
    r = bench_irc.ratios(res)
    assert r["vs_irc"]["5"] == {"p50": 12.0, "p99": 20.0}
    assert r["vs_bare"]["5"] == {"p50": 1.2, "p99": 2.0}
    assert r["vs_irc"]["throughput"] == 0.06 and r["vs_irc"]["throughput_baseline_is_lower_bound"]
    assert r["vs_bare"]["throughput"] == 2.0 and not r["vs_bare"]["throughput_baseline_is_lower_bound"]


def test_runner_without_ngircd_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_irc, "ngircd_path", lambda: None)
    assert bench_all.main(["--only", "side_by_side", "--out", str(tmp_path), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ngircd is not installed" in err and "apt-get install -y ngircd" in err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.timeout(150)
def test_tiny_run_writes_one_report_with_the_scaling_figures(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "bench"),
            "--tiny",
            "--only",
            "scale,tui,tokens",
            "--out",
            str(tmp_path / "out"),
            "--no-plots",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=145,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["benchmark"] == "all" and report["mode"] == "tiny"
    assert report["machine"]["cpu_count"] and report["elapsed_s"] > 0
    assert set(report["parts"]) == {"scale", "tui", "tokens"}

    scale = report["parts"]["scale"]
    assert scale["status"] == "ok", scale
    r = scale["result"]
    assert set(r["sizes"]) == {"2"}
    size = r["sizes"]["2"]
    assert size["latency"]["expected"] == size["latency"]["delivered"] > 0
    assert size["latency"]["lost"] == 0 and size["latency"]["duplicates"] == 0
    assert len(size["rss"]["per_member_mib"]) == 2
    assert set(r["circles"]) == {"2"}
    circles = r["circles"]["2"]
    assert circles["circles_in_mesh"] == 2
    assert circles["low_rate"]["lost"] == 0 and circles["low_rate"]["received"] == circles["low_rate"]["sent"]
    for key in ("cpu_pct", "rss"):
        assert key in circles["idle"] and key in circles["low_rate"]
    assert set(r["catchup"]) == {"200"}
    assert r["catchup"]["200"]["smallsocial"]["received"] == 200
    assert r["catchup"]["200"]["smallsocial"]["rss_restarted"]["rss_mib"] > 0  # started again on its store
    assert r["catchup"]["200"]["bare"]["received"] == 200
    cabal = r["catchup"]["200"]["cabal"]  # the baseline, measured in the same run
    assert set(cabal) == {"disk", "memory"}
    for c in cabal.values():
        assert (c.get("n") == 200 and c["replicated_s"] > 0) or "skipped" in c, c

    tokens = report["parts"]["tokens"]
    assert tokens["status"] == "ok" and tokens["result"]["longest"] == max(tokens["result"]["chars"].values())
    # issue 12's table: every measure has a row, each judged or saying it was not measured
    rows = {row["measure"]: row for row in report["issue12"]}
    token = rows["invitation token, longest case (chars)"]
    met = tokens["result"]["longest"] <= 600
    assert token["verdict"] == "met" if met else token["verdict"].startswith("MISS")
    assert rows["10 members @5 msg/s p50 / p99 ms"]["verdict"] == "not measured"  # no side-by-side part
    missed = {m for m, row in rows.items() if "MISS" in row["verdict"]}  # the relay: "met; MISS: 5 lost"
    assert {w["measure"] for w in report["issue12_why"]} == missed  # every miss says where it comes from
    for w in report["issue12_why"]:
        if "missed messages" in w["measure"] or w["measure"].startswith("relay"):
            assert "µs a record" in w["why"] or "idle cost" in w["why"], w  # from this run's figures

    tui = report["parts"]["tui"]
    if tui["status"] == "ok":  # skipped (with a reason) when the TUI tests' fake node is absent
        assert tui["result"]["messages"] == 200 and tui["result"]["live"]["messages"] == 20
        startup = tui["result"]["startup"]  # smallsocial spawned in a pty: its first frame, its node up
        (spawned,) = startup["checkouts"].values()
        for fig in ("first_paint", "node_up", "circles_shown", "history_shown"):
            assert spawned["tui_s"]["200"][fig]["median"] > 0, (fig, spawned)
        assert startup["bare_textual_first_paint_s"]["median"] > 0
        assert "spawn -> first paint" in proc.stdout
    else:
        assert tui["status"] == "skipped" and tui["reason"]

    # One table on stdout, with every part in it.
    assert "part" in proc.stdout and "catch-up of 200 missed" in proc.stdout
