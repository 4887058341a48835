"""The link stream ``/smallsocial/link/1.0.0``: a new device linked over the network.

Both roles (docs/protocol.md 8.5, "Linking over the network"; the MACs and the code are
:mod:`protocol.devicelink`, sans-IO):

- the **new device** (``AwaitLink``): holds a fresh one-time secret, answers with its link
  code, and serves the stream while it waits. A peer whose ``H`` does not carry the MAC of
  that secret gets ``D`` and nothing else (the reason is logged). Once the MACs match it
  emits ``LinkRequested`` (the six digits to show), takes the sealed bundle in while the
  node runs (:func:`protocol.node.devices.accept`), joins the circles and emits ``DeviceLinked``.
- the **person's device** (``StartLink`` then ``ConfirmLink``): dials the code's addresses,
  checks the new device's MAC, answers with the six digits (``LinkConfirm``) and holds the
  stream until the user says yes or no; only on yes does it certify the key, write the
  ``device`` records and send the bundle.

Frames as the sync stream's (:mod:`protocol.node.syncwire`): ``u32 length || tag || payload``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import crypto, devicecert, devicelink, schema, wire
from protocol.errors import ProtocolError
from protocol.identity import peer_id
from protocol.node import api, devices, events, selfcircle
from protocol.node.host import key_of
from protocol.node.syncer import read_frame
from protocol.node.syncwire import frame

LOG = logging.getLogger("smallsocial.link")
PROTOCOL = "/smallsocial/link/1.0.0"
HELLO, ANSWER, BUNDLE, END, OK, DENIED = b"H", b"A", b"B", b"E", b"K", b"D"
CHUNK = 1024 * 1024
"""Bundle bytes per ``B`` frame."""
MAX_HELLO = 1024
STEP_TIMEOUT = 20.0
"""A dial, a hello or an answer that takes longer gives up."""
CONFIRM_TIMEOUT = 300.0
"""How long the person's device holds the stream open for the user to say yes or no."""
TAKE_TIMEOUT = 300.0
"""How long the person's device waits for the new device to take the bundle in."""


@dataclass
class Waiting:
    """This (new) device waits to be linked."""

    secret: bytes
    name: str
    expires_s: int
    busy: bool = False


@dataclass
class Outgoing:
    """A link the person's device started, waiting for the user's yes or no."""

    stream: Any
    code: str
    device: bytes
    name: str
    done: trio.Event = field(default_factory=trio.Event)


