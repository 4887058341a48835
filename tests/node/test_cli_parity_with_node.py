"""react, edit, delete and role through a running node's control socket; names from presence in log.

With a node running on the profile, the CLI hands these writes to it (it owns the chain
positions) and they reach the other member's node at once; ``log`` shows the name the
other member announced; ``circle list`` counts what arrived as unread.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.node.harness import Peer, wait_until

pytestmark = pytest.mark.timeout(240)


def test_changes_and_roles_through_the_node(make_peer: Callable[[str], Peer]) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    alice.cli("id", "--name", "Alice Liddell")
    circle = alice.json("circle", "new", "friends")["id"]
    alice.start(serving=True)
    bob.json("join", alice.json("invite", "friends", bob.key)["token"])
    bob.start(serving=True)
    wait_until(lambda: alice.saw("MemberJoined", circle=circle, member=bob.key), 45, what="bob's join")

    mine = bob.json("send", "friends", "hello @Alice Liddell")["id"]
    wait_until(lambda: mine in alice.record_ids(circle), 30, what="bob's message at alice")
    listed = alice.json("circle", "list")[0]
    assert (listed["unread"], listed["mentions"]) == (1, 1)

    # Through alice's node: a reaction (status "sent", not "queued").
    reacted = alice.json("react", "friends", mine[:8], "👍")
    assert reacted["status"] == "sent" and reacted["target"] == mine
    # bob's edit and delete through his node; alice may not edit bob's message.
    assert "Only its author may edit" in alice.cli("edit", "friends", mine[:8], "x", ok=False).stderr
    assert bob.json("edit", "friends", mine[:8], "hello again")["status"] == "sent"
    other = bob.json("send", "friends", "to be deleted")["id"]
    assert bob.json("delete", "friends", other[:8])["status"] == "sent"

    def alice_sees() -> bool:
        rows = {r["id"]: r for r in alice.log(circle)}
        return (
            rows.get(mine, {}).get("text") == "hello again"
            and bool(rows.get(other, {}).get("deleted"))
            and reacted["id"] in bob.record_ids(circle)
        )

    wait_until(alice_sees, 30, what="the edit, the delete and the reaction on both sides")
    bob_rows = {r["id"]: r for r in bob.log(circle)}
    assert bob_rows[mine]["reactions"] == {"👍": [alice.key]}
    # The name alice announced (presence), in bob's log and members.
    wait_until(lambda: bob.saw("NameChanged", name="Alice Liddell"), 45, what="bob to learn alice's name")
    text = bob.cli("log", "friends").stdout
    assert "👍 1 (Alice Liddell)" in text and "hello again (edited)" in text and "(message deleted)" in text

    # A role through alice's node; bob's node learns it and says so.
    out = alice.cli("role", "friends", bob.key, "admin").stdout
    assert "is now an admin of friends" in out
    assert alice.saw("MemberRoleChanged", circle=circle, member=bob.key, role="admin")
    wait_until(
        lambda: bob.saw("MemberRoleChanged", circle=circle, member=bob.key, role="admin"),
        30,
        what="bob's node to learn his new role",
    )
    assert {m["key"]: m["role"] for m in bob.json("members", "friends")}[bob.key] == "admin"
    refused = bob.cli("role", "friends", alice.key, "member", ok=False)
    assert refused.returncode == 1 and "founder's role cannot change" in refused.stderr

    # log --mark-read through the node clears alice's counts.
    alice.cli("log", "friends", "--mark-read")
    listed = alice.json("circle", "list")[0]
    assert (listed["unread"], listed["mentions"]) == (0, 0)
