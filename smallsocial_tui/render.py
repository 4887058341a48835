"""How ``smallsocial run`` shows the node's events as text: one line per event, untrusted text made safe.

The node prints events in the codec's JSON (``run --json``); turning them into words
for a person is the UI package's job, here.
"""

from __future__ import annotations

import shlex

from protocol.display import safe, safe_name, short_key
from protocol.identity import peer_id
from protocol.node import api
from protocol.node.paths import resolve
from protocol.node.profile import Profile
from smallsocial_tui import cli_kit


def event_line(profile: Profile, ev: api.Event) -> str | None:
    """One line of text for ``smallsocial run`` (``None``: the event is not shown)."""
    paths_name = profile.paths.root.name

    def who(k: bytes) -> str:
        return cli_kit.who(profile, k)

    def name(c: bytes) -> str:
        row = profile.store.circle(c)
        return safe_name(profile.circle_name(row)) if row else c.hex()[:12]

    if isinstance(ev, api.NodeStarted):
        return f"node {ev.peer_id} listening on " + " ".join(ev.addrs)
    if isinstance(ev, api.Reachability):
        return f"reachability: {ev.state}: {ev.hint}"
    if isinstance(ev, api.AddressesChanged):
        return "reachable now at " + (" ".join(ev.addrs) or "no address")
    if isinstance(ev, api.MessageReceived):
        text = safe(ev.text) if ev.text else ev.kind
        return f"[{name(ev.circle)}] {who(ev.author)}: {text}"
    if isinstance(ev, api.MessagesArrived):
        return f"[{name(ev.circle)}] {ev.count} messages arrived"
    if isinstance(ev, api.MessageSent):
        return f"[{name(ev.circle)}] sent {ev.record_id.hex()[:12]}"
    if isinstance(ev, api.MemberJoined):
        return f"[{name(ev.circle)}] {who(ev.member)} joined"
    if isinstance(ev, (api.MemberLeft, api.MemberRemoved)):
        verb = "left" if isinstance(ev, api.MemberLeft) else "removed"
        if isinstance(ev, api.MemberRemoved):
            verb = "were removed" if ev.member == profile.me else "was removed"
        return f"[{name(ev.circle)}] {who(ev.member)} {verb}"
    if isinstance(ev, api.DeviceUnlinked):
        return (
            f"This device was unlinked from {name(ev.circle)} by {who(ev.author)}; "
            "it cannot read new messages there."
        )
    if isinstance(ev, api.DeviceLinked):
        who_ = safe_name(ev.person_name) or short_key(peer_id(ev.person))
        return f"Linked as {safe_name(ev.name)} to {who_}: {len(ev.circles)} circle(s)"
    if isinstance(ev, api.LinkRequested):
        who_ = safe_name(ev.person_name) or "your other device"
        return f"{who_} is linking this device: check it shows {ev.digits}"
    if isinstance(ev, api.LinkCancelled):
        return f"link: {safe(ev.message)}"
    if isinstance(ev, api.MemberRoleChanged):
        return (
            f"[{name(ev.circle)}] {who(ev.member)} {'are' if ev.member == profile.me else 'is'} now {ev.role}"
        )
    if isinstance(ev, api.PeerConnected):
        return f"peer connected {short_key(ev.peer_id)}"
    if isinstance(ev, api.PeerDisconnected):
        return f"peer disconnected {short_key(ev.peer_id)}"
    if isinstance(ev, api.SyncProgress):
        return f"[{name(ev.circle)}] synced {ev.received} record(s) from {short_key(ev.peer_id)}"
    if isinstance(ev, api.GapDetected):
        return f"[{name(ev.circle)}] {ev.missing} missing from {who(ev.author)}, syncing"
    if isinstance(ev, api.CircleForked) and ev.invited:
        flag = ""
        if profile.paths.root != resolve(None, paths_name).root:  # not where a bare command looks
            flag += f" --data-dir {shlex.quote(str(profile.paths.root.parent.parent))}"
        flag += "" if paths_name == "default" else f" --profile {paths_name}"
        hint = f"smallsocial{flag} join {ev.circle.hex()[:12]}"
        return f"invited to fork {safe_name(ev.name)} of {name(ev.parent)}: {hint}"
    if isinstance(ev, api.Equivocated):
        return (
            f"[{name(ev.circle)}] WARNING {who(ev.author)} equivocated: {ev.reason}; both versions are kept"
        )
    if isinstance(ev, api.HistoryCarried):
        return f"[{name(ev.circle)}] {who(ev.author)} carried {ev.count} message(s) from the parent circle"
    if isinstance(ev, api.Rekeyed) and ev.request_id is None:  # on the circle's schedule
        return "; ".join(f"[{safe_name(r.name)}] scheduled rekey: epoch {r.epoch}" for r in ev.results)
    if isinstance(ev, api.RecordDropped):
        return f"dropped a record: {ev.reason}"
    if isinstance(ev, api.CommandFailed):
        return f"error: {ev.message}"
    return None