class Linking:
    """The link stream's state on one node."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.waiting: Waiting | None = None
        self.outgoing: dict[int, Outgoing] = {}
        self.max_bundle = devices.MAX_LINK_BUNDLE

    @property
    def profile(self) -> Any:
        return self.node.profile

    def _now_s(self) -> int:
        return int(self.profile.clock())

    async def run(self, cmd: api.Command) -> api.Event:
        """Carry out a link command; its answer (``CommandFailed`` with one sentence when it fails)."""
        try:
            if isinstance(cmd, api.AwaitLink):
                return self.await_link(cmd)
            if isinstance(cmd, api.StartLink):
                return await self.start(cmd)
            if isinstance(cmd, api.ConfirmLink):
                return await self.confirm(cmd)
        except (ProtocolError, ValueError) as e:
            return api.CommandFailed(cmd.request_id, str(e))
        raise ValueError(f"not a link command: {type(cmd).__name__}")

    # the new device --------------------------------------------------------------------------
    def await_link(self, cmd: api.AwaitLink) -> api.Event:
        name = devicecert.check_device_name(cmd.name)
        if self.profile.store.circles("member"):
            raise devices.DeviceError(
                "This profile is already in circles; link a fresh one "
                "(smallsocial --profile NEW devices link)."
            )
        ttl = max(10, min(cmd.ttl_s, 24 * 3600))
        addrs = [a if "/p2p/" in a else f"{a}/p2p/{self.profile.identity.peer_id}" for a in self.node.addrs]
        addrs = self.node.core.token_addrs() or addrs
        secret = crypto.random_bytes(devicelink.SECRET_SIZE)
        self.waiting = Waiting(secret, name, self._now_s() + ttl)
        code = devicelink.make_code(self.profile.me, name, addrs, secret, self.waiting.expires_s)
        return api.LinkCodeReady(cmd.request_id, code, self.waiting.expires_s)

    async def serve(self, stream: Any) -> None:
        """Answer a link stream (on the new device)."""
        pid = stream.muxed_conn.peer_id
        linker = key_of(pid)
        w = self.waiting
        started = False
        try:
            with trio.fail_after(STEP_TIMEOUT):
                tag, payload = await read_frame(stream)
            why = self._refusal(w, linker, tag, payload)
            if why is not None or w is None or linker is None:
                LOG.info("link stream from %s refused: %s", pid, why)
                await stream.write(frame(DENIED, b"This device is not waiting for that link code."))
                return
            w.busy = started = True
            try:
                await self._linked(stream, w, linker, payload)
            finally:
                w.busy = False
        except Exception as e:  # the peer went away, a timeout, a bad frame: this stream only
            LOG.info("link stream from %s ended: %s", pid, e)
            if started:
                self.node.emit(api.LinkCancelled("The other device went away before the link was done."))
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    def _refusal(self, w: Waiting | None, linker: bytes | None, tag: bytes, payload: bytes) -> str | None:
        """Why a hello is refused (None: it proves the secret)."""
        if w is None:
            return "this device is not waiting to be linked"
        if w.expires_s < self._now_s():
            return "the link code expired"
        if w.busy:
            return "another device is linking this one now"
        if linker is None or tag != HELLO or len(payload) > MAX_HELLO:
            return "not a link hello"
        try:
            hello = wire.decode(payload, MAX_HELLO)
            mac = hello["m"]
        except (ProtocolError, KeyError, TypeError):
            return "a malformed hello"
        if not isinstance(mac, bytes) or not devicelink.same(
            mac, devicelink.linker_mac(w.secret, self.profile.me, linker)
        ):
            return "its MAC does not match this device's link secret (a wrong or old code)"
        return None

    async def _linked(self, stream: Any, w: Waiting, linker: bytes, payload: bytes) -> None:
        me = self.profile.me
        await stream.write(frame(ANSWER, devicelink.device_mac(w.secret, me, linker)))
        hello = wire.decode(payload, MAX_HELLO)
        person_name = hello.get("n") if isinstance(hello.get("n"), str) else ""
        digits = devicelink.confirmation(w.secret, me, linker)
        self.node.emit(api.LinkRequested(linker, str(person_name)[: schema.MAX_NAME_CHARS], digits))
        data = bytearray()
        while True:
            with trio.fail_after(CONFIRM_TIMEOUT + TAKE_TIMEOUT):
                tag, chunk = await read_frame(stream)
            if tag == DENIED:
                why = chunk[:300].decode(errors="replace")
                self.node.emit(api.LinkCancelled(f"The other device did not link this one: {why}"))
                return
            if tag == END:
                break
            if tag != BUNDLE:
                raise ValueError("an unexpected frame in a link bundle")
            data += chunk
            if len(data) > self.max_bundle:
                why = f"The link bundle is over the limit of {self.max_bundle} bytes; nothing was taken in."
                await stream.write(frame(DENIED, why.encode()))
                self.node.emit(api.LinkCancelled(why))
                return
        try:
            circles = devices.accept(self.profile, bytes(data))
        except ProtocolError as e:
            await stream.write(frame(DENIED, str(e).encode()))
            self.node.emit(api.LinkCancelled(str(e)))
            return
        self.waiting = None
        await self._join(circles)
        await stream.write(frame(OK, wire.encode(len(circles))))
        names = tuple(devices.circle_name(self.profile, c) for c in circles)
        self.node.emit(api.DeviceLinked(linker, self.profile.display_name, w.name, tuple(circles), names))

    async def _join(self, circles: list[bytes]) -> None:
        """The node takes part in the circles the bundle brought, as after a join."""
        own = selfcircle.circle_id(self.profile)  # my person's self circle, which the bundle named
        circles = [*circles, own] if own is not None and own not in circles else circles
        effects: list[events.Effect] = [events.JoinTopic(c) for c in circles]
        effects += [events.Dial(a) for c in circles for a in self.profile.store.peer_addrs(c)]
        effects += [events.Pull(p, None) for p in sorted(self.node.core.connected)]
        effects.append(events.Reconsider())
        await self.node.carry_out(effects)

    # the person's device ---------------------------------------------------------------------
    async def start(self, cmd: api.StartLink) -> api.Event:
        code = devicelink.parse_code(cmd.code)
        if not code.online:
            raise devices.DeviceError(
                "This is an offline link code (ssd1): write a bundle with `devices add CODE -o FILE`."
            )
        assert code.secret is not None and code.expires_s is not None
        if code.expires_s < self._now_s():
            raise devices.DeviceError("This link code expired; run `devices link` on the new device again.")
        devices.check_can_link(self.profile, code.key)
        pid = ID.from_base58(peer_id(code.key))
        addrs = [a if "/p2p/" in a else f"{a}/p2p/{pid.to_base58()}" for a in code.addrs]
        stream = None
        with trio.move_on_after(STEP_TIMEOUT):
            for a in addrs:
                if await self.node.peers.connect(a):
                    break
            if self.node.host.get_network().get_connections(pid):
                stream = await self.node.host.new_stream(pid, [TProtocol(PROTOCOL)])
        if stream is None:
            raise devices.DeviceError(
                "The new device did not answer at the addresses in its code; "
                "is `devices link` still running there, and on a network this device reaches?"
            )
        me = self.profile.me
        try:
            hello = {"m": devicelink.linker_mac(code.secret, code.key, me), "n": self.profile.display_name}
            await stream.write(frame(HELLO, wire.encode(hello)))
            with trio.fail_after(STEP_TIMEOUT):
                tag, payload = await read_frame(stream)
        except Exception as e:
            await _close(stream)
            LOG.info("link with %s failed: %s", pid, e)
            raise devices.DeviceError("The new device did not answer the link; nothing was linked.") from None
        if tag == DENIED:
            await _close(stream)
            why = payload[:300].decode(errors="replace")
            raise devices.DeviceError(f"The new device refused: {why} Nothing was linked.")
        if tag != ANSWER or not devicelink.same(payload, devicelink.device_mac(code.secret, code.key, me)):
            await _close(stream)
            LOG.info("link with %s refused: its MAC does not match the code's secret", pid)
            raise devices.DeviceError(
                "The device at that address did not prove it made this code; nothing was linked."
            )
        out = Outgoing(stream, cmd.code, code.key, code.name)
        self.outgoing[cmd.request_id] = out
        self.node.start_soon(self._expire, cmd.request_id, out)
        digits = devicelink.confirmation(code.secret, code.key, me)
        return api.LinkConfirm(cmd.request_id, code.key, code.name, digits)

    async def _expire(self, link: int, out: Outgoing) -> None:
        with trio.move_on_after(CONFIRM_TIMEOUT):
            await out.done.wait()
            return
        if self.outgoing.pop(link, None) is not None:
            with contextlib.suppress(Exception):
                await out.stream.write(frame(DENIED, b"Nobody confirmed the link in time."))
            await _close(out.stream)

    async def confirm(self, cmd: api.ConfirmLink) -> api.Event:
        out = self.outgoing.pop(cmd.link, None)
        if out is None:
            raise devices.DeviceError("That link is over (it timed out or was cancelled); start again.")
        out.done.set()
        stream = out.stream
        if not cmd.yes:
            with contextlib.suppress(Exception):
                await stream.write(frame(DENIED, b"The person's device cancelled the link."))
            await _close(stream)
            return api.CommandDone(cmd.request_id)
        try:
            bundle, circles = devices.add(self.profile, out.code)
        except ProtocolError as e:
            with contextlib.suppress(Exception):
                await stream.write(frame(DENIED, b"The person's device could not link this one."))
            await _close(stream)
            raise e
        own = selfcircle.circle_id(self.profile)  # made by the first link: take part in it
        joined: list[events.Effect] = [events.JoinTopic(own)] if own is not None else []
        joined += [events.ReachRelay(c, a) for c, a in selfcircle.reach(self.profile)]
        await self.node.carry_out([*joined, events.KickOutbox(), events.Reconsider()])
        try:
            for n in range(0, len(bundle), CHUNK):
                await stream.write(frame(BUNDLE, bundle[n : n + CHUNK]))
            await stream.write(frame(END, b""))
            with trio.fail_after(TAKE_TIMEOUT):
                tag, payload = await read_frame(stream)
        except Exception as e:
            LOG.info("link with %s broke off: %s", stream.muxed_conn.peer_id, e)
            tag, payload = DENIED, b"it went away before it took the bundle in."
        finally:
            await _close(stream)
        if tag != OK:
            why = payload[:300].decode(errors="replace")
            raise devices.DeviceError(
                f"The new device did not take the link in: {why} It is certified in "
                f"{len(circles)} circle(s) but holds nothing; revoke it with `devices revoke {out.name}`."
            )
        return api.DeviceLinkDone(cmd.request_id, out.device, out.name, tuple(circles))


async def _close(stream: Any) -> None:
    with contextlib.suppress(Exception):
        await stream.close()
