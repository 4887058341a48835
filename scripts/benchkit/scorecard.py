"""Issue 12's table, filled from one ``scripts/bench`` report: each row, its baselines and target.

:func:`rows` reads the parts' results (``report["parts"]``) and returns one row per
measure of the issue's table: what IRC, bare py-libp2p and cabal-core did in the same run
where they apply, what smallsocial did, the target, and whether it is met or by how much
it is missed. A measure whose part did not run says so instead of a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchkit.stats import fmt

Row = tuple[str, str, str, str, str]
"""(measure, baselines, smallsocial, target, verdict)."""


def _part(report: dict[str, Any], name: str) -> dict[str, Any] | None:
    p = report.get("parts", {}).get(name)
    return p.get("result") if p and p.get("status") == "ok" else None


def _verdict(value: float | None, target: float, *, at_most: bool = True, unit: str = "") -> str:
    if value is None:
        return "not measured"
    if (value <= target) if at_most else (value >= target):
        return "met"
    # two decimals: 1.14x bare against 1.1x is 1.04x the target, not "1.0x"
    return f"MISS: {value / target:.2f}x the target" if at_most else f"MISS: {value / target:.2f} of it{unit}"


def _latency(sbs: dict[str, Any] | None, n: str, rate: str, p50x: float, p99x: float) -> Row:
    what = f"{n} members @{rate} msg/s p50 / p99 ms"
    target = f"<= {p50x:g}x / <= {p99x:g}x IRC"
    if (
        sbs is None
        or n not in sbs["sizes"]
        or rate not in sbs["sizes"][n]["systems"]["smallsocial"]["latency"]
    ):
        return (what, "-", "not measured", target, "not measured")
    sy = sbs["sizes"][n]["systems"]
    lat = {s: sy[s]["latency"][rate] for s in ("irc", "bare", "smallsocial")}
    ours = lat["smallsocial"]
    r = sbs["sizes"][n]["ratios"]["vs_irc"][rate]
    base = "; ".join(f"{s} {fmt(lat[s]['p50_ms'])} / {fmt(lat[s]['p99_ms'])}" for s in ("irc", "bare"))
    tx = ours.get("transmissions_per_delivery")
    mine = f"{fmt(ours['p50_ms'])} / {fmt(ours['p99_ms'])} ({fmt(r['p50'])}x / {fmt(r['p99'])}x IRC"
    mine += f"; {fmt(tx)} transmissions a delivery)" if tx is not None else ")"
    ok = r["p50"] is not None and r["p99"] is not None and r["p50"] <= p50x and r["p99"] <= p99x
    miss = f"MISS: {fmt(r['p50'])}x / {fmt(r['p99'])}x against {p50x:g}x / {p99x:g}x"
    return (what, base, mine, target, "met" if ok else miss)


def _zero_loss(sbs: dict[str, Any] | None) -> Row:
    what = "10 members, highest 0-loss rate msg/s"
    target = ">= 500 live (p99 <= 100 ms)"
    x = sbs["sizes"].get("10") if sbs else None
    if x is None or "search" not in x["systems"]["smallsocial"]:
        return (what, "-", "not measured", target, "not measured (--no-search or no N = 10)")
    best = {s: x["systems"][s]["search"]["highest_zero_loss"] for s in ("irc", "bare", "smallsocial")}
    base = f"irc {fmt(best['irc'])}; bare {fmt(best['bare'])}"
    return (what, base, fmt(best["smallsocial"]), target, _verdict(best["smallsocial"], 500, at_most=False))


def _catchup(scale: dict[str, Any] | None, n: int, target: float) -> Row:
    what = f"{n:,} missed messages, listening to all committed (s)"
    x = (scale or {}).get("catchup", {}).get(str(n))
    if x is None:
        return (what, "-", "not measured", f"<= {target:g} s", "not measured")
    ours = x.get("smallsocial", {}).get("from_listening_s")
    base = [f"bare stream {fmt(x.get('bare', {}).get('from_listening_s'))}"]
    for storage, c in (x.get("cabal") or {}).items():
        if "replicated_s" in c:
            base.append(
                f"cabal-core {storage} {fmt(c['replicated_s'])} replicated, {fmt(c['indexed_s'])} indexed"
            )
        else:
            base.append(f"cabal-core {storage}: {c.get('skipped') or c.get('failed')}")
    return (what, "; ".join(base), fmt(ours), f"<= {target:g} s", _verdict(ours, target))


def _memory(sbs: dict[str, Any] | None, scale: dict[str, Any] | None) -> list[Row]:
    out: list[Row] = []
    five = (sbs or {}).get("sizes", {}).get("5")
    if five:
        systems = five["systems"]
        key = "rss_idle" if all("rss_idle" in systems[s] for s in ("smallsocial", "bare")) else "rss"
        ss, bare = (systems[s][key]["mean_mib"] for s in ("smallsocial", "bare"))
        after = [systems[s]["rss"]["mean_mib"] for s in ("smallsocial", "bare")]
        idle = key == "rss_idle"
        loaded = f"; {fmt(after[1])} after the load" if idle else ""
        mine = f"; {fmt(after[0])} after the load" if idle else ""
        what = f"RSS of a member node, {'idle' if idle else 'idle-ish'} (MiB)"
        out.append((what, f"bare {fmt(bare)}{loaded}; irc server "
                    f"{fmt(systems['irc'].get('server_rss', {}).get('rss_mib'))}",
                    f"{fmt(ss)} ({ss / bare:.2f}x bare){mine}", "<= 1.1x bare idle",
                    _verdict(ss / bare, 1.1)))  # fmt: skip
    cu = (scale or {}).get("catchup", {})
    sizes = sorted(
        int(n) for n, x in cu.items() if (x.get("smallsocial", {}).get("rss") or {}).get("rss_mib")
    )
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        rss = {n: cu[str(n)]["smallsocial"]["rss"]["rss_mib"] for n in (lo, hi)}
        per = (rss[hi] - rss[lo]) * 1024 * 1024 / (hi - lo)
        again = {n: (cu[str(n)]["smallsocial"].get("rss_restarted") or {}).get("rss_mib") for n in (lo, hi)}
        if again[lo] and again[hi]:  # the member started again on its store: what history holds
            held = (again[hi] - again[lo]) * 1024 * 1024 / (hi - lo)
            out.append((f"RSS per stored record (member started on a store of {lo:,} -> {hi:,})", "-",
                        f"{held:,.0f} bytes ({fmt(again[lo])} -> {fmt(again[hi])} MiB); right after "
                        f"catching up: {per:,.0f} bytes ({fmt(rss[lo])} -> {fmt(rss[hi])} MiB)",
                        "<= 100 bytes", _verdict(held, 100)))  # fmt: skip
        else:
            out.append((f"RSS per stored record (member after catching up {lo:,} -> {hi:,})", "-",
                        f"{per:,.0f} bytes ({fmt(rss[lo])} -> {fmt(rss[hi])} MiB)", "<= 100 bytes",
                        _verdict(per, 100)))  # fmt: skip
    return out


def _startup(scale: dict[str, Any] | None, tui: dict[str, Any] | None) -> list[Row]:
    out: list[Row] = []
    cu = (scale or {}).get("catchup", {})
    first = cu[min(cu, key=int)] if cu else None
    if first:
        ss, bare = first.get("smallsocial", {}).get("startup_s"), first.get("bare", {}).get("startup_s")
        out.append(
            ("node: spawn to listening (s)", f"bare {fmt(bare)}", fmt(ss), "<= 0.5 s", _verdict(ss, 0.5))
        )
    st = (tui or {}).get("startup") or {}
    checkout = next(iter((st.get("checkouts") or {}).values()), {})
    tui_s, headless = checkout.get("tui_s", {}), checkout.get("headless_listening_s", {})
    sizes = sorted(tui_s, key=int)
    paint = [(n, tui_s[n].get("first_paint", {}).get("median")) for n in sizes]
    base = (st.get("bare_textual_first_paint_s") or {}).get("median")
    worst = max((v for _, v in paint if v is not None), default=None)
    shown = "; ".join(f"{int(n):,} msgs {fmt(v)}" for n, v in paint) or "not measured"
    out.append(("TUI: spawn to first paint in a pty (s)", f"bare Textual app {fmt(base)}" if base else "-",
                shown, "<= 0.3 s", _verdict(worst, 0.3)))  # fmt: skip
    if headless and not first:
        v = (headless.get(sizes[0]) or {}).get("median") if sizes else None
        out.append(("node: spawn to listening (s)", "-", fmt(v), "<= 0.5 s", _verdict(v, 0.5)))
    return out


def _tokens(tok: dict[str, Any] | None) -> Row:
    if tok is None:
        return ("invitation token (chars)", "-", "not measured", "<= 600", "not measured")
    case = max(tok["chars"], key=lambda k: tok["chars"][k])
    return ("invitation token, longest case (chars)", "-", f"{tok['longest']:,} ({case})", "<= 600",
            _verdict(tok["longest"], 600))  # fmt: skip


def _relay(relay: dict[str, Any] | None) -> Row:
    what = "relay CPU per relayed message (ms)"
    r = (relay or {}).get("results", {}).get("relay")
    if r is None:
        return (what, "-", "not measured", "<= 2 ms", "not measured")
    plan = relay.get("plan", {}) if relay else {}
    shape = f"{plan.get('circles')} circles x {plan.get('members')} members at {plan.get('rate')} msg/s"
    v, above = r.get("cpu_ms_per_message"), r.get("cpu_ms_per_message_above_idle")
    drain = r.get("drain", {}).get("wall_s")
    loss = relay.get("results", {}).get("loss", {}) if relay else {}
    lost = None if "lost" not in loss else int(loss["lost"]) + int(loss.get("not_stored_by_relay", 0))
    got = f"{fmt(v)} ({fmt(above)} above idle; send phase + {fmt(drain)} s of drain)"
    got += f"; {fmt(lost)} lost ({shape})"
    losses = "not measured" if lost is None else "0 loss met" if lost == 0 else f"{lost} lost"
    return (what, "-", got, "<= 2 ms, 0 loss", f"{_verdict(v, 2.0)}; {losses}")


def rows(report: dict[str, Any]) -> list[Row]:
    get: Callable[[str], dict[str, Any] | None] = lambda name: _part(report, name)  # noqa: E731
    sbs, scale = get("side_by_side"), get("scale")
    return [
        _latency(sbs, "10", "5", 5, 10),
        _latency(sbs, "5", "50", 10, 20),
        _zero_loss(sbs),
        _catchup(scale, 10_000, 0.4),
        _catchup(scale, 100_000, 3.0),
        *_memory(sbs, scale),
        *_startup(scale, get("tui")),
        _tokens(get("tokens")),
        _relay(get("relay")),
    ]
