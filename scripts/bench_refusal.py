#!/usr/bin/env python3
"""Benchmark refusal: how long the worst inputs take to be refused.

Every input here is at most its decoder's size limit (a record 256 KiB, a sync
vector 128 KiB, a token body 24 KiB, a message plaintext 16 KiB, a sync records
frame or a relay's pin offer 4 MiB) and is built to cost the most: bodies made
of containers (empty lists or maps, one byte each), deep nesting, many small
ints, long text, the largest shapes the record grammar allows with a bad
signature, a non-canonical byte or a repeated key at the very end, and a
largest rekey validly signed by a stranger (1,024 fresh keys), which parses and
is then dropped by ``CircleView.receive`` as "not a member". Records go through
``records.parse`` and through ``CircleView.receive`` (a three-member circle).

Each case is timed ``--reps`` times (``time.perf_counter``, after one warm-up);
the table shows the median and the maximum, in ms, and the verdict of the
median against the 5 ms budget (issue 10, item 11); the maximum shows what
other load on the machine adds to one call. ``--root`` times another checkout (for a
before/after table); ``--json PATH`` writes the figures (default
``bench-results/bench_refusal.json``, git-ignored). Wrap timing runs in
``flock /tmp/smallsocial-heavy.lock``.

Usage: scripts/bench_refusal.py [--reps N] [--json PATH] [--root DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUDGET_MS = 5.0
RECORD_MAX = 256 * 1024


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=25)
    p.add_argument("--json", type=Path, default=Path("bench-results/bench_refusal.json"))
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--check", action="store_true", help="exit 1 if a record case is over the budget")
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
sys.path.insert(0, str((ARGS.root if ARGS else Path(__file__).resolve().parent.parent).resolve()))

import msgpack  # noqa: E402
import nacl.signing  # noqa: E402

from protocol import circle, invitation, messages, pinning, records, shallow, sync  # noqa: E402
from protocol.identity import Identity  # noqa: E402
from protocol.node import syncwire  # noqa: E402
from protocol.view import CircleView  # noqa: E402

NOW_MS = 1_700_000_000_000
Z32 = b"\x00" * 32


def _pack(obj: Any) -> bytes:
    return bytes(msgpack.packb(obj, use_bin_type=True))


def _frame(body: bytes, sig: bytes = b"\x00" * 64) -> bytes:
    return _pack([body, sig])


def _fill(unit: bytes, room: int) -> tuple[int, bytes]:
    """As many copies of ``unit`` as fit in ``room`` bytes, in arrays of at most 4096."""
    n = room // len(unit)
    out = b""
    left = n
    while left:
        k = min(left, 4096)
        out += b"\xdc" + k.to_bytes(2, "big") + unit * k
        left -= k
    arrays = -(-n // 4096)
    return arrays, out


def _containers(unit: bytes, *, inside_body: bool) -> bytes:
    room = RECORD_MAX - 200
    arrays, payload = _fill(unit, room)
    value = b"\xdc" + arrays.to_bytes(2, "big") + payload
    if not inside_body:
        return value[: RECORD_MAX - 8]  # the outer value itself (cut to fit; refused either way)
    body = b"\x81\xa1a" + value  # {"a": [[...], ...]}
    return _frame(body[: RECORD_MAX - 100])


def _signed(identity: Identity, body: dict[str, Any]) -> bytes:
    raw_body = _pack(dict(sorted(body.items())))
    sig = identity.signing_key.sign(records.DOMAINS[body["t"]] + raw_body).signature
    return _frame(raw_body, sig)


def _body(t: str, author: bytes, cid: bytes, **fields: Any) -> dict[str, Any]:
    """A record body of type ``t``: the author's second record in circle ``cid``, with ``fields``."""
    return {"v": 1, "t": t, "a": author, "c": cid, "q": 2, "p": Z32, "ts": NOW_MS, **fields}


def _rekey_body(author: bytes, cid: bytes, keys: list[bytes]) -> dict[str, Any]:
    return _body("rekey", author, cid, h=[cid], e=1, pe=Z32, ks=[[k, b"\x01" * 80] for k in sorted(keys)])


