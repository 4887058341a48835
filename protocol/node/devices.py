"""Linking, listing and unlinking a person's devices, on a profile (issue 14 part 1).

The rules are the roster's (docs/protocol.md section 8.5); this module does what a profile
does with them:

- :func:`request` (on the new device, a fresh profile with its own key): the **link code**
  the user carries to an existing device: ``ssd1`` + base32 of ``[device key, name]`` and a
  checksum, short enough for a QR code.
- :func:`add` (on the person's device, the one holding the person's key): certifies the new
  key (:mod:`protocol.devicecert`), writes a ``device`` record in every circle it is a member
  of, and returns the **link bundle**: everything the new device needs, sealed to its key
  (the circles with their names, parents and the epoch keys this device holds, the addresses
  it knows, petnames, the display name, and every record of those circles).
- :func:`accept` (on the new device): opens the bundle and takes it in; the node then syncs
  what came after.
- :func:`revoke`: ``unlink`` (and its rekey) in every circle where the device is linked.
- :func:`listing`: my person's devices, per circle.

The bundle travels over the link stream ``/smallsocial/link/1.0.0`` (:mod:`protocol.node.linking`,
authenticated by the one-time secret in an ``ssd2`` code and confirmed by the user), or as a
file the user copies (``devices add CODE -o FILE``, the offline path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import actions, crypto, devicecert, devicelink, records, schema, wire
from protocol.errors import DecodeError, ProtocolError, RosterError
from protocol.identity import peer_id
from protocol.node import selfcircle
from protocol.node.ingest import decode_bundle
from protocol.node.profile import Profile

BUNDLE_MAGIC = b"smallsocial-link-bundle-1\n"
MAX_LINK_BUNDLE = 512 * 1024 * 1024
"""The largest link bundle :func:`accept` opens (it holds every record of the circles)."""


class DeviceError(ProtocolError):
    """A sentence for the user about a link code, a bundle or a device."""


@dataclass(frozen=True)
class DeviceInfo:
    """One device of my person, in the circles where it is linked (or departed)."""

    key: bytes
    name: str
    person: bytes
    circles: tuple[bytes, ...]
    unlinked_in: tuple[bytes, ...]
    is_me: bool


def _now_ms(profile: Profile) -> int:
    return int(profile.clock() * 1000)


def request(profile: Profile, name: str) -> str:
    """The offline link code (``ssd1``: key and name) for this (new) device, named ``name``."""
    return devicelink.old_code(profile.me, name)


def parse_request(text: str) -> tuple[bytes, str]:
    """The device key and name a link code carries (``ssd2``, or the offline ``ssd1``);
    ``DeviceError`` with a sentence otherwise."""
    try:
        code = devicelink.parse_code(text)
    except devicelink.LinkCodeError as e:
        raise DeviceError(str(e)) from None
    return code.key, code.name


def _my_circles(profile: Profile) -> list[bytes]:
    return [
        c.id
        for c in profile.store.circles("member")
        if profile.view(c.id).genesis is not None and profile.view(c.id).roster.is_member(profile.me)
    ]


def check_can_link(profile: Profile, device: bytes) -> list[bytes]:
    """The circles this device would link ``device`` in; ``DeviceError`` when it may not."""
    me = profile.me
    if device == me:
        raise DeviceError("That is this device's own code; run `devices link` on the new device.")
    circles = _my_circles(profile)
    for cid in circles:
        roster = profile.view(cid).roster
        if roster.person_of(me) != me:
            raise DeviceError(
                "Only the device that holds your person's key can link new devices "
                "(this one is itself a linked device)."
            )
        if device in roster.departed:
            raise DeviceError(
                "That device was unlinked before and cannot be linked again; make a new profile on it."
            )
    return circles


def circle_name(profile: Profile, circle_id: bytes) -> str:
    """A circle's name on this profile ("" when it has none)."""
    row = profile.store.circle(circle_id)
    return profile.circle_name(row) if row is not None else ""


