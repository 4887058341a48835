"""The scorecard's memory row (scripts/benchkit/scorecard.py): per stored record, from a member
started again on its store when the run has it (what the history holds), with the figure right
after the catch-up beside it (what the catch-up's buffers leave resident); else the latter alone.
The member node's RSS: idle (started, connected, warmed up) against bare py-libp2p idle, as
the issue's target reads, with both after the load beside it; an older run without idle
figures keeps its single figure. The relay's row: its CPU per message over the send phase and
the drain, and the loss (the issue's target is both), with a miss by two decimals. The 0-loss
rate counts only rates whose p99 is within 100 ms, as the issue's row reads. Each miss says
where it comes from, in the run's own figures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from benchkit.scorecard import _memory, _relay, _zero_loss, why

pytestmark = pytest.mark.timeout(30)


def _scale(restarted: bool) -> dict[str, Any]:
    def one(after: float, again: float) -> dict[str, Any]:
        ss: dict[str, Any] = {"rss": {"rss_mib": after}}
        if restarted:
            ss["rss_restarted"] = {"rss_mib": again}
        return {"smallsocial": ss}

    return {"catchup": {"1000": one(97.2, 95.4), "100000": one(113.6, 104.4)}}


def test_the_row_counts_what_a_restarted_member_holds_and_shows_the_catch_up_beside_it() -> None:
    [row] = _memory(None, _scale(restarted=True))
    assert "started on a store of 1,000 -> 100,000" in row[0]
    assert row[2].startswith("95 bytes") and "right after catching up: 174 bytes" in row[2]
    assert row[4] == "met"


def test_without_a_restart_the_row_is_the_catch_up_figure() -> None:
    [row] = _memory(None, _scale(restarted=False))
    assert "after catching up" in row[0] and row[2].startswith("174 bytes")
    assert row[4].startswith("MISS")


def _side_by_side(idle: bool) -> dict[str, Any]:
    def system(after: float, before: float) -> dict[str, Any]:
        one: dict[str, Any] = {"rss": {"mean_mib": after}}
        if idle:
            one["rss_idle"] = {"mean_mib": before}
        return one

    five = {"smallsocial": system(101.0, 94.0), "bare": system(88.7, 87.0), "irc": {}}
    return {"sizes": {"5": {"systems": five}}}


def test_the_node_rss_row_compares_idle_with_idle_and_shows_both_after_the_load() -> None:
    [row] = _memory(_side_by_side(idle=True), None)
    assert row[0] == "RSS of a member node, idle (MiB)"
    assert row[1].startswith("bare 87.0; 88.7 after the load")
    assert row[2] == "94.0 (1.08x bare); 101 after the load"
    assert row[3] == "<= 1.1x bare idle" and row[4] == "met"
    [row] = _memory(_side_by_side(idle=False), None)
    assert row[0] == "RSS of a member node, idle-ish (MiB)" and row[2] == "101 (1.14x bare)"
    assert row[4] == "MISS: 1.04x the target"


def _relay_run(cpu: float, lost: int, not_stored: int) -> dict[str, Any]:
    relay = {"cpu_ms_per_message": cpu, "cpu_ms_per_message_above_idle": cpu - 0.4, "drain": {"wall_s": 3.1}}
    return {
        "plan": {"circles": 100, "members": 5, "rate": 200.0},
        "results": {"relay": relay, "loss": {"lost": lost, "not_stored_by_relay": not_stored}},
    }


def test_the_relay_row_reports_the_drain_and_the_loss_beside_the_cpu() -> None:
    row = _relay(_relay_run(1.9, 0, 0))
    assert row[2].startswith("1.90 (1.50 above idle; send phase + 3.10 s of drain); 0 lost")
    assert row[3] == "<= 2 ms, 0 loss" and row[4] == "met; 0 loss met"
    row = _relay(_relay_run(2.08, 30, 2))
    assert row[4] == "MISS: 1.04x the target; 32 lost"  # not "1.0x": two decimals


def _step(rate: float, p99: float, ok: bool = True) -> dict[str, Any]:
    cpu = {"sender_s": 0.3, "receivers_s": 3.7, "receiver_ms_per_delivery": 4.9}
    return {"offered_rate": rate, "pass": ok, "p99_ms": p99, "cpu": cpu, "transmissions_per_delivery": 4.1}


def _search(*steps: dict[str, Any]) -> dict[str, Any]:
    zero = max((x["offered_rate"] for x in steps if x["pass"]), default=None)
    return {"step_s": 2.0, "highest_zero_loss": zero, "steps": list(steps)}


def _latency(p50: float, p99: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p99_ms": p99}


def _report() -> dict[str, Any]:
    def system(lat: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
        return {"latency": lat, "search": search, "rss": {"mean_mib": 90.0}}

    ten = {
        "irc": system({"5": _latency(1.0, 2.0)}, _search(_step(20_000, 50), _step(40_000, 500, ok=False))),
        "bare": system({"5": _latency(40.0, 300.0)}, _search(_step(21, 3000))),
        "smallsocial": system(
            {"5": _latency(12.0, 30.0)}, _search(_step(21, 29.7), _step(42, 149.0), _step(119, 1200.0))
        ),
    }
    ratios = {"vs_irc": {"5": {"p50": 12.0, "p99": 15.0}}}
    sbs = {"machine": {"cpu_count": 2}, "sizes": {"10": {"systems": ten, "ratios": ratios}}}
    return {"parts": {"side_by_side": {"status": "ok", "result": sbs}}}


def test_the_zero_loss_rate_counts_only_rates_within_the_p99_bound() -> None:
    sbs = _report()["parts"]["side_by_side"]["result"]
    row = _zero_loss(sbs)
    assert "p99 <= 100 ms" in row[0]
    assert row[1] == "irc 20,000 (0 loss alone 20,000); bare none of the rates tried (0 loss alone 21)"
    assert row[2] == "21 (42: p99 149 ms); 0 loss alone 119"  # 119 lost nothing but took 1.2 s
    assert row[4] == "MISS: 0.04 of it"


def test_each_miss_says_where_it_comes_from_in_the_runs_figures() -> None:
    reasons = dict(why(_report()))
    assert set(reasons) == {
        "10 members @5 msg/s p50 / p99 ms",
        "10 members, highest rate msg/s with 0 loss and p99 <= 100 ms",
    }
    latency = reasons["10 members @5 msg/s p50 / p99 ms"]
    assert "is 40.0x / 150x IRC" in latency and "smallsocial 0.30x / 0.10x bare" in latency
    rate = reasons["10 members, highest rate msg/s with 0 loss and p99 <= 100 ms"]
    assert rate.startswith("at 42 msg/s the 10 member processes used 2.00 cores of the machine's 2")
    assert "p99 rose to 149 ms" in rate