def cases(cid: bytes) -> dict[str, bytes]:
    rng = random.Random(10)
    stranger = Identity.generate()
    fresh = [bytes(nacl.signing.SigningKey.generate().verify_key) for _ in range(1024)]
    rekey = _rekey_body(stranger.public_key, cid, fresh)
    rekey_raw = _pack(dict(sorted(rekey.items())))
    noncanonical = rekey_raw[:-1] + b"\xcc\x01"  # last field "v": 1 as a uint8, not a fixint
    assert rekey_raw.endswith(b"\xa1v\x01")
    dup = b"\x8c" + rekey_raw[1:] + b"\xa1v\x01"  # one more entry: "v" twice
    sealed = [[k, b"\x04" * 180] for k in sorted(fresh[:256])]
    fork = _body("fork", stranger.public_key, cid, g=b"\x02" * 4096, iv=[b"\x03" * 700] * 200, sl=sealed)
    nested = b"\x91" * (RECORD_MAX - 200) + b"\xc0"
    return {
        "outer: 256 KiB of empty lists": _containers(b"\x90", inside_body=False),
        "outer: 256 KiB of empty maps": _containers(b"\x80", inside_body=False),
        "body: 256 KiB of empty lists": _containers(b"\x90", inside_body=True),
        "body: 256 KiB of empty maps": _containers(b"\x80", inside_body=True),
        "body: 256 KiB of {'': 0} maps": _containers(b"\x81\xa0\x00", inside_body=True),
        "body: 256 KiB of small ints": _containers(b"\x01", inside_body=True),
        "body: 256 Ki levels of nesting": _frame(b"\x81\xa1a" + nested[: RECORD_MAX - 120]),
        "body: 256 KiB text field": _frame(_pack({"t": "\u20ac" * 85_000})),
        "body: 256 KiB random bytes": _frame(bytes(rng.getrandbits(8) for _ in range(RECORD_MAX - 100))),
        "largest rekey, bad signature": _frame(rekey_raw),
        "largest rekey, non-canonical last byte": _frame(noncanonical),
        "largest rekey, repeated last key": _frame(dup),
        "largest fork, bad signature": _frame(_pack(dict(sorted(fork.items())))),
        "largest rekey, signed by a stranger": _signed(stranger, rekey),
    }