def add(profile: Profile, code: str) -> tuple[bytes, list[bytes]]:
    """Certify the device of ``code``, link it in every circle I am in; the sealed link bundle
    and the circles it was linked in."""
    device, name = parse_request(code)
    me = profile.me
    check_can_link(profile, device)
    own = selfcircle.ensure(profile)  # later circles reach the device through it
    circles = check_can_link(profile, device)
    cert = devicecert.make(profile.identity, device, name, _now_ms(profile))
    # The device's first prekey, made here and carried in each device record, so nobody who
    # counts the device a member seals to its identity key; its private half goes to the
    # device in the bundle (sealed to it, beside the epoch keys) and is kept nowhere here.
    public, private = crypto.prekey_pair()
    made = _now_ms(profile)
    first = FirstPrekey(public, private, made, made + actions.PREKEY_TTL_MS)
    with profile.store.tx():
        for cid in circles:
            view = profile.view(cid)
            if device in view.roster.members:
                continue
            rec = actions.link_device(
                profile.identity,
                view.roster,
                view.next_pos(me),
                cert.raw,
                _now_ms(profile),
                prekey=(public, first.expires),
            )
            profile.ledger.commit_own(rec)
    return seal_bundle(profile, device, circles, first, own), [c for c in circles if c != own]


def add_to_file(profile: Profile, code: str, out: str) -> list[bytes]:
    """:func:`add`, the bundle written to the file ``out`` (readable by its owner only)."""
    from pathlib import Path

    from protocol.node.profile import write_private

    bundle, circles = add(profile, code)
    write_private(Path(out), bundle)
    return circles


@dataclass(frozen=True)
class FirstPrekey:
    """The prekey a linker makes for a new device (public and private halves, made and
    expires in ms): carried in the ``device`` records, handed over in the bundle."""

    public: bytes
    private: bytes
    made: int
    expires: int


def seal_bundle(
    profile: Profile,
    device: bytes,
    circles: list[bytes],
    first: FirstPrekey | None = None,
    own: bytes | None = None,
) -> bytes:
    """What the new device needs, sealed to it."""
    cs: list[Any] = []
    for cid in circles:
        row = profile.store.circle(cid)
        view = profile.view(cid)
        assert row is not None and view.genesis is not None
        keys = sorted([eid, k] for eid, k in profile.epoch_keys(cid).items())
        addrs = profile.store.peer_addrs(cid)[: schema.MAX_ADDRS * 4]
        cs.append([view.genesis.raw, row.parent, profile.circle_name(row), keys, addrs])
    pets = sorted([k, n] for k, n in profile.store.contacts().items())
    body = {
        "v": 1,
        "p": profile.me,
        "n": profile.display_name,
        "cs": cs,
        "pet": pets,
        "rec": profile.export(circles),
    }
    if first is not None:
        body["pk"] = [first.public, first.private, first.made, first.expires]
    if own is not None:
        body["self"] = own  # my self circle (protocol/node/selfcircle.py)
    return BUNDLE_MAGIC + crypto.seal(device, wire.encode(body))


def _first_prekey(item: Any) -> FirstPrekey | None:
    """The bundle's ``pk`` item (None: a linker of an older release sent none); ValueError if malformed."""
    if item is None:
        return None
    public, private, made, expires = item
    first = FirstPrekey(bytes(public), bytes(private), int(made), int(expires))
    if crypto.prekey_public(first.private) != first.public:
        raise ValueError("the first prekey's halves do not match")
    return first


def accept(profile: Profile, data: bytes) -> list[bytes]:
    """Take in a link bundle sealed to this device: the circles it names, now mine too."""
    if not data.startswith(BUNDLE_MAGIC):
        raise DeviceError("This file is not a device link bundle.")
    if len(data) > MAX_LINK_BUNDLE:
        raise DeviceError("This link bundle is too large.")
    try:
        plain = profile.identity.unseal(data[len(BUNDLE_MAGIC) :])
    except ProtocolError:
        raise DeviceError("This link bundle is not for this device (or is damaged); link again.") from None
    try:
        body = wire.decode(plain, MAX_LINK_BUNDLE)
        person, cs, rec = bytes(body["p"]), body["cs"], bytes(body["rec"])
        raws = decode_bundle(rec)
        first = _first_prekey(body.get("pk"))
        own = bytes(body["self"]) if body.get("self") is not None else None
    except (DecodeError, KeyError, TypeError, ValueError):
        raise DeviceError("The link bundle is damaged; link again.") from None
    opened: list[bytes] = []
    now = int(profile.clock())
    with profile.store.tx():
        for genesis_raw, parent, name, keys, addrs in cs:
            try:
                genesis = records.parse(bytes(genesis_raw))
            except ProtocolError:
                continue
            if genesis.type != records.GENESIS:
                continue
            cid = genesis.id
            profile.ledger.open_circle(
                genesis, bytes(parent) if parent else None, profile.ledger.seal(str(name).encode()), "member"
            )
            for eid, key in keys:
                profile.ledger.keep_key(cid, bytes(eid), bytes(key))
            profile.store.add_peer_addrs(cid, [str(a) for a in addrs], "link", now)
            opened.append(cid)
        if first is not None:  # my first prekey, made by my linker and carried in my device records
            sealed = profile.ledger.seal(first.private)
            profile.store.add_prekey(first.public, sealed, first.made, first.expires)
        for key, pet in body.get("pet", []):
            if bytes(key) != profile.me:
                profile.store.set_contact(bytes(key), str(pet), now)
        if body.get("n"):
            profile.store.set_identity(profile.me, str(body["n"]), now)
        if own is not None and own in opened:
            profile.store.set_setting("self_circle", own.hex())
    profile.forget_views()
    profile.ledger.import_records(raws)
    for cid in opened:
        if profile.view(cid).roster.person_of(profile.me) != person:
            raise DeviceError(
                f"The bundle's circle {cid.hex()[:12]} does not list this device as "
                f"{peer_id(person)}'s; link again."
            )
    return [c for c in opened if c != own]


