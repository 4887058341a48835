"""Where a node listens and which addresses it gives friends.

``SMALLSOCIAL_DISCOVERY=off`` keeps a node on 127.0.0.1: it listens there by
default and nothing else that leaves loopback starts (LAN discovery, UPnP port
mapping, circuit relay). The test suite, CI, the demo and the benchmarks set it;
users normally do not.

With discovery on (the default), a member node listens on every interface
(``/ip4/0.0.0.0`` and ``/ip6/::`` when the machine has IPv6) on a port chosen
once and kept in ``<profile>/port``, so the addresses friends hold stay good
across restarts. What it announces (tokens, presence, ``id``) is what a friend
can dial: the interface addresses behind each wildcard (loopback only when
there is nothing else), plus addresses peers observe (identify), public ones
first, then private ones, then loopback.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import psutil

ENV = "SMALLSOCIAL_DISCOVERY"
"""``off`` (or ``0``, ``no``, ``false``): nothing leaves 127.0.0.1."""
TOKEN_ADDRS = 4
"""Own addresses a token carries (the best ones); presence carries up to ``schema.MAX_ADDRS``."""
_PRIVATE = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]


def switch_on(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the user's switch ``name`` is on (unset, or anything but off/0/no/false)."""
    value = (os.environ if env is None else env).get(name, "on").strip().lower()
    return value not in ("off", "0", "no", "false")


