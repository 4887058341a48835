"""Circles as a family: the soft cap, the split suggestion, the family tree and invitation trees.

Plain functions over a :class:`~protocol.node.profile.Profile` (the CLI calls them on the
profile, the node answers ``SetSoftCap``, ``LoadFamily`` and ``LoadSplit`` with them), building
the answers defined in :mod:`protocol.node.api`. Nothing here checks a signature or a right
again: an invitation link is "verified" when the roster's fold accepted every join on the way
to the founder (the fold checked each invitation and its inviter), and the soft cap is what the
fold says (``RosterState.soft_cap``).
"""

from __future__ import annotations

from dataclasses import replace

from protocol import actions, circle, split
from protocol.node import api, queries
from protocol.node.profile import Profile
from protocol.records import Record
from protocol.roster import DEFAULT_SOFT_CAP, RosterState


def set_soft_cap(p: Profile, circle_id: bytes, cap: int) -> Record:
    """Commit an admin's ``softcap`` record (refused with a sentence otherwise)."""
    view = p.view(circle_id)
    rec = actions.set_soft_cap(p.identity, view.roster, view.next_pos(p.me), cap, int(p.clock() * 1000))
    with p.store.tx():
        p.ledger.commit_own(rec)
    return rec


def at_cap(p: Profile, circle_id: bytes) -> tuple[int, int]:
    """(members, soft cap) of a circle."""
    roster = p.view(circle_id).roster
    return len(roster.persons()), roster.soft_cap  # people, not their devices' keys


def _talk(p: Profile, circle_id: bytes) -> list[split.Link]:
    return split.links((e.id, e.author, e.ref) for e in p.log(circle_id))


def suggestion(p: Profile, request_id: int, circle_id: bytes) -> api.SplitSuggested:
    """How the circle could split, from its reply and reaction graph."""
    roster = p.view(circle_id).roster
    groups = split.suggest(roster.members, _talk(p, circle_id))
    return api.SplitSuggested(request_id, circle_id, len(roster.persons()), roster.soft_cap, tuple(groups))


def circles(p: Profile) -> list[api.FamilyCircle]:
    """Every circle I know, parents before children (siblings by creation time), unread rolled up."""
    rows = p.circles()
    out: dict[bytes, api.FamilyCircle] = {}
    for info in rows:
        founder, created, last, cap, n_unread = None, 0, 0, DEFAULT_SOFT_CAP, 0
        if info.status != "invited":
            view = p.view(info.id)
            cap = view.roster.soft_cap
            if view.genesis is not None:
                founder, created = view.genesis.author, int(view.genesis.body["ts"])
            log = p.log(info.id)
            last = max((e.ts for e in log), default=0)
            if info.status == "member":
                n_unread = queries.unread_cached(p, info.id)[0]
        out[info.id] = api.FamilyCircle(
            info.id, info.name, info.parent, info.status, info.members, cap, founder, created, last,
            n_unread, n_unread,
        )  # fmt: skip
    kids: dict[bytes | None, list[bytes]] = {}
    for c in out.values():
        kids.setdefault(c.parent if c.parent in out else None, []).append(c.id)
    ordered: list[api.FamilyCircle] = []

    def walk(parent: bytes | None) -> int:
        total = 0
        for cid in sorted(kids.get(parent, []), key=lambda i: (out[i].created, i)):
            at = len(ordered)
            ordered.append(out[cid])
            below = walk(cid)
            c = out[cid]
            ordered[at] = replace(c, unread_below=c.unread + below)
            total += c.unread + below
        return total

    walk(None)
    return ordered


def roots(p: Profile) -> dict[bytes, bytes]:
    """Each circle I know -> the oldest ancestor of it that I know (its family's root)."""
    rows = p.store.circles()
    geneses = {}
    for row in rows:
        if row.status != "invited":
            g = p.view(row.id).genesis
            if g is not None:
                geneses[row.id] = g
    ids = {row.id for row in rows}
    out: dict[bytes, bytes] = {}
    for row in rows:
        chain = [c for c in circle.ancestry(row.id, geneses) if c in ids]
        if row.parent is not None and row.parent in ids and row.parent not in chain:
            chain.append(row.parent)  # an invited fork: its genesis is in the fork record only
        out[row.id] = chain[-1]
    for cid in out:  # an invited fork's parent may have its own ancestors
        for _ in range(len(out)):
            if out[out[cid]] == out[cid]:
                break
            out[cid] = out[out[cid]]
    return out


def _inviters(roster: RosterState) -> dict[bytes, bytes]:
    """Member (or past member) -> who invited them, from the invitations whose join the fold accepted."""
    out: dict[bytes, bytes] = {}
    for inv in roster.invites.values():
        if inv.used_by is not None and inv.used_by in roster.accepted:
            out[inv.invitee] = inv.inviter
    for m in roster.members.values():  # a member's current admission wins over an older one
        if m.invited_by is not None:
            out[m.key] = m.invited_by
    return out


def invite_links(p: Profile, circle_id: bytes) -> list[api.InviteLink]:
    """The circle's members as an invitation tree (founder first, each inviter before those they
    invited), each checked back to the founder through joins the roster accepted."""
    roster = p.view(circle_id).roster
    inviters = _inviters(roster)
    root = roots(p)
    family = [
        row.id
        for row in p.store.circles()
        if row.id != circle_id and row.status != "invited" and root[row.id] == root.get(circle_id)
    ]
    members_of = {cid: p.view(cid).roster.members for cid in family}

    def path(key: bytes) -> tuple[tuple[bytes, ...], bool]:
        chain, seen = [key], {key}
        while chain[-1] != roster.founder:
            up = inviters.get(chain[-1])
            if up is None or up in seen:
                return tuple(chain), False
            chain.append(up)
            seen.add(up)
        return tuple(chain), True

    def admitted(key: bytes) -> bool:
        m = roster.members.get(key)
        return m is not None and (key == roster.founder or m.since in roster.accepted)

    links: dict[bytes, api.InviteLink] = {}
    for m in roster.members.values():
        chain, ok = path(m.key)
        ok = ok and admitted(m.key)
        others = tuple(cid for cid in family if m.key in members_of[cid])
        links[m.key] = api.InviteLink(m.key, m.invited_by, m.role, ok, chain, others)
    kids: dict[bytes | None, list[bytes]] = {}
    for k, link in links.items():
        up = link.invited_by if link.invited_by in links else None
        kids.setdefault(None if k == roster.founder else up, []).append(k)
    ordered: list[api.InviteLink] = []

    done: set[bytes] = set()

    def walk(parent: bytes | None) -> None:
        for k in sorted(kids.get(parent, []), key=lambda k: (k != roster.founder, k)):
            if k not in done:
                done.add(k)
                ordered.append(links[k])
                walk(k)

    walk(None)
    for k in sorted(links):  # invited by each other (both left and were invited back): a loop
        if k not in done:
            kids[None] = [k]
            walk(None)
    return ordered


def family(p: Profile, request_id: int, circle_id: bytes | None) -> api.FamilyLoaded:
    row = p.store.circle(circle_id) if circle_id is not None else None
    known = row is not None and row.status != "invited"  # no roster of mine before I accept
    links = tuple(invite_links(p, circle_id)) if known and circle_id is not None else ()
    return api.FamilyLoaded(request_id, tuple(circles(p)), circle_id, links)
