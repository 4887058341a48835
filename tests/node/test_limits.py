"""The node's limits at their edges (protocol/node/limits.py): strikes and the graylist, the
rate table's bound, a relay's quota and its usage counts.

Each limit is met one step below and at its value, so a limit moved by one, a ``<`` that
becomes ``<=`` or a count that stops counting fails here (the mutation pass of this module,
docs/mutation.md). The limits' values are named: a change of one is a decision, not a slip.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.identity import Identity
from protocol.node import limits
from protocol.node.limits import (
    GRAYLIST_S,
    MAX_TRACKED,
    STRIKE_WINDOW,
    STRIKES,
    Quota,
    QuotaError,
    RateLimit,
    RelayPolicy,
    Strikes,
)
from protocol.node.paths import resolve
from protocol.node.profile import Profile

pytestmark = pytest.mark.timeout(60)


class Lines(logging.Handler):
    """The messages logged to one logger, whatever other tests did to its propagation."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def node_log() -> Iterator[Lines]:
    logger, lines = logging.getLogger("smallsocial.node"), Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(lines)
    logger.setLevel(level)


def test_the_limits_values() -> None:
    # (The loader and a table are run too: the mutation pass runs a module's tests, those
    # that execute a line of it, against a changed constant.)
    q = Quota.load(None)
    assert (q.records, q.bytes, q.retention_days, q.circles) == (1_000_000, 1024**3, 365.0, 1000)
    assert not Strikes().graylisted("p", 0.0)
    assert (STRIKES, STRIKE_WINDOW, GRAYLIST_S, MAX_TRACKED) == (20, 10.0, 120.0, 10_000)
    assert RateLimit.MAX_AUTHORS == 10_000
    assert limits.DAY_S == 86_400


# strikes ----------------------------------------------------------------------------------------


def test_the_twentieth_strike_in_the_window_graylists_until_exactly_its_end(node_log: Lines) -> None:
    s = Strikes()
    assert not any(s.strike("p", 1.0, 0.0) for _ in range(STRIKES - 1))
    assert not s.graylisted("p", 0.0)
    assert s.strike("p", 1.0, 5.0)  # the 20th, within the window
    assert "graylisted p for 120 s" in node_log.text
    assert "p" not in s.recent  # its strikes are not kept while it is graylisted
    assert not s.strike("p", 1.0, 5.0)  # already graylisted: said once
    assert s.graylisted("p", 5.0 + GRAYLIST_S - 0.001)
    assert not s.graylisted("p", 5.0 + GRAYLIST_S)  # free at its end, not a tick later
    # Its strikes were forgotten when it was graylisted: one more does not graylist it again.
    assert not s.strike("p", 1.0, 5.0 + GRAYLIST_S)
    assert not s.graylisted("p", 5.0 + GRAYLIST_S)


def test_a_strike_as_old_as_the_window_no_longer_counts() -> None:
    s = Strikes()
    for _ in range(STRIKES - 1):
        s.strike("p", 1.0, 0.0)
    assert not s.strike("p", 1.0, STRIKE_WINDOW)  # the 19 at t=0 are out of the window now
    s2 = Strikes()
    for _ in range(STRIKES - 1):
        s2.strike("p", 1.0, 0.0)
    assert s2.strike("p", 1.0, STRIKE_WINDOW - 0.001)


def test_light_strikes_add_up_by_weight() -> None:
    s = Strikes()
    assert not any(s.strike("p", 0.25, 0.0) for _ in range(4 * STRIKES - 1))
    assert s.strike("p", 0.25, 0.0)


def test_the_strike_table_stays_bounded() -> None:
    s = Strikes()
    for k in range(MAX_TRACKED):
        s.strike(f"old{k}", 1.0, 0.0)
    assert len(s.recent) == MAX_TRACKED
    s.strike("new", 1.0, 1.0)  # a full table, a new peer: room is made
    assert len(s.recent) == MAX_TRACKED and "new" in s.recent
    s.strike("new", 1.0, 1.0)  # a known peer's strike trims nothing
    assert len(s.recent) == MAX_TRACKED and "old1" in s.recent


def test_a_full_strike_table_drops_aged_peers_first_then_the_longest_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_TRACKED", 2)
    s = Strikes()
    s.strike("a", 1.0, 0.0)
    s.strike("b", 1.0, 1.0)
    s.strike("a", 1.0, 2.0)  # a's first strike is old by t=11, its last is not
    s.strike("c", 1.0, 1.0 + STRIKE_WINDOW)  # b's only strike is exactly as old as the window
    assert list(s.recent) == ["a", "c"]
    s.strike("d", 1.0, 1.0 + STRIKE_WINDOW)  # nothing aged: the longest known goes
    assert list(s.recent) == ["c", "d"]


