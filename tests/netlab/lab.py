"""A small internet in Linux network namespaces, built and removed by the tests (and scripts/netlab).

Hosts, each its own namespace named ``PREFIX + name``::

    relay  198.51.100.10   on the "internet" (an always-on box)
    pub    198.51.100.11   on the internet (a friend with a public server)
    alice  10.1.0.2        home A, behind router rtrA (public 198.51.100.21)
    carol  10.1.0.3        home A, on alice's LAN
    bob    10.2.0.2        home B, behind router rtrB (public 198.51.100.22)

A bridge in the ``wan`` namespace joins relay, pub and the routers' WAN sides.
Each router masquerades with nftables like a home router: connections from its
LAN go out, unsolicited ones from outside do not come in (forward policy drop,
established/related accepted), and new connections to the router itself from the
WAN are dropped silently (not refused), as home routers do. Home A's LAN is a bridge in rtrA's namespace.
198.51.100.0/24 is a documentation range and 10.x is private: inside these
namespaces they belong to the lab alone, and no namespace has a route out of it.

Needs root (CAP_NET_ADMIN), iproute2 and nftables; :func:`why_not` says why a
machine cannot build it (the tests skip with that reason).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

ADDR = {
    "relay": "198.51.100.10",
    "pub": "198.51.100.11",
    "alice": "10.1.0.2",
    "carol": "10.1.0.3",
    "bob": "10.2.0.2",
    "rtrA": "198.51.100.21",
    "rtrB": "198.51.100.22",
}
HOSTS = ("relay", "pub", "alice", "carol", "bob")
ROUTERS = ("rtrA", "rtrB")
NAMESPACES = ("wan", *ROUTERS, *HOSTS)

ROUTER_RULES = """
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
table ip filter {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan0" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    iifname "lan0" accept
    ct state established,related accept
  }
}
"""


UPNP_WAN = "100.128.0"
"""A second WAN subnet for the UPnP test (miniupnpd refuses documentation ranges)."""
UPNP_RULES = """
table inet upnp {
  chain forward { type filter hook forward priority -1; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump postrouting_miniupnpd; }
  chain postrouting_miniupnpd { }
}
"""
UPNP_CONF = """ext_ifname=wan0
ext_ip={ext_ip}
listening_ip=lan0
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
upnp_table_name=upnp
upnp_nat_table_name=upnp
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 {lan} 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
"""


def _run(args: Sequence[str], stdin: str | None = None) -> str:
    p = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {p.stderr.strip() or p.returncode}")
    return p.stdout


def why_not() -> str | None:
    """None when this machine can build the lab, else the reason it cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the network lab needs root (network namespaces, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the network lab needs `{tool}` (apt-get install iproute2 nftables)"
    probe = f"sscheck{os.getpid()}"
    try:
        _run(["ip", "netns", "add", probe])
    except (RuntimeError, OSError) as e:
        return f"cannot create a network namespace here: {e}"
    try:
        _run(["ip", "netns", "exec", probe, "nft", "list", "ruleset"])
    except (RuntimeError, OSError) as e:
        return f"nftables does not work in a network namespace here: {e}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Lab:
    """The namespaces of one lab; ``prefix`` keeps labs apart (interface names stay under 16 chars)."""

    def __init__(self, prefix: str = "nl-") -> None:
        assert len(prefix) <= 6, "interface names are at most 15 characters"
        self.prefix = prefix

    def ns(self, name: str) -> str:
        return self.prefix + name

    def cmd(self, name: str, *args: str) -> list[str]:
        """``ip netns exec NS ARGS``: ``ip`` execs ARGS, so a Popen's pid is the program's own."""
        return ["ip", "netns", "exec", self.ns(name), *args]

    def sh(self, name: str, *args: str, stdin: str | None = None) -> str:
        return _run(self.cmd(name, *args), stdin)

    def _link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        pa, pb = self.prefix + a_if, self.prefix + b_if
        _run(["ip", "link", "add", pa, "type", "veth", "peer", "name", pb])
        _run(["ip", "link", "set", pa, "netns", self.ns(a)])
        _run(["ip", "link", "set", pb, "netns", self.ns(b)])
        self.sh(a, "ip", "link", "set", pa, "name", a_if)
        self.sh(b, "ip", "link", "set", pb, "name", b_if)
        self.sh(a, "ip", "link", "set", a_if, "up")
        self.sh(b, "ip", "link", "set", b_if, "up")

    def _router(self, name: str, wan: str, lan: str) -> None:
        self.sh(name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.sh(name, "ip", "addr", "add", wan, "dev", "wan0")
        self.sh(name, "ip", "addr", "add", lan, "dev", "lan0")
        self.sh(name, "nft", "-f", "-", stdin=ROUTER_RULES)

    def _host(self, name: str, iface: str, addr: str, gateway: str | None) -> None:
        self.sh(name, "ip", "addr", "add", addr, "dev", iface)
        if gateway:
            self.sh(name, "ip", "route", "add", "default", "via", gateway)

    def up(self) -> None:
        """Build the lab (an old one with the same prefix is removed first)."""
        self.down()
        try:
            for n in NAMESPACES:
                _run(["ip", "netns", "add", self.ns(n)])
                self.sh(n, "ip", "link", "set", "lo", "up")
            self.sh("wan", "ip", "link", "add", "br0", "type", "bridge")
            self.sh("wan", "ip", "link", "set", "br0", "up")
            for n in ("relay", "pub", *ROUTERS):
                self._link("wan", f"w-{n}", n, "wan0" if n in ROUTERS else "eth0")
                self.sh("wan", "ip", "link", "set", f"w-{n}", "master", "br0")
            self._host("relay", "eth0", "198.51.100.10/24", None)
            self._host("pub", "eth0", "198.51.100.11/24", None)
            self.sh("rtrA", "ip", "link", "add", "lan0", "type", "bridge")
            self.sh("rtrA", "ip", "link", "set", "lan0", "up")
            for n in ("alice", "carol"):
                self._link("rtrA", f"l-{n}", n, "eth0")
                self.sh("rtrA", "ip", "link", "set", f"l-{n}", "master", "lan0")
            self._link("rtrB", "lan0", "bob", "eth0")
            self._router("rtrA", "198.51.100.21/24", "10.1.0.1/24")
            self._router("rtrB", "198.51.100.22/24", "10.2.0.1/24")
            self._host("alice", "eth0", "10.1.0.2/24", "10.1.0.1")
            self._host("carol", "eth0", "10.1.0.3/24", "10.1.0.1")
            self._host("bob", "eth0", "10.2.0.2/24", "10.2.0.1")
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        for n in NAMESPACES:
            subprocess.run(["ip", "netns", "del", self.ns(n)], capture_output=True)

    def exists(self) -> bool:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return any(line.split()[0] == self.ns("wan") for line in out.splitlines() if line.strip())

    def move(self, name: str, old: str, new: str, iface: str = "eth0") -> None:
        """Give host ``name`` a new address (``10.1.0.12/24``) in place of ``old``, keeping its route."""
        gw = self.sh(name, "ip", "route", "show", "default").split()
        self.sh(name, "ip", "addr", "del", old, "dev", iface)  # takes the default route with it
        self.sh(name, "ip", "addr", "add", new, "dev", iface)
        if len(gw) > 2:
            self.sh(name, "ip", "route", "replace", "default", "via", gw[2])

    def upnp(self, router: str, workdir: Path) -> subprocess.Popen[bytes]:
        """Start a UPnP IGD (and NAT-PMP) on ``router``: Debian's ``miniupnpd-nftables``.

        miniupnpd refuses to map ports behind a reserved external address, and every
        lab address is in a documentation range; so both routers get a second WAN
        address in a range it accepts (:data:`UPNP_WAN`), used by nothing outside the
        lab (no namespace has a route out). The caller stops the returned process.
        """
        n = {"rtrA": 21, "rtrB": 22}[router]
        for r, m in (("rtrA", 21), ("rtrB", 22)):
            self.sh(r, "ip", "addr", "add", f"{UPNP_WAN}.{m}/24", "dev", "wan0")
        self.sh(router, "nft", "-f", "-", stdin=UPNP_RULES)
        self.sh(router, "nft", "insert", "rule", "ip", "filter", "forward", "ct", "status", "dnat", "accept")
        lan = {"rtrA": "10.1.0.0/24", "rtrB": "10.2.0.0/24"}[router]
        conf = workdir / f"miniupnpd-{router}.conf"
        conf.write_text(UPNP_CONF.format(ext_ip=f"{UPNP_WAN}.{n}", lan=lan))
        with open(workdir / f"miniupnpd-{router}.log", "wb") as log:  # the child keeps its own copy
            return subprocess.Popen(
                self.cmd(router, "miniupnpd", "-d", "-f", str(conf), "-P", str(workdir / f"{router}.pid")),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def conntrack(self, router: str) -> str:
        """The flows a router is tracking (``conntrack -L``), as text."""
        return subprocess.run(
            self.cmd(router, "conntrack", "-L"), capture_output=True, text=True, timeout=30
        ).stdout


def main(argv: Sequence[str]) -> int:
    """``scripts/netlab up|down|check|exec NAME CMD…|ip NAME`` (prefix from ``$NETLAB_PREFIX``)."""
    lab = Lab(os.environ.get("NETLAB_PREFIX", "nl-"))
    verb = argv[0] if argv else ""
    if verb == "up":
        reason = why_not()
        if reason:
            print(f"netlab: {reason}")
            return 1
        lab.up()
        print(
            f"netlab up ({lab.prefix}*): relay 198.51.100.10, pub 198.51.100.11, "
            "alice 10.1.0.2 + carol 10.1.0.3 (NAT 198.51.100.21), bob 10.2.0.2 (NAT 198.51.100.22)"
        )
        return 0
    if verb == "down":
        lab.down()
        return 0
    if verb == "check":
        reason = why_not()
        print(reason or "ok")
        return 1 if reason else 0
    if verb == "ip" and len(argv) == 2 and argv[1] in ADDR:
        print(ADDR[argv[1]])
        return 0
    if verb == "exec" and len(argv) > 2:
        os.execvp("ip", lab.cmd(argv[1], *argv[2:]))
    print(__doc__)
    print("usage: netlab up | down | check | ip NAME | exec NAME CMD [ARG…]")
    return 2
