"""When a circle's members rekey on their own: the schedule's rules and the jittered start, sans-IO.

A circle gets a new epoch key at least every ``RosterState.rekey_days`` days and every
``RosterState.rekey_messages`` messages (roster rule 9; a week and 1,000 by default), and soon
after a join lands while the epoch its invitation handed out is still current (that key
travelled in the token, so it should not last), once the joiner's first prekey is there (up to
``PREKEY_WAIT_S``), so the new key is not sealed to the joiner's identity key.
:func:`why_due` says whether, and why, from :class:`EpochFacts` a node gathers; nothing here
reads a clock or a store.

Any member may start the rekey. So that members do not all rekey at once, :class:`Scheduler`
waits a random jitter once a circle is due, and rekeys only if the same epoch is still current
and still due then (nobody else rekeyed meanwhile). Rekeys that are concurrent anyway each open
an epoch with the same number; the roster's canonical order (rule 4: the highest number, ties
to the smaller id) picks one for every member, and each was sealed to every member, so the
circle never splits. The clock and the random source are the caller's (tests inject them).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from protocol.roster import RosterState

DAY_MS = 24 * 3600 * 1000
JITTER_S = 120.0
"""The longest random wait between a circle falling due and its rekey (seconds)."""
JOIN_JITTER_S = 30.0
"""The same after a join: the key the invitation handed out should not last long."""
PREKEY_WAIT_S = 300.0
"""After a join, how long the rekey waits for the joiner's first prekey (the joiner's node
publishes one right after its join); the jitter starts once it is there. Sealed before it,
the new key would go to the joiner's identity key, which a thief of that key opens."""


@dataclass(frozen=True)
class EpochFacts:
    """What a node knows of a circle's current epoch."""

    epoch: bytes
    """The current epoch's id."""
    opened_ms: int
    """When it opened: its rekey's ``ts`` (the genesis's for epoch 0), or when this node stored
    that record if earlier (a rekey dated in the future does not put the next one off)."""
    messages: int
    """Messages sent under it that this node holds."""


def why_due(state: RosterState, facts: EpochFacts, now_ms: int) -> str | None:
    """Why the circle should rekey now (a short phrase), or None: the epoch is too old, carried
    too many messages, or a join used an invitation that handed out the current epoch's key."""
    cur = state.current_epoch
    if cur is None or cur.id != facts.epoch:
        return None  # no epoch, or the facts are stale: whoever sends next rekeys (needs_rekey)
    if facts.messages >= state.rekey_messages:
        return f"{facts.messages} messages in this epoch (every {state.rekey_messages})"
    if now_ms - facts.opened_ms >= state.rekey_days * DAY_MS:
        return f"the epoch is older than {state.rekey_days} days"
    if joined_under(state, cur.id):
        return "a join used an invitation that handed out this epoch's key"
    return None


def joined_under(state: RosterState, epoch: bytes) -> bool:
    """Someone joined with an invitation naming ``epoch``: its key travelled in a token."""
    return any(i.epoch == epoch and i.used_by is not None for i in state.invites.values())


def awaiting_prekeys(state: RosterState, epoch: bytes) -> bool:
    """A member who joined under ``epoch`` has published no prekey yet."""
    return any(
        i.epoch == epoch
        and i.used_by is not None
        and i.invitee in state.members
        and i.invitee not in state.prekeys
        for i in state.invites.values()
    )


@dataclass
class _Waiting:
    epoch: bytes
    at: float
    since: float
    """When the circle fell due (on this epoch)."""
    held: bool = False
    """Waiting for a joiner's prekey: the jitter starts over once it is there."""


class Scheduler:
    """Per circle: due -> wait a random jitter -> rekey if still due on the same epoch.

    :meth:`poll` is called with a circle's roster and facts at any time (the node calls it
    every few seconds and after records land); it answers whether to rekey now. ``rng()`` is
    uniform in [0, 1); times are seconds on the caller's clock."""

    def __init__(
        self,
        rng: Callable[[], float] = random.random,
        jitter_s: float = JITTER_S,
        join_jitter_s: float = JOIN_JITTER_S,
    ) -> None:
        self.rng, self.jitter_s, self.join_jitter_s = rng, jitter_s, join_jitter_s
        self.waiting: dict[bytes, _Waiting] = {}

    def poll(self, circle: bytes, state: RosterState, facts: EpochFacts | None, now_s: float) -> bool:
        """True when ``circle`` should rekey now (then it is forgotten until due again)."""
        why = None if facts is None else why_due(state, facts, int(now_s * 1000))
        if why is None or facts is None:
            self.waiting.pop(circle, None)
            return False
        w = self.waiting.get(circle)
        span = self.join_jitter_s if why.startswith("a join") else self.jitter_s
        if w is None or w.epoch != facts.epoch:  # newly due, or due again on another epoch
            w = self.waiting[circle] = _Waiting(facts.epoch, now_s + span * self.rng(), now_s)
        if why.startswith("a join") and awaiting_prekeys(state, facts.epoch):
            if now_s < w.since + PREKEY_WAIT_S:
                w.held, w.at = True, w.since + PREKEY_WAIT_S
                return False
        elif w.held:  # the prekey came: the jitter starts now, so members do not rekey at once
            w.held, w.at = False, now_s + span * self.rng()
        if now_s < w.at:
            return False
        del self.waiting[circle]
        return True

    def next_at(self) -> float | None:
        """The earliest time a waiting circle's jitter ends (None: none waits)."""
        return min((w.at for w in self.waiting.values()), default=None)
