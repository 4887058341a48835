"""libp2p wiring: logging to a file, a host from our identity, gossipsub as LIBP2P.md says.

py-libp2p 0.8.1 defaults that lose messages or time are changed here, once:
heartbeat 1 s, adaptive gossip and built-in spam protection off (we rate-limit
per author in our validator), mesh degrees above circle size, IP-diversity
rules off (every peer is 127.0.0.1 in tests), and one connection per peer (a
connect takes milliseconds, not 250 ms). The swarm's auto-connector, which
redials every known peer behind our back, never starts (autodial.py). Security
is Noise only, and every inbound stream and pubsub message is guarded (guard.py).
"""

from __future__ import annotations

import atexit
import faulthandler
import functools
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

import libp2p  # noqa: F401  (its import resets the "libp2p" logger; configure after)
import multiaddr
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee, ISecureTransport
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from protocol import records
from protocol.identity import Identity, parse_peer_id
from protocol.node import keepalive, muxcost, rpccost, taskcost
from protocol.node.guard import (
    Charge,
    Dropped,
    GuardedGossipSub,
    GuardedPubsub,
    MayKnow,
    anyone,
    guard_inbound_streams,
    ignore_drops,
)
from protocol.node.logs import LogBudget, rotating_handler

LOG = logging.getLogger("smallsocial.node")
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"


def _not_pending_queue_flood(record: logging.LogRecord) -> bool:
    """Drop py-libp2p 0.8.1's per-peer "pending message queue ... exceeded limit" warning.

    GossipSub.publish queues every message it forwards for each connected peer not
    subscribed to its topic, and warns once per such peer per message when that queue is
    full. On a relay (hundreds of members, each in one circle) that is one line per
    connected member per relayed message: about 40,000 lines (8 MB) a second at 200
    msg/s with 200 members, and ~26 us of CPU each.
    """
    if record.name != "libp2p.pubsub.gossipsub":
        return True
    return not str(record.msg).startswith("pending message queue")  # msg need not be a str


_log_handler: logging.Handler | None = None
"""The handler :func:`setup_logging` installed last (the exit line goes there)."""
_crash_file: TextIO | None = None
"""The open ``node.log`` that faulthandler writes a fatal error's traceback to."""


def _mark(message: str, *args: object) -> None:
    """One line in node.log whatever the configured level (a start, an exit)."""
    if _log_handler is not None:
        _log_handler.handle(LOG.makeRecord(LOG.name, logging.INFO, __file__, 0, message, args, None))


@atexit.register
def _mark_exit() -> None:
    # Absent after a SIGKILL or an interpreter crash: a log ending without it was cut short.
    _mark("log closed: pid %d exits", os.getpid())


def _crash_dumps_to(path: Path) -> None:
    """A fatal error (segfault, abort) writes its Python traceback at the end of ``path``.

    Left alone when something else enabled faulthandler already (``PYTHONFAULTHANDLER``,
    pytest): it writes where that wanted.
    """
    global _crash_file
    if faulthandler.is_enabled() and _crash_file is None:
        return
    f = open(path, "a")  # noqa: SIM115  - kept open for faulthandler until the next call
    faulthandler.enable(file=f, all_threads=True)
    if _crash_file is not None:
        _crash_file.close()
    _crash_file = f


LOG_LEVEL_ENV = "SMALLSOCIAL_LOG"
"""``SMALLSOCIAL_LOG=debug`` makes the node log our debug lines too (what each record met: held,
dropped, synced), for a bug report; anything else keeps INFO."""


def setup_logging(log_dir: Path, level: int | None = None) -> Path:
    """Send libp2p's and our logs to ``log_dir/node.log``, never to the terminal.

    Appended to and rotated, one line per message, a budget per kind of line (logs.py).
    ``level``: ours (libp2p's is WARNING); by default INFO, or DEBUG under ``SMALLSOCIAL_LOG=debug``.
    Each call (each node start) writes a "log opened" line with the pid, and the process
    a "log closed" line when it exits normally; a log that ends without one was cut short
    (SIGKILL, a crash). A fatal interpreter error's traceback also goes to ``node.log``.
    """
    global _log_handler
    if level is None:
        level = logging.DEBUG if os.environ.get(LOG_LEVEL_ENV, "").lower() == "debug" else logging.INFO
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "node.log"
    handler = rotating_handler(path)
    if isinstance(handler, logging.handlers.BaseRotatingHandler):

        def rotate(source: str, dest: str) -> None:
            os.rename(source, dest)
            if _crash_file is not None and source == str(path):
                _crash_dumps_to(path)  # follow the new file, not the one now named node.log.1

        handler.rotator = rotate
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(_not_pending_queue_flood)
    handler.addFilter(LogBudget())
    for name, lvl in (("libp2p", logging.WARNING), ("multiaddr", logging.WARNING), ("smallsocial", level)):
        lg = logging.getLogger(name)
        for old in lg.handlers:
            old.close()
        lg.handlers.clear()
        lg.addHandler(handler)
        lg.setLevel(lvl)
        lg.propagate = False
    _log_handler = handler
    _crash_dumps_to(path)
    _mark("log opened: pid %d, arguments: %s", os.getpid(), " ".join(sys.argv[1:])[:300])
    return path


