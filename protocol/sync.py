"""Anti-entropy sync state: what to send a peer and what to ask it for.

Peers that share a circle exchange version vectors ``{author: latest seq}``
(latest seq held with no gap below it). :func:`plan` turns my holdings and a
peer's vector into exact ranges: what I send (everything I hold above the
peer's seq for each author) and what I ask for (every seq up to the peer's
that I miss). :func:`batches` cuts ranges into bounded batches. The vector
and want messages have canonical wire forms with limits, like records.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from protocol import schema, shallow, wire
from protocol.errors import MalformedError, OversizeError, SchemaError

VERSION = 1
MAX_SYNC_MESSAGE = 128 * 1024
MAX_BATCH = 256


@dataclass(frozen=True, order=True)
class Range:
    """Seqs ``first..last`` (inclusive) of one author."""

    author: bytes
    first: int
    last: int

    def __len__(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class SyncPlan:
    send: tuple[Range, ...]
    ask: tuple[Range, ...]

    @property
    def in_sync(self) -> bool:
        return not self.send and not self.ask


def _runs(author: bytes, seqs: list[int]) -> list[Range]:
    out: list[Range] = []
    first = last = -1
    for q in sorted(seqs):
        if q != last + 1 or first < 0:
            if first >= 0:
                out.append(Range(author, first, last))
            first = q
        last = q
    if first >= 0:
        out.append(Range(author, first, last))
    return out


def contiguous(seqs: Collection[int]) -> int:
    n = 0
    while n + 1 in seqs:
        n += 1
    return n


def vector(held: Mapping[bytes, Collection[int]]) -> dict[bytes, int]:
    """My version vector: for each author, the latest seq with nothing missing below."""
    return {a: c for a, seqs in held.items() if (c := contiguous(seqs))}


def plan(held: Mapping[bytes, Collection[int]], theirs: Mapping[bytes, int]) -> SyncPlan:
    send: list[Range] = []
    ask: list[Range] = []
    for author, seqs in held.items():
        above = [q for q in seqs if q > theirs.get(author, 0)]
        send.extend(_runs(author, above))
    for author, their_seq in theirs.items():
        mine = held.get(author, ())
        ask.extend(_gaps(author, mine, contiguous(mine) + 1, their_seq))
    return SyncPlan(tuple(sorted(send)), tuple(sorted(ask)))


def send_ranges(
    runs: Mapping[bytes, Collection[tuple[int, int]]], theirs: Mapping[bytes, int]
) -> list[Range]:
    """:func:`plan`'s ``send`` from what I hold as disjoint, unadjacent runs ``(first, last)`` per
    author: in time linear in the number of runs, not of seqs (a holder of 100,000 records
    answers without listing them)."""
    out: list[Range] = []
    for author, author_runs in runs.items():
        above = theirs.get(author, 0)
        out += [Range(author, max(first, above + 1), last) for first, last in author_runs if last > above]
    return sorted(out)


def _gaps(author: bytes, mine: Collection[int], first: int, last: int) -> list[Range]:
    """The runs of seqs in ``first..last`` not in ``mine``, in time linear in ``len(mine)``.

    ``last`` comes from a peer's vector (up to 2**63 - 1): listing every seq up to it
    would let one sync request hang the node that serves it.
    """
    out: list[Range] = []
    for q in sorted(q for q in mine if first <= q <= last):
        if q > first:
            out.append(Range(author, first, q - 1))
        first = q + 1
    if first <= last:
        out.append(Range(author, first, last))
    return out


def batches(ranges: Collection[Range], limit: int = MAX_BATCH) -> Iterator[list[Range]]:
    """Split ranges into lists covering at most ``limit`` seqs each, in order."""
    batch: list[Range] = []
    room = limit
    for r in sorted(ranges):
        first = r.first
        while first <= r.last:
            take = min(room, r.last - first + 1)
            batch.append(Range(r.author, first, first + take - 1))
            first += take
            room -= take
            if room == 0:
                yield batch
                batch, room = [], limit
    if batch:
        yield batch


_VECTOR_SCHEMA = {
    "v": schema.one_of(VERSION),
    "c": schema.ident,
    "vec": schema.sorted_unique(
        schema.list_of(schema.pair(schema.key, schema.seq), schema.MAX_MEMBERS * 2), key=lambda p: p[0]
    ),
}
_WANT_SCHEMA = {
    "v": schema.one_of(VERSION),
    "c": schema.ident,
    "want": schema.list_of(
        schema.pair(schema.key, schema.list_of(schema.seq, 2, 2)),
        MAX_BATCH,
    ),
}


def encode_vector(circle_id: bytes, vec: Mapping[bytes, int]) -> bytes:
    return wire.encode({"v": VERSION, "c": circle_id, "vec": [[a, q] for a, q in sorted(vec.items())]})


def _first_pass(data: bytes, shapes: dict[str, shallow.Shape]) -> Any:
    """Size, then the bounded first pass (``protocol.shallow``): no container the message has no room for."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedError("input is not bytes")
    data = bytes(data)
    if len(data) > MAX_SYNC_MESSAGE:
        raise OversizeError(f"{len(data)} bytes is over the limit of {MAX_SYNC_MESSAGE}")
    return shallow.decode_map(data, shapes, len(shapes), "a sync message")


_VECTOR_SHAPES = {"v": shallow.PLAIN, "c": shallow.PLAIN, "vec": shallow.pairs(schema.MAX_MEMBERS * 2)}
_WANT_SHAPES = {"v": shallow.PLAIN, "c": shallow.PLAIN, "want": shallow.ranges(MAX_BATCH)}


def decode_vector(data: bytes) -> tuple[bytes, dict[bytes, int]]:
    obj = _first_pass(data, _VECTOR_SHAPES)
    schema.check(obj, _VECTOR_SCHEMA)
    return bytes(obj["c"]), {bytes(a): int(q) for a, q in obj["vec"]}


def encode_want(circle_id: bytes, ranges: Collection[Range]) -> bytes:
    return wire.encode(
        {"v": VERSION, "c": circle_id, "want": [[r.author, [r.first, r.last]] for r in sorted(ranges)]}
    )


def decode_want(data: bytes) -> tuple[bytes, list[Range]]:
    obj = _first_pass(data, _WANT_SHAPES)
    schema.check(obj, _WANT_SCHEMA)
    out = []
    for author, (first, last) in obj["want"]:
        if last < first or last - first >= 1 << 20:
            raise SchemaError("a wanted range is empty or too long")
        out.append(Range(bytes(author), int(first), int(last)))
    return bytes(obj["c"]), out
