"""The pin stream ``/smallsocial/pin/1.0.0``: a member hands a pinned circle to its relay.

The member opens a stream and sends one ``O`` frame (the circle's genesis and
roster records, :func:`protocol.pinning.offer_records`); the relay answers
``K`` (taken: it now stores, forwards and serves the circle) or ``D`` with a
one-sentence reason. The relay then pulls the circle's history by sync like
any member would. Frames are the sync stream's (``u32 length || tag || payload``).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import pinning, shallow, wire
from protocol.errors import ProtocolError, SchemaError
from protocol.node import syncwire
from protocol.node.host import LOG
from protocol.node.profile import Profile
from protocol.node.syncer import read_frame
from protocol.view import CircleView

PROTOCOL = "/smallsocial/pin/1.0.0"
OFFER = b"O"
TAKEN = b"K"
DENIED = b"D"


class Adopter(Protocol):
    """The relay as the pin stream sees it (:class:`protocol.node.relay.RelayNode`)."""

    profile: Profile

    async def adopt(self, offer: pinning.Offer, pid: ID) -> str | None: ...
    def drop(self, circle_id: bytes | None, reason: str) -> None: ...


async def offer(host: IHost, pid: ID, view: CircleView) -> str | None:
    """Offer one circle to the relay ``pid``; None when taken, else why not."""
    try:
        with trio.fail_after(30):
            stream = await host.new_stream(pid, [TProtocol(PROTOCOL)])
            try:
                await stream.write(syncwire.frame(OFFER, wire.encode(pinning.offer_records(view))))
                tag, payload = await read_frame(stream)
            finally:
                with contextlib.suppress(Exception):
                    await stream.close()
    except Exception as e:
        return f"no answer ({type(e).__name__}: {e})"
    if tag == TAKEN:
        return None
    return payload[:300].decode(errors="replace") or "refused"


async def serve(relay: Adopter, stream: INetStream) -> None:
    """Take an offered circle if its roster pins me and my limits allow."""
    pid = stream.muxed_conn.peer_id
    try:
        with trio.fail_after(30):
            tag, payload = await read_frame(stream)
            if tag != OFFER:
                raise SchemaError("expected an offer")
            # The bounded first pass (protocol/shallow.py): at most MAX_OFFER_RECORDS plain values.
            raws = shallow.decode_list(payload, pinning.MAX_OFFER_RECORDS, "offer")
            if not all(isinstance(r, bytes) for r in raws):
                raise SchemaError("an offer is a list of records")
            why = await relay.adopt(pinning.check_offer(raws, relay.profile.me), pid)
            await stream.write(
                syncwire.frame(TAKEN, b"") if why is None else syncwire.frame(DENIED, why.encode())
            )
    except (ProtocolError, trio.TooSlowError, EOFError) as e:
        relay.drop(None, f"pin offer from {pid}: {e}")
        with contextlib.suppress(Exception):
            await stream.write(syncwire.frame(DENIED, str(e).encode()[:300]))
    except Exception as e:
        LOG.info("pin stream with %s ended: %s", pid, e)
    finally:
        with contextlib.suppress(Exception):
            await stream.close()