def other_cases() -> dict[str, tuple[Callable[[bytes], Any], bytes]]:
    """Decoders other than records.parse, each with its own size limit."""
    vec_room = sync.MAX_SYNC_MESSAGE - 64
    arrays, lists = _fill(b"\x90", vec_room)
    # {"c": id, "vec": [[[], [], ...], ...], "v": 1}
    vector = b"\x83\xa1c\xc4\x20" + Z32 + b"\xa3vec\xdc" + arrays.to_bytes(2, "big") + lists + b"\xa1v\x01"
    tok_room = invitation.MAX_TOKEN_BODY - 64
    _, tlists = _fill(b"\x90", tok_room)
    token_body = b"\x81\xa2ch\xdc" + (-(-tok_room // 4096)).to_bytes(2, "big") + tlists
    # {"k": [[...4096 empty lists...] x 4]}: within wire's depth and container limits
    plaintext = b"\x81\xa1k\x94" + (b"\xdc\x10\x00" + b"\x90" * 4096) * 4
    frame_room = syncwire.MAX_FRAME - 64
    farrays, flists = _fill(b"\x90", frame_room - 3 * (frame_room // 4096 + 2))  # 3 bytes per array header
    frame = b"\xdc" + farrays.to_bytes(2, "big") + flists
    return {
        "sync vector: 128 KiB of empty lists": (sync.decode_vector, vector[: sync.MAX_SYNC_MESSAGE]),
        "sync records frame: 4 MiB of empty lists": (syncwire.parse_records, frame),
        "message plaintext: 16 KiB of empty lists": (messages.Content.decode, plaintext),
        "pin offer: 4 MiB of empty lists": (
            lambda b: shallow.decode_list(b, pinning.MAX_OFFER_RECORDS, "offer"),
            frame,
        ),
        "token: 24 KiB body of empty lists": (invitation.decode_token, _token(token_body)),  # format 1's
    }


def _token(body: bytes) -> bytes:
    import base64

    from protocol import crypto

    head = f"{invitation.PREFIX}{invitation.V1}"
    framed = len(body).to_bytes(4, "big") + body
    payload = framed + crypto.checksum(head.encode() + framed, 5)
    return (head + base64.b32encode(payload).decode().rstrip("=").lower()).encode()


def _time(fn: Callable[[], Any], reps: int) -> tuple[float, float, str]:
    outcome = ""

    def once() -> float:
        nonlocal outcome
        t0 = time.perf_counter()
        try:
            out = fn()
            outcome = type(out).__name__
        except Exception as e:  # the refusal is the point; its class is reported
            outcome = type(e).__name__
        return (time.perf_counter() - t0) * 1000

    once()
    samples = [once() for _ in range(reps)]
    return statistics.median(samples), max(samples), outcome


def main() -> int:
    assert ARGS is not None
    founder = Identity.from_seed(b"\x01" * 32)
    made = circle.create(founder, "bench", NOW_MS)
    rows: list[dict[str, Any]] = []
    for name, raw in cases(made.genesis.id).items():
        assert len(raw) <= RECORD_MAX, (name, len(raw))
        med, worst, what = _time(lambda raw=raw: records.parse(raw), ARGS.reps)
        view = CircleView(made.genesis)

        def receive(raw: bytes = raw, view: CircleView = view) -> Any:
            return view.receive(raw)

        vmed, vworst, _ = _time(receive, ARGS.reps)
        rows.append(
            {
                "case": name,
                "bytes": len(raw),
                "parse_median_ms": med,
                "parse_max_ms": worst,
                "parse": what,
                "receive_median_ms": vmed,
                "receive_max_ms": vworst,
            }
        )
    for name, (fn, data) in other_cases().items():
        arg: Any = data.decode() if fn is invitation.decode_token else data
        med, worst, what = _time(lambda fn=fn, arg=arg: fn(arg), ARGS.reps)
        rows.append(
            {"case": name, "bytes": len(data), "parse_median_ms": med, "parse_max_ms": worst, "parse": what}
        )
    print(f"root: {ARGS.root}   reps: {ARGS.reps}   budget: {BUDGET_MS} ms (median of receive, else parse)")
    print(
        f"{'case':42} {'bytes':>7} {'parse med':>9} {'max':>7} {'receive med':>11} {'max':>7}",
        " refused as / verdict",
    )
    over = 0
    for r in rows:
        ok = r.get("receive_median_ms", r["parse_median_ms"]) < BUDGET_MS
        over += 0 if ok or "receive_max_ms" not in r else 1
        recv = (
            f"{r['receive_median_ms']:11.3f} {r['receive_max_ms']:7.3f}"
            if "receive_max_ms" in r
            else " " * 19
        )
        print(
            f"{r['case']:42} {r['bytes']:7d} {r['parse_median_ms']:9.3f} {r['parse_max_ms']:7.3f} {recv}  "
            f"{r['parse']} / {'ok' if ok else 'OVER'}"
        )
    recs = [r for r in rows if "receive_max_ms" in r]
    worst_record = max(max(r["parse_median_ms"], r["receive_median_ms"]) for r in recs)
    worst_once = max(max(r["parse_max_ms"], r["receive_max_ms"]) for r in recs)
    print(f"worst record refusal: median {worst_record:.3f} ms, slowest single call {worst_once:.3f} ms")
    if ARGS.json:
        ARGS.json.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "root": str(ARGS.root),
            "reps": ARGS.reps,
            "budget_ms": BUDGET_MS,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "worst_record_ms": worst_record,
            "worst_single_call_ms": worst_once,
            "rows": rows,
        }
        ARGS.json.write_text(json.dumps(out, indent=1) + "\n")
    return 1 if ARGS.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
