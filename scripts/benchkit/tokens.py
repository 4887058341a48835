"""How long an invitation token is, in the cases issue 12 names (a QR code holds ~600 chars).

:func:`measure` builds real profiles offline in a temporary directory and returns the
length in characters of the token ``Profile.invite`` makes in each case: the founder
inviting directly; a member two invitations away from the founder inviting; after a
removal (and the rekey it brings); and with three addresses in it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

TARGET_CHARS = 600
ADDRS = [f"/ip4/192.168.1.{k}/tcp/4001" for k in (10, 11, 12)]


def measure() -> dict[str, Any]:
    from protocol.node.paths import resolve
    from protocol.node.profile import Profile

    with tempfile.TemporaryDirectory(prefix="bench_tokens_") as tmp:
        make = [Profile.create(resolve(tmp, name), name) for name in ("a", "b", "c", "d", "e", "f")]
        a, b, c, d, e, f = make
        try:
            cid = a.new_circle("tokens").circle_id

            def everyone_syncs() -> None:  # what their nodes' first syncs would do
                for _ in range(2):
                    for x in make:
                        for y in make:
                            if x is not y and x.store.circle(cid) and y.store.circle(cid):
                                y.import_bundle(x.export([cid]))

            out: dict[str, Any] = {"founder invites": len(a.invite(cid, f.me))}
            b.join_token(a.invite(cid, b.me))
            everyone_syncs()
            c.join_token(b.invite(cid, c.me))
            everyone_syncs()
            out["two invitations from the founder"] = len(c.invite(cid, f.me))
            d.join_token(a.invite(cid, d.me))
            everyone_syncs()
            a.remove(cid, d.me)
            out["after a removal and its rekey"] = len(a.invite(cid, e.me))
            out["with three addresses"] = len(a.invite(cid, e.me, addrs=ADDRS))
            return {"chars": out, "target_chars": TARGET_CHARS, "longest": max(out.values())}
        finally:
            for p in make:
                p.close()


def main(argv: list[str]) -> int:
    """``python scripts/benchkit/tokens.py [--json PATH]``: print the lengths (and write them)."""
    import json

    res = measure()
    for case, n in res["chars"].items():
        print(f"  {case:<34} {n:>6,} chars {'ok' if n <= TARGET_CHARS else 'over ' + str(TARGET_CHARS)}")
    if argv[:1] == ["--json"]:
        Path(argv[1]).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
