#!/usr/bin/env python3
"""Search over 100,000 messages: the FTS5 index against a plain scan, and what indexing costs.

    flock /tmp/smallsocial-heavy.lock python scripts/bench_search.py      # table + JSON
    python scripts/bench_search.py --quick                                # 2,000 messages (tests)

One real profile (identity, circle, sealed and signed messages through ``Profile.send_text``,
the store the node uses), N messages of 3 to 20 words drawn from a 5,000-word vocabulary
with a Zipf-like law, 0 to 3 s apart; one rare word is in 3 messages. Then:

- backfill: the index built from the store, 200 records a batch (as the node's task does);
- queries (limit 20, newest first, snippets): a rare word, the most common word, a 3-letter
  prefix, a two-word phrase, and the common word in one circle of three; each timed
  ``--repeat`` times through :meth:`SearchIndex.search` (the query) and
  :func:`search.answer` (what the node answers: circle and author names too);
- baseline, same rows, same run: ``LIKE '%word%'`` over a plaintext table (with an index on
  the time, newest first, limit 20), and opening every message (``Profile.log``) and
  filtering, which is what a search without an index would cost;
- ingest per message with the index (``send_text`` then ``catch_up``, as the node does after
  each commit) against without (``send_text`` alone), over 2,000 more messages.

Target (issue 14): a word in 100,000 messages in under 50 ms. Writes bench-results/bench_search.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nacl.pwhash

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchkit import machine_info  # noqa: E402

from protocol.identity import Identity  # noqa: E402
from protocol.node import search  # noqa: E402
from protocol.node.paths import resolve  # noqa: E402
from protocol.node.profile import Profile  # noqa: E402

RESULTS = ROOT / "bench-results" / "bench_search.json"
RARE = "zanzibar"
CHEAP = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


class Clock:
    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        return self.t


def vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "gu", "ho", "ja", "be", "fi", "zo"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(syll) for _ in range(rng.randint(2, 4)))
        if w not in seen and w != RARE:
            seen.add(w)
            words.append(w)
    return words


def make_texts(rng: random.Random, n: int, words: list[str]) -> list[str]:
    weights = [1 / (i + 1) for i in range(len(words))]  # Zipf: the first word is the most common
    rare_at = set(rng.sample(range(n), 3))
    out = []
    for i in range(n):
        ws = rng.choices(words, weights, k=rng.randint(3, 20))
        if i in rare_at:
            ws.insert(rng.randrange(len(ws) + 1), RARE)
        out.append(" ".join(ws))
    return out


def timed(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return {
        "p50_ms": round(statistics.median(ts), 3),
        "p99_ms": round(ts[min(len(ts) - 1, int(len(ts) * 0.99))], 3),
        "max_ms": round(ts[-1], 3),
    }


def run(n: int, repeat: int, extra: int) -> dict[str, Any]:
    rng = random.Random(14)
    words = vocabulary(rng)
    texts = make_texts(rng, n, words)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    clock = Clock()
    p = Profile.create(resolve(str(tmp), "me"), "me", None, clock, Identity.from_seed(b"\x07" * 32), **CHEAP)
    circles = [p.new_circle(name).circle_id for name in ("family", "friends", "work")]
    t0 = time.perf_counter()
    stamps: list[tuple[int, str]] = []
    for i, text in enumerate(texts):
        clock.t += rng.uniform(0, 3)
        p.send_text(circles[i % 3], text)
        stamps.append((int(clock.t * 1000), text))
    send_s = time.perf_counter() - t0

    index = p.search_index()
    t0 = time.perf_counter()
    batches = 0
    while index.catch_up(200):
        batches += 1
    backfill_s = time.perf_counter() - t0

    common = words[0]
    prefix = next(w[:3] for w in words[20:] if sum(x.startswith(w[:3]) for x in words) >= 20)
    phrase = f'"{words[0]} {words[1]}"'
    queries = {
        "rare word": (RARE, None),
        "common word": (common, None),
        "prefix": (prefix, None),
        "phrase": (phrase, None),
        "common word, one circle": (common, circles[1]),
    }
    rows: list[dict[str, Any]] = []
    for name, (q, circle) in queries.items():
        found = len(index.search(q, circle=circle, limit=search.MAX_LIMIT))
        total = index.db.execute(
            "SELECT count(*) FROM fts WHERE fts MATCH ?", (search.searchtext.fts_query(q),)
        ).fetchone()[0]
        row: dict[str, Any] = {"query": name, "text": q, "matching": total, "returned_of_200": found}
        row["index"] = timed(lambda q=q, c=circle: index.search(q, circle=c, limit=20), repeat)
        row["answer"] = timed(lambda q=q, c=circle: search.answer(p, 0, q, c, 20), repeat)
        rows.append(row)

    # baseline: LIKE over the same plaintext, newest first
    plain = sqlite3.connect(":memory:")
    plain.execute("CREATE TABLE plain (ts INTEGER, text TEXT)")
    plain.execute("CREATE INDEX plain_ts ON plain (ts)")
    plain.executemany("INSERT INTO plain VALUES (?, ?)", stamps)
    for row in rows:
        if row["query"] in ("rare word", "common word", "prefix"):
            like = f"%{row['text']}%"
            row["like_baseline"] = timed(
                lambda like=like: plain.execute(
                    "SELECT ts, text FROM plain WHERE text LIKE ? ORDER BY ts DESC LIMIT 20", (like,)
                ).fetchall(),
                max(3, repeat // 10),
            )

    def scan() -> list[str]:
        return [e.text or "" for c in circles for e in p.log(c) if RARE in (e.text or "")]

    decrypt_all = timed(scan, 2)

    # ingest: with the index kept up to date per message, and without
    t0 = time.perf_counter()
    for i in range(extra):
        clock.t += 0.5
        p.send_text(circles[i % 3], texts[i])
    without_us = (time.perf_counter() - t0) / extra * 1e6
    index.catch_up(extra + 1)
    t0 = time.perf_counter()
    for i in range(extra):
        clock.t += 0.5
        p.send_text(circles[i % 3], texts[i])
        index.catch_up()
    with_us = (time.perf_counter() - t0) / extra * 1e6

    sizes = {
        "store_bytes": p.paths.database.stat().st_size,
        "search_bytes": p.paths.search.stat().st_size,
    }
    p.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "messages": n,
        "send_s": round(send_s, 2),
        "backfill_s": round(backfill_s, 2),
        "backfill_us_per_message": round(backfill_s / n * 1e6, 1),
        "backfill_batches": batches + 1,
        "rows": rows,
        "decrypt_all_baseline": decrypt_all,
        "ingest_us_per_message": {"without_index": round(without_us, 1), "with_index": round(with_us, 1)},
        **sizes,
        "target_ms": 50,
    }


def table(res: dict[str, Any]) -> str:
    lines = [
        f"{res['messages']:,} messages; backfill {res['backfill_s']} s "
        f"({res['backfill_us_per_message']} µs/message); store {res['store_bytes'] / 1e6:.1f} MB, "
        f"index {res['search_bytes'] / 1e6:.1f} MB",
        "",
        f"{'query':<26}{'matching':>9}  {'index p50/p99 ms':>17}  "
        f"{'answer p50/p99 ms':>18}  {'LIKE p50 ms':>11}",
    ]
    for r in res["rows"]:
        like = r.get("like_baseline", {}).get("p50_ms", "")
        lines.append(
            f"{r['query']:<26}{r['matching']:>9}  "
            f"{r['index']['p50_ms']:>8.2f}/{r['index']['p99_ms']:<8.2f}  "
            f"{r['answer']['p50_ms']:>8.2f}/{r['answer']['p99_ms']:<9.2f}  {like!s:>11}"
        )
    ing = res["ingest_us_per_message"]
    lines += [
        "",
        f"no index (open every message, filter): {res['decrypt_all_baseline']['p50_ms']:.0f} ms",
        f"ingest per message: {ing['without_index']} µs without the index, {ing['with_index']} µs with it",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 messages, few repeats (for tests)")
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    n, repeat, extra = (2000, 10, 200) if args.quick else (args.messages, args.repeat, 2000)
    res = run(n, repeat, extra)
    res["machine"] = machine_info()
    print(table(res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
