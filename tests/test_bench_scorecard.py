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
    assert row[4] == "MISS: 1.04x the target; MISS: 32 lost"  # not "1.0x": two decimals
    light = _relay_run(1.7, 0, 0)
    light["results"]["setup"] = {"members_as": "light"}  # which members loaded it is in the row
    assert _relay(light)[2].endswith("0 lost (100 circles x 5 members at 200.0 msg/s, light members)")


def _step(
    rate: float, p99: float | None, ok: bool = True, lost: int = 0, cores: float = 1.9
) -> dict[str, Any]:
    cpu = {"sender_s": 0.3, "receivers_s": 3.7, "receiver_ms_per_delivery": 4.9, "cores": cores}
    return {
        "offered_rate": rate,
        "pass": ok,
        "lost": lost,
        "kept_up": True,
        "p99_ms": p99,
        "cpu": cpu,
        "transmissions_per_delivery": 4.1,
    }


def _search(*steps: dict[str, Any]) -> dict[str, Any]:
    zero = max((x["offered_rate"] for x in steps if x["pass"]), default=None)
    return {"step_s": 2.0, "highest_zero_loss": zero, "steps": list(steps)}


def _latency(p50: float, p99: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p99_ms": p99}


def _report(ours: tuple[float, float] = (12.0, 30.0), *steps: dict[str, Any]) -> dict[str, Any]:
    def system(lat: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
        return {"latency": lat, "search": search, "rss": {"mean_mib": 90.0}}

    # the search's order (up, then bisecting back), not sorted: 21 passed, 42 and 119 within the
    # loss rule but slow, 30 (tried last) lost one at a fast p99
    steps = steps or (
        _step(21, 29.7),
        _step(42, 149.0),
        _step(119, 1200.0),
        _step(30, 60.0, ok=False, lost=1),
    )
    ten = {
        "irc": system({"5": _latency(1.0, 2.0)}, _search(_step(20_000, 50), _step(40_000, 500, ok=False))),
        "bare": system({"5": _latency(40.0, 300.0)}, _search(_step(21, 3000), _step(15, None))),
        "smallsocial": system({"5": _latency(*ours)}, _search(*steps)),
    }
    ratios = {"vs_irc": {"5": {"p50": ours[0], "p99": ours[1] / 2}}}
    sbs = {"machine": {"cpu_count": 2}, "sizes": {"10": {"systems": ten, "ratios": ratios}}}
    return {"parts": {"side_by_side": {"status": "ok", "result": sbs}}}


RATE = "10 members, highest rate tried (msg/s) with 0 loss and p99 <= 100 ms"
LATENCY = "10 members @5 msg/s p50 / p99 ms"


def test_the_zero_loss_rate_counts_only_rates_within_the_p99_bound() -> None:
    sbs = _report()["parts"]["side_by_side"]["result"]
    row = _zero_loss(sbs)
    assert row[0] == RATE
    # bare's 15 has no p99 at all (nothing delivered): not within the bound
    assert row[1] == "irc 20,000 (0 loss alone 20,000); bare none of the rates tried (0 loss alone 21)"
    # 30 had a fast p99 but lost one; 119 lost nothing but took 1.2 s
    assert row[2] == "21 (next tried: 30, 1 lost); 0 loss alone 119"
    assert row[4] == "MISS: 0.04 of it"


def test_each_miss_says_where_it_comes_from_in_the_runs_figures() -> None:
    reasons = dict(why(_report()))
    assert set(reasons) == {LATENCY, RATE}
    latency = reasons[LATENCY]
    assert "is 40.0x / 150x IRC" in latency and "smallsocial 0.30x / 0.10x bare" in latency
    assert latency.endswith("in py-libp2p's per-message path, which bare pays as well")
    rate = reasons[RATE]
    assert rate.startswith(
        "at 30 msg/s, the next rate tried: 1 lost; the 10 member processes used 1.90 cores"
    )
    assert rate.endswith("nearly all busy")


def test_a_reason_claims_only_what_its_figures_show() -> None:
    slow_layer = dict(why(_report((80.0, 900.0))))[LATENCY]  # 2x bare: not py-libp2p's alone
    assert slow_layer.endswith("our layer adds to py-libp2p's path here")
    idle = _step(42, 149.0, cores=0.6)
    rate = dict(why(_report((12.0, 30.0), _step(21, 29.7), idle)))[RATE]
    assert rate.startswith("at 42 msg/s, the next rate tried: p99 149 ms; the 10 member processes used 0.60")
    assert "busy" not in rate  # 0.6 of 2 cores is not a full machine


def test_catch_up_startup_and_relay_misses_have_their_figures() -> None:
    catchup = {
        "10000": {
            "smallsocial": {
                "from_listening_s": 0.55,
                "first_commit_after_listening_s": 0.06,
                "startup_s": 0.7,
            },
            "bare": {"from_listening_s": 0.05, "startup_s": 0.69},
        }
    }
    relay = _relay_run(2.69, 32, 0)
    relay["machine"] = {"cpu_count": 2}
    relay["results"]["relay"].update(
        busy={"machine_busy_cores": 1.98, "members_cpu_cores": 1.59, "cpu_pct_one_core": 34.2},
        idle={"cpu_pct_one_core": 4.2},
        store_rate_per_s=107.0,
    )
    relay["results"]["setup"] = {"relay_peers": 200}
    parts = {"scale": {"catchup": catchup}, "relay": relay}
    reasons = dict(why({"parts": {k: {"status": "ok", "result": v} for k, v in parts.items()}}))
    assert reasons["10,000 missed messages, listening to all committed (s)"].startswith(
        "the member took 55.0 µs a record from listening (its first records committed 0.06 s after "
        "listening), the bare stream 5.00 µs a record"
    )
    assert reasons["node: spawn to listening (s)"].startswith("bare py-libp2p takes 0.69 s")
    relayed = reasons["relay CPU per relayed message (ms)"]
    assert relayed.startswith("the relay's idle cost (its 200 connected peers, 4.20% of a core) is 0.40 ms")
    assert "stored 107 records/s of the 200 sent" in relayed and relayed.endswith("stopped waiting")
    only_lost = _relay_run(1.9, 5, 0)  # the CPU meets the target, the loss does not: a miss all the same
    assert _relay(only_lost)[4] == "met; MISS: 5 lost"


def test_no_rate_within_the_bound_is_a_miss_that_says_so() -> None:
    sbs = _report((12.0, 30.0), _step(21, 150.0), _step(42, 900.0))["parts"]["side_by_side"]["result"]
    row = _zero_loss(sbs)
    assert row[2].startswith("none of the rates tried (next tried: 21, p99 150 ms)")
    assert row[4] == "MISS: no rate tried was within the bound"


def test_the_memory_miss_is_told_by_the_views_live_objects_against_the_rss() -> None:
    def size(rss: float, again: float, live: float, peak: float) -> dict[str, Any]:
        ours = {"rss": {"rss_mib": rss}, "rss_restarted": {"rss_mib": again}}
        ours["view_live"] = {"live_mib": live, "peak_mib": peak}
        return {"smallsocial": ours}

    scale = {"catchup": {"1000": size(97.0, 93.0, 0.1, 0.5), "100000": size(112.0, 104.0, 4.9, 40.0)}}
    reasons = dict(why({"parts": {"scale": {"status": "ok", "result": scale}}}))
    row = "RSS per stored record (member started on a store of 1,000 -> 100,000)"
    text = reasons[row]
    assert text.startswith("the circle's view holds 51 bytes a record in Python objects once built")
    assert "(tracemalloc, 0.10 -> 4.90 MiB)" in text and "peaks at 418 bytes a record" in text
    scale["catchup"]["1000"]["smallsocial"].pop("view_live")  # not measured: no reason made up
    reasons = dict(why({"parts": {"scale": {"status": "ok", "result": scale}}}))
    assert reasons["RSS per stored record (member started on a store of 1,000 -> 100,000)"].startswith(
        "no figure"
    )