def listing(profile: Profile) -> list[DeviceInfo]:
    """My person and their devices, with the circles each is linked (or unlinked) in."""
    me = profile.me
    found: dict[bytes, dict[str, Any]] = {}
    person = me
    own = selfcircle.circle_id(profile)
    for row in profile.store.circles():
        if row.status == "invited" or row.id == own:  # the hidden self circle is not counted
            continue
        view = profile.view(row.id)
        if view.genesis is None:
            continue
        roster = view.roster
        p = roster.person_of(me)
        if p is None:
            continue
        person = p
        for k in roster.keys_of(p):
            m = roster.members[k]
            entry = found.setdefault(k, {"name": "", "in": [], "out": []})
            entry["in"].append(row.id)
            if m.person is not None and not entry["name"]:
                entry["name"] = _device_name(profile, row.id, m.since)
        for k, d in roster.departed.items():
            if d.kind == "unlinked" or (k in found and k != person):
                found.setdefault(k, {"name": "", "in": [], "out": []})["out"].append(row.id)
        if any(not e["name"] for k, e in found.items() if k != person):  # unlinked: named by their record
            for k, nm in _named(profile, row.id).items():
                if k in found and not found[k]["name"]:
                    found[k]["name"] = nm
    out = []
    for k, e in found.items():
        name = e["name"] or ("this person's key" if k == person else "")
        out.append(DeviceInfo(k, name, person, tuple(e["in"]), tuple(e["out"]), k == me))
    return sorted(out, key=lambda d: (d.key != person, d.name, d.key))


def _device_name(profile: Profile, circle_id: bytes, record_id: bytes) -> str:
    """The name in the certificate of the ``device`` record ``record_id``."""
    raws = profile.store.raws([record_id])
    if not raws:
        return ""
    rec = records.load(raws[0], record_id)
    return devicecert.verified(bytes(rec.body["dc"])).name


def _named(profile: Profile, circle_id: bytes) -> dict[bytes, str]:
    """Device key -> the name its ``device`` records in the circle certify (unlinked ones too)."""
    names: dict[bytes, str] = {}
    for raw in profile.store.raws_of_type(circle_id, records.DEVICE):
        try:
            cert = devicecert.verified(bytes(records.parse(raw).body["dc"]))
        except (ProtocolError, KeyError, TypeError):
            continue
        names.setdefault(cert.device, cert.name)
    return names


def revoke(profile: Profile, device: bytes) -> list[bytes]:
    """Unlink ``device`` (and rekey) in every circle where it is one of my person's devices."""
    me = profile.me
    done: list[bytes] = []
    with profile.store.tx():
        for cid in _my_circles(profile):
            view = profile.view(cid)
            roster = view.roster
            m = roster.members.get(device)
            if m is None or m.person is None or m.person != roster.person_of(me):
                continue
            cut, cut_id = view.chains.head(device)
            rec, rk = actions.unlink(
                profile.identity, roster, view.next_pos(me), device, cut, _now_ms(profile), cut_id=cut_id
            )
            for r in rk.before:
                profile.ledger.commit_own(r)
                profile.ledger.keep_key(cid, r.id, rk.key)
            profile.ledger.commit_own(rec)
            profile.ledger.commit_own(rk.record)
            profile.ledger.keep_key(cid, rk.record.id, rk.key)
            done.append(cid)
    if not done:
        raise RosterError(f"{peer_id(device)} is not one of your linked devices in any circle.")
    own = selfcircle.circle_id(profile)
    return [c for c in done if c != own]  # the hidden self circle is not one the user counts
