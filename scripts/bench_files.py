#!/usr/bin/env python3
"""Benchmark file transfer between two member nodes against a plain TCP copy, in the same run.

Two real ``smallsocial run`` processes (alice, bob) on 127.0.0.1 share a circle. For each
round, alice seals a fresh random file of ``--mb`` MB (``send-file`` through her node's
control socket: reading, encrypting and storing the blobs, timed as *seal*), then bob's node
fetches every blob from alice's (``FetchFile`` with ``wait``, timed as *fetch*: the file
stream, checking each blob's id and AEAD, writing it to bob's store) and bob puts the file
together (``get``'s step, timed as *assemble*: decrypting and hashing every chunk and writing
the file). The baseline, in the same round, is a plain TCP copy of the same bytes over
127.0.0.1: one Python process reads the file and ``sendall``s it, another receives it into a
file (what ``scp`` does, without its encryption), timed from the sender's start to the
receiver's last write. Rounds alternate the order of the two. Medians are reported, as a
table and as JSON (``--json PATH``).

    flock /tmp/smallsocial-heavy.lock python scripts/bench_files.py --mb 20 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.node import api, blobstore  # noqa: E402
from protocol.node.paths import resolve  # noqa: E402
from protocol.node.profile import Profile  # noqa: E402
from smallsocial_tui import control  # noqa: E402
from smallsocial_tui.nodeproc import NodeProc  # noqa: E402

RECEIVER = r"""
import socket, sys, time
out, port_file = sys.argv[1], sys.argv[2]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
open(port_file, "w").write(str(srv.getsockname()[1]))
conn, _ = srv.accept()
with open(out, "wb") as f:
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        f.write(b)
print(time.time(), flush=True)
"""
SENDER = r"""
import socket, sys, time
src, port = sys.argv[1], int(sys.argv[2])
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port))
with open(src, "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        s.sendall(b)
s.close()
print(t0, flush=True)
"""


def tcp_copy(src: Path, dst: Path, work: Path) -> float:
    """Seconds to copy ``src`` to ``dst`` over a loopback TCP socket between two processes."""
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    recv = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(dst), str(port_file)], stdout=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not listen")
        time.sleep(0.01)
    send = subprocess.run(
        [sys.executable, "-c", SENDER, str(src), port_file.read_text()],
        capture_output=True,
        text=True,
        check=True,
    )
    out, _ = recv.communicate(timeout=120)
    t_end, t0 = float(out.decode().strip()), float(send.stdout.strip())
    assert dst.stat().st_size == src.stat().st_size
    return t_end - t0


def node_round(alice: NodeProc, bob: NodeProc, circle: bytes, src: Path, dst: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    sent = control.call(alice.root, api.SendFile(circle, str(src)), timeout=300)
    seal = time.perf_counter() - t0
    assert isinstance(sent, api.FileSent), sent
    deadline = time.monotonic() + 60
    bob_profile = Profile.open(resolve(str(bob.data_dir), bob.name))
    try:
        while True:  # bob's node has the announcement
            try:
                info = blobstore.describe(bob_profile, circle, sent.record_id)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        t1 = time.perf_counter()
        got = control.call(bob.root, api.FetchFile(circle, sent.record_id, True), timeout=600)
        fetch = time.perf_counter() - t1
        assert isinstance(got, api.FileFetched) and got.ok, got
        t2 = time.perf_counter()
        blobstore.assemble(blobstore.BlobStore(bob.root), circle, info, dst)
        assemble = time.perf_counter() - t2
    finally:
        bob_profile.close()
    assert dst.read_bytes() == src.read_bytes()
    return {"seal_s": seal, "fetch_s": fetch, "assemble_s": assemble}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=20.0, help="file size in MB (10^6 bytes)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", metavar="PATH", help="write the results here too")
    args = ap.parse_args()
    os.environ["SMALLSOCIAL_DISCOVERY"] = "off"
    size = int(args.mb * 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        work = Path(tmp)
        alice, bob = NodeProc(work, "alice"), NodeProc(work, "bob")
        try:
            alice.cli("id", "--name", "alice")
            bob.cli("id", "--name", "bob")
            circle = bytes.fromhex(alice.json("circle", "new", "bench")["id"])
            alice.start(serving=True)
            bob.start(alice.addr or "", serving=True)
            bob.json("join", alice.json("invite", "bench", bob.key)["token"])
            alice.wait_for(lambda: alice.find("MemberJoined"), 30, "bob's join")
            rows: list[dict[str, float]] = []
            for r in range(args.rounds):
                src = work / f"file{r}.bin"
                src.write_bytes(os.urandom(size))
                row: dict[str, float] = {}
                order = ("tcp", "node") if r % 2 == 0 else ("node", "tcp")
                for what in order:
                    if what == "tcp":
                        row["tcp_s"] = tcp_copy(src, work / f"tcp{r}.bin", work)
                    else:
                        row.update(node_round(alice, bob, circle, src, work / f"got{r}.bin"))
                row["total_s"] = row["seal_s"] + row["fetch_s"] + row["assemble_s"]
                rows.append(row)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), file=sys.stderr)
        finally:
            for p in (alice, bob):
                if p.running():
                    p.stop()
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    mbps = {k.removesuffix("_s"): size / 1e6 / v for k, v in med.items()}
    result: dict[str, Any] = {"size_bytes": size, "rounds": rows, "median_s": med, "median_MB_per_s": mbps}
    print(f"\nFile transfer, {args.mb:g} MB, 2 nodes on 127.0.0.1, median of {args.rounds} rounds\n")
    print("| step | seconds | MB/s |")
    print("| --- | --- | --- |")
    for k, label in (
        ("tcp_s", "plain TCP copy (baseline)"),
        ("seal_s", "send-file: seal + store"),
        ("fetch_s", "fetch: file stream, verify, store"),
        ("assemble_s", "get: decrypt, hash, write"),
        ("total_s", "smallsocial end to end"),
    ):
        print(f"| {label} | {med[k]:.3f} | {mbps[k.removesuffix('_s')]:.1f} |")
    print(f"\nfetch vs plain copy: {med['fetch_s'] / med['tcp_s']:.1f}x the time")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