def test_the_rate_table_forgets_the_older_half_when_full() -> None:
    r = RateLimit(rate=1.0, burst=1.0)
    authors = [k.to_bytes(4, "big") for k in range(RateLimit.MAX_AUTHORS)]
    for a in authors:
        assert r.allow(a, 0.0)
    assert len(r._buckets) == RateLimit.MAX_AUTHORS
    assert not r.allow(authors[-1], 0.0)  # a known author: no trim, and its bucket is empty
    assert len(r._buckets) == RateLimit.MAX_AUTHORS
    assert r.allow(b"new!", 0.0)
    assert len(r._buckets) == RateLimit.MAX_AUTHORS // 2 + 1
    assert authors[0] not in r._buckets and authors[-1] in r._buckets


# a relay's quota ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 0.0, True, "10"])
def test_a_quota_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(QuotaError, match="must be a positive number"):
        Quota.load(None, records=bad)


def test_a_quota_of_less_than_one_is_taken(tmp_path: Path) -> None:
    assert Quota.load(None, retention_days=0.5).retention_days == 0.5
    cfg = tmp_path / "relay.toml"
    cfg.write_text("[quota]\nrecords = 5\n")
    assert Quota.load(cfg, bytes=7) == Quota(records=5, bytes=7)
    cfg.write_text("[quota]\nrecord = 5\n")
    with pytest.raises(QuotaError, match="takes only"):
        Quota.load(cfg)
    cfg.write_text("quota = 3\n")
    with pytest.raises(QuotaError, match="takes only"):
        Quota.load(cfg)
    with pytest.raises(QuotaError, match="Cannot read"):
        Quota.load(tmp_path / "missing.toml")


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Profile, bytes]]:
    """A profile holding a circle with three messages, as a relay's store would."""
    p = Profile.create(resolve(str(tmp_path), "relay"), "relay")
    c = p.new_circle("c").circle_id
    for i in range(3):
        p.send_text(c, f"m{i}")
    yield p, c
    p.close()


def test_usage_is_counted_from_the_store_then_kept_by_each_record_stored(held: tuple[Profile, bytes]) -> None:
    p, c = held
    n, size = p.store.usage(c)
    policy = RelayPolicy(Quota(), p.store)
    assert policy.use(c) == [n, size]
    extra = p.send_text(c, "one more")
    policy.stored(extra)
    assert policy.use(c) == [n + 1, size + len(extra.raw)]


def test_a_circle_at_its_record_quota_refuses_messages_and_takes_roster_records(
    held: tuple[Profile, bytes], node_log: Lines
) -> None:
    p, c = held
    known = {r.id for r in p.store.load_records(c)}
    p.invite(c, Identity.generate().public_key)
    roster = next(r for r in p.store.load_records(c) if r.id not in known)
    assert roster.is_roster
    msg = p.send_text(c, "over?")
    n, _ = p.store.usage(c)
    assert not RelayPolicy(Quota(records=n + 1), p.store).over(c, msg.raw, msg, 0.0)  # one below
    policy = RelayPolicy(Quota(records=n), p.store)
    assert policy.over(c, msg.raw, msg, 0.0)
    assert policy.over(c, msg.raw, None, 59.5)  # parsed when not given
    assert node_log.text.count("is at its quota") == 1  # once a minute per circle
    assert policy.over(c, msg.raw, msg, 60.0)
    assert node_log.text.count("is at its quota") == 2
    assert not policy.over(c, roster.raw, roster, 61.0)
    assert not policy.over(c, b"not a record", None, 62.0)  # the validator drops it, with its reason
    assert p.store.counters().get("over_quota") == 3


def test_a_circle_at_its_byte_quota_takes_a_message_that_just_fits(held: tuple[Profile, bytes]) -> None:
    p, c = held
    msg = p.send_text(c, "fits?")  # stored: the relay's gossip validator asks before storing the next
    _, size = p.store.usage(c)
    assert not RelayPolicy(Quota(bytes=size + len(msg.raw)), p.store).over(c, msg.raw, msg, 0.0)
    assert RelayPolicy(Quota(bytes=size + len(msg.raw) - 1), p.store).over(c, msg.raw, msg, 0.0)