def discovery_on(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process may reach beyond 127.0.0.1 (``SMALLSOCIAL_DISCOVERY`` not off)."""
    return switch_on(ENV, env)


def ipv6_available() -> bool:
    """Whether an IPv6 socket can be bound here (containers often have IPv6 off)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def port_free(host: str, port: int) -> bool:
    """Whether nobody listens there (libp2p binds with SO_REUSEPORT and would share the port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As the real listener does: a port left in TIME_WAIT by a killed node is free to
        # listen on again, while one with a live listener still refuses the bind.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def profile_port(root: Path, hosts: list[str]) -> int:
    """The profile's port, free on every host in ``hosts``: the kept one, else a new one (kept)."""
    path = root / "port"
    try:
        kept = int(path.read_text().strip())
    except (OSError, ValueError):
        kept = 0
    if 0 < kept < 65536 and all(port_free(h, kept) for h in hosts):
        return kept
    for _ in range(20):
        port = _free_port(hosts[0])
        if all(port_free(h, port) for h in hosts):
            root.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{port}\n")
            return port
    return 0


def member_listen(root: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """A member node's default listen addresses (``--listen`` overrides them)."""
    if not discovery_on(env):
        return [f"/ip4/127.0.0.1/tcp/{profile_port(root, ['127.0.0.1'])}"]
    hosts = ["0.0.0.0", "::"] if ipv6_available() else ["0.0.0.0"]
    port = profile_port(root, hosts)
    return [f"/ip4/{h}/tcp/{port}" if "." in h else f"/ip6/{h}/tcp/{port}" for h in hosts]


IPS_TTL_S = 5.0
_ips_cache: tuple[float, tuple[str, ...], tuple[str, ...]] | None = None


def interface_ips() -> tuple[list[str], list[str]]:
    """This machine's IPv4 and IPv6 addresses, without link-local ones, at most ``IPS_TTL_S`` old.

    py-libp2p asks the host for its addresses on every RPC it sends (to sign its peer
    record), and listing interfaces is a netlink round trip that holds the GIL: once
    measured at 42 ms, stalling the node. A laptop that changes networks is seen
    within ``IPS_TTL_S``.
    """
    global _ips_cache
    now = time.monotonic()
    if _ips_cache is None or now - _ips_cache[0] >= IPS_TTL_S:
        v4, v6 = _list_interface_ips()
        _ips_cache = (now, tuple(v4), tuple(v6))
    return list(_ips_cache[1]), list(_ips_cache[2])


def _list_interface_ips() -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            ip = a.address.split("%")[0]
            if a.family == socket.AF_INET:
                if not ipaddress.ip_address(ip).is_link_local:
                    v4.append(ip)
            elif a.family == socket.AF_INET6 and not ipaddress.ip_address(ip).is_link_local:
                v6.append(ip)
    return list(dict.fromkeys(v4)), list(dict.fromkeys(v6))


def _ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    parts = addr.split("/")
    if len(parts) > 2 and parts[1] in ("ip4", "ip6"):
        try:
            return ipaddress.ip_address(parts[2])
        except ValueError:
            return None
    return None


def rank(addr: str) -> int:
    """0 public, 1 private (RFC 1918, CGNAT, ULA), 2 loopback, 3 unusable (wildcard, link-local).

    Python's ``is_global`` calls documentation ranges (the lab's 198.51.100.0/24)
    private; a home network's ranges are what "private" means here.
    """
    if "/p2p-circuit" in addr:
        return 1  # through a relay: after any direct address
    ip = _ip(addr)
    if ip is None:
        return 3
    if ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return 3
    if ip.is_loopback:
        return 2
    if any(ip in net for net in _PRIVATE):
        return 1
    return 0


def dialable(listening: Iterable[str], observed: Iterable[str] = ()) -> list[str]:
    """What friends can dial: wildcards expanded to interface addresses, observed ones added, ranked.

    ``listening`` are the bound transport addresses (``/ip4/0.0.0.0/tcp/4001``),
    ``observed`` what peers saw (identify). Loopback stays only when nothing else does.
    """
    v4, v6 = interface_ips()
    out: list[str] = []
    for a in listening:
        parts = a.split("/")
        if len(parts) > 2 and parts[2] in ("0.0.0.0", "::"):
            rest = "/".join(parts[3:])
            out += [f"/{parts[1]}/{ip}/{rest}" for ip in (v4 if parts[1] == "ip4" else v6)]
        else:
            out.append(a)
    out += list(observed)
    usable = [a for a in dict.fromkeys(out) if rank(a) < 3]
    if any(rank(a) < 2 for a in usable):
        usable = [a for a in usable if rank(a) < 2]
    return sorted(usable, key=rank)  # stable: interface order within a rank


def for_token(addrs: Iterable[str], n: int = TOKEN_ADDRS) -> list[str]:
    """The few of my (ranked) addresses a token carries: the public ones when I have any.

    A joiner dials every token address at once, and py-libp2p folds concurrent dials to
    one peer into one: a private address that cannot answer from elsewhere can sink the
    public one. Friends on my LAN find me by mDNS and presence anyway.
    """
    ranked = list(addrs)
    public = [a for a in ranked if rank(a) == 0]
    return (public or ranked)[:n]


REACH_PUBLIC, REACH_RELAY, REACH_LAN, REACH_NOWHERE = "direct", "relay", "lan", "nowhere"


def reachability(addrs: Iterable[str], relayed: bool = False, discovery: bool = True) -> tuple[str, str]:
    """How friends can reach this node, and one sentence of what to do about it.

    ``addrs`` are the node's announced addresses, ``relayed`` whether it is connected
    to a relay pinned to one of its circles (which stores and forwards for it).
    """
    ranks = {rank(a) for a in addrs}
    if 0 in ranks:
        return REACH_PUBLIC, "Friends anywhere can connect to you directly."
    if relayed:
        return REACH_RELAY, (
            "Friends outside your network reach you through your circle's relay; "
            "friends on your network connect directly."
        )
    if 1 in ranks:
        return REACH_LAN, (
            "Only friends on your network can connect to you; for friends elsewhere, "
            "pin a relay: `smallsocial circle pin CIRCLE RELAY_ADDR`."
        )
    if not discovery:
        return REACH_NOWHERE, (
            "Only this machine can reach you: SMALLSOCIAL_DISCOVERY=off keeps you on 127.0.0.1; unset it."
        )
    return REACH_NOWHERE, (
        "No friend can reach you: this machine has no network address; connect to a network."
    )


__all__ = [
    "ENV",
    "dialable",
    "discovery_on",
    "for_token",
    "member_listen",
    "profile_port",
    "rank",
    "reachability",
]
