"""What py-libp2p 0.8.1 does on every pubsub RPC that our node does once.

Every RPC carries the sender's signed peer record (an envelope of ~210 bytes). The
sender asks its host for its addresses to see whether the envelope is still current
(``env_to_send_in_RPC``: 40-80 µs an RPC, the addresses rebuilt as multiaddrs each time);
:func:`install` makes it reuse the envelope for ``SEND_S``, so a new address is in the
envelopes within that. The receiver parses it, verifies its Ed25519 signature and
updates the peerstore for each one: twice for an RPC with control messages
(``Pubsub.continuously_read_stream`` and ``GossipSub.handle_rpc`` both call
``maybe_consume_signed_record``). A peer sends the same envelope until its addresses
change, so :func:`install` makes a node's pubsub check each distinct envelope of a
peer once, and again only when ``REFRESH_S`` has passed (the peerstore keeps a
consumed record for two hours). Hosts that did not ask for it (a benchmark's bare
gossipsub) keep py-libp2p's behaviour.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict

import libp2p.pubsub.gossipsub
import libp2p.pubsub.pubsub
from libp2p.abc import IHost
from libp2p.peer.envelope import Envelope
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.utils import maybe_consume_signed_record

SEND_S = 1.0
"""How long an envelope to send is reused before the host's addresses are looked at again."""
REFRESH_S = 600.0
"""How long a checked envelope is taken as is before it is consumed again."""
PEERS = 1024
"""Envelopes remembered per host (the oldest is forgotten first)."""

_checked: weakref.WeakKeyDictionary[IHost, OrderedDict[ID, tuple[bytes, float]]] = weakref.WeakKeyDictionary()
_sending: weakref.WeakKeyDictionary[IHost, tuple[Envelope | None, bytes, float]] = weakref.WeakKeyDictionary()


def install(host: IHost) -> None:
    """From now on, ``host``'s pubsub checks a peer's unchanged signed record once, and reuses its own."""
    _checked.setdefault(host, OrderedDict())
    _sending[host] = (None, b"", -SEND_S)
    for module in (libp2p.pubsub.pubsub, libp2p.pubsub.gossipsub):
        module.maybe_consume_signed_record = consume_once  # type: ignore[attr-defined]
        module.env_to_send_in_RPC = envelope_to_send  # type: ignore[attr-defined]


def envelope_to_send(host: IHost) -> tuple[bytes, bool]:
    """py-libp2p's ``env_to_send_in_RPC``, reused for ``SEND_S`` on a host that asked for it.

    Never older than the peerstore's own record: when identify (or anything else) issued
    a newer one meanwhile, that one is taken at once. A peer refuses a record older than
    the one it holds, and py-libp2p then drops the whole RPC with it.
    """
    last = _sending.get(host)
    if last is None:
        return env_to_send_in_RPC(host)
    now = time.monotonic()
    if host.get_peerstore().get_local_record() is last[0] and now - last[2] < SEND_S:
        return last[1], False
    env, fresh = env_to_send_in_RPC(host)
    _sending[host] = (host.get_peerstore().get_local_record(), env, now)
    return env, fresh


def consume_once(msg: rpc_pb2.RPC, host: IHost, peer_id: ID) -> bool:
    """py-libp2p's ``maybe_consume_signed_record``, skipped for an envelope checked lately."""
    seen = _checked.get(host)
    if seen is None or not msg.HasField("senderRecord"):
        return maybe_consume_signed_record(msg, host, peer_id)
    now = time.monotonic()
    last = seen.get(peer_id)
    if last is not None and last[0] == msg.senderRecord and now - last[1] < REFRESH_S:
        return True
    ok = maybe_consume_signed_record(msg, host, peer_id)
    if ok:
        seen[peer_id] = (msg.senderRecord, now)
        seen.move_to_end(peer_id)
        if len(seen) > PEERS:
            seen.popitem(last=False)
    return ok
