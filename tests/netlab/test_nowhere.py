"""A member reachable nowhere says so, in one sentence, and says otherwise once it has a network.

carol's laptop has no address but loopback (its network is gone). Her node
still starts; ``run`` reports reachability ``nowhere`` with what to do, and
``smallsocial id`` says the same. When her LAN address comes back, the node
notices and reports ``lan`` (friends on her network can connect; for friends
elsewhere: pin a relay).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.netlab.lab import Lab
from tests.netlab.member import Member
from tests.node.harness import wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_member_reachable_nowhere_says_so(lab: Lab, member: Callable[[str, str], Member]) -> None:
    carol = member("carol", "carol")
    lab.sh("carol", "ip", "addr", "flush", "dev", "eth0")
    carol.start()
    wait_until(lambda: carol.reach() != "", 20, what="carol's node to report reachability")
    assert carol.reach() == "nowhere"
    # loopback, since nothing else exists
    assert {a.split("/")[2] for a in carol.announced()} == {"127.0.0.1", "::1"}
    said = carol.json("id")["reachability"]
    assert said["state"] == "nowhere" and "connect to a network" in said["hint"], said
    line = carol.cli("id").stdout
    assert "reachable: nowhere: No friend can reach you" in line, line

    lab.sh("carol", "ip", "addr", "add", "10.1.0.3/24", "dev", "eth0")
    wait_until(lambda: carol.reach() == "lan", 20, what="carol's node to see its LAN address")
    assert [a.split("/")[2] for a in carol.announced()] == ["10.1.0.3"]
    assert carol.json("id")["reachability"]["state"] == "lan"