def security_options(key_pair: KeyPair) -> dict[TProtocol, ISecureTransport]:
    """Noise, and nothing else.

    py-libp2p 0.8.1's default list also offers TLS, secio and unencrypted
    ``/plaintext/2.0.0``. Plaintext proves nothing about the peer ID a peer claims,
    so a stranger could pose as any member (pull a circle's records over sync, get
    the real member graylisted). Noise binds the connection to the claimed key.
    """
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return {TProtocol(NOISE_PROTOCOL_ID): noise}


def make_host(
    identity: Identity, listen: list[str], charge: Charge | None = None, *, update_per_read: bool = False
) -> IHost:
    """A Noise-only host whose inbound streams cannot raise out of their handlers (guard.py).

    Its yamux credits a stream's window back once half of it is read (:mod:`.muxcost`:
    process-wide); ``update_per_read`` keeps py-libp2p's frame per read (the benchmarks'
    bare host, which shows py-libp2p as it comes). Its yamux closes a connection whose pings
    go unanswered (:mod:`.keepalive`, process-wide).
    """
    keepalive.install()
    if not update_per_read:
        muxcost.install()
    key_pair = create_new_key_pair(identity.seed)
    host = new_host(
        key_pair=key_pair,
        sec_opt=security_options(key_pair),
        listen_addrs=[multiaddr.Multiaddr(a) for a in listen],
        connection_config=ConnectionConfig(max_connections_per_peer=1),
    )
    guard_inbound_streams(host, charge or _no_charge)
    return host


MESHSUB = (PROTOCOL_ID_V11, PROTOCOL_ID)
"""The gossipsub versions a node offers. Not meshsub/1.2.0: with it py-libp2p sends each mesh
peer an IDONTWANT control RPC, with its signed peer record, before every message it publishes
or forwards (docs/performance.md, "Node against bare gossipsub")."""
LIBP2P_DEFAULT = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)
"""What py-libp2p offers by default: the benchmarks' bare gossipsub keeps it."""


def make_gossipsub(
    degree: int = 24, protocols: tuple[str, ...] = MESHSUB, *, flood_publish: bool = False, lean: bool = True
) -> GuardedGossipSub:
    """Gossipsub with the settings LIBP2P.md calls for; ``flood_publish``: see ``GuardedGossipSub``;
    ``lean``: forwarding without py-libp2p's queue per connected peer (:mod:`.fwdcost`)."""
    gossipsub = GuardedGossipSub(
        protocols=[TProtocol(p) for p in protocols],
        degree=degree,
        degree_low=max(1, degree // 2),
        degree_high=degree * 2,
        heartbeat_initial_delay=0.1,
        heartbeat_interval=1,
        adaptive_gossip_enabled=False,
        spam_protection_enabled=False,
        eclipse_protection_enabled=False,
        min_mesh_diversity_ips=1,
    )
    gossipsub.flood_publish = flood_publish
    gossipsub.lean = lean
    return gossipsub


def message_id(msg: rpc_pb2.Message) -> bytes:
    """Gossip message id = our record id (BLAKE2b-256 of the record bytes).

    py-libp2p's default id is sender + seqno, and the seqno counter starts at
    the current Unix second: a node restarted within a few seconds of sending
    reuses seqnos, and peers drop its new messages as already seen.
    """
    return records.record_id(msg.data)


def _no_charge(peer: ID, why: str) -> None:
    LOG.debug("peer %s: %s", peer, why)


def make_pubsub(
    host: IHost,
    router: GossipSub,
    charge: Charge | None = None,
    may_know: MayKnow | None = None,
    dropped: Dropped | None = None,
) -> GuardedPubsub:
    """Pubsub guarded against peers' bytes (:mod:`protocol.node.guard`).

    ``charge`` hears of peers that sent bad bytes; ``may_know`` says who may learn of a
    topic and get its messages (default: anyone, for test peers and benchmarks); ``dropped``
    of messages py-libp2p dropped on their way to a peer (a full queue). Its host
    checks each peer's signed peer record once and reuses its own (:mod:`.rpccost`); its task
    per received message no longer walks every task (:mod:`.taskcost`, process-wide).
    """
    rpccost.install(host)
    taskcost.install()
    return GuardedPubsub(
        host,
        router,
        msg_id_constructor=message_id,
        charge=charge or _no_charge,
        may_know=may_know or anyone,
        dropped=dropped or ignore_drops,
    )


@functools.lru_cache(maxsize=4096)
def key_of(peer: ID) -> bytes | None:
    """The Ed25519 identity key behind a peer ID, or None for a non-Ed25519 peer.

    Cached: a relay asks it per connected peer per topic whenever a roster changes, and the
    base58 decode was a third of its time in the relay benchmark."""
    try:
        return parse_peer_id(peer.to_base58())
    except Exception:
        return None


class Notifee(INotifee):
    """A network notifee that ignores every event: subclasses take the ones they need."""

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass
