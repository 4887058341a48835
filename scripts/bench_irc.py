#!/usr/bin/env python3
"""Side by side: smallsocial against bare py-libp2p gossipsub and against IRC (ngircd), in one run.

IRC is what terminal users use today for group chat, so it is the floor a user
compares us with: Debian's ``ngircd`` (a small, single-process C server) is
started by this script on 127.0.0.1, on a free port, with a temporary config
(no MOTD file, no DNS or ident lookups, no PAM, flood protection off with
``MaxPenaltyTime = 0`` so a client is not throttled to about a line a second,
``MaxConnectionsIP = 0`` so many clients may come from one address). Each IRC
member is a process with a plain socket (NICK/USER, JOIN, PRIVMSG), one channel.

For each circle size N (``--members``; 2 in ``--quick``, 2, 5 and 10 in a full run: issue 12 asks for 10)
three clusters of N processes are up at once, each built by
``benchkit``'s node-benchmark machinery: **irc** (this file's worker),
**bare** (py-libp2p gossipsub with our settings: no signing, encryption or
store of ours) and **smallsocial** (member nodes). The same 400-byte messages
with a JSON header holding a ``time.time()`` send stamp, one sender (member 0),
the same paced rates; latency rounds alternate between the three systems so the
machine's load hits all three. Then each system's highest 0-loss rate (one
sender) is searched the way bench_node does it.

Reported: p50 and p99 latency per system and rate, the highest 0-loss rate, and
**smallsocial's ratios to both baselines** (p50, p99, throughput). The IRC
latency is a plain socket read at the receiver; smallsocial's is the
``MessageReceived`` event, after the record is committed in the receiver's store.

Usage: scripts/bench_irc.py [--quick] [--members N[,N...]] [--json PATH] [--keep]

Past 400 lines: the IRC server, its client worker and the three-way comparison are one
baseline, read together; the shared machinery is ``benchkit``'s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchkit  # noqa: E402  (scripts/benchkit/, beside this file)
from benchkit import (  # noqa: E402
    Receipts,
    Worker,
    fmt,
    latency_cell,
    parse_sizes,
    payload,
    print_rows,
    proc_cpu,
    rss_of,
    times,
)
from benchkit.cluster import FULL as NODE_FULL  # noqa: E402
from benchkit.cluster import QUICK as NODE_QUICK  # noqa: E402
from benchkit.cluster import Cluster, Plan, compare  # noqa: E402
from benchkit.nodes import BARE, SS  # noqa: E402
from benchkit.wire import out, reply, sent_done  # noqa: E402

SCRIPT = Path(__file__).resolve()
ROOT = HERE.parent
DEFAULT_JSON = "bench-results/bench_irc.json"
IRC = "irc"
SYSTEMS = (IRC, BARE, SS)
LABEL = {IRC: "IRC (ngircd)", BARE: "bare gossipsub", SS: "smallsocial"}
NGIRCD_MISSING = (
    "ngircd is not installed (the IRC baseline needs it): install it with "
    "`sudo apt-get install -y ngircd` and run again."
)
# Where each system's 0-loss search starts (IRC: LIBP2P.md measured 20,000-30,000 msg/s).
SEARCH_START = {IRC: 5000}

# bench_node's plans, with what differs for three systems (and no catch-up: bench_node measures it).
QUICK = dataclasses.replace(NODE_QUICK, latency=((5.0, 15), (50.0, 75)), max_steps=3, catchup=0)
FULL = dataclasses.replace(
    NODE_FULL,
    sizes=(2, 5, 10),
    latency=((5.0, 40), (50.0, 150)),
    step_s=2.0,
    max_steps=5,
    bisect=1,
    catchup=0,
)


# =========================================================================== ngircd


def ngircd_path() -> str | None:
    return shutil.which("ngircd") or next(
        (p for p in ("/usr/sbin/ngircd", "/usr/local/sbin/ngircd") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """\
