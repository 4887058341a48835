"""Which person a device key belongs to, by my rosters: for sentences about linked devices.

A person is the key of their first device; each linked device has its own key (docs/protocol.md
8.5). Friends must invite the person's key, never a device's: a device's key invited as if it
were a person would join as a second, separate member. These look-ups read every circle I am
in (not fork invitations I have not accepted):

- :func:`device_of`: the person whose linked device (live, or unlinked once) a key is.
- :func:`refuse_device_invite`: the sentence :meth:`Profile.invite` refuses such a key with.
- :func:`unlinked_by`: the person who unlinked *this* device, when it was unlinked.
- :func:`name`: how a person is named in those sentences (my petname, their announced name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from protocol import display
from protocol.errors import RosterError
from protocol.identity import peer_id
from protocol.node.store import Store
from protocol.roster import RosterState
from protocol.view import CircleView


class Profile(Protocol):
    """What this module reads of a :class:`protocol.node.profile.Profile`."""

    store: Store

    @property
    def me(self) -> bytes: ...
    @property
    def display_name(self) -> str: ...
    def view(self, circle_id: bytes) -> CircleView: ...


def _rosters(profile: Profile) -> Iterator[RosterState]:
    for row in profile.store.circles():
        if row.status == "invited":
            continue
        view = profile.view(row.id)
        if view.genesis is not None:
            yield view.roster


def _person_at(roster: RosterState, key: bytes) -> bytes:
    """``key``'s person in ``roster`` (itself when it is a person's, or unknown there)."""
    return roster.person_of(key) or key


def device_of(profile: Profile, key: bytes) -> tuple[bytes, bool] | None:
    """(person, still linked) when ``key`` is a linked device's key in one of my rosters
    (unlinked: the person who unlinked it); None when it is nobody's device."""
    unlinked: bytes | None = None
    for roster in _rosters(profile):
        m = roster.members.get(key)
        if m is not None and m.person is not None:
            return m.person, True
        d = roster.departed.get(key)
        if d is not None and d.kind == "unlinked" and unlinked is None:
            unlinked = _person_at(roster, d.by)
    return None if unlinked is None else (unlinked, False)


def name(profile: Profile, person: bytes) -> str:
    """A person as the sentences name them: "you", my petname, their announced name or short key."""
    if person == profile.me:
        return "you"
    store = profile.store
    return display.who(
        person, me=profile.me, my_name=profile.display_name, contacts=store.contacts(), names=store.names()
    )


def refuse_device_invite(profile: Profile, invitee: bytes) -> None:
    """``RosterError`` naming the person when ``invitee`` is someone's linked device: invite them."""
    found = device_of(profile, invitee)
    if found is None:
        return
    person, live = found
    who = name(profile, person)
    if person == profile.me:
        raise RosterError("That key is one of your own linked devices; it is in your circles already.")
    was = "is" if live else "was"
    raise RosterError(
        f"That key {was} a linked device of {who} ({peer_id(person)}); invite {who}'s key instead."
    )


def unlinked_by(profile: Profile) -> bytes | None:
    """The person who unlinked this device, when some roster says it was (None otherwise)."""
    for roster in _rosters(profile):
        d = roster.departed.get(profile.me)
        if d is not None and d.kind == "unlinked":
            return _person_at(roster, d.by)
    return None