[Global]
Name = bench.localhost
Info = smallsocial benchmark baseline
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench
PidFile = {dir}/ngircd.pid
HelpFile = {dir}/none
{uid}
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
IdleTimeout = 0
[Options]
DNS = no
Ident = no
PAM = no
MorePrivacy = no
NoticeBeforeRegistration = no
"""


class IrcServer:
    """ngircd on 127.0.0.1 and a free port, with a temporary config; ``stop()`` (or leaving a
    ``with`` block) ends it."""

    def __init__(self, work: Path) -> None:
        exe = ngircd_path()
        if exe is None:
            raise SystemExit(NGIRCD_MISSING)
        self.dir = work / "ngircd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        uid = "ServerUID = 0\nServerGID = 0" if os.geteuid() == 0 else ""
        conf = self.dir / "ngircd.conf"
        conf.write_text(CONFIG.format(port=self.port, dir=self.dir, uid=uid))
        self.log = self.dir / "ngircd.log"
        t0 = time.perf_counter()
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [exe, "--nodaemon", "--config", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"ngircd did not start on 127.0.0.1:{self.port}:\n{self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.02)
        self.start_s = round(time.perf_counter() - t0, 3)
        try:
            self.version = subprocess.run(
                [exe, "--version"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            self.version = "ngircd"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> IrcServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# =========================================================================== the IRC client worker


def worker_irc(cfg: dict[str, Any]) -> None:
    """A minimal IRC client: register, join one channel, send paced PRIVMSGs, stamp what arrives.

    Commands on stdin, JSON lines on stdout, the same as bench_node's workers
    (``connect``, ``mesh``, ``send``, ``count``, ``report``, ``quit``), so its
    ``Cluster`` machinery runs IRC members unchanged.
    """
    out({"ev": "boot", "t": time.time()})
    host, port = cfg["server"].rsplit(":", 1)
    nick, chan = cfg["nick"], cfg["channel"]
    receipts = Receipts()
    send_lock = threading.Lock()
    cond = threading.Condition()
    members: set[str] = set()
    state: dict[str, Any] = {"welcomed": False, "joined": False, "error": None}
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)

    def send_line(line: str) -> None:
        with send_lock:
            sock.sendall(line.encode() + b"\r\n")

    def handle(raw: bytes, t: float) -> None:
        if raw.startswith(b"PING"):
            send_line("PONG" + raw[4:].decode(errors="replace"))
            return
        prefix, _, rest = raw.partition(b" ") if raw.startswith(b":") else (b"", b"", raw)
        cmd, _, params = rest.partition(b" ")
        who = prefix[1:].split(b"!", 1)[0].decode(errors="replace")
        if cmd == b"PRIVMSG":
            i = params.find(b" :")
            if i >= 0:
                receipts.add(params[i + 2 :].decode(errors="replace"), t)
            return
        with cond:
            if cmd == b"001":
                state["welcomed"] = True
            elif cmd == b"353":  # RPL_NAMREPLY: "me = #chan :a @b c"
                names = params.split(b" :", 1)[-1].decode(errors="replace").split()
                members.update(n.lstrip("@+%&~") for n in names)
            elif cmd == b"366":
                state["joined"] = True
            elif cmd == b"JOIN":
                members.add(who)
            elif cmd in (b"PART", b"QUIT"):
                members.discard(who)
            elif cmd in (b"432", b"433", b"465", b"ERROR"):
                state["error"] = raw.decode(errors="replace")
            cond.notify_all()

    def reader() -> None:
        buf = b""
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except OSError:
                break
            if not chunk:
                break
            t = time.time()  # when the bytes reached this client
            buf += chunk
            *lines, buf = buf.split(b"\r\n")
            for raw in lines:
                handle(raw, t)
        with cond:
            state["error"] = state["error"] or "connection closed"
            cond.notify_all()

    def wait(key: str, timeout: float) -> bool:
        with cond:
            return cond.wait_for(lambda: state[key] or state["error"], timeout) and not state["error"]

    def publish(phase: str, n: int, rate: float) -> None:
        start = time.monotonic()
        deadline = start + (2 * n / rate + 3 if rate > 0 else 120)
        first: float | None = None
        sent = 0
        for i in range(n):
            if rate > 0:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if time.monotonic() > deadline:
                break
            ts = time.time()
            first = ts if first is None else first
            send_line(f"PRIVMSG {chan} :{payload(phase, i, ts)}")
            sent += 1
        sent_done(phase, n, sent, first)

    threading.Thread(target=reader, name="irc-reader", daemon=True).start()
    out({"ev": "ready", "addr": cfg["server"], "t": time.time()})
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "connect":  # register and join; timed as one connect
                t0 = time.perf_counter()
                send_line(f"NICK {nick}")
                send_line(f"USER {nick} 0 * :{nick}")
                ok = wait("welcomed", 20)
                if ok:
                    send_line(f"JOIN {chan}")
                    ok = wait("joined", 20)
                ms = round((time.perf_counter() - t0) * 1000, 3)
                reply(cmd, ms=[ms] if ok else [], failed=0 if ok else 1, error=state["error"])
            elif op == "mesh":  # everyone in the channel
                t0 = time.perf_counter()
                want = int(cmd["n"])
                with cond:
                    cond.wait_for(lambda: len(members - {nick}) >= want, float(cmd.get("timeout", 20)))  # noqa: B023
                    size = len(members - {nick})
                reply(cmd, size=size, waited_s=round(time.perf_counter() - t0, 3))
            elif op == "send":
                threading.Thread(
                    target=publish, args=(cmd["p"], int(cmd["n"]), float(cmd["rate"])), daemon=True
                ).start()
            elif op == "count":
                n, last = receipts.count(cmd["p"])
                reply(cmd, n=n, last=last)
            elif op == "report":
                recv, dups = receipts.report(cmd["p"])
                reply(cmd, recv=recv, dups=dups, counters={})
            elif op in ("quit", "stop"):
                break
    finally:
        t0 = time.monotonic()
        with contextlib.suppress(OSError):
            send_line("QUIT :bye")
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        out({"ev": "exit", "stopped": True, "stop_s": round(time.monotonic() - t0, 3), "t": time.time()})


class IrcCluster(Cluster):
    """N IRC clients in one channel of a running ngircd; member 0 sends, the others receive."""

    def __init__(self, n: int, work: Path, plan: Plan, server: IrcServer) -> None:
        self.server = server
        super().__init__(IRC, n, work, plan)

    def make_workers(self, profile: Path | None) -> list[Worker]:
        cfg = {"server": self.server.addr, "channel": f"#bench{self.n}"}
        return [
            Worker.script(SCRIPT, "irc", {**cfg, "nick": f"b{self.n}m{k}"}, self.logs, f"m{k}")
            for k in range(self.n)
        ]

    def dial(self) -> tuple[list[float], int, int]:
        """Every client registers and joins the channel, one at a time."""
        ms: list[float] = []
        failed = 0
        for w in self.workers:
            r = w.request({"op": "connect"}, 60)
            ms += r["ms"]
            failed += int(r.get("failed", 0))
            if r.get("error"):
                raise RuntimeError(f"IRC client {w.name}: {r['error']}")
        return ms, failed, 0

    def phase(self, name: str, n: int, rate: float) -> dict[str, Any]:
        c0 = proc_cpu(self.server.pid)
        raw = super().phase(name, n, rate)
        raw["cpu_server_s"] = proc_cpu(self.server.pid) - c0
        return raw

    def rss(self) -> dict[str, Any]:
        self.server_rss = rss_of(self.server.pid)  # with its clients still in the channel
        return super().rss()


# =========================================================================== the comparison


def make_cluster(system: str, n: int, work: Path, plan: Plan, server: IrcServer | None) -> Cluster:
    if system == IRC:
        assert server is not None
        return IrcCluster(n, work, plan, server)
    return Cluster(system, n, work, plan)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def compare_size(
    n: int, plan: Plan, work: Path, server: IrcServer, log: Callable[[str], None], search: bool = True
) -> dict[str, Any]:
    """The three systems for one circle size, all up at once, latency rounds rotating between them."""
    t0 = time.perf_counter()
    res, clusters = compare(
        SYSTEMS,
        lambda system: make_cluster(system, n, work, plan, server),
        n,
        plan,
        log,
        label=LABEL.__getitem__,
        pauses=(0.5, 0.3),
        search_from=SEARCH_START,
        do_search=search,
    )
    res[IRC]["server_rss"] = getattr(clusters[IRC], "server_rss", None)
    out: dict[str, Any] = {"members": n, "systems": res, "elapsed_s": round(time.perf_counter() - t0, 1)}
    out["ratios"] = ratios(res)
    return out


def ratios(res: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """smallsocial / baseline for p50, p99 (per rate) and for the highest 0-loss rate."""
    s = res[SS]
    out: dict[str, Any] = {}
    for base in (IRC, BARE):
        b = res[base]
        r: dict[str, Any] = {}
        for rate, x in s["latency"].items():
            y = b["latency"][rate]
            r[rate] = {"p50": ratio(x["p50_ms"], y["p50_ms"]), "p99": ratio(x["p99_ms"], y["p99_ms"])}
        if "search" in s and "search" in b:
            r["throughput"] = ratio(s["search"]["highest_zero_loss"], b["search"]["highest_zero_loss"])
            r["throughput_baseline_is_lower_bound"] = b["search"]["lowest_failing"] is None
            r["throughput_is_lower_bound"] = s["search"]["lowest_failing"] is None
        out[f"vs_{base}"] = r
    return out


def table_rows(sizes: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key, cmp_ in sizes.items():
        res = cmp_["systems"]
        rates = list(res[SS]["latency"])
        for system in SYSTEMS:
            x = res[system]
            row: tuple[str, ...] = (key if system == IRC else "", LABEL[system])
            row += tuple(latency_cell(x["latency"][r]) for r in rates)
            if "search" in x:
                best, low = x["search"]["highest_zero_loss"], x["search"]["lowest_failing"]
                row += (f"{'>= ' if low is None and best else ''}{fmt(best) if best else '< ' + fmt(low)}",)
            else:
                row += ("-",)
            row += (f"{fmt((x.get('rss_idle') or {}).get('mean_mib'))} / {fmt(x['rss']['mean_mib'])}",)
            lat = [x["latency"][r] for r in rates]
            tx = 1.0 if system == IRC else None  # the server sends each client each message once
            row += (" / ".join(fmt(a["cpu"]["receiver_ms_per_delivery"]) for a in lat),)
            row += (" / ".join(fmt(a.get("transmissions_per_delivery", tx)) for a in lat),)
            rows.append(row)
        rt = cmp_["ratios"]
        for base in (IRC, BARE):
            r = rt[f"vs_{base}"]
            row = ("", f"ratio ours / {base}")
            for rate in rates:
                row += (f"{times(r[rate]['p50'])} / {times(r[rate]['p99'])}",)
            row += (times(r.get("throughput")), "", "", "")
            rows.append(row)
    return rows


def print_table(sizes: dict[str, dict[str, Any]]) -> None:
    if not sizes:
        return
    rates = list(next(iter(sizes.values()))["systems"][SS]["latency"])
    each = " / ".join(rates)
    head = ("N", "system", *(f"{r} msg/s p50 / p99 ms" for r in rates), "0-loss msg/s",
            "RSS MiB idle / after", f"CPU ms per delivery ({each} msg/s)",
            "transmissions per delivery")  # fmt: skip
    print_rows(head, table_rows(sizes), left=2)


def run(plan: Plan, log: Callable[[str], None], keep: bool = False, search: bool = True) -> dict[str, Any]:
    """The whole comparison; raises SystemExit with one sentence when ngircd is missing (IrcServer)."""
    sizes: dict[str, Any] = {}
    with benchkit.workdir("bench_irc_", keep, log) as work, IrcServer(work) as server:
        log(f"{server.version}: listening on {server.addr} after {server.start_s} s")
        info = {"version": server.version, "start_s": server.start_s}
        for n in plan.sizes:
            log(f"N = {n}: IRC, bare gossipsub and smallsocial, {n} processes each ...")
            sizes[str(n)] = compare_size(n, plan, work, server, log, search)
    return {
        "ngircd": info,
        "plan": dataclasses.asdict(plan),
        "payload_bytes": benchkit.PAYLOAD_BYTES,
        "sender": "one sender (member 0); the N-1 others receive",
        "latency_stamp": {
            IRC: "the socket read at the receiving IRC client",
            BARE: "the subscription read at the receiver",
            SS: "MessageReceived at the receiver, emitted after the record is committed in its store",
        },
        "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        if argv[1] != "irc":
            raise SystemExit(f"unknown worker role {argv[1]!r}")
        worker_irc(json.loads(argv[2]))
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 members, short phases, a 2-step search")
    ap.add_argument("--members", type=parse_sizes, metavar="N[,N...]", help="sizes (2 / 2,5,10)")
    ap.add_argument("--no-search", action="store_true", help="latency only, no 0-loss search")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="PATH", help=f"results file ({DEFAULT_JSON})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary config, logs and profiles")
    args = ap.parse_args(argv)
    plan = benchkit.override(QUICK if args.quick else FULL, sizes=args.members)
    started = time.perf_counter()
    machine = benchkit.machine_info(libp2p=True)
    try:
        result = run(plan, lambda s: print(s, flush=True), args.keep, not args.no_search)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    print()
    print_table(result["sizes"])
    benchkit.finish(args.json, "irc", "quick" if args.quick else "full", machine, started, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
